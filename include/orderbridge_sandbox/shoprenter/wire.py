"""What the Shoprenter fake reads and writes on the wire: XML or JSON answers (A2), request bodies
in their three shapes (A2), the paging envelope (A4) and query dates (A5).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree

from orderbridge_sandbox.shoprenter.state import ApiError, Settings

XML = "application/xml; charset=utf-8"
JSON = "application/json"
_BRACKETS = re.compile(r"\[([^\]]*)\]")


def wants_json(accept: str | None) -> bool:
    """JSON only when asked for (A2: the default answer is XML)."""
    return "application/json" in (accept or "").lower()


def render(payload: object, as_json: bool) -> tuple[bytes, str]:
    """The answer body and its content type."""
    if as_json:
        return json.dumps(payload, ensure_ascii=False).encode(), JSON
    return to_xml(payload), XML


def to_xml(payload: object, root: str = "response") -> bytes:
    """``payload`` as XML [G: the notes give no XML document]: dict keys become elements; a list
    under a plural key (``items``) becomes ``<item>`` children, under a singular key (``request``)
    one element per entry; None is an empty element."""
    element = ElementTree.Element(root)
    _fill(element, payload)
    return ElementTree.tostring(element, encoding="utf-8", xml_declaration=True)


def _fill(element: ElementTree.Element, value: object) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, list) and not key.endswith("s"):
                for entry in child:
                    _fill(ElementTree.SubElement(element, key), entry)
            else:
                _fill(ElementTree.SubElement(element, key), child)
    elif isinstance(value, list):
        for entry in value:
            _fill(ElementTree.SubElement(element, "item"), entry)
    elif isinstance(value, bool):
        element.text = "1" if value else "0"
    elif value is not None:
        element.text = str(value)


def parse_body(raw: bytes, content_type: str, form: list[tuple[str, str]] | None = None) -> dict:
    """The resource fields of a POST/PUT body in any of the three shapes A2 lists: top-level JSON,
    JSON wrapped in ``{"data": {...}}``, or form fields ``data[field]=...`` (nested ``data[a][b]``).

    Args:
        raw: the body as received.
        content_type: its ``Content-Type``.
        form: the parsed fields of a multipart body (the caller parses those); urlencoded ones are
            parsed here.

    Raises:
        ApiError: 400/40001 when no data is found (empty body, not JSON, no ``data[...]`` fields).
    """
    missing = ApiError(400, 40001, "Data parameter not found in POST/PUT!")
    ctype = content_type.lower()
    if "json" in ctype:
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise ApiError(400, 40001, "Data parameter not found in POST/PUT! (the body is not valid JSON)") from None
        if isinstance(body, dict) and set(body) == {"data"} and isinstance(body["data"], dict):
            body = body["data"]
        if not isinstance(body, dict) or not body:
            raise missing
        return body
    if "x-www-form-urlencoded" in ctype:
        form = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if form is None:
        raise missing
    data: dict = {}
    for name, value in form:
        if not name.startswith("data["):
            continue
        keys = _BRACKETS.findall(name[4:])
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ApiError(400, 40001, f"form field {name} mixes a value and nested fields")
        target[keys[-1]] = value
    if not data:
        raise missing
    return _listed(data)


def _listed(value: object) -> object:
    """Form fields number list entries (``data[requests][0][method]``): such dicts become lists."""
    if not isinstance(value, dict):
        return value
    if value and all(k.isdigit() for k in value):
        return [_listed(value[k]) for k in sorted(value, key=int)]
    return {k: _listed(v) for k, v in value.items()}


def parse_date(name: str, text: str, date_only: bool = False) -> datetime:
    """A filter date: ``2013-01-01T10:30:00`` (or ``2013-01-01`` for ``createdAt``/``updatedAt``).

    Raises:
        ApiError: 400/40009 naming the parameter (A2).
    """
    try:
        if date_only:
            return datetime.strptime(text, "%Y-%m-%d")
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        shape = "1990-01-01" if date_only else "1990-01-01T00:00:00"
        raise ApiError(400, 40009, f"Invalid datetime in parameter {name}: '{text}' (format: {shape})") from None


def whole(name: str, text: str | None, default: int) -> int:
    if text is None or text == "":
        return default
    if not text.strip().isdigit():
        raise ApiError(400, 40012, f"Parameter {name} must be a whole number, got '{text}'")
    return int(text)


def envelope(url: str, params: dict[str, str], rows: list, settings: Settings, with_page_count: bool,
             numbers_as_strings: bool) -> tuple[dict, list]:
    """The A4 envelope of one page of ``rows`` and the rows on it.

    ``url`` is the collection's absolute URL; links keep the request's other parameters, so
    following ``next`` continues the same filtered listing.

    Raises:
        ApiError: 400 for a ``limit`` outside 1..200 [G: refused rather than clamped], 400/40008
            for a page past the last.
    """
    page = whole("page", params.get("page"), 0)
    limit = whole("limit", params.get("limit"), settings.default_limit)
    if not 1 <= limit <= 200:
        raise ApiError(400, 40012, f"Parameter limit must be between 1 and 200, got {limit}")
    last = max(0, (len(rows) - 1) // limit)
    if page > last:
        raise ApiError(400, 40008, f"Page not found! This Resource minimum page is 0 and maximum page is {last}")
    kept = {k: v for k, v in params.items() if k not in ("page", "limit")}

    def link(n: int) -> dict:
        return {"href": f"{url}?{urlencode({**kept, 'page': n, 'limit': limit})}"}

    def number(n: int) -> str | int:
        return str(n) if numbers_as_strings else n

    head: dict = {"href": link(page)["href"], "page": number(page)}
    if with_page_count:
        head["pageCount"] = number(last + 1 if rows else 0)
    head.update({"limit": number(limit), "first": link(0), "previous": link(page - 1) if page > 0 else None,
                 "next": link(page + 1) if page < last else None, "last": link(last)})
    return head, rows[page * limit:(page + 1) * limit]
