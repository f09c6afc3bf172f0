"""The outbox: every write-back to a channel, sent once, with its history.

A write-back (mark exported, tracking, status change, stock) is first an *effect*: one row in
``staging.outbox`` with an idempotency key made of what makes it unique. The key has a unique
constraint, so enqueueing the same effect again -- a rerun, a backfill, a retried task -- is a
no-op. ``dispatch`` claims pending rows with ``FOR UPDATE SKIP LOCKED`` (so two runs never send
the same row), hands a batch to the channel's handler, and records each outcome and every failed
attempt, in the row and in ``staging.order_events``, in the transaction that holds the claim.

A crash after the channel accepted but before the commit leaves the rows pending, and they are
sent again: delivery is at-least-once, which is why handlers target idempotent channel calls
(Groupon ignores re-marked lines, tracking on a shipped line comes back in ``non_open_ids``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from psycopg2.extras import execute_values

from orderbridge import attention, db
from orderbridge.errors import InvalidPayload, OrderbridgeError, Retryable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Effect:
    """One thing to tell a channel. ``key`` is unique within (channel, account, kind)."""

    kind: str
    key: str
    payload: dict
    external_order_id: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    order_id: int | None
    external_order_id: str | None
    payload: dict
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What the channel said about one row: ``sent``, or ``rejected`` (final, with the reason), or
    ``waiting``: not yet, and not an error (Octopia: a line not in preparation yet takes no parcel);
    the row stays pending for a later run, with the message in ``last_error`` and one history entry
    the first time (or when the message changes).

    A rejected row of an order is raised for a person (``staging.attention``) in the same
    transaction, with its ``attention_reason``: ``reason`` (a code such as ``tracking_not_open``,
    also recorded in the history entry's ``detail``), else ``detail["reason"]``, else
    ``writeback_refused``. ``attention``: kept for handlers that ask for it explicitly; every
    rejection is raised anyway.
    """

    status: str
    message: str = ""
    detail: dict = field(default_factory=dict)
    attention: bool = False
    reason: str | None = None

    @property
    def attention_reason(self) -> str:
        return self.reason or self.detail.get("reason") or "writeback_refused"


Handler = Callable[[list[OutboxRow]], dict[int, Outcome]]


@dataclass
class DispatchCounts:
    claimed: int = 0
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    batches: int = 0
    waiting: int = 0


def idempotency_key(channel: str, account: str, effect: Effect) -> str:
    return f"{channel}:{account}:{effect.kind}:{effect.key}"


OUTBOX_COLUMNS = ("channel", "account", "kind", "idempotency_key", "order_id", "payload")


def outbox_rows(channel: str, account: str, effects: Iterable[Effect], order_ids: Mapping[str, int]) -> list[tuple]:
    """``staging.outbox`` rows (``OUTBOX_COLUMNS``) for effects, one per idempotency key, in key order.

    Args:
        order_ids: staging order id by external order id; an effect of an order not in it gets none.
    """
    by_key: dict[str, tuple[str, str | None, dict]] = {}
    for e in effects:
        by_key.setdefault(idempotency_key(channel, account, e), (e.kind, e.external_order_id, e.payload))
    # Key order: ids follow the keys, and concurrent writers take the unique index's locks in one order.
    return [(channel, account, kind, key, order_ids.get(ext) if ext is not None else None, payload)
            for key, (kind, ext, payload) in sorted(by_key.items(), key=lambda kv: kv[0])]


def enqueue(cur, channel: str, account: str, effects: Iterable[Effect],
            order_ids: Mapping[str, int] | None = None) -> int:
    """Add effects to the outbox in the caller's transaction; returns how many were new.

    Args:
        order_ids: staging order id by external order id, where the caller knows it (``load_orders``
            does); the orders of other effects are looked up in ``staging.orders``.
    """
    effects = list(effects)
    if not effects:
        return 0
    ids = db.order_ids(cur, channel, account, {e.external_order_id for e in effects if e.external_order_id is not None},
                       known=order_ids)
    cur.execute(
        """CREATE TEMP TABLE IF NOT EXISTS tmp_outbox ON COMMIT DELETE ROWS AS
           SELECT channel, account, kind, idempotency_key, order_id, payload FROM staging.outbox WITH NO DATA"""
    )
    db.copy_rows(cur, "tmp_outbox", OUTBOX_COLUMNS, outbox_rows(channel, account, effects, ids))
    cur.execute(
        """INSERT INTO staging.outbox (channel, account, kind, idempotency_key, order_id, payload)
           SELECT channel, account, kind, idempotency_key, order_id, payload FROM tmp_outbox
           ORDER BY idempotency_key
           ON CONFLICT (idempotency_key) DO NOTHING"""
    )
    return cur.rowcount


def _claim(cur, channel: str, account: str, kind: str, limit: int, skip: list[int] = (),
           only: list[int] | None = None) -> list[OutboxRow]:
    cur.execute(
        """SELECT b.id, b.order_id, o.external_order_id, b.payload, b.attempts FROM staging.outbox b
           LEFT JOIN staging.orders o ON o.id = b.order_id
           WHERE b.channel = %s AND b.account = %s AND b.kind = %s AND b.status = 'pending'
             AND b.next_attempt_at <= now() AND NOT (b.id = ANY(%s))
             AND (%s::bigint[] IS NULL OR b.id = ANY(%s::bigint[]))
           ORDER BY b.id LIMIT %s FOR UPDATE OF b SKIP LOCKED""",
        (channel, account, kind, list(skip), only, only, limit),
    )
    return [OutboxRow(*r) for r in cur.fetchall()]


def _history(cur, channel: str, account: str, kind: str, rows: list[OutboxRow], event: str,
             messages: dict[int, str], run_id: str | None, reasons: Mapping[int, str | None] | None = None) -> None:
    reasons = reasons or {}
    execute_values(
        cur,
        """INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message,
           detail, run_id) VALUES %s""",
        [(r.order_id, channel, account, r.external_order_id, event, messages[r.id],
          json.dumps({"outbox_id": r.id, "kind": kind, "attempt": r.attempts + 1,
                      **({"reason": reasons[r.id]} if reasons.get(r.id) else {})}), run_id) for r in rows],
    )


def _record_outcomes(cur, channel, account, kind, rows, outcomes: dict[int, Outcome], run_id) -> DispatchCounts:
    counts = DispatchCounts()
    for status in ("sent", "rejected"):
        done = [r for r in rows if outcomes[r.id].status == status]
        if not done:
            continue
        execute_values(
            cur,
            """UPDATE staging.outbox b SET status = v.status, attempts = b.attempts + 1, result = v.result::jsonb,
               last_error = v.error, updated_at = now(), sent_at = CASE WHEN v.status = 'sent' THEN now() END
               FROM (VALUES %s) AS v (id, status, result, error) WHERE b.id = v.id""",
            [(r.id, status, json.dumps(outcomes[r.id].detail),
              outcomes[r.id].message if status == "rejected" else None) for r in done],
        )
        _history(cur, channel, account, kind, done, f"{kind}_{status}",
                 {r.id: outcomes[r.id].message or f"{kind} {status}" for r in done}, run_id,
                 {r.id: outcomes[r.id].reason for r in done})
        setattr(counts, status, len(done))
    waiting = [r for r in rows if outcomes[r.id].status == "waiting"]
    counts.waiting = _record_waiting(cur, channel, account, kind, waiting, outcomes, run_id)
    _raise_refused(cur, channel, account, kind, [r for r in rows if outcomes[r.id].status == "rejected"], outcomes,
                   run_id)
    _clear_resent(cur, [r.order_id for r in rows if outcomes[r.id].status == "sent" and r.order_id], run_id)
    return counts


def _record_waiting(cur, channel, account, kind, rows: list[OutboxRow], outcomes: dict[int, Outcome], run_id) -> int:
    """Leave rows pending with the reason they wait; a history entry only when the reason is new."""
    if not rows:
        return 0
    changed = execute_values(
        cur,
        """UPDATE staging.outbox b SET last_error = v.error, updated_at = now() FROM (VALUES %s) AS v (id, error)
           WHERE b.id = v.id AND b.last_error IS DISTINCT FROM v.error RETURNING b.id""",
        [(r.id, outcomes[r.id].message) for r in rows], fetch=True,
    )
    fresh = [r for r in rows if r.id in {i for (i,) in changed}]
    if fresh:
        _history(cur, channel, account, kind, fresh, f"{kind}_waiting", {r.id: outcomes[r.id].message for r in fresh},
                 run_id, {r.id: outcomes[r.id].reason for r in fresh})
    return len(rows)


def _raise_refused(cur, channel: str, account: str, kind: str, rows: list[OutboxRow], outcomes: dict[int, Outcome],
                   run_id: str | None) -> None:
    """Each refused row of an order needs a person: nothing sends it again by itself."""
    flags = []
    for r in rows:
        if r.external_order_id is None:
            continue
        outcome = outcomes[r.id]
        message = outcome.message or f"{kind} refused"
        if "Resolution" not in message:
            message += (f" Resolution: fix what the refusal names, then send it again: UPDATE staging.outbox SET "
                        f"status = 'pending', attempts = 0 WHERE id = {r.id}.")
        flags.append(attention.Flag(r.external_order_id, outcome.attention_reason, message,
                                    {"kind": kind, "outbox_ids": [r.id]}))
    attention.raise_(cur, channel, account, flags, run_id, append=True)


def _clear_resent(cur, order_ids: list[int], run_id: str | None) -> None:
    """A refused or failed write-back resent and taken: its attention is cleared once every outbox
    row it names is sent (another row of the same order still refused keeps it open)."""
    if order_ids:
        cur.execute(
            """UPDATE staging.attention a SET cleared_at = now(), cleared_run_id = %s, cleared_by = %s
               WHERE a.order_id = ANY(%s) AND a.cleared_at IS NULL AND a.detail ? 'outbox_ids'
                 AND a.reason IN ('writeback_failed', 'writeback_refused', 'tracking_not_open')
                 AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(a.detail->'outbox_ids') i
                                 JOIN staging.outbox b ON b.id = i::bigint WHERE b.status <> 'sent')""",
            (run_id, attention.ORDERBRIDGE, sorted(set(order_ids))),
        )


def _record_failure(cur, channel, account, kind, rows, err: Exception, max_attempts, retry_delay, run_id) -> int:
    """Count one failed attempt on every claimed row; rows past ``max_attempts`` become ``failed``."""
    cur.execute(
        """UPDATE staging.outbox SET attempts = attempts + 1, last_error = %s, updated_at = now(),
           next_attempt_at = now() + %s,
           status = CASE WHEN %s IS NOT NULL AND attempts + 1 >= %s THEN 'failed' ELSE status END
           WHERE id = ANY(%s) RETURNING id, status""",
        (str(err), retry_delay, max_attempts, max_attempts, [r.id for r in rows]),
    )
    final = {i for i, status in cur.fetchall() if status == "failed"}
    attention.raise_(cur, channel, account, [
        attention.Flag(r.external_order_id, "writeback_failed",
                       f"{kind} write-back gave up after {r.attempts + 1} attempts: {err}. Resolution: fix the cause, "
                       f"then send it again: UPDATE staging.outbox SET status = 'pending', attempts = 0 WHERE id = "
                       f"{r.id} (Merkana: trigger the DAG with {{\"resend_failed\": true}}).",
                       {"kind": kind, "outbox_ids": [r.id]})
        for r in rows if r.id in final and r.external_order_id is not None], run_id, append=True)
    _history(cur, channel, account, kind, rows, f"{kind}_attempt_failed",
             {r.id: (f"gave up after {r.attempts + 1} attempts: " if r.id in final else "") + str(err) for r in rows},
             run_id)
    return len(final)


def dispatch(conn, channel: str, account: str, kind: str, handler: Handler, *, batch_size: int = 100,
             max_attempts: int | None = None, retry_delay: timedelta = timedelta(0),
             run_id: str | None = None, only: list[int] | None = None) -> DispatchCounts:
    """Send every pending effect of one kind, batch by batch, and record what happened.

    A batch the channel refuses (``InvalidPayload``, HTTP 400/422) is sent again row by row, so
    one bad row is ``rejected`` and the others go. When every row of a batch ends refused, the
    fault is almost certainly ours (payload shape, configuration), not the rows': the task fails
    after recording them, and later batches are not sent to meet the same refusal.

    Args:
        handler: sends a batch and returns an ``Outcome`` per row id. It raises ``Retryable`` or a
            ``Permanent`` error when the call as a whole failed.
        max_attempts: after this many failed attempts a row is ``failed`` and left for a person;
            None means the task's own retries decide.
        retry_delay: how long a failed row waits before it may be claimed again.
        only: send only these rows (a person re-sending one write-back); None: every pending row.

    Raises:
        Retryable, AuthError, EndpointNotFound: after recording the failed attempt on the claimed
            rows (they stay pending), so the task shows it; the retry policy retries the first and
            fails the others at once.
        InvalidPayload: every row of a batch was refused, after recording them as ``rejected``.
    """
    total = DispatchCounts()
    waiting: list[int] = []  # rows a handler said wait: not claimed again in this dispatch
    with conn.cursor() as cur:
        while True:
            rows = _claim(cur, channel, account, kind, batch_size, waiting, only)
            if not rows:
                conn.commit()
                break
            total.claimed += len(rows)
            total.batches += 1
            try:
                outcomes, refused = _send(handler, rows)
            except OrderbridgeError as err:
                total.failed += _record_failure(cur, channel, account, kind, rows, err, max_attempts, retry_delay,
                                                run_id)
                conn.commit()
                log.warning("%s/%s %s: batch of %d failed, attempt recorded: %s", channel, account, kind,
                            len(rows), err)
                raise
            counts = _record_outcomes(cur, channel, account, kind, rows, outcomes, run_id)
            conn.commit()
            total.sent += counts.sent
            total.rejected += counts.rejected
            total.waiting += counts.waiting
            waiting += [r.id for r in rows if outcomes[r.id].status == "waiting"]
            if len(refused) == len(rows):
                raise _all_refused(channel, account, kind, rows, outcomes)
    return total


def _all_refused(channel: str, account: str, kind: str, rows: list[OutboxRow],
                 outcomes: dict[int, Outcome]) -> InvalidPayload:
    ids = ", ".join(str(r.id) for r in rows[:20]) + (", ..." if len(rows) > 20 else "")
    return InvalidPayload(
        f"the channel refused every one of the {len(rows)} {kind} write-back(s) in a batch (first: "
        f"{outcomes[rows[0].id].message}); they are recorded as rejected and no further batch was sent. A whole "
        "batch refused is our payload or configuration, not the orders. Resolution: fix what the refusal names "
        "(the payload we build, or the connection's extras), then send them again: UPDATE staging.outbox SET "
        f"status = 'pending', attempts = 0 WHERE id IN ({ids}).", channel=channel, account=account)


def requeue_failed(cur, channel: str, account: str, kind: str, run_id: str | None = None) -> int:
    """Give ``failed`` rows of one kind their attempts back (a person's decision, e.g. Merkana's DAG
    param ``resend_failed``), with a history entry each; returns how many. Sent rows are never touched."""
    cur.execute(
        """WITH requeued AS (
               UPDATE staging.outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()
               WHERE channel = %(c)s AND account = %(a)s AND kind = %(k)s AND status = 'failed'
               RETURNING id, order_id)
           INSERT INTO staging.order_events (order_id, channel, account, external_order_id, event, message, detail,
                                             run_id)
           SELECT r.order_id, %(c)s, %(a)s, o.external_order_id, %(event)s,
                  'failed write-back queued again by a person',
                  jsonb_build_object('outbox_id', r.id, 'kind', %(k)s::text), %(run)s
           FROM requeued r LEFT JOIN staging.orders o ON o.id = r.order_id""",
        {"c": channel, "a": account, "k": kind, "event": f"{kind}_requeued", "run": run_id},
    )
    return cur.rowcount


def raise_if_waiting(cur, channel: str, account: str, kind: str, max_attempts: int) -> None:
    """Fail the task while rows of ``kind`` wait for a retry after a failed attempt: a task is green
    only when nothing it was meant to send is still waiting.

    Raises:
        Retryable: naming how many rows wait, until when, and the last error.
    """
    cur.execute(
        """SELECT count(*), min(next_attempt_at), max(attempts), (array_agg(last_error ORDER BY updated_at DESC))[1]
           FROM staging.outbox WHERE channel = %s AND account = %s AND kind = %s AND status = 'pending'
             AND attempts > 0 AND next_attempt_at > now()""",
        (channel, account, kind),
    )
    waiting, until, attempts, error = cur.fetchone()
    if waiting:
        raise Retryable(f"{waiting} {kind} write-back(s) failed and wait for attempt {attempts + 1} of {max_attempts} "
                        f"at {until.astimezone(UTC):%H:%M:%S} UTC; last error: {error}", channel=channel,
                        account=account)


def _send(handler: Handler, rows: list[OutboxRow]) -> tuple[dict[int, Outcome], set[int]]:
    """Send a batch; if the channel refuses the batch's content, isolate the refused rows one by one.

    Returns the outcome of every row and the ids of those the channel refused (``InvalidPayload``).
    Any other error (``Retryable``, ``AuthError``, ``EndpointNotFound``) is about the call, not a
    row: it propagates, and sending the rows one by one would only repeat it.
    """
    try:
        return handler(rows), set()
    except InvalidPayload as err:
        if len(rows) == 1:
            return {rows[0].id: Outcome("rejected", str(err))}, {rows[0].id}
    outcomes: dict[int, Outcome] = {}
    refused: set[int] = set()
    for row in rows:
        done, no = _send(handler, [row])
        outcomes.update(done)
        refused |= no
    return outcomes, refused
