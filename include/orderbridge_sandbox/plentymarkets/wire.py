"""The plentymarkets fake's JSON both ways: orders and paging envelopes as the API renders them
(``with[]`` relations, the numbers-as-strings quirk), what a handler reads from a request
(``Call``), request bodies, and the exchange log entries with secrets redacted.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response

from orderbridge_sandbox.plentyfake import SYSTEM_TZ, w3c
from orderbridge_sandbox.plentymarkets.common import EMPTY_RELATIONS, _invalid, _num, _status_name
from orderbridge_sandbox.plentymarkets.state import PlentyOrder, PlentySystem


def _stringify(value: object) -> object:
    return value if isinstance(value, (str, bool)) or value is None else str(value)


def _render_order(system: PlentySystem, order: PlentyOrder, relations: set[str], add_items: bool = True) -> dict:
    """The Order JSON with only the relations asked for (B5: ``with[]``)."""
    body = order.body
    out = {k: v for k, v in body.items() if k not in ("addresses", "relations", "orderItems")}
    out.update(statusId=_num(order.status_id), statusName=_status_name(order.status_id),
               updatedAt=w3c(order.updated_at))
    if "addresses" in relations:
        out["addresses"] = body["addresses"]
    if "relations" in relations:
        out["relations"] = body["relations"]
    if "shippingPackages" in relations:
        out["shippingPackages"] = list(order.packages)
    if "originOrderReferences" in relations:  # the references of the orders made from this one (returns)
        out["originOrderReferences"] = [ref for rid in order.returns
                                        for ref in system.orders[rid].body["orderReferences"]]
    for name in EMPTY_RELATIONS:
        if name in relations:
            out[name] = []
    if add_items:
        out["orderItems"] = [{k: v for k, v in item.items()
                              if (k != "variation" or "orderItems.variation" in relations)
                              and (k != "variationBarcodes" or "orderItems.variationBarcodes" in relations)}
                             for item in body["orderItems"]]
    if system.settings.numbers_as_strings and order.id % 2 == 0:
        # The quirk, on every other order so one page mixes both: the id, quantities and amounts as
        # strings, as some live systems answer (B4). Off by default: the spec says numbers.
        out = copy.deepcopy(out)
        out["id"] = str(out["id"])
        for amount in out["amounts"]:
            for key in ("netTotal", "grossTotal", "vatTotal", "invoiceTotal", "paidAmount", "shippingCostsGross"):
                amount[key] = _stringify(amount[key])
        for item in out.get("orderItems", []):
            item["quantity"] = _stringify(item["quantity"])
            for amount in item["amounts"]:
                amount["priceGross"], amount["priceNet"] = _stringify(amount["priceGross"]), \
                    _stringify(amount["priceNet"])
    return out


def _envelope(system: PlentySystem, rows: list, page: int, per_page: int, render: Callable[[object], dict]) -> dict:
    """The B4 paging envelope over ``rows``; ``page`` is 1-based."""
    total = len(rows)
    last = max(1, math.ceil(total / per_page))
    chunk = rows[(page - 1) * per_page:page * per_page]
    offset = (page - 1) * per_page
    # firstOnPage/lastOnPage of an empty page are not documented [G]: 0-based offset, nothing on it.
    body = {"page": page, "totalsCount": total, "isLastPage": page >= last, "lastPageNumber": last,
            "firstOnPage": offset + 1 if chunk else offset, "lastOnPage": offset + len(chunk),
            "itemsPerPage": per_page, "entries": [render(r) for r in chunk]}
    if system.settings.numbers_as_strings:  # "page":"1" in the guide, "itemsPerPage":"100" in mocks (B4)
        for key in ("page", "totalsCount", "lastPageNumber", "itemsPerPage"):
            body[key] = str(body[key])
    return body


# -- request parsing -------------------------------------------------------------------------------------

@dataclass
class Call:
    """What a handler needs from the request."""

    query: list[tuple[str, str]]
    body: object
    params: dict[str, str]  # path parameters

    def arg(self, name: str) -> str | None:
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else None

    def relations(self) -> set[str]:
        # with[]=a&with[]=b (PHP arrays, the spec's example), with=a,b (the spec's declared style), with[0]=a
        names: set[str] = set()
        for key, value in self.query:
            if key == "with" or key.startswith("with["):
                names.update(part.strip() for part in value.split(",") if part.strip())
        return names

    def int_arg(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise _invalid(name, f"The {name} must be an integer.") from None
        if value < minimum:
            raise _invalid(name, f"The {name} must be at least {minimum}.")
        return value

    def float_arg(self, name: str) -> float | None:
        raw = self.arg(name)
        if raw is None or raw == "":
            return None
        try:
            return float(raw)
        except ValueError:
            raise _invalid(name, f"The {name} must be a number.") from None

    def date_arg(self, name: str) -> datetime | None:
        raw = self.arg(name)
        if raw is None or raw == "":
            return None
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            hint = " (a '+' in the offset must be sent as %2B)" if " " in raw else ""
            raise _invalid(name, f"The {name} is not a valid W3C date{hint}.") from None
        # A date without offset is read in the system's zone: a guess, plenty documents only W3C.
        return moment if moment.tzinfo else moment.replace(tzinfo=SYSTEM_TZ)


def _parse_body(raw: bytes, content_type: str | None) -> object:
    if not raw.strip():
        return None
    if (content_type or "").lower().startswith("application/x-www-form-urlencoded"):  # login forms (B1 [C3])
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        return json.loads(raw)
    except ValueError:
        return _Unparsed(raw.decode("utf-8", "replace")[:2000])


class _Unparsed(str):
    """A body that was neither JSON nor a form: handlers find no fields in it."""


_SECRETS = ("password", "access_token", "accessToken", "refresh_token", "refreshToken")


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {k: "<redacted>" if k in _SECRETS else _redact(v) for k, v in value.items()}
    return value


def _exchange(system: PlentySystem, method: str, path: str, call: Call, request: Request, response: Response,
              body: object) -> dict:
    """One log entry: everything needed to validate both sides against the spec, secrets redacted."""
    req_headers = {k.lower(): v for k, v in request.headers.items()}
    if "authorization" in req_headers:  # keep the scheme: the spec check looks at it
        req_headers["authorization"] = req_headers["authorization"].split(" ", 1)[0] + " <redacted>"
    return {"seq": system.next_seq(), "at": w3c(datetime.now(UTC)), "method": method, "path": path,
            "query": [list(pair) for pair in call.query], "request_headers": req_headers,
            "request_body": str(call.body) if isinstance(call.body, _Unparsed) else _redact(call.body),
            "status": response.status_code, "response_headers": dict(response.headers),
            "response_body": _redact(body)}
