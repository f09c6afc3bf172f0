"""Check recorded plentymarkets exchanges against the official OpenAPI spec, with openapi-core 0.23.

The spec subset lives outside the project (``../shared/reference/plentymarkets-openapi-subset.json``)
and is never copied in: without it, ``load_spec`` skips the calling test. Exchanges come from the
sandbox's log (``GET /_sandbox/plentymarkets/{system}/exchanges``): both the requests a client sent
and the sandbox's answers are checked, so a test catches a client that drifts from the API and a
sandbox that drifts from the spec.

Where the spec disagrees with the real API (the reference notes B1-B9), the check is adapted
explicitly, never switched off. Each adaptation is numbered here and at its place in the code:

1. Security: the spec declares OAuth2 ``authorizationCode``, which openapi-core cannot check (it only
   warns and accepts anything, even no header). The real API takes a Bearer token from
   ``/rest/login`` (B1), so the scheme is replaced by HTTP ``bearer``: a missing token is flagged.
2. ``components.schemas.string`` is ``{"type": "object"}``, a code-generator artefact; package numbers
   are strings (B8), so it becomes ``{"type": "string"}``.
3. The stock correction body requires a top-level ``quantity`` even in the documented list form
   ``{"corrections": [...]}`` (B9); the rule becomes "``quantity`` or ``corrections``".
4. Responses documented with ``content: {}`` (logout, stock correction) mean "no body": the key is
   dropped, and this module checks the body really is empty.
5. Every 200 is declared as ``*/*``, for which openapi-core has no deserializer; the API answers
   JSON, so ``*/*`` bodies are parsed as JSON (and the actual content type must be JSON).
6. ``with[]=a&with[]=b`` (PHP array syntax, the spec's own example) is sent as the declared ``with``
   parameter (``a,b``), so its values are still checked.
7. A form-encoded login (B1: clients send one) is checked as the equivalent JSON body, the only
   media type the spec lists.
8. Error answers: the spec documents only 401, with no body, while B3 documents JSON error bodies
   for 400-503. Error bodies are checked against the B3 shapes (and B1's session-limit body).
9. Numbers as strings (B4: ``"page":"1"``, string ids and amounts on live systems) are type errors
   under the spec; ``numbers_as_strings=True`` accepts a numeric string where the spec says
   integer or number, and nothing else. Off by default, like the sandbox quirk.
10. ``GET /rest/items/variations`` (the catalogue read) is not in the subset. It is added from what
   the reference cites: the path and its query parameters from the older Swagger 2.0 listing named
   in its introduction, the B4 paging envelope, and the Variation fields of PMMODEL (B6: ``id``,
   ``itemId``, ``number``, ``model``, ``externalId``, ``mainWarehouseId``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import jsonschema
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

REPO = Path(__file__).resolve().parents[1]
SPEC_PATH = REPO.parent / "shared" / "reference" / "plentymarkets-openapi-subset.json"
HOST_URL = "https://example.com"  # the spec's server; the sandbox's /plentymarkets/{system} prefix is not logged
CORRECTION = "/rest/stockmanagement/warehouses/{warehouseId}/stock/correction"

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["message"],
    "properties": {"message": {"type": "string"}, "code": {"type": "integer"},
                   "missing_permissions": {"type": "array", "items": {"type": "string"}}}}}}
_VALIDATION = {"type": "object", "required": ["error", "validation_errors"], "properties": {
    "error": {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}},
    "validation_errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}}
_SESSION_LIMIT = {"type": "object", "required": ["error", "max_current_sessions", "message"], "properties": {
    "error": {"const": "too_many_concurrent_sessions"}, "max_current_sessions": {"type": "integer"},
    "message": {"type": "string"}}}
VARIATIONS = "/rest/items/variations"
_VARIATION_PAGE = {"type": "object", "required": ["page", "isLastPage", "entries"], "properties": {
    **{k: {"type": "integer"} for k in ("page", "totalsCount", "lastPageNumber", "firstOnPage", "lastOnPage",
                                        "itemsPerPage")},
    "isLastPage": {"type": "boolean"},
    "entries": {"type": "array", "items": {"type": "object", "required": ["id", "itemId", "number"], "properties": {
        "id": {"type": "integer"}, "itemId": {"type": "integer"}, "number": {"type": "string"},
        "model": {"type": "string"}, "externalId": {"type": "string"}, "mainWarehouseId": {"type": "integer"},
        "isMain": {"type": "boolean"}, "isActive": {"type": "boolean"}, "name": {"type": "string"}}}}}}
B3_STATUSES = {400, 401, 403, 404, 405, 422, 429, 500, 502, 503}


def load_spec() -> dict:
    """The spec as published (no adaptations); skips the test when ../shared/reference is absent."""
    if not SPEC_PATH.is_file():
        pytest.skip(f"plentymarkets OpenAPI spec not found at {SPEC_PATH}: spec checks need ../shared/reference")
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def adapt(spec: dict) -> dict:
    """A copy of ``spec`` with adaptations 1-4 and 10 (see the module docstring)."""
    spec = copy.deepcopy(spec)
    # 1. Bearer instead of OAuth2 authorizationCode; the scheme keeps its name, so every operation's
    # "security": [{"oAuth2": []}] now demands "Authorization: Bearer ...".
    spec["components"]["securitySchemes"]["oAuth2"] = {
        "type": "http", "scheme": "bearer", "description": "access_token from POST /rest/login (B1)"}
    # 2. The generator's "string" schema is a string.
    spec["components"]["schemas"]["string"] = {"type": "string"}
    # 3. A correction list or a single correction at the top level.
    body = spec["paths"][CORRECTION]["put"]["requestBody"]["content"]["application/json"]["schema"]
    body.pop("required", None)
    body["anyOf"] = [{"required": ["quantity"]}, {"required": ["corrections"]}]
    # 10. The catalogue read, written out from the reference (not in the subset).
    spec["paths"][VARIATIONS] = {"get": {
        "parameters": [{"name": n, "in": "query", "schema": {"type": t}} for n, t in (
            ("page", "integer"), ("itemsPerPage", "integer"), ("plentyId", "integer"), ("isActive", "boolean"),
            ("itemId", "integer"), ("id", "integer"), ("numberExact", "string"), ("with", "string"),
            ("lang", "string"), ("updatedBetween", "string"))],
        "responses": {"200": {"description": "OK", "content": {"*/*": {"schema": _VARIATION_PAGE}}}},
        "security": [{"oAuth2": []}]}}
    # 4. content: {} is "no body".
    for item in spec["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                if response.get("content") == {}:
                    del response["content"]
    return spec


@cache
def _adapted() -> dict:
    return adapt(load_spec())


@cache
def _openapi() -> OpenAPI:
    # 5. "*/*" bodies are JSON.
    return OpenAPI.from_dict(_adapted(), config=Config(extra_media_type_deserializers={"*/*": json.loads}))


def _is_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numeric_string(error: jsonschema.ValidationError) -> bool:
    """9. A numeric string where the spec says integer or number (the quirk), and nothing else."""
    if error.validator != "type" or not isinstance(error.instance, str) or not _is_numeric(error.instance):
        return False
    wanted = {error.validator_value} if isinstance(error.validator_value, str) else set(error.validator_value)
    return wanted <= {"integer", "number"}


def _describe(error: Exception, numbers_as_strings: bool) -> list[str]:
    """The messages of an openapi-core error, with the schema errors it wraps; [] if all are excused."""
    schema_errors, cause = [], error
    while cause is not None:
        schema_errors.extend(getattr(cause, "schema_errors", None) or ())
        cause = cause.__cause__
    if not schema_errors:
        return [f"{type(error).__name__}: {error}"]
    kept = [e for e in schema_errors if not (numbers_as_strings and _numeric_string(e))]
    return [f"{type(error).__name__}: /{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in kept]


def _request(exchange: dict) -> MockRequest:
    query = [(k, v) for k, v in exchange["query"] if not (k == "with" or k.startswith("with["))]
    relations = [v for k, v in exchange["query"] if k == "with" or k.startswith("with[")]
    if relations:  # 6. with[] as the declared "with" (form style, comma separated)
        query.append(("with", ",".join(relations)))
    headers = dict(exchange["request_headers"])
    content_type = headers.get("content-type", "application/json")
    body = exchange["request_body"]
    if content_type.startswith("application/x-www-form-urlencoded") and exchange["path"] == "/rest/login":
        content_type = "application/json"  # 7. a login form checked as its JSON twin
    data = b"" if body is None else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return MockRequest(HOST_URL, exchange["method"], exchange["path"], args=query, headers=headers, data=data,
                       content_type=content_type)


def _error_body_problems(exchange: dict) -> list[str]:
    """8. Error answers against the B3 shapes (B1's own body for the session limit)."""
    status, body = exchange["status"], exchange["response_body"]
    if status not in B3_STATUSES:
        return [f"status {status} is not one B3 lists"]
    if status == 429 and isinstance(body, dict) and body.get("error") == "too_many_concurrent_sessions":
        schema = _SESSION_LIMIT
    else:
        schema = _VALIDATION if status == 422 else _ERROR
    return [f"B3 body: /{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft7Validator(schema).iter_errors(body)]


def exchange_problems(exchange: dict, *, numbers_as_strings: bool = False) -> list[str]:
    """Every way ``exchange`` (one logged request and answer) disagrees with the spec; [] if none."""
    api = _openapi()
    request = _request(exchange)
    problems = [f"request: {m}" for err in api.iter_request_errors(request)
                for m in _describe(err, numbers_as_strings)]
    headers = {k.lower(): v for k, v in exchange["response_headers"].items()}
    content_type, body = headers.get("content-type", ""), exchange["response_body"]
    if body is not None and not content_type.startswith("application/json"):
        problems.append(f"response: content type {content_type!r}, expected application/json")
    if exchange["status"] >= 400:
        return problems + [f"response: {m}" for m in _error_body_problems(exchange)]
    # 4. A response without documented content must be empty; openapi-core does not look at it then.
    data = b"" if body is None else json.dumps(body).encode()
    response = MockResponse(data, status_code=exchange["status"], headers=headers,
                            content_type=content_type or "application/json")
    problems += [f"response: {m}" for err in api.iter_response_errors(request, response)
                 for m in _describe(err, numbers_as_strings)]
    if body is not None and not _documents_content(exchange):
        problems.append("response: a body where the spec documents none")
    return problems


def _documents_content(exchange: dict) -> bool:
    for pattern, item in _adapted()["paths"].items():
        if _matches(pattern, exchange["path"]) and exchange["method"].lower() in item:
            response = item[exchange["method"].lower()]["responses"].get(str(exchange["status"]), {})
            return "content" in response
    return True  # not in the spec: the request check has said so already


def _matches(pattern: str, path: str) -> bool:
    parts, given = pattern.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(given) and all(p == g or p.startswith("{") for p, g in zip(parts, given, strict=True))


def validate_exchanges(exchanges: Iterable[dict], *, numbers_as_strings: bool = False,
                       expect_invalid_requests: Iterable[int] = ()) -> int:
    """Check every exchange; returns how many were checked.

    Args:
        exchanges: entries of the sandbox's exchange log.
        numbers_as_strings: accept numeric strings for numbers (adaptation 9; the sandbox quirk).
        expect_invalid_requests: ``seq`` numbers of exchanges a test sent wrong on purpose: each must
            be flagged on its request side (so the check is known to be live), and is then not a failure.

    Raises:
        AssertionError: any other problem, or an expected-invalid request that passed.
    """
    expected, failures, checked = set(expect_invalid_requests), [], 0
    for exchange in exchanges:
        checked += 1
        problems = exchange_problems(exchange, numbers_as_strings=numbers_as_strings)
        where = f"#{exchange['seq']} {exchange['method']} {exchange['path']} -> {exchange['status']}"
        if exchange["seq"] in expected:
            expected.discard(exchange["seq"])
            if not any(p.startswith("request: ") for p in problems):
                failures.append(f"{where}: sent invalid on purpose, but the spec check accepted it")
            problems = [p for p in problems if not p.startswith("request: ")]
        failures += [f"{where}: {p}" for p in problems]
    failures += [f"#{seq}: expected to be invalid, but not among the exchanges" for seq in sorted(expected)]
    assert not failures, "exchanges disagree with the plentymarkets OpenAPI spec:\n" + "\n".join(failures)
    return checked
