"""What a person may look at (``reader``): who they are, the queue, search, one order, the deadline watch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from orderbridge.attention import REASONS
from orderbridge.operator import deadlines, queries
from orderbridge.operator.auth import Reader, can_act, dag_id, name_of

router = APIRouter()


def staging():  # replaced by the app (``app.create_app``) with one connection per request
    raise NotImplementedError


Staging = Annotated[Any, Depends(staging)]


@router.get("/me")
def me(user: Reader) -> dict:
    return {"user": name_of(user), "can_act": can_act(user), "reasons": REASONS}


@router.get("/queue")
def queue(user: Reader, conn: Staging, channel: str | None = None, account: str | None = None,
          reason: str | None = None, since: datetime | None = None, until: datetime | None = None,
          limit: int = Query(500, ge=1, le=5000)) -> dict:
    if reason is not None and reason not in REASONS:
        raise HTTPException(422, f"unknown reason {reason!r}; known: {', '.join(REASONS)}")
    with conn.cursor() as cur:
        return queries.queue(cur, channel=channel, account=account, reason=reason, since=since, until=until,
                             limit=limit)


@router.get("/search")
def search(user: Reader, conn: Staging, q: str = Query(..., min_length=1, max_length=200)) -> list[dict]:
    with conn.cursor() as cur:
        return queries.find(cur, q)


@router.get("/orders/{order_id}")
def order(order_id: int, user: Reader, conn: Staging) -> dict:
    with conn.cursor() as cur:
        found = queries.order(cur, order_id)
    if found is None:
        raise HTTPException(404, f"no staging order with id {order_id}")
    head = found["order"]
    found["dag_id"] = dag_id(head["channel"], head["account"])
    found["can_act"] = can_act(user, head["channel"], head["account"])
    return found


@router.get("/deadlines")
def deadline_watch(user: Reader, conn: Staging) -> list[dict]:
    try:
        settings = deadlines.DeadlineSettings.from_environment()
    except deadlines.InvalidDeadlines as e:
        # The deployment's setting, not the request: the page shows which variable and why.
        raise HTTPException(500, f"the deadline watch cannot start: {e}") from e
    with conn.cursor() as cur:
        return deadlines.watch(cur, datetime.now(UTC), settings)
