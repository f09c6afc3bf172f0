"""Groupon Goods "CommerceInterface" fake: in-memory accounts and the API routes that serve them.

Behaviour follows the Groupon API notes (groupon-api.md §1-5, 8, 9; see the README); where they
mark a rule as a guess, the choice made here is noted next to the code. The fake also records what
a client did (exports per line, accepted tracking, requests per endpoint and status) for the
``/_sandbox/groupon`` control routes, so tests can verify a client from the outside.

Routes: ``/groupon/api/{v2,v3,v4}/get_orders`` (GET), ``mark_exported``, ``tracking_notification``
and, on v4 only, ``lineitem_tracking_notification`` (POST). Every answer is JSON sent as
``text/json`` with a top-level ``success``, as recorded traffic shows. The control routes over
this state live in ``app``.
"""

from __future__ import annotations

import bisect
import csv
import hmac
import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from orderbridge.sandbox.fakedata import GrouponOrderFactory

CHANNEL = "groupon"
CONTENT_TYPE = "text/json"
VERSIONS = ("v2", "v3", "v4")
MAX_WINDOW = timedelta(hours=24)
REQUEST_DATE_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
AUTH_REASON = "Invalid supplier_id or token"


def load_carriers() -> dict[str, str]:
    """Approved carrier codes, lower-cased (either column of a row) -> the row's main code."""
    text = resources.files("orderbridge.data").joinpath("groupon_carriers.csv").read_text(encoding="utf-8")
    codes: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        for key in ("code", "alternate_code"):
            if row.get(key):
                codes[row[key].strip().lower()] = row["code"].strip()
    return codes


@dataclass
class Line:
    """One line item and what clients have done to it."""

    payload: dict
    exported: bool = False
    export_calls: int = 0
    status: str = "open"
    tracking: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = str(self.payload.get("status") or "open")

    def state(self) -> dict:
        p = self.payload
        return {"ci_lineitemid": p["ci_lineitemid"], "fulfillment_lineitem_id": p["fulfillment_lineitem_id"],
                "sku": p["sku"], "quantity": p["quantity"], "exported": self.exported,
                "export_calls": self.export_calls, "status": self.status, "tracking": list(self.tracking)}


@dataclass
class Entry:
    """One ``data`` entry of ``get_orders``; an order split in two has two with the same orderid."""

    orderid: str
    seq: int
    date: datetime
    payload: dict
    lines: list[Line]

    @property
    def key(self) -> tuple[str, int]:
        return (self.orderid, self.seq)

    def to_api(self) -> dict:
        return {**self.payload, "line_items": [{**ln.payload, "status": ln.status} for ln in self.lines]}

    def ship_to(self) -> dict:
        customer = self.payload.get("customer") or {}
        return {k: customer.get(k) for k in ("name", "address1", "address2", "city", "state", "zip", "country")}


class GrouponAccount:
    """One supplier account: its orders, kept sorted by (orderid, entry), and its counters."""

    def __init__(self, supplier_id: str, token: str, factory: GrouponOrderFactory) -> None:
        self.supplier_id, self.token, self.factory = supplier_id, token, factory
        self.entries: list[Entry] = []
        self.by_ci: dict[int, Line] = {}
        self.by_fli: dict[str, Line] = {}
        self.requests: Counter[tuple[str, int]] = Counter()
        self.exports = 0  # bumped whenever a line is marked exported: invalidates the open queue
        self._open: tuple[tuple[int, int], list[Entry]] | None = None

    def add_orders(self, n: int, anchor: datetime | None = None, days: float | None = None) -> list[str]:
        """Generate ``n`` more orders (continuing the account's stream); returns their orderids."""
        orderids = []
        for order in self.factory.generate(n, anchor=anchor, days=days):
            orderids.append(order[0].orderid)
            for seq, gen in enumerate(order):
                self._add_entry(gen, seq)
        return orderids

    def _add_entry(self, gen, seq: int) -> Entry:
        lines = [Line(dict(li)) for li in gen.payload["line_items"]]
        for line in lines:
            self.by_ci[line.payload["ci_lineitemid"]] = line
            self.by_fli[line.payload["fulfillment_lineitem_id"]] = line
        payload = {k: v for k, v in gen.payload.items() if k != "line_items"}
        entry = Entry(gen.orderid, seq, gen.date, payload, lines)
        bisect.insort(self.entries, entry, key=lambda e: e.key)
        self._open = None
        return entry

    def split_order(self, orderid: str, n_lines: int = 1) -> Entry:
        """Groupon lists one more entry under an existing ``orderid``: new lines, another ship-to.

        Raises:
            KeyError: no such order.
        """
        mine = [e for e in self.entries if e.orderid == orderid]
        if not mine:
            raise KeyError(orderid)
        first = mine[0]
        gen = self.factory.split_entry(orderid, first.payload.get("parent_orderid"), first.date, n_lines)
        return self._add_entry(gen, max(e.seq for e in mine) + 1)

    def set_line_status(self, ci_lineitemid: int, status: str) -> Line:
        """The customer cancelled or Groupon refunded a line (``cancelled``, ``refunded``; guessed words).

        Raises:
            KeyError: no such line.
        """
        line = self.by_ci[ci_lineitemid]
        line.status = status
        return line

    def set_customer(self, orderid: str, customer: dict, entry: int | None = None) -> int:
        """Overwrite customer fields of an order's entries (all, or the one numbered ``entry``)."""
        changed = 0
        for e in self.entries:
            if e.orderid == orderid and entry in (None, e.seq):
                e.payload["customer"] = {**(e.payload.get("customer") or {}), **customer}
                changed += 1
        if not changed:
            raise KeyError(orderid)
        return changed

    def open_entries(self) -> list[Entry]:
        """Entries with a line not exported yet (the default ``get_orders`` queue).

        Kept until a line is exported or an order added, so paging through N orders costs O(N)
        once rather than on every page (which made a 100,000-order extract quadratic).
        """
        key = (len(self.entries), self.exports)
        if self._open is None or self._open[0] != key:
            self._open = (key, [e for e in self.entries if any(not ln.exported for ln in e.lines)])
        return self._open[1]

    def state(self) -> dict:
        orders: dict[str, dict] = {}
        for e in self.entries:
            order = orders.setdefault(e.orderid, {"orderid": e.orderid, "date": e.payload["date"], "entries": []})
            order["entries"].append({"entry": e.seq, "ship_to": e.ship_to(), "lines": [ln.state() for ln in e.lines]})
        lines = list(self.by_ci.values())
        totals = {"orders": len(orders), "entries": len(self.entries), "lines": len(lines),
                  "exported_lines": sum(ln.exported for ln in lines),
                  "shipped_lines": sum(ln.status == "ship" for ln in lines),
                  "cancelled_lines": sum(ln.status in ("cancelled", "refunded") for ln in lines),
                  "split_orders": sum(1 for o in orders.values() if len(o["entries"]) > 1)}
        return {"supplier_id": self.supplier_id, "orders": list(orders.values()), "totals": totals,
                "requests": counters(self.requests)}


def counters(counter: Counter[tuple[str, int]]) -> dict[str, dict[str, int]]:
    """``{(endpoint, status): n}`` as ``{endpoint: {"status": n}}`` for JSON."""
    out: dict[str, dict[str, int]] = {}
    for (endpoint, status), n in sorted(counter.items()):
        out.setdefault(endpoint, {})[str(status)] = n
    return out


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
            # The window applies to the order date (a guess) and includes exported orders (SW history).
            items = [e for e in account.entries if lo <= e.date < hi]
        else:
            items = account.open_entries()
        size, total = self.page_size, len(items)
        # Computed per request: marking lines exported while paging shifts later pages, as live.
        meta = {"no_of_pages": math.ceil(total / size), "current_page": page if total else 0,
                "max_items_per_page": size, "no_of_items": total}
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
            line.exported = True  # already exported lines are skipped silently (doc sample comment)
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
        for lid in open_ids:
            lookup[lid].status = "ship"
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


__all__ = ["CHANNEL", "CONTENT_TYPE", "GrouponAccount", "GrouponSandbox", "api_router", "read_params"]
