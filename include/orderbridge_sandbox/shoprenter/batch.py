"""``POST /batch`` of the Shoprenter fake (A8) and its item faults.

A batch runs its sub-requests in order through the shop's ``ShopApi``; each answer carries its own
``statusCode`` and the outer status stays 200 whatever the items got (A8). Whole-request faults
(``/_sandbox/faults``) fail the batch before any item runs; *item faults* fail chosen or random
sub-requests inside the 200, the way A8 warns they come:

- a rule (``POST /_sandbox/shoprenter/<shop>/batch-faults``) has a ``status`` (a 5xx, default 503,
  or a 4xx), and picks items by ``skus`` (the item's ``data.sku`` or its ``?sku=``), by ``match``
  (a substring of ``"<METHOD> <uri>"``), or with neither every item; ``times`` caps how many items it
  fails in all, ``rate`` fails each picked item with that probability (a stream seeded from the
  sandbox seed, the shop and the rule, so a run repeats);
- a failed item is *not applied* (the shop failed before it), is counted as
  ``"<METHOD> <collection> (batch)" <status>`` like any item, and its body is
  ``{"error": <status>01, "message": ...}`` [G: A2 lists 500/503/504 without their bodies].
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import parse_qsl, urlsplit

from orderbridge_sandbox.shoprenter.resources import ShopApi
from orderbridge_sandbox.shoprenter.state import ApiError, Shop, not_found

PREFIX = "/shoprenter"
_RULE_FIELDS = {"status", "skus", "match", "times", "rate"}
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


@dataclass
class ItemFault:
    """One item fault rule of a shop; ``fired`` counts the items it failed."""

    id: int
    status: int = 503
    skus: list[str] | None = None
    match: str | None = None
    times: int | None = None
    rate: float | None = None
    fired: int = 0
    draws: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def active(self) -> bool:
        return self.times is None or self.fired < self.times

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "draws"}
        return {**data, "active": self.active}

    def fires(self, sku: str | None, text: str) -> bool:
        picked = (self.skus is None or sku in self.skus) and (not self.match or self.match in text)
        if not self.active or not picked:
            return False
        # Draw only for picked items, so other traffic does not shift the stream.
        if self.rate is not None and self.draws.random() >= self.rate:
            return False
        self.fired += 1
        return True


def add_fault(shop: Shop, spec: object, seed: int) -> ItemFault:
    """Validate ``spec`` and add it to the shop's item faults.

    Raises:
        ValueError: a field unknown, of the wrong type or out of range (the message names it).
    """
    if not isinstance(spec, dict):
        raise ValueError("an item fault is a JSON object")
    unknown = set(spec) - _RULE_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}; an item fault takes "
                         f"{', '.join(sorted(_RULE_FIELDS))}")
    skus = spec.get("skus")
    if skus is not None and (not isinstance(skus, list) or not all(isinstance(s, str) and s for s in skus)):
        raise ValueError("skus must be a list of SKU strings")
    try:
        status = int(spec.get("status", 503))
        times = None if spec.get("times") is None else int(spec["times"])
        rate = None if spec.get("rate") is None else float(spec["rate"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"status, times and rate must be numbers: {err}") from err
    if not 400 <= status <= 599:
        raise ValueError(f"status must be a 4xx or 5xx code, got {status}")
    if times is not None and times < 1:
        raise ValueError("times must be at least 1")
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise ValueError("rate must be between 0 and 1")
    number = shop.new_id("item_fault")
    rule = ItemFault(number, status, skus, spec.get("match") or None, times, rate,
                     draws=random.Random(f"batch-faults:{seed}:{shop.name}:{number}"))
    shop.item_faults.append(rule)
    return rule


def _item_sku(query: dict[str, str], data: object) -> str | None:
    if "sku" in query:
        return query["sku"]
    sku = data.get("sku") if isinstance(data, dict) else None
    return str(sku) if sku not in (None, "") else None


def _injected(shop: Shop, method: str, uri: str, query: dict[str, str], data: object) -> ApiError | None:
    text = f"{method} {uri}"
    for rule in shop.item_faults:
        if rule.fires(_item_sku(query, data), text):
            reason = _REASONS.get(rule.status, "Injected item failure")
            return ApiError(rule.status, rule.status * 100 + 1, f"{reason} (item fault {rule.id})")
    return None


def run_batch(api: ShopApi, fields: dict) -> dict:
    """``POST /batch`` (A8): every sub-request in order, each answer with its own status inside a 200.

    Raises:
        ApiError: 400/40001 without ``requests``; 400 for more than ``--shoprenter-max-batch``
            sub-requests [G: the notes only recommend 200 at most].
    """
    requests = fields.get("requests")
    if isinstance(requests, dict) and isinstance(requests.get("request"), list):
        requests = requests["request"]  # the XML-shaped spelling the answer uses
    if not isinstance(requests, list) or not requests:
        raise ApiError(400, 40001, "Data parameter not found in POST/PUT! (data.requests: a list of requests)")
    limit = api.settings.max_batch
    if len(requests) > limit:
        raise ApiError(400, 40012, f"Too many requests in one batch: {len(requests)}, at most {limit}")
    if api.settings.batch_counts == "each":
        # [G] every sub-request counts against this second's limit: the next call waits.
        api.shop.per_second[int(time.time())] += len(requests) - 1
    inner = ShopApi(api.shop, api.base, api.sandbox)  # no batch inside a batch
    answers = []
    for sub in requests:
        sub = sub if isinstance(sub, dict) else {}
        method, uri = str(sub.get("method", "GET")).upper(), str(sub.get("uri", ""))
        data = sub.get("data")
        if isinstance(data, dict) and set(data) == {"data"} and isinstance(data["data"], dict):
            data = data["data"]
        path = ""
        try:
            path, query = resolve(api, uri)
            failure = _injected(api.shop, method, uri, query, data)
            if failure is not None:
                raise failure
            status, body = inner.handle(method, path, query, data if isinstance(data, dict) else None)
        except ApiError as err:
            status, body = err.status, err.body()
        api.shop.requests[(f"{method} {collection(path)} (batch)", status)] += 1
        answers.append({"method": method, "uri": uri,
                        "response": {"header": {"statusCode": str(status)}, "body": body}})
    return {"requests": {"request": answers}}


def collection(path: str) -> str:
    return path.strip("/").split("/", 1)[0] or "-"


def resolve(api: ShopApi, uri: str) -> tuple[str, dict[str, str]]:
    """The shop-relative path and query of a sub-request URI: the fake's own base (legacy or api2),
    the real hosts ``{shop}.api.myshoprenter.hu`` / ``{shop}.api2.myshoprenter.hu/api``, or a bare path.

    Raises:
        ApiError: 404 for a URI of another shop or host.
    """
    parts = urlsplit(uri)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    shop = api.shop.name
    path = parts.path
    if parts.netloc in (f"{shop}.api.myshoprenter.hu", "") and not path.startswith(PREFIX + "/"):
        return path.lstrip("/"), query
    if parts.netloc == f"{shop}.api2.myshoprenter.hu" and path.startswith("/api/"):
        return path[len("/api/"):], query
    for base in (f"{PREFIX}/{shop}/api2/", f"{PREFIX}/{shop}/"):
        if path.startswith(base) and parts.netloc == urlsplit(api.base).netloc:
            return path[len(base):], query
    raise not_found(uri)
