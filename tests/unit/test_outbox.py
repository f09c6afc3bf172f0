"""The outbox against the real PostgreSQL: enqueue once by key, dispatch, and what each outcome records.

Handlers here are plain functions that answer as a channel would (or raise what the client
raises); the 404 case goes through ``ChannelClient``'s own classification of a 404 answer.
"""

from __future__ import annotations

import json

import pytest
import requests

from orderbridge import outbox
from orderbridge.errors import EndpointNotFound, InvalidPayload, Permanent, Retryable
from orderbridge.outbox import Effect, Outcome

CHANNEL, ACCOUNT, KIND = "unitchannel", "acct", "thing"


def effects(n: int, start: int = 0, order: str | None = None, **payload) -> list[Effect]:
    return [Effect(KIND, f"k{i}", {"n": i, **payload}, order) for i in range(start, start + n)]


def enqueue(conn, items, order_ids=None) -> int:
    with conn.cursor() as cur:
        new = outbox.enqueue(cur, CHANNEL, ACCOUNT, items, order_ids)
    conn.commit()
    return new


def add_order(conn, ext: str) -> int:
    with conn.cursor() as cur:
        cur.execute("""INSERT INTO staging.orders (channel, account, external_order_id, status, content_hash)
                       VALUES (%s, %s, %s, 'ready', 'h') RETURNING id""", (CHANNEL, ACCOUNT, ext))
        order_id = cur.fetchone()[0]
    conn.commit()
    return order_id


def rows(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("""SELECT payload->>'n', status, attempts, last_error, sent_at IS NOT NULL FROM staging.outbox
                       WHERE channel = %s ORDER BY id""", (CHANNEL,))
        found = cur.fetchall()
    conn.rollback()
    return found


def events(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("""SELECT event, message, detail FROM staging.order_events WHERE channel = %s ORDER BY id""",
                    (CHANNEL,))
        found = cur.fetchall()
    conn.rollback()
    return found


def dispatch(conn, handler, **options):
    return outbox.dispatch(conn, CHANNEL, ACCOUNT, KIND, handler, run_id="run-1", **options)


class Recorder:
    """A handler: records each batch (by payload ``n``) and answers with ``answer(rows)``."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.batches: list[list[str]] = []

    def __call__(self, batch):
        self.batches.append([str(r.payload["n"]) for r in batch])
        return self.answer(batch)


def all_sent(batch):
    return {r.id: Outcome("sent", f"sent {r.payload['n']}", {"n": r.payload["n"]}) for r in batch}


# -- enqueue ---------------------------------------------------------------------------------------

def test_enqueue_is_idempotent_by_key(conn):
    assert enqueue(conn, effects(3)) == 3
    # Again (a rerun), with a changed payload and one new effect, and a key twice in one call.
    again = [Effect(KIND, "k0", {"n": "changed"}), *effects(1, start=3), *effects(1, start=3)]
    assert enqueue(conn, again) == 1
    assert [r[0] for r in rows(conn)] == ["0", "1", "2", "3"]  # k0 keeps its first payload
    with conn.cursor() as cur:
        cur.execute("SELECT idempotency_key FROM staging.outbox WHERE channel = %s ORDER BY id", (CHANNEL,))
        assert [k for (k,) in cur.fetchall()] == [f"{CHANNEL}:{ACCOUNT}:{KIND}:k{i}" for i in range(4)]


# -- dispatch: outcomes ------------------------------------------------------------------------------

def test_sent_and_rejected_are_recorded_with_their_history(conn):
    enqueue(conn, effects(4))

    def answer(batch):
        return {r.id: Outcome("sent", "posted") if r.payload["n"] % 2 == 0
                else Outcome("rejected", f"channel does not know {r.payload['n']}") for r in batch}

    handler = Recorder(answer)
    counts = dispatch(conn, handler, batch_size=10)
    assert (counts.claimed, counts.sent, counts.rejected, counts.failed, counts.batches) == (4, 2, 2, 0, 1)
    assert rows(conn) == [("0", "sent", 1, None, True), ("1", "rejected", 1, "channel does not know 1", False),
                          ("2", "sent", 1, None, True), ("3", "rejected", 1, "channel does not know 3", False)]
    history = events(conn)
    assert [(e, m) for e, m, _ in history] == [("thing_sent", "posted"), ("thing_sent", "posted"),
                                               ("thing_rejected", "channel does not know 1"),
                                               ("thing_rejected", "channel does not know 3")]
    assert all(d["kind"] == KIND and d["attempt"] == 1 and d["outbox_id"] for _, _, d in history)
    # Nothing is sent twice: a second run has nothing to claim.
    assert dispatch(conn, handler).claimed == 0 and len(handler.batches) == 1


def response(status: int, body: str = "Not Found") -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content = status, body.encode()
    return answer


@pytest.fixture
def client(monkeypatch):
    from orderbridge.http import ChannelClient

    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_UNIT_OUTBOX", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": 9, "extra": {"api_path": "/api/wrong"}}))
    return ChannelClient("orderbridge_unit_outbox", ACCOUNT, backoff=0, sleep=lambda s: None)


def test_a_broken_endpoint_fails_the_task_and_leaves_the_rows_pending_with_the_attempt_counted(conn, client):
    """A wrong ``api_path`` used to turn every pending row into a final ``rejected``, one call each."""
    enqueue(conn, effects(5))

    def answer(batch):
        client._check(response(404), "POST", "mark_exported", "")  # what the client makes of a 404
        return all_sent(batch)

    handler = Recorder(answer)
    with pytest.raises(EndpointNotFound) as err:
        dispatch(conn, handler, batch_size=10)
    assert isinstance(err.value, Permanent)  # the DAG's retry policy fails the task at once
    assert handler.batches == [["0", "1", "2", "3", "4"]]  # one call, not one per row
    assert [(n, status, attempts) for n, status, attempts, *_ in rows(conn)] == [
        (str(i), "pending", 1) for i in range(5)]
    assert all("HTTP 404" in error for *_, error, _ in rows(conn))
    assert [e for e, _, _ in events(conn)] == ["thing_attempt_failed"] * 5
    # Once the connection is fixed, the next run sends them.
    assert dispatch(conn, Recorder(all_sent)).sent == 5


def test_a_batch_whose_every_row_is_refused_fails_the_task_after_recording_them(conn):
    enqueue(conn, effects(5))

    def answer(batch):
        raise InvalidPayload("HTTP 422 (validation error found)", channel=CHANNEL, account=ACCOUNT,
                             status_code=422)

    handler = Recorder(answer)
    with pytest.raises(InvalidPayload, match="every one of the 3") as err:
        dispatch(conn, handler, batch_size=3)
    assert isinstance(err.value, Permanent) and "Resolution:" in str(err.value)
    assert handler.batches == [["0", "1", "2"], ["0"], ["1"], ["2"]]  # isolated, then all refused
    states = [(n, status, attempts) for n, status, attempts, *_ in rows(conn)]
    assert states == [("0", "rejected", 1), ("1", "rejected", 1), ("2", "rejected", 1),
                      ("3", "pending", 0), ("4", "pending", 0)]  # the next batch is not sent to its fate
    assert [e for e, _, _ in events(conn)] == ["thing_rejected"] * 3


def test_a_batch_of_one_refused_row_fails_the_task_too(conn):
    enqueue(conn, effects(1))

    def answer(batch):
        raise InvalidPayload("HTTP 400 (bad)", status_code=400)

    with pytest.raises(InvalidPayload, match="every one of the 1"):
        dispatch(conn, Recorder(answer))
    assert [r[1] for r in rows(conn)] == ["rejected"]


def test_one_refused_row_in_a_batch_is_isolated_and_the_rest_are_sent(conn):
    enqueue(conn, effects(4))

    def answer(batch):
        if any(r.payload["n"] == 2 for r in batch):
            raise InvalidPayload("HTTP 422 (statusId invalid)", status_code=422)
        return all_sent(batch)

    handler = Recorder(answer)
    counts = dispatch(conn, handler, batch_size=10)
    assert (counts.sent, counts.rejected) == (3, 1)
    assert handler.batches == [["0", "1", "2", "3"], ["0"], ["1"], ["2"], ["3"]]
    assert [(n, status) for n, status, *_ in rows(conn)] == [("0", "sent"), ("1", "sent"), ("2", "rejected"),
                                                             ("3", "sent")]
    assert "statusId invalid" in rows(conn)[2][3]


def test_rows_past_max_attempts_are_failed_and_left_for_a_person(conn):
    enqueue(conn, effects(2))

    def answer(batch):
        raise Retryable("HTTP 503 (down)", status_code=503)

    for attempt in (1, 2):
        with pytest.raises(Retryable):
            dispatch(conn, Recorder(answer), max_attempts=2)
        expected = "pending" if attempt == 1 else "failed"
        assert [(status, attempts) for _, status, attempts, *_ in rows(conn)] == [(expected, attempt)] * 2
    assert dispatch(conn, Recorder(all_sent)).claimed == 0  # failed rows are never claimed again
    messages = [m for e, m, _ in events(conn) if e == "thing_attempt_failed"]
    assert len(messages) == 4 and all(m.startswith("gave up after 2 attempts") for m in messages[2:])


def open_attention(conn) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute("SELECT external_order_id, reason, message, detail->>'kind' FROM staging.attention"
                    " WHERE cleared_at IS NULL ORDER BY id")
        found = cur.fetchall()
    conn.rollback()
    return found


def test_attention_is_raised_on_the_order_once_per_note(conn):
    order_id = add_order(conn, "ORD-1")
    enqueue(conn, [Effect(KIND, "a", {"n": 1}, "ORD-1"), Effect(KIND, "b", {"n": 2}, "ORD-1")])

    def answer(batch):
        return {r.id: Outcome("rejected", f"line {r.payload['n']} was cancelled. Resolution: stop the parcel",
                              attention=True) for r in batch}

    both = "line 1 was cancelled. Resolution: stop the parcel; line 2 was cancelled. Resolution: stop the parcel"
    dispatch(conn, Recorder(answer))  # two rows of one order in one batch: one row, both notes
    assert open_attention(conn) == [("ORD-1", "writeback_refused", both, KIND)]
    enqueue(conn, [Effect(KIND, "c", {"n": 1}, "ORD-1")])  # the same note again, from another row
    dispatch(conn, Recorder(answer))
    assert open_attention(conn) == [("ORD-1", "writeback_refused", both, KIND)]
    with conn.cursor() as cur:  # the order's summary reads the open rows
        cur.execute("SELECT attention FROM staging.orders WHERE id = %s", (order_id,))
        assert cur.fetchone()[0] == f"writeback_refused: {both}"


def test_every_refusal_is_raised_with_its_reason_and_a_resolution_and_cleared_once_resent(conn):
    add_order(conn, "ORD-2")
    add_order(conn, "ORD-3")
    enqueue(conn, [Effect(KIND, "a", {"n": 1}, "ORD-2"), Effect(KIND, "b", {"n": 2}, "ORD-3")])
    dispatch(conn, Recorder(lambda batch: {r.id: Outcome("rejected", "refused", {"reason": "tracking_not_open"}
                                                         if r.payload["n"] == 2 else {}) for r in batch}))
    (ext2, reason2, message2, _), (ext3, reason3, _, _) = open_attention(conn)
    assert (ext2, reason2, ext3, reason3) == ("ORD-2", "writeback_refused", "ORD-3", "tracking_not_open")
    assert "Resolution: fix what the refusal names, then send it again: UPDATE staging.outbox SET status = " \
           "'pending', attempts = 0 WHERE id = " in message2
    with conn.cursor() as cur:
        cur.execute("UPDATE staging.outbox SET status = 'pending' WHERE payload->>'n' = '1'")
    conn.commit()
    outbox.dispatch(conn, CHANNEL, ACCOUNT, KIND, Recorder(all_sent), run_id="resend")
    assert [r[:2] for r in open_attention(conn)] == [("ORD-3", "tracking_not_open")]
    with conn.cursor() as cur:
        cur.execute("SELECT cleared_by, cleared_run_id FROM staging.attention WHERE external_order_id = 'ORD-2'")
        assert cur.fetchall() == [("orderbridge", "resend")]


def test_a_write_back_given_up_is_raised_and_cleared_when_resent_and_taken(conn):
    add_order(conn, "ORD-4")
    enqueue(conn, [Effect(KIND, "a", {"n": 1}, "ORD-4")])

    def down(batch):
        raise Retryable("HTTP 503 (down)", status_code=503)

    with pytest.raises(Retryable):
        dispatch(conn, Recorder(down), max_attempts=1)
    [(ext, reason, message, kind)] = open_attention(conn)
    assert (ext, reason, kind) == ("ORD-4", "writeback_failed", KIND)
    assert "gave up after 1 attempts: HTTP 503 (down)" in message and "Resolution" in message
    with conn.cursor() as cur:
        outbox.requeue_failed(cur, CHANNEL, ACCOUNT, KIND)
    conn.commit()
    dispatch(conn, Recorder(all_sent))
    assert open_attention(conn) == []
