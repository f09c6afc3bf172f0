"""``/batch`` answers sorted item by item: the outer status is 200 whatever the items got (A8).

Each sub-answer's ``response.header.statusCode`` says what became of its item: 2xx done; 429,
408 and 5xx worth sending again (only those items, in a new batch); any other code refused, with
the shop's message, never sent again by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RETRY_CODES = frozenset({408, 429})


@dataclass
class Outcome:
    """What a batch did to each item (indexes into the requests sent)."""

    done: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # index -> "HTTP 404: message"


def status_code(answer: dict) -> int | None:
    """A sub-answer's status code (a string or an int, A8); None when it has none."""
    header = ((answer.get("response") or {}).get("header") or {}) if isinstance(answer, dict) else {}
    code = header.get("statusCode")
    try:
        return int(code)
    except (TypeError, ValueError):
        return None


def message(answer: dict) -> str:
    body = (answer.get("response") or {}).get("body") if isinstance(answer, dict) else None
    if isinstance(body, dict):
        code = f"{body['error']} " if body.get("error") not in (None, "") else ""  # Shoprenter's inner code (A2)
        return (code + str(body.get("message") or "")).strip()[:200] or str(body)[:200]
    return str(body or "")[:200]


def sort(answers: list[dict]) -> Outcome:
    """Sort the sub-answers of one batch (in the order the requests were sent)."""
    outcome = Outcome()
    for i, answer in enumerate(answers):
        code = status_code(answer)
        if code is not None and 200 <= code < 300:
            outcome.done.append(i)
        elif code is None or code >= 500 or code in RETRY_CODES:
            outcome.retry.append(i)  # no code: the item's fate is unknown, and PUTs by SKU repeat harmlessly
        else:
            outcome.refused[i] = f"HTTP {code}: {message(answer)}"
    return outcome


def send(batch: Callable[[list[dict]], list[dict]], requests_: list[dict], attempts: int = 3) -> Outcome:
    """Send one chunk; send again only its items that failed transiently, up to ``attempts`` times.

    Returns:
        The outcome by index into ``requests_``; items still failing after the last try are in ``retry``.
    """
    final, pending = Outcome(), list(range(len(requests_)))
    for attempt in range(1, attempts + 1):
        outcome = sort(batch([requests_[i] for i in pending]))
        final.done += [pending[i] for i in outcome.done]
        final.refused.update({pending[i]: why for i, why in outcome.refused.items()})
        pending = [pending[i] for i in outcome.retry]
        if not pending:
            break
        log.warning("batch: %d of %d items failed transiently (try %d of %d)", len(pending), len(requests_),
                    attempt, attempts)
    final.retry = pending
    return final
