"""The Groupon fake's API: ``GrouponSandbox`` answers ``get_orders``, ``mark_exported`` and the two
tracking calls over the accounts, and ``api_router`` serves them under ``/groupon/api/{version}``.
"""

from __future__ import annotations

import hmac
import json
import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from orderbridge_sandbox.fakedata import GrouponOrderFactory
from orderbridge_sandbox.groupon.state import CONTENT_TYPE, GrouponAccount, load_carriers

VERSIONS = ("v2", "v3", "v4")
MAX_WINDOW = timedelta(hours=24)
REQUEST_DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
AUTH_REASON = "Invalid supplier_id or token"


class RequestError(ValueError):
    """A request the API answers with HTTP 200 ``success: false`` and this reason."""


def _parse_request_datetime(name: str, value: str) -> datetime:
    # The space may arrive as "+" or "%20" (SW, VY); forms decode both, raw bodies may not.
    text = " ".join(value.replace("%20", " ").replace("+", " ").split())
    for fmt in REQUEST_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise RequestError(f"{name} must be in MM/DD/YYYY HH:MM format (UTC, 24-hour clock), got {value!r}")


def _int_id(value: object, what: str = "line item ids") -> int:
    # Ids arrive as JSON numbers (SW, OO) or as strings of digits (VY, CG); both work live.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise RequestError(f"{what} must be integers, got {value!r}")


def _json_field(params: dict[str, str], name: str) -> list:
    if not params.get(name):
        raise RequestError(f"{name} is required")
    try:
        value = json.loads(params[name])
    except ValueError as err:
        raise RequestError(f"{name} must be a JSON array: {err}") from err
    if not isinstance(value, list):
        raise RequestError(f"{name} must be a JSON array")
    return value


class GrouponSandbox:
    """All Groupon accounts of one sandbox plus the API's configurable behaviour.

    Args:
        page_size: ``max_items_per_page`` (the real API uses 250).
        auth_failure_status: HTTP status for bad credentials; the reference only guesses 401.
        raw_utf8: send text as raw UTF-8 bytes under the charset-less ``text/json`` (what a
            server typically does, and what makes a client that trusts ``text/*``'s ISO-8859-1
            default garble names); False sends ``\\u`` escapes (pure ASCII).
    """

    def __init__(self, page_size: int = 250, auth_failure_status: int = 401, raw_utf8: bool = True) -> None:
        self.page_size, self.auth_failure_status, self.raw_utf8 = page_size, auth_failure_status, raw_utf8
        self.accounts: dict[str, GrouponAccount] = {}
        self.requests: Counter[tuple[str, int]] = Counter()
        self.carriers = load_carriers()

    def add_account(self, supplier_id: str, token: str, factory: GrouponOrderFactory, n_orders: int) -> None:
        account = GrouponAccount(supplier_id, token, factory)
        account.add_orders(n_orders)
        self.accounts[supplier_id] = account

    def authenticate(self, params: dict[str, str]) -> GrouponAccount | None:
        account = self.accounts.get(str(params.get("supplier_id", "")).strip())
        token = str(params.get("token", ""))
        if account and hmac.compare_digest(account.token.encode(), token.encode()):
            return account
        return None

    def get_orders(self, account: GrouponAccount, params: dict[str, str]) -> dict:
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            raise RequestError("page must be a positive integer") from None
        if page < 1:
            raise RequestError("page must be a positive integer")
        start, end = params.get("start_datetime"), params.get("end_datetime")
        if start or end:
            if not (start and end):
                raise RequestError("start_datetime and end_datetime must be given together")
            lo, hi = _parse_request_datetime("start_datetime", start), _parse_request_datetime("end_datetime", end)
            if hi <= lo:
                raise RequestError("end_datetime must be later than start_datetime")
            if hi - lo > MAX_WINDOW:
                raise RequestError("Period between start_datetime and end_datetime should be at most 24 hours")
            # The window applies to the order date (a guess) and includes exported orders (SW history),
            # each line with its status now (cancelled or refunded since, shipped).
            items = [e for e in account.entries if lo <= e.date < hi]
        else:
            items = account.open_entries()
        size, total = self.page_size, len(items)
        # Computed per request: marking lines exported while paging shifts later pages, as live.
        meta = {"no_of_pages": math.ceil(total / size), "current_page": page if total else 0,
                "max_items_per_page": size, "no_of_items": total}
        if start:
            account.window_reads.append({"start": lo.isoformat(), "end": hi.isoformat(), "page": page,
                                         "no_of_pages": meta["no_of_pages"]})
        chunk = items[(page - 1) * size:page * size]
        return {"meta": meta, "data": [e.to_api() for e in chunk], "success": True}

    def mark_exported(self, account: GrouponAccount, params: dict[str, str]) -> dict:
        ids = list(dict.fromkeys(_int_id(v, "ci_lineitem_ids") for v in _json_field(params, "ci_lineitem_ids")))
        unknown = []
        for ci in ids:
            line = account.by_ci.get(ci)
            if line is None:
                unknown.append(ci)  # a guess: the real API's answer to unknown ids is not known
                continue
            line.export_calls += 1
            if not line.exported:
                account.exports += 1
            # Already exported lines are skipped silently (doc sample comment); a cancelled or refunded
            # line is accepted like any known one (a guess: nothing documents a refusal).
            line.exported = True
        return {"success": True, "data": {"unknown_ids": unknown}} if unknown else {"success": True}

    def tracking(self, account: GrouponAccount, params: dict[str, str], by_fli: bool) -> dict:
        id_key = "fulfillment_lineitem_id" if by_fli else "ci_lineitem_id"
        items = []
        for item in _json_field(params, "tracking_info"):
            if not isinstance(item, dict) or any(item.get(k) in (None, "") for k in ("carrier", id_key, "tracking")):
                raise RequestError(f"each tracking_info element needs carrier, {id_key} and tracking")
            quantity = None if item.get("quantity") is None else _int_id(item["quantity"], "quantity")
            if quantity is not None and quantity < 1:
                raise RequestError("quantity must be a positive integer")
            line_id = str(item[id_key]).strip() if by_fli else _int_id(item[id_key])
            items.append((str(item["carrier"]), line_id, str(item["tracking"]).strip(), quantity))
        bad = list(dict.fromkeys(c for c, *_ in items if c.strip().lower() not in self.carriers))
        if bad:
            accepted = sorted(set(self.carriers.values()))
            raise RequestError(f"Invalid carrier code(s): {', '.join(bad)}. Accepted codes: "
                               f"{', '.join(accepted[:8])}, ... ({len(accepted)} in all, any case)")
        lookup = account.by_fli if by_fli else account.by_ci
        # Open-ness is judged at the start of the call, so one call may carry several parcels of a line.
        open_ids = {lid for _, lid, _, _ in items if lookup.get(lid) and lookup[lid].status == "open"}
        non_open: list = []
        for carrier, lid, tracking, quantity in items:
            if lid not in open_ids:
                if lid not in non_open:
                    non_open.append(lid)
                continue
            lookup[lid].tracking.append({"carrier": carrier, "tracking": tracking, "quantity": quantity})
        # ``quantity`` is optional (without it, the whole line) and Groupon knows "partially shipped"
        # orders (cancelled after 14 days, reference section 5): a line tracked for part of its
        # quantity stays open for the rest, and is shipped once its parcels cover it.
        for lid in open_ids:
            line = lookup[lid]
            if sum(t["quantity"] or line.quantity for t in line.tracking) >= line.quantity:
                line.status = "ship"
        return {"success": True, "data": {"non_open_ids": non_open}}


def _answer(body: dict, status: int = 200, raw_utf8: bool = True) -> Response:
    # Compact separators and a bare "text/json" (no charset), as in the recorded responses.
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=not raw_utf8)
    return Response(text.encode("utf-8"), status_code=status, headers={"content-type": CONTENT_TYPE})


async def read_params(request: Request) -> dict[str, str]:
    """Query string merged with the body (the body wins), for any method.

    Handles urlencoded and multipart forms and raw un-escaped ``a=b&c=[1,2]`` bodies (OO). A JSON
    body is deliberately not understood: the real API takes form fields only.
    """
    params = dict(request.query_params)
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        async with request.form() as form:
            for key, value in form.multi_items():
                params[key] = (await value.read()).decode("utf-8", "replace") if isinstance(value, UploadFile) \
                    else value
        return params
    body = (await request.body()).decode("utf-8", "replace").strip()
    if body and not ctype.startswith("application/json"):
        params.update(parse_qsl(body, keep_blank_values=True))
    return params


ENDPOINTS = {"get_orders": "GET", "mark_exported": "POST", "tracking_notification": "POST",
             "lineitem_tracking_notification": "POST"}


def api_router(sandbox: GrouponSandbox) -> APIRouter:
    """The Groupon API routes over ``sandbox``."""
    router = APIRouter()

    @router.api_route("/groupon/api/{version}/{endpoint}", methods=["GET", "POST"])
    async def dispatch(version: str, endpoint: str, request: Request) -> Response:
        # lineitem_tracking_notification is only seen against v4 (GN), so v2/v3 do not have it.
        if version not in VERSIONS or endpoint not in ENDPOINTS or (
                endpoint == "lineitem_tracking_notification" and version != "v4"):
            body, status, account = {"success": False, "reason": "Unknown endpoint"}, 404, None
        elif request.method != ENDPOINTS[endpoint]:
            body, status, account = {"success": False, "reason": "Method not allowed"}, 405, None
        else:
            params = await read_params(request)
            account = sandbox.authenticate(params)
            if account is None:
                body, status = {"success": False, "reason": AUTH_REASON}, sandbox.auth_failure_status
                account = sandbox.accounts.get(str(params.get("supplier_id", "")).strip())
            else:
                status = 200
                try:
                    if endpoint == "get_orders":
                        body = sandbox.get_orders(account, params)
                    elif endpoint == "mark_exported":
                        body = sandbox.mark_exported(account, params)
                    else:
                        body = sandbox.tracking(account, params, by_fli=endpoint.startswith("lineitem"))
                except RequestError as err:
                    body = {"success": False, "reason": str(err)}
        name = endpoint if endpoint in ENDPOINTS else "unknown"  # bounded keys, whatever clients probe
        sandbox.requests[(name, status)] += 1
        if account is not None:
            account.requests[(name, status)] += 1
        return _answer(body, status, sandbox.raw_utf8)

    return router
