"""The plentymarkets fake over real HTTP: sandbox child processes, talked to with requests.

Three sandboxes: ``main`` (defaults, an itemsPerPage cap of 20), ``twin`` (the same arguments, for
determinism) and ``tight`` (tiny rate budgets in a 3 s window, 2 s tokens, numbers as strings).
Systems are split by purpose so tests do not disturb each other: on ``main``, ``read`` is only ever
read, ``write`` takes status changes, packages and stock, ``auth`` and ``login`` are for sessions,
``flow`` for the spec-checked sequence, ``more`` for generated continuations, ``fault`` for faults,
``ret`` for return orders.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from orderbridge_sandbox.plentyfake import load_countries
from orderbridge_sandbox.plentymarkets import PlentySystemSpec
from orderbridge_sandbox.process import start_sandbox
from plentyspec import exchange_problems, validate_exchanges

ANCHOR = datetime(2024, 3, 15, 12, 0)
SYSTEMS = {"read": ("reader", "pw-read", 150), "write": ("writer", "pw:with:colons", 25),
           "auth": ("auth-user", "pw-auth", 3), "login": ("login-user", "pw-login", 3),
           "flow": ("flow-user", "pw-flow", 12), "more": ("more-user", "pw-more", 0),
           "fault": ("fault-user", "pw-fault", 5), "ret": ("ret-user", "pw-ret", 8),
           "scope": ("scope-user", "pw-scope", 0)}
MAIN = ["--seed", "42", "--anchor", ANCHOR.isoformat(), "--plenty-max-items-per-page", "20",
        *[a for s, (u, p, n) in SYSTEMS.items() for a in ("--plentymarkets", f"{s}:{u}:{p}:{n}")]]
TIGHT = ["--seed", "42", "--anchor", ANCHOR.isoformat(), "--plenty-read-limit", "5", "--plenty-write-limit", "3",
         "--plenty-rate-window", "3", "--plenty-token-ttl", "2", "--plenty-numbers-as-strings",
         "--plentymarkets", "rl:rl-user:pw:10", "--plentymarkets", "quirk:q-user:pw:12",
         "--plentymarkets", "ttl:t-user:pw:2"]
W3C = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
T = 10  # seconds; every request has a timeout


@pytest.fixture(scope="module")
def main():
    with start_sandbox(MAIN) as proc:
        yield proc


@pytest.fixture(scope="module")
def twin():
    with start_sandbox(MAIN) as proc:
        yield proc


@pytest.fixture(scope="module")
def tight():
    with start_sandbox(TIGHT) as proc:
        yield proc


class Plenty:
    """A logged-in ``requests.Session`` for one system, as a client would hold it."""

    def __init__(self, proc, system: str, username: str | None = None, password: str | None = None) -> None:
        username, password = username or SYSTEMS[system][0], password or SYSTEMS[system][1]
        self.proc, self.system, self.base = proc, system, f"{proc.url}/plentymarkets/{system}"
        self.http = requests.Session()
        answer = self.http.post(f"{self.base}/rest/login", json={"username": username, "password": password},
                                timeout=T)
        assert answer.status_code == 200, answer.text
        self.token = answer.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"

    def get(self, path: str, **kw) -> requests.Response:
        return self.http.get(self.base + path, timeout=T, **kw)

    def put(self, path: str, **kw) -> requests.Response:
        return self.http.put(self.base + path, timeout=T, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.http.post(self.base + path, timeout=T, **kw)

    def pages(self, **params) -> list[dict]:
        """Every page of GET /rest/orders, checking the envelope on the way."""
        pages, page = [], 1
        while True:
            body = self.get("/rest/orders", params={**params, "page": page}).json()
            pages.append(body)
            if body["isLastPage"]:
                return pages
            page += 1

    def orders(self, **params) -> list[dict]:
        return [e for p in self.pages(**params) for e in p["entries"]]


def control(proc, system: str, path: str = "state", method: str = "GET", **body) -> requests.Response:
    return requests.request(method, f"{proc.url}/_sandbox/plentymarkets/{system}/{path}", json=body or None,
                            timeout=T)


def state(proc, system: str) -> dict:
    answer = control(proc, system)
    answer.raise_for_status()
    return answer.json()


@pytest.fixture(scope="module")
def reader(main) -> Plenty:
    return Plenty(main, "read")


@pytest.fixture(scope="module")
def writer(main) -> Plenty:
    return Plenty(main, "write")


def in_status(proc, system: str, status: float) -> list[int]:
    return [o["id"] for o in state(proc, system)["orders"] if o["status_id"] == status]


# -- login and sessions ------------------------------------------------------------------------------------

def test_login_answers_both_key_sets_json_and_form(main):
    base = f"{main.url}/plentymarkets/login/rest"
    as_json = requests.post(f"{base}/login", json={"username": "login-user", "password": "pw-login"}, timeout=T)
    as_form = requests.post(f"{base}/login", data={"username": "login-user", "password": "pw-login"}, timeout=T)
    for answer in (as_json, as_form):
        body = answer.json()
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
        assert body["token_type"] == body["tokenType"] == "Bearer"
        assert body["expires_in"] == body["expiresIn"] == 86_400
        assert body["access_token"] == body["accessToken"] and body["refresh_token"] == body["refreshToken"]
        assert body["access_token"].count(".") == 2 and body["max_current_sessions"] == 3
        assert "x-plenty-global-short-period-limit" not in answer.headers  # login does not count (B2)
    assert (as_json.json()["concurrent_sessions"], as_form.json()["concurrent_sessions"]) == (1, 2)
    assert as_json.json()["access_token"] != as_form.json()["access_token"]
    form_token = as_form.json()["accessToken"]
    refreshed = requests.post(f"{base}/login/refresh", headers={"Authorization": f"Bearer {form_token}"}, timeout=T)
    assert set(refreshed.json()) == {"accessToken", "tokenType", "expiresIn", "refreshToken"}
    old = requests.get(f"{base}/orders", headers={"Authorization": f"Bearer {form_token}"}, timeout=T)
    assert old.status_code == 401  # refresh replaced the access token
    by_refresh_token = requests.post(f"{base}/login/refresh",
                                     data={"refresh_token": refreshed.json()["refreshToken"]}, timeout=T)
    assert by_refresh_token.status_code == 200
    for token in (as_json.json()["access_token"], by_refresh_token.json()["accessToken"]):
        bye = requests.post(f"{base}/logout", headers={"Authorization": f"Bearer {token}"}, timeout=T)
        assert (bye.status_code, bye.content) == (200, b"")
    assert state(main, "login")["sessions"] == {"live": 0, "logins": 2, "login_failures": 0, "logouts": 2,
                                                "refreshes": 2}


@pytest.mark.parametrize("credentials", [{"username": "login-user", "password": "wrong"},
                                         {"username": "someone", "password": "pw-login"}])
def test_bad_credentials_answer_401_with_the_b3_body(main, credentials):
    answer = requests.post(f"{main.url}/plentymarkets/login/rest/login", json=credentials, timeout=T)
    assert answer.status_code == 401
    assert answer.json() == {"error": {"message": "The user credentials were incorrect.", "code": 401}}


def test_missing_login_fields_answer_422_and_unknown_systems_404(main):
    answer = requests.post(f"{main.url}/plentymarkets/login/rest/login", json={"username": "x"}, timeout=T)
    assert answer.status_code == 422
    assert answer.json() == {"error": {"message": "validation error found"},
                             "validation_errors": {"password": ["The password field is required."]}}
    nowhere = requests.get(f"{main.url}/plentymarkets/nosuch/rest/orders", timeout=T)
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == 404


def test_session_limit_429_and_logout_frees_a_slot(main):
    base = f"{main.url}/plentymarkets/auth/rest"
    creds = {"username": "auth-user", "password": "pw-auth"}
    tokens = [requests.post(f"{base}/login", json=creds, timeout=T).json()["access_token"] for _ in range(3)]
    refused = requests.post(f"{base}/login", json=creds, timeout=T)
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_concurrent_sessions"
    assert refused.json()["max_current_sessions"] == 3 and refused.json()["message"].startswith("Too many users.")
    bye = requests.post(f"{base}/logout", headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=T)
    assert bye.status_code == 200
    again = requests.post(f"{base}/login", json=creds, timeout=T)
    assert again.status_code == 200 and again.json()["concurrent_sessions"] == 3
    tokens[0] = again.json()["access_token"]

    assert control(main, "auth", "expire-tokens", "POST").json() == {"ok": True, "expired": 3}
    for token in tokens:
        answer = requests.get(f"{base}/orders", headers={"Authorization": f"Bearer {token}"}, timeout=T)
        assert (answer.status_code, answer.json()) == (401, {"error": {"message": "Unauthenticated.", "code": 401}})
    fresh = requests.post(f"{base}/login", json=creds, timeout=T)
    assert fresh.status_code == 200 and fresh.json()["concurrent_sessions"] == 1
    ok = requests.get(f"{base}/orders", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"}, timeout=T)
    assert ok.status_code == 200
    st = state(main, "auth")
    assert st["sessions"]["live"] == 1 and st["sessions"]["logins"] == 5 and st["sessions"]["logouts"] == 1
    assert st["requests"]["429"] == 1 and st["requests"]["401"] == 3


def test_every_other_route_needs_a_bearer_token(main):
    base = f"{main.url}/plentymarkets/read/rest"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic cmVhZGVyOnB3LXJlYWQ="}):
        for method, path in (("GET", "/orders"), ("PUT", "/orders/1"), ("POST", "/logout"),
                             ("PUT", "/stockmanagement/warehouses/1/stock/correction")):
            answer = requests.request(method, base + path, headers=headers, json={}, timeout=T)
            assert answer.status_code == 401, (method, path, headers)


def test_tokens_expire_after_their_ttl(tight):
    client = Plenty(tight, "ttl", "t-user", "pw")
    assert client.get("/rest/orders/shipping/presets").status_code == 200
    time.sleep(2.2)
    assert client.get("/rest/orders/shipping/presets").status_code == 401


# -- orders: paging, filters, relations --------------------------------------------------------------------

def test_paging_is_one_based_consistent_and_complete(reader):
    total = state(reader.proc, "read")["orders"]
    pages = reader.pages(itemsPerPage=7)
    assert len(pages) == math.ceil(len(total) / 7) == pages[0]["lastPageNumber"]
    ids = []
    for number, page in enumerate(pages, start=1):
        last = number == len(pages)
        assert page["page"] == number and page["isLastPage"] is last and page["itemsPerPage"] == 7
        assert page["totalsCount"] == len(total) and page["lastPageNumber"] == len(pages)
        assert page["firstOnPage"] == (number - 1) * 7 + 1 and page["lastOnPage"] == (number - 1) * 7 + len(
            page["entries"])
        assert len(page["entries"]) == (len(total) - 7 * (number - 1) if last else 7)
        ids += [e["id"] for e in page["entries"]]
    assert ids == sorted(ids) == sorted(o["id"] for o in total)  # each order exactly once, by id
    beyond = reader.get("/rest/orders", params={"itemsPerPage": 7, "page": len(pages) + 1}).json()
    assert beyond["entries"] == [] and beyond["isLastPage"] is True
    desc = reader.get("/rest/orders", params={"sortOrder": "desc", "itemsPerPage": 5}).json()["entries"]
    assert [e["id"] for e in desc] == sorted(ids, reverse=True)[:5]
    for bad in ({"page": "x"}, {"page": 0}, {"itemsPerPage": "-1"}, {"sortBy": "price"}):
        answer = reader.get("/rest/orders", params=bad)
        assert answer.status_code == 422 and list(answer.json()["validation_errors"]) == list(bad)


def test_items_per_page_is_capped_at_the_maximum(reader):
    capped = reader.get("/rest/orders", params={"itemsPerPage": 1000}).json()
    assert capped["itemsPerPage"] == 20 and len(capped["entries"]) == 20
    assert capped["lastPageNumber"] == math.ceil(capped["totalsCount"] / 20)
    assert reader.get("/rest/orders").json()["itemsPerPage"] == 20  # the default 50 is over the cap too


def test_status_range_compares_numerically_so_5_1_and_3_are_outside_5_to_5(reader):
    orders = state(reader.proc, "read")["orders"]
    by_status: dict[float, set[int]] = {}
    for o in orders:
        by_status.setdefault(o["status_id"], set()).add(o["id"])
    assert {3, 5.1, 1} <= set(by_status), "seed 42 starts a few orders in 3, 1 and 5.1"
    fetched = reader.orders(statusFrom=5, statusTo=5, itemsPerPage=20)
    assert {e["id"] for e in fetched} == by_status[5] and {e["statusId"] for e in fetched} == {5}
    assert {e["id"] for e in reader.orders(statusFrom=5, statusTo=5.1)} == by_status[5] | by_status[5.1]
    assert {e["id"] for e in reader.orders(statusFrom=3, statusTo=3)} == by_status[3]
    assert {e["statusName"] for e in reader.orders(statusFrom=5.1, statusTo=5.1)} == {"[5.1] Abwicklung extern"}


def test_order_type_id_and_external_id_filters(reader):
    everything = {o["id"] for o in state(reader.proc, "read")["orders"]}
    assert {e["id"] for e in reader.orders(orderType="1")} == everything  # all sales orders
    assert reader.orders(orderType="3,4") == []  # no returns or credit notes here
    picked = sorted(everything)[3:6]
    assert [e["id"] for e in reader.orders(orderIds=",".join(map(str, picked)))] == picked
    marketplace = next(e for e in reader.orders() if any(p["typeId"] == 7 for p in e["properties"]))
    external = next(p["value"] for p in marketplace["properties"] if p["typeId"] == 7)
    assert [e["id"] for e in reader.orders(externalOrderId=external)] == [marketplace["id"]]


def test_a_system_holds_orders_of_two_clients_and_two_warehouses_and_filters_by_main_warehouse(main):
    client = Plenty(main, "scope")
    own = state(main, "scope")["plenty_id"]
    other_client = control(main, "scope", "orders", "POST", n=2, statusId=5, plentyId=own + 1).json()["ids"]
    other_store = control(main, "scope", "orders", "POST", n=2, statusId=5, warehouseId=2).json()["ids"]
    assert control(main, "scope", "orders", "POST", n=1, warehouseId=99).status_code == 400
    listed = {e["id"]: e for e in client.orders(orderIds=",".join(map(str, other_client + other_store)),
                                                **{"with[]": "orderItems.variation"})}
    for order_id in other_client:  # the client is the order's plentyId (B6)
        assert listed[order_id]["plentyId"] == own + 1
        assert {"orderId": order_id, "typeId": 1, "value": "1"} in listed[order_id]["properties"]
    for order_id in other_store:  # the main warehouse is property type 1, and each product item's warehouseId
        assert listed[order_id]["plentyId"] == own
        assert {"orderId": order_id, "typeId": 1, "value": "2"} in listed[order_id]["properties"]
        assert {i["warehouseId"] for i in listed[order_id]["orderItems"] if i["typeId"] == 1} == {2}
    in_2 = {e["id"] for e in client.orders(warehouseId=2)}
    in_1 = {e["id"] for e in client.orders(warehouseId=1)}
    assert in_2 == set(other_store) and set(other_client) <= in_1 and not in_1 & in_2
    seen = {o["id"]: (o["plenty_id"], o["warehouse_id"]) for o in state(main, "scope")["orders"]}
    assert {seen[i] for i in other_store} == {(own, 2)} and {seen[i] for i in other_client} == {(own + 1, 1)}


def test_the_catalogue_lists_every_variation_paged_also_those_never_on_an_order(main, reader):
    from orderbridge_sandbox.catalogue import PLENTY_OFFERS
    from orderbridge_sandbox.plentymarkets.common import LISTED_ONLY

    pages, page = [], 1
    while not pages or not pages[-1]["isLastPage"]:
        pages.append(reader.get("/rest/items/variations", params={"itemsPerPage": 10, "page": page}).json())
        page += 1
    variations = [v for p in pages for v in p["entries"]]
    assert len(pages) == 3 and pages[0]["totalsCount"] == len(variations) == len(PLENTY_OFFERS) + len(LISTED_ONLY)
    assert {(v["id"], v["number"]) for v in variations} == {(o.variation_id, o.channel_sku)
                                                            for o in (*PLENTY_OFFERS, *LISTED_ONLY)}
    sold = {sku for o in state(main, "read")["orders"] for sku in o["skus"]}
    assert {o.channel_sku for o in LISTED_ONLY}.isdisjoint(sold)  # only the catalogue shows them
    own = state(main, "read")["plenty_id"]
    assert reader.get("/rest/items/variations", params={"plentyId": own}).json()["totalsCount"] == len(variations)
    assert reader.get("/rest/items/variations", params={"plentyId": own + 1}).json()["entries"] == []
    validate_exchanges([e for e in control(main, "read", "exchanges").json()["exchanges"]
                        if e["path"] == "/rest/items/variations"])


def test_updated_and_created_windows_are_from_inclusive_to_exclusive(reader):
    orders = state(reader.proc, "read")["orders"]
    for field, key in (("updatedAt", "updated_at"), ("createdAt", "created_at")):
        moments = sorted(datetime.fromisoformat(o[key]) for o in orders)
        cut = moments[len(moments) // 2]
        # Sent in UTC+05:00 on purpose: the sandbox must compare instants, not wall-clock text.
        text = cut.astimezone(timezone(timedelta(hours=5))).isoformat()
        after = {e["id"] for e in reader.orders(**{f"{field}From": text})}
        before = {e["id"] for e in reader.orders(**{f"{field}To": text})}
        assert after == {o["id"] for o in orders if datetime.fromisoformat(o[key]) >= cut}
        assert before == {o["id"] for o in orders if datetime.fromisoformat(o[key]) < cut}
        assert after and before and not after & before
    unencoded = requests.get(f"{reader.base}/rest/orders?updatedAtFrom=2024-03-14T10:00:00+01:00",
                             headers=reader.http.headers, timeout=T)
    assert unencoded.status_code == 422 and "%2B" in unencoded.json()["validation_errors"]["updatedAtFrom"][0]


def test_with_controls_which_relations_are_included(reader):
    def first(**params) -> dict:
        return reader.get("/rest/orders", params={"itemsPerPage": 3, **params}).json()["entries"][0]

    bare = first()
    assert "addresses" not in bare and "shippingPackages" not in bare and "relations" not in bare
    assert bare["addressRelations"] and bare["amounts"] and bare["properties"]
    assert all("variation" not in item for item in bare["orderItems"])
    full = first(**{"with[]": ["addresses", "orderItems.variation"]})
    comma = first(**{"with": "addresses,orderItems.variation"})
    assert full == comma
    address_ids = {a["id"] for a in full["addresses"]}
    assert {r["addressId"] for r in full["addressRelations"]} == address_ids
    assert {r["typeId"] for r in full["addressRelations"]} == {1, 2}
    for item in full["orderItems"]:
        if item["typeId"] == 1:
            assert item["variation"]["id"] == item["itemVariationId"] and item["variation"]["number"]
        else:
            assert item["variation"] is None and item["itemVariationId"] == 0
    assert "orderItems" not in first(addOrderItems="false")
    one = reader.get(f"/rest/orders/{bare['id']}", params={"with[]": "shippingPackages"}).json()
    assert one["shippingPackages"] == [] and "addresses" not in one and one["id"] == bare["id"]


def test_orders_look_like_plenty_orders_and_exercise_the_client(reader):
    entries = reader.orders(**{"with[]": ["addresses", "orderItems.variation"], "itemsPerPage": 20})
    st = {o["id"]: o for o in state(reader.proc, "read")["orders"]}
    countries = load_countries()
    scripts = ""
    for e in entries:
        assert e["typeId"] == 1 and isinstance(e["statusId"], (int, float)) and isinstance(e["id"], int)
        assert W3C.fullmatch(e["createdAt"]) and W3C.fullmatch(e["updatedAt"])
        assert e["statusName"].startswith(f"[{e['statusId']}] ")
        assert {p["typeId"] for p in e["properties"]} >= {2, 3}
        items = e["orderItems"]
        assert sum(i["typeId"] == 6 for i in items) == 1  # shipping costs, not a product
        products = [i for i in items if i["typeId"] == 1]
        assert [i["variation"]["number"] for i in products] == st[e["id"]]["skus"]
        assert all(isinstance(i["quantity"], float) and i["quantity"] >= 1 for i in products)
        main_amount = e["amounts"][0]
        assert main_amount["grossTotal"] == pytest.approx(
            sum(i["amounts"][0]["priceGross"] * i["quantity"] for i in items), abs=0.011)
        delivery_id = next(r["addressId"] for r in e["addressRelations"] if r["typeId"] == 2)
        delivery = next(a for a in e["addresses"] if a["id"] == delivery_id)
        shippable = bool(delivery["address1"] and delivery["postalCode"] and delivery["countryId"] in countries)
        assert shippable == st[e["id"]]["delivery_address_valid"], e["id"]
        scripts += "".join(a["name2"] + a["name3"] + a["town"] for a in e["addresses"])
    bad = [o for o in st.values() if not o["delivery_address_valid"]]
    assert 1 <= len(bad) <= 12 and {o["address_problem"].split(" ")[0] for o in bad} <= {"missing", "unknown"}
    assert any(len({r["addressId"] for r in e["addressRelations"]}) == 2 for e in entries)
    assert {a["currency"] for e in entries for a in e["amounts"]} == {"EUR", "CHF"}
    assert all(e["amounts"][-1]["isSystemCurrency"] and e["amounts"][-1]["currency"] == "EUR" for e in entries)
    coupons = [i for e in entries for i in e["orderItems"] if i["typeId"] == 4]
    assert coupons and all(i["amounts"][0]["priceGross"] < 0 for i in coupons)
    skus = {s for o in st.values() for s in o["skus"]}
    assert any(s.startswith("WH-") for s in skus) and any(s.startswith("PM-50") for s in skus)
    assert any(s.startswith("PM-99") for s in skus)  # nobody mapped these
    assert re.search(r"[\u0370-\u03ff]", scripts) and re.search(r"[\u0400-\u04ff]", scripts)
    assert re.search(r"[\u4e00-\u9fff]", scripts)
    assert {countries[a["countryId"]][0] for e in entries for a in e["addresses"] if a["countryId"] in countries} >= {
        "DE", "AT", "CH", "PL", "GR", "FR"}


def test_same_seed_gives_identical_orders_and_continuations(main, twin):
    a, b = Plenty(main, "read"), Plenty(twin, "read")
    params = {"itemsPerPage": 20, "with[]": ["addresses", "orderItems.variation", "relations"]}
    assert a.pages(**params) == b.pages(**params)
    more = [control(p, "more", "orders", "POST", n=4, statusId=5).json() for p in (main, twin)]
    assert more[0] == more[1] and len(more[0]["ids"]) == 4
    assert state(main, "more")["orders"] == state(twin, "more")["orders"]


# -- writes ----------------------------------------------------------------------------------------------------

def test_status_put_bumps_updated_at_and_records_history(writer):
    order_id = in_status(writer.proc, "write", 5)[0]
    before = writer.get(f"/rest/orders/{order_id}").json()
    changed = writer.put(f"/rest/orders/{order_id}", json={"statusId": 5.1})
    assert changed.status_code == 200 and changed.json()["statusId"] == 5.1
    assert datetime.fromisoformat(changed.json()["updatedAt"]) > datetime.fromisoformat(before["updatedAt"])
    assert order_id not in {e["id"] for e in writer.orders(statusFrom=5, statusTo=5)}
    since = {e["id"] for e in writer.orders(updatedAtFrom=changed.json()["updatedAt"])}
    assert order_id in since
    history = writer.get(f"/rest/orders/{order_id}/status-history").json()
    assert [h["statusId"] for h in history][-2:] == [5, 5.1] and history[-1]["procedureText"] == "REST"
    assert writer.put(f"/rest/orders/{order_id}", json={"statusId": 6}).json()["statusId"] == 6  # an int works
    recorded = next(o for o in state(writer.proc, "write")["orders"] if o["id"] == order_id)
    assert [(h["from"], h["to"], h["source"]) for h in recorded["history"]] == [(5, 5.1, "api"), (5.1, 6, "api")]


@pytest.mark.parametrize(("status", "message"), [("9.0.1", "must be a number"), (5.7, "is invalid"),
                                                 (None, "must be a number"), (True, "must be a number")])
def test_unknown_status_formats_answer_422(writer, status, message):
    order_id = in_status(writer.proc, "write", 5)[-1]
    answer = writer.put(f"/rest/orders/{order_id}", json={"statusId": status})
    assert answer.status_code == 422 and message in answer.json()["validation_errors"]["statusId"][0]
    assert answer.json()["error"] == {"message": "validation error found"}


def test_unknown_order_answers_404_with_the_b3_body(writer):
    for answer in (writer.get("/rest/orders/999999"), writer.put("/rest/orders/999999", json={"statusId": 5.1}),
                   writer.post("/rest/orders/999999/shipping/packages", json={"packageId": 1, "packageType": 26})):
        assert answer.status_code == 404
        assert answer.json() == {"error": {"message": "The order with ID 999999 could not be found.", "code": 404}}


def test_packages_are_recorded_and_listed(writer):
    order_id = in_status(writer.proc, "write", 5)[1]
    package = writer.post(f"/rest/orders/{order_id}/shipping/packages",
                          json={"packageId": 1, "packageNumber": "00340434161234567890", "weight": 1200,
                                "packageType": 26})
    assert package.status_code == 200
    assert package.json()["orderId"] == order_id and package.json()["packageNumber"] == "00340434161234567890"
    assert isinstance(package.json()["id"], int) and W3C.fullmatch(package.json()["createdAt"])
    assert writer.get(f"/rest/orders/{order_id}/shipping/packages").json() == [package.json()]
    assert writer.get(f"/rest/orders/{order_id}/packagenumbers").json() == ["00340434161234567890"]
    missing = writer.post(f"/rest/orders/{order_id}/shipping/packages", json={"packageId": 1})
    assert missing.status_code == 422 and "packageType" in missing.json()["validation_errors"]
    recorded = next(o for o in state(writer.proc, "write")["orders"] if o["id"] == order_id)
    assert [p["packageNumber"] for p in recorded["packages"]] == ["00340434161234567890"]
    with_packages = writer.get(f"/rest/orders/{order_id}", params={"with[]": "shippingPackages"}).json()
    assert with_packages["shippingPackages"] == [package.json()]


def test_stock_correction_sets_absolute_stock_per_storage_location(writer):
    url = "/rest/stockmanagement/warehouses/1/stock/correction"
    batch = {"corrections": [{"variationId": 3101, "storageLocationId": 0, "quantity": 7, "reasonId": 301},
                             {"variationId": 3101, "storageLocationId": 5, "quantity": 3, "reasonId": 301}]}
    for _ in range(2):  # the same correction twice: absolute, so nothing doubles
        answer = writer.put(url, json=batch)
        assert (answer.status_code, answer.content) == (200, b"")
        assert "content-type" not in answer.headers
    single = writer.put(url, json={"variationId": 3102, "quantity": 11, "reasonId": 302})
    assert single.status_code == 200
    stock = {(s["variationId"], s["storageLocationId"]): s["quantity"] for s in state(writer.proc, "write")["stock"]}
    assert (stock[(3101, 0)], stock[(3101, 5)], stock[(3102, 0)]) == (7, 3, 11)
    last = state(writer.proc, "write")["stock_corrections"][-2]
    assert (last["variationId"], last["storageLocationId"], last["quantity"], last["delta"]) == (3101, 5, 3, 0)
    listed = writer.get("/rest/stockmanagement/warehouses/1/stock", params={"variationId": 3101}).json()["entries"]
    assert [(s["variationId"], s["stockPhysical"]) for s in listed] == [(3101, 10)]

    before = state(writer.proc, "write")["stock"]
    unknown = writer.put(url, json={"corrections": [{"variationId": 3103, "quantity": 1},
                                                    {"variationId": 999, "quantity": 1}]})
    assert unknown.status_code == 422 and "corrections.1.variationId" in unknown.json()["validation_errors"]
    assert state(writer.proc, "write")["stock"] == before  # all or nothing
    assert writer.put(url, json={"variationId": 3101}).status_code == 422  # no quantity
    assert writer.put("/rest/stockmanagement/warehouses/77/stock/correction", json=batch).status_code == 404


def test_backend_status_changes_are_recorded_as_backend(main, writer):
    order_id = in_status(main, "write", 5)[2]
    answer = control(main, "write", f"orders/{order_id}/status", "POST", statusId=8.0)
    assert answer.json()["ok"] is True and answer.json()["status_id"] == 8
    assert order_id in {e["id"] for e in writer.orders(statusFrom=8, statusTo=8)}
    recorded = next(o for o in state(main, "write")["orders"] if o["id"] == order_id)
    assert recorded["history"][-1] == {"from": 5, "to": 8, "at": recorded["updated_at"], "source": "backend"}
    assert control(main, "write", f"orders/{order_id}/status", "POST", statusId=9.0).json()["status_id"] == 9
    assert control(main, "write", f"orders/{order_id}/status", "POST", statusId=4.4).status_code == 400
    assert control(main, "write", "orders/1/status", "POST", statusId=8).status_code == 404


def test_control_api_lists_systems_and_adds_orders_in_a_window(main):
    Plenty(main, "login").get("/rest/orders")
    overview = requests.get(f"{main.url}/_sandbox/plentymarkets", timeout=T).json()
    assert overview["systems"] == sorted(SYSTEMS) and overview["requests"]["orders.list"]["200"] >= 1
    added = control(main, "login", "orders", "POST", n=3, anchor="2024-01-10T00:00:00", days=1).json()["ids"]
    created = [datetime.fromisoformat(o["created_at"]) for o in state(main, "login")["orders"] if o["id"] in added]
    assert len(created) == 3 and created == sorted(created)  # ids grow with creation time
    assert all(datetime.fromisoformat("2024-01-09T00:00:00+00:00") <= c < datetime.fromisoformat(
        "2024-01-10T00:00:00+00:00") for c in created)
    assert control(main, "nosuch").status_code == 404
    assert control(main, "login", "orders", "POST", n=-1).status_code == 400
    assert control(main, "login", "orders", "POST", n=1, statusId=4.4).status_code == 400


def test_denied_permissions_answer_403_with_missing_permissions(main):
    client = Plenty(main, "more")
    assert control(main, "more", "permissions", "POST", deny=["order.update"]).json()["denied"] == ["order.update"]
    denied = client.put("/rest/orders/1", json={"statusId": 5.1})
    assert denied.status_code == 403
    assert denied.json() == {"error": {"message": "This action is unauthorized.",
                                       "missing_permissions": ["order.update"]}}
    assert client.get("/rest/orders").status_code == 200
    control(main, "more", "permissions", "POST", deny=[])
    assert client.put("/rest/orders/1", json={"statusId": 5.1}).status_code == 404


# -- returns --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def returner(main) -> Plenty:
    return Plenty(main, "ret")


def product_items(order: dict) -> list[dict]:
    return [i for i in order["orderItems"] if i["typeId"] == 1]


def test_a_return_is_an_order_of_its_own_that_points_at_its_sales_order(main, returner):
    control(main, "ret", "exchanges", "DELETE")
    client = returner
    sale = client.get(f"/rest/orders/{in_status(main, 'ret', 5)[0]}", params={"with[]": "orderItems.variation"}).json()
    item = product_items(sale)[0]
    made = client.post(f"/rest/orders/{sale['id']}/returns",
                       json={"quantities": [{"orderItemId": item["id"], "quantity": 1}], "statusId": 9.1,
                             "returnPackageNumber": "RET-0001", "warehouseId": 2})
    assert made.status_code == 200, made.text
    ret = made.json()
    assert ret["typeId"] == 3 and ret["id"] not in (sale["id"], item["id"]) and ret["statusId"] == 9.1
    assert ret["statusName"] == "[9.1] Retoure (Dienstleister)" and W3C.fullmatch(ret["updatedAt"])
    assert ret["orderReferences"] == [{"orderId": ret["id"], "originOrderId": sale["id"],
                                       "referenceOrderId": sale["id"], "referenceType": "parent"}]
    assert [(i["itemVariationId"], i["quantity"], i["orderId"]) for i in ret["orderItems"]] == [
        (item["itemVariationId"], 1.0, ret["id"])]
    assert ret["orderItems"][0]["id"] != item["id"]
    assert ret["orderItems"][0]["references"] == [{"orderItemId": ret["orderItems"][0]["id"],
                                                   "referenceOrderItemId": item["id"], "referenceType": "parent"}]
    assert {"typeId": 1, "value": "2", "orderId": ret["id"]} in ret["properties"]  # the warehouse goods go to
    after = client.get(f"/rest/orders/{sale['id']}", params={"with[]": "originOrderReferences"}).json()
    assert (after["statusId"], after["updatedAt"]) == (sale["statusId"], sale["updatedAt"])  # left as it is
    assert after["originOrderReferences"] == ret["orderReferences"]
    recorded = state(main, "ret")
    assert recorded["returns"] == [{
        "id": ret["id"], "order_id": sale["id"], "status_id": 9.1, "status_name": ret["statusName"],
        "created_at": ret["createdAt"], "updated_at": ret["updatedAt"], "history": [],
        "return_package_number": "RET-0001", "warehouse_id": 2,
        "items": [{"id": ret["orderItems"][0]["id"], "order_item_id": item["id"],
                   "variation_id": item["itemVariationId"], "sku": item["variation"]["number"], "quantity": 1}]}]
    assert next(o for o in recorded["orders"] if o["id"] == sale["id"])["returns"] == [ret["id"]]
    assert ret["id"] not in {o["id"] for o in recorded["orders"]}  # orders are the sales orders
    validate_exchanges(control(main, "ret", "exchanges").json()["exchanges"])


def test_return_orders_are_listed_by_type_date_and_parent_with_relations_and_pages(main, returner):
    client = returner
    sales = in_status(main, "ret", 5)[1:4]
    made = [control(main, "ret", f"orders/{sale}/returns", "POST").json() for sale in sales]
    assert all(m["ok"] and m["order_id"] == sale for m, sale in zip(made, sales, strict=True))
    returns = {r["id"] for r in state(main, "ret")["returns"]}
    assert {m["id"] for m in made} <= returns
    sales_only = {e["id"] for e in client.orders(orderType="1")}
    assert not sales_only & returns and sales_only == {o["id"] for o in state(main, "ret")["orders"]}
    assert {e["id"] for e in client.orders(orderType="3")} == returns
    everything = sales_only | returns
    assert {e["id"] for e in client.orders(orderType="1,3")} == {e["id"] for e in client.orders()} == everything
    assert all(e["statusId"] >= 9 for e in client.orders(orderType="3"))
    assert not returns & {e["id"] for e in client.orders(statusFrom=5, statusTo=5)}
    pages = client.pages(orderType="3", itemsPerPage=2, **{"with[]": "orderItems.variation"})
    assert len(pages) == pages[0]["lastPageNumber"] == (len(returns) + 1) // 2
    listed = [e for p in pages for e in p["entries"]]
    assert [e["id"] for e in listed] == sorted(returns)
    assert all(i["variation"]["number"] for e in listed for i in e["orderItems"])
    assert all("variation" not in i for e in client.orders(orderType="3") for i in e["orderItems"])
    newest = max(made, key=lambda m: m["id"])
    since = {e["id"] for e in client.orders(orderType="3", updatedAtFrom=newest["updated_at"])}
    assert newest["id"] in since and since <= returns
    assert newest["id"] not in {e["id"] for e in client.orders(orderType="3", updatedAtTo=newest["updated_at"])}
    assert [e["id"] for e in client.orders(parentOrderId=sales[0])] == [made[0]["id"]]
    # the whole order came back: nothing is left to return
    again = control(main, "ret", f"orders/{sales[0]}/returns", "POST")
    assert again.status_code == 400 and "quantities" in again.json()["error"]
    state_sale = next(o for o in state(main, "ret")["orders"] if o["id"] == sales[0])
    assert state_sale["returns"] == [made[0]["id"]] and state_sale["history"] == []  # no status of the sale moved


@pytest.mark.parametrize(("body", "field"), [
    ({}, "quantities"), ({"quantities": []}, "quantities"), ({"quantities": [7]}, "quantities.0"),
    ({"quantities": [{"orderItemId": 1, "quantity": 1}]}, "quantities.0.orderItemId"),
    ({"quantities": [{"orderItemId": "12", "quantity": 1}]}, "quantities.0.orderItemId"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": 0}]}, "quantities.0.quantity"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": 99}]}, "quantities.0.quantity"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": "1"}]}, "quantities.0.quantity"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": 1}], "statusId": 9.7}, "statusId"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": 1}], "warehouseId": 77}, "warehouseId"),
    ({"quantities": [{"orderItemId": "ITEM", "quantity": 1}], "returnPackageNumber": 5}, "returnPackageNumber"),
])
def test_a_return_that_cannot_be_made_answers_422_naming_the_field(main, body, field, returner):
    client = returner
    orders = state(main, "ret")["orders"]
    untouched = next(o["id"] for o in reversed(orders) if o["status_id"] == 5 and not o["returns"])
    sale = client.get(f"/rest/orders/{untouched}").json()
    item = product_items(sale)[0]["id"]
    text = json.dumps(body).replace('"ITEM"', str(item))
    answer = client.post(f"/rest/orders/{sale['id']}/returns", data=text, headers={"content-type": "application/json"})
    assert answer.status_code == 422 and list(answer.json()["validation_errors"]) == [field], answer.text
    assert answer.json()["error"] == {"message": "validation error found"}
    assert sale["id"] not in {r["order_id"] for r in state(main, "ret")["returns"]}


def test_a_return_of_a_return_and_of_an_unknown_order_is_refused(main, returner):
    client = returner
    ret = state(main, "ret")["returns"] or [control(main, "ret", f"orders/{in_status(main, 'ret', 5)[0]}/returns",
                                                    "POST").json()]
    first = ret[0]["id"]
    item = client.get(f"/rest/orders/{first}").json()["orderItems"][0]["id"]
    answer = client.post(f"/rest/orders/{first}/returns", json={"quantities": [{"orderItemId": item, "quantity": 1}]})
    assert answer.status_code == 422 and list(answer.json()["validation_errors"]) == ["orderId"]
    assert client.post("/rest/orders/999999/returns", json={"quantities": []}).status_code == 404
    assert control(main, "ret", "orders/999999/returns", "POST").status_code == 404


# -- rate limits, quirks, faults -----------------------------------------------------------------------------

def test_a_return_orders_status_is_set_like_any_orders_and_recorded_in_its_history(main, returner):
    sale = control(main, "ret", "orders", "POST", n=1, statusId=5).json()["ids"][0]
    ret = control(main, "ret", f"orders/{sale}/returns", "POST").json()["id"]
    changed = returner.put(f"/rest/orders/{ret}", json={"statusId": 9.01})  # the seed's 9.0.1, as plenty writes it
    assert changed.status_code == 200 and changed.json()["statusId"] == 9.01
    assert changed.json()["statusName"] == "[9.01] Retoure erhalten (Fulfillment)"
    listed = returner.get("/rest/orders", params={"orderIds": str(ret), "addOrderItems": "false"}).json()
    assert [(e["id"], e["statusId"], "orderItems" in e) for e in listed["entries"]] == [(ret, 9.01, False)]
    assert [h["statusId"] for h in returner.get(f"/rest/orders/{ret}/status-history").json()] == [9, 9.01]
    recorded = next(r for r in state(main, "ret")["returns"] if r["id"] == ret)
    assert [(h["from"], h["to"], h["source"]) for h in recorded["history"]] == [(9, 9.01, "api")]
    assert next(o for o in state(main, "ret")["orders"] if o["id"] == sale)["history"] == []  # the sale keeps its own


def test_read_and_write_budgets_send_headers_429_and_reset(tight):
    client = Plenty(tight, "rl", "rl-user", "pw")
    left = []
    for _ in range(5):
        answer = client.get("/rest/orders/shipping/presets")
        assert answer.status_code == 200 and answer.headers["X-Plenty-Global-Short-Period-Limit"] == "5"
        assert 0 <= int(answer.headers["X-Plenty-Global-Short-Period-Decay"]) <= 3
        left.append(int(answer.headers["X-Plenty-Global-Short-Period-Calls-Left"]))
    assert left == [4, 3, 2, 1, 0]
    spent = client.get("/rest/orders/shipping/presets")
    assert spent.status_code == 429
    assert spent.json() == {"error": {"message": "short period read limit reached", "code": 429}}
    assert 1 <= int(spent.headers["Retry-After"]) <= 3
    assert abs(int(spent.headers["X-Plenty-Global-Short-Period-Calls-Reset"]) - time.time()) <= 4
    correction = {"variationId": 3101, "quantity": 1}
    writes = [client.put("/rest/stockmanagement/warehouses/1/stock/correction", json=correction) for _ in range(4)]
    assert [w.status_code for w in writes] == [200, 200, 200, 429]  # a separate budget
    assert writes[0].headers["X-Plenty-Global-Short-Period-Limit"] == "3"
    assert writes[3].json()["error"]["message"] == "short period write limit reached"
    time.sleep(int(spent.headers["Retry-After"]) + 0.1)
    client = Plenty(tight, "rl", "rl-user", "pw")  # the 2 s token may have lapsed meanwhile
    fresh = client.get("/rest/orders/shipping/presets")
    assert fresh.status_code == 200 and fresh.headers["X-Plenty-Global-Short-Period-Calls-Left"] == "4"
    assert state(tight, "rl")["requests"]["429"] == 2


def test_numbers_as_strings_quirk_and_what_the_spec_says_about_it(tight):
    client = Plenty(tight, "quirk", "q-user", "pw")
    page = client.get("/rest/orders", params={"with[]": "orderItems.variation"}).json()
    assert (page["page"], page["itemsPerPage"], page["totalsCount"]) == ("1", "50", "12")
    assert page["lastPageNumber"] == "1" and page["isLastPage"] is True and page["firstOnPage"] == 1
    kinds = {type(e["id"]) for e in page["entries"]}
    assert kinds == {int, str}  # one page mixes both, as live systems do
    stringy = next(e for e in page["entries"] if isinstance(e["id"], str))
    assert isinstance(stringy["amounts"][0]["grossTotal"], str)
    assert isinstance(next(i for i in stringy["orderItems"] if i["typeId"] == 1)["quantity"], str)
    exchanges = control(tight, "quirk", "exchanges").json()["exchanges"]
    listing = next(e for e in exchanges if e["path"] == "/rest/orders")
    assert any("is not of type 'integer'" in p for p in exchange_problems(listing))
    validate_exchanges(exchanges, numbers_as_strings=True)  # acceptable only when the quirk is expected


def test_fault_injection_works_on_plenty_routes(main):
    client, faults = Plenty(main, "fault"), f"{main.url}/_sandbox/faults"
    requests.delete(faults, timeout=T).raise_for_status()
    try:
        rules = [{"channel": "plentymarkets", "match": "/rest/orders", "kind": "429", "times": 1, "retry_after": 2},
                 {"channel": "plentymarkets", "match": "/stock/correction", "kind": "503", "times": 1}]
        assert requests.post(faults, json=rules, timeout=T).json()["ok"] is True
        throttled = client.get("/rest/orders")
        assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
        assert client.get("/rest/orders").status_code == 200
        url = "/rest/stockmanagement/warehouses/1/stock/correction"
        assert client.put(url, json={"variationId": 3101, "quantity": 2}).status_code == 503
        assert client.put(url, json={"variationId": 3101, "quantity": 2}).status_code == 200
        assert state(main, "fault")["sessions"]["live"] == 1  # control routes are never faulted
    finally:
        requests.delete(faults, timeout=T).raise_for_status()


# -- the exchange log and the spec -------------------------------------------------------------------------

def test_a_realistic_sequence_follows_the_openapi_spec(main):
    control(main, "flow", "exchanges", "DELETE")
    client = Plenty(main, "flow")
    requests.post(f"{client.base}/rest/login", data={"username": "flow-user", "password": "pw-flow"}, timeout=T)
    ids = [e["id"] for e in client.orders(statusFrom=5, statusTo=5, itemsPerPage=5,
                                           **{"with[]": ["addresses", "orderItems.variation"]})]
    client.get("/rest/orders/shipping/presets")
    client.get(f"/rest/orders/{ids[0]}", params={"with[]": ["addresses", "shippingPackages"]})
    client.put(f"/rest/orders/{ids[0]}", json={"statusId": 5.1})
    client.put(f"/rest/orders/{ids[1]}", json={"statusId": 6.2})
    client.post(f"/rest/orders/{ids[0]}/shipping/packages",
                json={"packageId": 1, "packageNumber": "JJD000390007", "weight": 900, "packageType": 26})
    client.put(f"/rest/orders/{ids[0]}", json={"statusId": 7, "properties": [{"typeId": 2, "value": "6"}]})
    client.get(f"/rest/orders/{ids[0]}/shipping/packages")
    client.get(f"/rest/orders/{ids[0]}/packagenumbers")
    client.get(f"/rest/orders/{ids[0]}/status-history")
    client.put("/rest/stockmanagement/warehouses/1/stock/correction",
               json={"corrections": [{"variationId": 3105, "storageLocationId": 0, "quantity": 12, "reasonId": 301}]})
    client.get("/rest/stockmanagement/warehouses/1/stock", params={"itemsPerPage": 5})
    client.get("/rest/orders/999999")  # 404
    client.put(f"/rest/orders/{ids[2]}", json={"statusId": "done"})  # 422, invalid on purpose
    client.put("/rest/stockmanagement/warehouses/1/stock/correction", json={"variationId": 3105})  # 422, too
    requests.get(f"{client.base}/rest/orders", timeout=T)  # 401: no token, invalid on purpose
    renewed = client.post("/rest/login/refresh").json()["accessToken"]
    requests.post(f"{client.base}/rest/logout", headers={"Authorization": f"Bearer {renewed}"}, timeout=T)
    exchanges = control(main, "flow", "exchanges").json()["exchanges"]
    on_purpose = [e["seq"] for e in exchanges if e["status"] in (401, 422)]
    assert len(on_purpose) == 3
    assert validate_exchanges(exchanges, expect_invalid_requests=on_purpose) == len(exchanges) >= 20

    text = json.dumps(exchanges)
    assert client.token not in text and renewed not in text and "pw-flow" not in text  # secrets are redacted
    listing = next(e for e in exchanges if e["path"] == "/rest/orders" and e["status"] == 200)
    assert [k for k, _ in listing["query"]].count("with[]") == 2  # repeated keys kept
    assert listing["request_headers"]["authorization"] == "Bearer <redacted>"
    assert listing["response_headers"]["x-plenty-global-short-period-limit"] == "200"
    assert control(main, "flow", "exchanges", "DELETE").json()["cleared"] == len(exchanges)
    assert control(main, "flow", "exchanges").json()["exchanges"] == []


def test_the_spec_check_catches_a_wrong_answer():
    good = {"seq": 1, "method": "GET", "path": "/rest/orders/5/packagenumbers", "query": [],
            "request_headers": {"authorization": "Bearer <redacted>"}, "request_body": None, "status": 200,
            "response_headers": {"content-type": "application/json"}, "response_body": ["J1"]}
    assert exchange_problems(good) == []
    assert exchange_problems({**good, "response_body": [{"number": "J1"}]})  # objects, not strings
    assert exchange_problems({**good, "response_body": None})  # a body is documented
    assert exchange_problems({**good, "status": 404, "response_body": {"message": "nope"}})  # not B3
    with pytest.raises(AssertionError, match="sent invalid on purpose"):
        validate_exchanges([good], expect_invalid_requests=[1])


@pytest.mark.parametrize("text", ["shop:user:pw", "shop:user::3", "shop::pw:3", "sh/op:user:pw:3", "shop:user:pw:x"])
def test_system_spec_parse_refuses_malformed(text):
    with pytest.raises(ValueError, match="SYSTEM:USERNAME:PASSWORD:N_ORDERS"):
        PlentySystemSpec.parse(text)


def test_system_spec_keeps_colons_in_the_password():
    assert PlentySystemSpec.parse("shop:api-user:a:b::c:12") == PlentySystemSpec("shop", "api-user", "a:b::c", 12)
