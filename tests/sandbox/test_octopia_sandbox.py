"""The Octopia fake over real HTTP (a sandbox child process, talked to with requests), built from
``../shared/reference/octopia-api.md`` alone.

One sandbox serves the module; sellers are split by purpose
so tests do not disturb each other: ``read`` (40 orders on two channels, only read), ``act`` (the
state machine, approval, shipments), ``pack`` (offer packages), ``other`` (delegated to another
client only). ``short`` is a second sandbox with 60 s tokens and no automatic moves.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import requests

from orderbridge_sandbox.process import start_sandbox

ANCHOR = datetime(2024, 3, 15, 12, 0)
T = 10  # seconds; every request has a timeout
TOKEN_PATH = "/octopia/auth/realms/maas/protocol/openid-connect/token"
API = "/octopia/seller/v2"
PROBLEM = "application/problem+json"
CLIENT, SECRET = "orderbridge", "s3cr:et"
SELLERS = {"read": ("11001", 40, "CDISFR+RAKUFR"), "act": ("11002", 0, "CDISFR+RAKUFR"),
           "pack": ("11003", 0, "CDISFR+CDONSE"), "count": ("11004", 0, "CDISFR")}
MAIN = ["--seed", "7", "--anchor", ANCHOR.isoformat(), "--octopia-prepare-delay", "120",
        *[a for sid, n, ch in SELLERS.values() for a in ("--octopia", f"{CLIENT}:{SECRET}:{sid}:{n}:{ch}")],
        "--octopia", "someone-else:pw:22001:3", "--octopia", "counter:pw:11004:0"]


@pytest.fixture(scope="module")
def main():
    with start_sandbox(MAIN) as proc:
        yield proc


@pytest.fixture(scope="module")
def short():
    args = ["--seed", "7", "--octopia-token-ttl", "60", "--octopia-prepare-delay", "-1", "--octopia-token-quota", "4",
            "--octopia-token-errors", "keycloak", "--octopia", f"{CLIENT}:{SECRET}:31001:2"]
    with start_sandbox(args) as proc:
        yield proc


def get_token(sandbox, client: str = CLIENT, secret: str = SECRET) -> str:
    r = requests.post(sandbox.url + TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": client,
                                                      "client_secret": secret}, timeout=T)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


class Api:
    """Requests as one seller, with one token (fetched once per test)."""

    def __init__(self, sandbox, seller: str, token: str) -> None:
        self.url, self.headers = sandbox.url + API, {"Authorization": f"Bearer {token}", "SellerId": seller}

    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.url + path, params=params, headers=self.headers, timeout=T)

    def post(self, path: str, body, headers: dict | None = None) -> requests.Response:
        return requests.post(self.url + path, json=body, headers={**self.headers, **(headers or {})}, timeout=T)

    def patch(self, path: str, body) -> requests.Response:
        return requests.patch(self.url + path, json=body, headers=self.headers, timeout=T)


def api(sandbox, purpose: str) -> Api:
    return Api(sandbox, SELLERS[purpose][0], get_token(sandbox))


def control(sandbox, path: str, body=None, method: str = "post") -> dict:
    r = requests.request(method, f"{sandbox.url}/_sandbox/octopia{path}", json=body, timeout=T)
    return {"_status": r.status_code, **r.json()}


def state(sandbox) -> dict:
    return control(sandbox, "/state", method="get")


def new_order(sandbox, purpose: str, status: str, channel: str = "CDISFR", modes: list[str] | None = None) -> dict:
    seller = SELLERS[purpose][0]
    made = control(sandbox, f"/{seller}/orders", {"n": 1, "salesChannelId": channel, "status": status,
                                                  **({"supplyModes": modes} if modes else {})})
    assert made["ok"], made
    return api(sandbox, purpose).get(f"/orders/{made['orderIds'][0]}").json()


def assert_problem(r: requests.Response, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert {"title", "status", "detail", "traceId"} <= set(body) and body["status"] == status
    text = json.dumps(body)
    for word in words:
        assert word in text, (word, text)
    return body


# -- auth ----------------------------------------------------------------------------------------
def test_the_token_endpoint_takes_a_form_answers_a_bearer_token_and_counts_each_one(main):
    before = state(main)["clients"]["counter"]["tokens_issued"]
    r = requests.post(main.url + TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": "counter",
                                                   "client_secret": "pw"}, timeout=T)
    assert r.status_code == 200 and r.json()["expires_in"] == 7200 and r.json()["token_type"] == "Bearer"
    get_token(main, "counter", "pw")
    after = state(main)
    assert after["clients"]["counter"]["tokens_issued"] == before + 2
    assert after["clients"]["counter"]["tokens_last_hour"] == before + 2
    # a bad secret, an unknown client, another grant and a JSON body are refused and not counted
    for form in ({"grant_type": "client_credentials", "client_id": "counter", "client_secret": "nope"},
                 {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "pw"}):
        assert_problem(requests.post(main.url + TOKEN_PATH, data=form, timeout=T), 401, "invalid_client")
    assert_problem(requests.post(main.url + TOKEN_PATH, data={"grant_type": "password", "client_id": "counter",
                                                              "client_secret": "pw"}, timeout=T), 400, "grant_type")
    assert_problem(requests.post(main.url + TOKEN_PATH, json={"grant_type": "client_credentials",
                                                              "client_id": "counter", "client_secret": "pw"},
                                 timeout=T), 400, "x-www-form-urlencoded")
    assert state(main)["clients"]["counter"]["tokens_issued"] == before + 2


def test_one_token_serves_every_seller_delegated_to_its_client(main):
    token = get_token(main)
    for purpose in ("read", "act", "pack"):
        assert Api(main, SELLERS[purpose][0], token).get("/sellers").json()["seller_id"] == SELLERS[purpose][0]


def test_calls_without_a_live_token_or_for_an_undelegated_seller_are_refused(main):
    url = main.url + API + "/orders"
    assert_problem(requests.get(url, headers={"SellerId": "11001"}, timeout=T), 401, "Bearer")
    assert_problem(requests.get(url, headers={"SellerId": "11001", "Authorization": "Bearer forged"}, timeout=T), 401)
    token = get_token(main)
    assert_problem(requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=T), 400, "SellerId")
    # 22001 delegated only to someone-else; an unknown seller looks the same
    for seller in ("22001", "99999"):
        assert_problem(Api(main, seller, token).get("/orders"), 403, f"Seller {seller}", CLIENT)
    assert Api(main, "22001", get_token(main, "someone-else", "pw")).get("/orders").status_code == 200
    # the seller withdraws the delegation, then grants it again; the header name's case does not matter
    reader = Api(main, "11001", token)
    assert control(main, "/11001/delegation", {"client_id": CLIENT, "delegated": False})["ok"]
    assert_problem(reader.get("/orders"), 403, "has not granted access")
    assert control(main, "/11001/delegation", {"client_id": CLIENT, "delegated": True})["ok"]
    r = requests.get(url, headers={"authorization": f"Bearer {token}", "sellerid": "11001"}, timeout=T)
    assert r.status_code == 200


def test_a_token_expires_after_its_lifetime_and_keycloak_style_errors_can_be_chosen(short):
    token = get_token(short)
    seller = Api(short, "31001", token)
    assert seller.get("/orders").status_code == 200
    control(short, "/clock", {"advance": 61})
    assert_problem(seller.get("/orders"), 401, "expired")
    assert Api(short, "31001", get_token(short)).get("/orders").status_code == 200
    bad = requests.post(short.url + TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": CLIENT,
                                                      "client_secret": "wrong"}, timeout=T)
    assert bad.status_code == 401 and bad.json() == {
        "error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}


def test_past_the_token_quota_a_client_waits_for_the_rolling_hour(short):
    control(short, "/clock", {"advance": 3601})  # the hour of earlier tests is over
    for _ in range(4):
        get_token(short)
    form = {"grant_type": "client_credentials", "client_id": CLIENT, "client_secret": SECRET}
    over = requests.post(short.url + TOKEN_PATH, data=form, timeout=T)
    assert over.status_code == 429 and "Token quota of 4 an hour" in over.json()["error_description"]
    assert 0 < int(over.headers["Retry-After"]) <= 3601
    assert state(short)["clients"][CLIENT]["tokens_last_hour"] == 4
    control(short, "/clock", {"advance": int(over.headers["Retry-After"])})
    assert requests.post(short.url + TOKEN_PATH, data=form, timeout=T).status_code == 200


# -- sellers and orders --------------------------------------------------------------------------
def test_sellers_and_subscriptions(main):
    reader = api(main, "read")
    assert reader.get("/sellers").json() == {"seller_id": "11001", "login": "seller11001", "shop_name": "Shop 11001",
                                             "seller_state": "Active"}
    subs = reader.get("/sellers/subscriptions").json()
    assert [s["sales-channel-id"] for s in subs] == ["CDISFR", "RAKUFR"] and all(s["status"] == "Active" for s in subs)
    assert [s["sales-channel-id"] for s in api(main, "pack").get("/sellers/subscriptions").json()] == \
        ["CDISFR", "CDONSE"]
    carriers = reader.get("/carriers").json()
    assert {"code", "label", "additionalParametersRequired"} == set(carriers[0])
    assert "Colissimo" in {c["label"] for c in carriers}


def _all_orders(reader: Api, **params) -> list[dict]:
    orders, index = [], 1
    while True:
        page = reader.get("/orders", pageIndex=index, pageSize=100, **params)
        assert page.status_code == 200, page.text
        orders += page.json()["items"]
        if len(page.json()["items"]) < 100:
            return orders
        index += 1


def test_generated_orders_cover_every_status_supply_mode_and_channel_with_addresses_per_line(main):
    orders = _all_orders(api(main, "read"))
    assert len(orders) == 40 and len({o["orderId"] for o in orders}) == 40
    by_channel = {}
    for o in orders:
        by_channel.setdefault(o["salesChannel"]["id"], []).append(o)
        assert "shippingAddress" not in o and o["seller"] == {"id": "11001"}
        assert all(ln["status"] for ln in o["lines"]) and all(ln["shippingAddress"]["countryCode"] == "FR"
                                                              for ln in o["lines"])
        if o["status"] in ("Shipped", "Delivered"):
            assert all(ln["parcels"] for ln in o["lines"]) and o["shippedAt"]
    assert {c: len(v) for c, v in by_channel.items()} == {"CDISFR": 20, "RAKUFR": 20}
    assert by_channel["CDISFR"][0]["salesChannel"] == {"id": "CDISFR", "name": "Cdiscount"}
    assert not {o["status"] for o in by_channel["RAKUFR"]} & {"WaitingAcceptance", "Refused"}
    statuses = {o["status"] for o in orders}
    assert {"WaitingAcceptance", "Accepted", "InPreparation", "Shipped"} <= statuses, statuses
    modes = {ln["offer"]["supplyMode"] for o in orders for ln in o["lines"]}
    assert modes == {"Seller", "Fulfillment", "Xdock"}, modes
    skus = {ln["offer"]["sellerProductId"] for o in orders for ln in o["lines"]}
    from orderbridge_sandbox.catalogue import OCTOPIA_OFFERS
    assert skus <= {o.channel_sku for o in OCTOPIA_OFFERS}


def test_more_orders_in_every_status_per_channel_from_the_control_route(main):
    for status in ("Processing", "WaitingAcceptance", "Accepted", "Refused", "InPreparation", "Shipped", "Delivered",
                   "Cancelled", "Rejected"):
        order = new_order(main, "act", status)
        assert order["status"] == status and {ln["status"] for ln in order["lines"]} == {status}
    rakuten = new_order(main, "act", "Accepted", channel="RAKUFR", modes=["Seller", "Fulfillment", "Xdock"])
    assert [ln["offer"]["supplyMode"] for ln in rakuten["lines"]] == ["Seller", "Fulfillment", "Xdock"]
    assert rakuten["salesChannel"]["id"] == "RAKUFR"
    seller = SELLERS["act"][0]
    refused = control(main, f"/{seller}/orders", {"n": 1, "salesChannelId": "RAKUFR", "status": "WaitingAcceptance"})
    assert refused["_status"] == 400 and "only on CDISFR" in refused["error"]
    assert control(main, f"/{seller}/orders", {"n": 1, "salesChannelId": "CDONSE"})["_status"] == 400
    assert control(main, "/424242/orders", {"n": 1})["_status"] == 404


def test_paging_is_one_based_stops_on_a_short_page_and_refuses_bad_sizes(main):
    reader = api(main, "read")
    total = reader.get("/orders/count").json()["count"]
    assert total == 40
    first = reader.get("/orders").json()
    assert first["itemsPerPage"] == 20 and len(first["items"]) == 20  # the default size [G]
    pages = [reader.get("/orders", pageIndex=i, pageSize=15).json() for i in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [15, 15, 10, 0] and {p["itemsPerPage"] for p in pages} == {15}
    ids = [o["orderId"] for p in pages for o in p["items"]]
    assert len(set(ids)) == 40
    created = [o["createdAt"] for p in pages for o in p["items"]]
    assert created == sorted(created)  # sort=createdAt ascending by default
    exact = reader.get("/orders", pageIndex=1, pageSize=40).json()
    assert len(exact["items"]) == 40 and reader.get("/orders", pageIndex=2, pageSize=40).json()["items"] == []
    assert len(reader.get("/orders", pageSize=100).json()["items"]) == 40
    assert_problem(reader.get("/orders", pageSize=101), 400, "pageSize", "at most 100")
    assert_problem(reader.get("/orders", pageIndex=0), 400, "pageIndex")
    assert_problem(reader.get("/orders", pageSize="ten"), 400, "pageSize")
    newest = reader.get("/orders", pageSize=5, sort="desc:updatedAt").json()["items"]
    assert [o["updatedAt"] for o in newest] == sorted((o["updatedAt"] for o in newest), reverse=True)
    assert newest[0]["updatedAt"] == max(o["updatedAt"] for o in _all_orders(reader))


def test_filters_by_status_channel_supply_mode_and_dates(main):
    reader = api(main, "read")
    everything = _all_orders(reader)
    waiting = _all_orders(reader, status="WaitingAcceptance,InPreparation")
    assert waiting and {o["status"] for o in waiting} <= {"WaitingAcceptance", "InPreparation"}
    assert len(waiting) == sum(o["status"] in ("WaitingAcceptance", "InPreparation") for o in everything)
    assert reader.get("/orders/count", status="WaitingAcceptance,InPreparation").json()["count"] == len(waiting)
    assert {o["salesChannel"]["id"] for o in _all_orders(reader, salesChannelId="RAKUFR")} == {"RAKUFR"}
    fbo = _all_orders(reader, supplyMode="Fulfillment")
    assert fbo and all(any(ln["offer"]["supplyMode"] == "Fulfillment" for ln in o["lines"]) for o in fbo)
    # updatedAtMin/Max: both bounds included
    stamps = sorted(o["updatedAt"] for o in everything)
    lo, hi = stamps[10], stamps[20]
    window = _all_orders(reader, updatedAtMin=lo, updatedAtMax=hi)
    assert sorted(o["updatedAt"] for o in window) == [s for s in stamps if lo <= s <= hi]
    assert {o["updatedAt"] for o in window} >= {lo, hi}
    assert_problem(reader.get("/orders", updatedAtMin="yesterday"), 400, "updatedAtMin")
    assert_problem(reader.get("/orders", status="Open"), 400, "status", "Open")
    assert_problem(reader.get("/orders", supplyMode="Octopia"), 400, "supplyMode")
    assert_problem(reader.get("/orders/NOPE"), 404, "NOPE")


# -- the state machine, approval and shipments ---------------------------------------------------
def _move(main, order_id: str, status: str, lines: list[str] | None = None) -> dict:
    return control(main, f"/{SELLERS['act'][0]}/orders/{order_id}/status",
                   {"status": status, **({"lines": lines} if lines else {})})


def test_each_status_change_bumps_updated_at_so_a_window_from_then_sees_it(main):
    actor = api(main, "act")
    order = new_order(main, "act", "Processing")
    control(main, "/clock", {"advance": 5})
    for status in ("WaitingAcceptance", "Accepted", "InPreparation", "Shipped", "Delivered"):
        before = actor.get(f"/orders/{order['orderId']}").json()["updatedAt"]
        moved = _move(main, order["orderId"], status)
        assert moved["ok"], moved
        after = actor.get(f"/orders/{order['orderId']}").json()
        assert after["status"] == status and after["updatedAt"] > before
        assert order["orderId"] in {o["orderId"] for o in _all_orders(actor, updatedAtMin=after["updatedAt"])}
        control(main, "/clock", {"advance": 2})
    assert after["updatedAt"] > order["updatedAt"]


def test_a_search_repeated_after_a_change_sees_the_change(main):
    actor = api(main, "act")
    order = new_order(main, "act", "InPreparation")
    listed = {o["orderId"] for o in _all_orders(actor, status="InPreparation")}
    assert order["orderId"] in listed
    _move(main, order["orderId"], "Cancelled")
    assert {o["orderId"] for o in _all_orders(actor, status="InPreparation")} == listed - {order["orderId"]}


def test_the_state_machine_refuses_impossible_moves(main):
    rakuten = new_order(main, "act", "Processing", channel="RAKUFR")
    refused = _move(main, rakuten["orderId"], "WaitingAcceptance")
    assert refused["_status"] == 400 and "can move to Accepted" in refused["error"]
    assert _move(main, rakuten["orderId"], "Accepted")["ok"]
    shipped = new_order(main, "act", "Shipped")
    assert "not Cancelled" in _move(main, shipped["orderId"], "Cancelled")["error"]
    assert _move(main, shipped["orderId"], "Delivered")["ok"]
    for status in ("Processing", "WaitingAcceptance", "Accepted", "InPreparation"):
        assert _move(main, new_order(main, "act", status)["orderId"], "Cancelled")["ok"]
    assert _move(main, new_order(main, "act", "Accepted")["orderId"], "Rejected")["ok"]
    assert "not Accepted" in _move(main, new_order(main, "act", "Cancelled")["orderId"], "Accepted")["error"]
    assert _move(main, "NOPE", "Accepted")["_status"] == 404
    assert "status must be one of" in _move(main, rakuten["orderId"], "Open")["error"]


def test_a_line_moves_alone_and_the_order_shows_its_least_advanced_live_line(main):
    actor = api(main, "act")
    order = new_order(main, "act", "InPreparation", modes=["Seller", "Fulfillment"])
    # Octopia's warehouse ships its own line; the seller's line is still to prepare
    assert _move(main, order["orderId"], "Shipped", ["2"])["ok"]
    now = actor.get(f"/orders/{order['orderId']}").json()
    assert now["status"] == "InPreparation" and [ln["status"] for ln in now["lines"]] == ["InPreparation", "Shipped"]
    assert _move(main, order["orderId"], "Cancelled", ["1"])["ok"]
    assert actor.get(f"/orders/{order['orderId']}").json()["status"] == "Shipped"
    assert _move(main, order["orderId"], "Shipped", ["9"])["_status"] == 404


def test_approval_only_for_cdiscount_orders_waiting_acceptance(main):
    actor = api(main, "act")
    waiting, other = new_order(main, "act", "WaitingAcceptance"), new_order(main, "act", "WaitingAcceptance")
    control(main, "/clock", {"advance": 1})
    r = actor.post(f"/orders/{waiting['orderId']}/approval-status", {"approval_status": "Accepted"})
    assert r.status_code == 204 and r.content == b""
    accepted = actor.get(f"/orders/{waiting['orderId']}").json()
    assert accepted["status"] == "Accepted" and accepted["updatedAt"] > waiting["updatedAt"]
    assert_problem(actor.post(f"/orders/{waiting['orderId']}/approval-status", {"approval_status": "Accepted"}),
                   400, "is Accepted", "WaitingAcceptance")
    assert actor.post(f"/orders/{other['orderId']}/approval-status", {"approval_status": "Refused"}).status_code == 204
    assert actor.get(f"/orders/{other['orderId']}").json()["status"] == "Refused"
    rakuten = new_order(main, "act", "Accepted", channel="RAKUFR")
    assert_problem(actor.post(f"/orders/{rakuten['orderId']}/approval-status", {"approval_status": "Accepted"}),
                   400, "RAKUFR", "only CDISFR")
    third = new_order(main, "act", "WaitingAcceptance")
    body = assert_problem(actor.post(f"/orders/{third['orderId']}/approval-status", {"approvalStatus": "Accepted"}),
                          400, "approval_status")
    assert "approval_status" in body["errors"]
    assert_problem(actor.post("/orders/NOPE/approval-status", {"approval_status": "Accepted"}), 404)
    seller_state = next(o for o in state(main)["sellers"][SELLERS["act"][0]]["orders"]
                        if o["orderId"] == waiting["orderId"])
    assert seller_state["approvals"] == ["Accepted"]


def test_an_accepted_order_passes_the_marketplace_controls_into_preparation_after_the_delay(main):
    actor = api(main, "act")
    order = new_order(main, "act", "WaitingAcceptance")
    actor.post(f"/orders/{order['orderId']}/approval-status", {"approval_status": "Accepted"})
    control(main, "/clock", {"advance": 60})
    assert actor.get(f"/orders/{order['orderId']}").json()["status"] == "Accepted"
    control(main, "/clock", {"advance": 61})
    ready = actor.get(f"/orders/{order['orderId']}").json()
    assert ready["status"] == "InPreparation" and {ln["status"] for ln in ready["lines"]} == {"InPreparation"}
    generated = new_order(main, "act", "Accepted")  # made Accepted, not accepted here: it waits for the control route
    control(main, "/clock", {"advance": 121})
    assert actor.get(f"/orders/{generated['orderId']}").json()["status"] == "Accepted"


PARCEL = {"parcelNumber": "6A0001", "carrierName": "Colissimo",
          "trackingUrl": "https://www.laposte.fr/outils/suivre-vos-envois?code=6A0001"}


def test_a_parcel_for_seller_lines_in_preparation_ships_them_and_a_second_one_is_refused(main):
    actor = api(main, "act")
    order = new_order(main, "act", "InPreparation", modes=["Seller", "Seller"])
    oid = order["orderId"]
    first = actor.post(f"/orders/{oid}/shipments", [{**PARCEL, "orderLineIds": ["1"]}])
    assert first.status_code == 204
    half = actor.get(f"/orders/{oid}").json()
    assert half["status"] == "InPreparation" and half["lines"][0]["status"] == "Shipped"
    assert half["lines"][0]["parcels"] == [PARCEL] and half["lines"][1]["parcels"] == []
    again = assert_problem(actor.post(f"/orders/{oid}/shipments", [{**PARCEL, "orderLineIds": ["1"]}]), 400,
                           "Cannot switch to shipped status", "already Shipped", "6A0001")
    assert "[0].orderLineIds" in again["errors"]
    second = {"parcelNumber": "6A0002", "carrierName": "Chronopost", "orderLineIds": ["2"]}  # no trackingUrl: optional
    assert actor.post(f"/orders/{oid}/shipments", [second]).status_code == 204
    done = actor.get(f"/orders/{oid}").json()
    assert done["status"] == "Shipped" and done["shippedAt"] and done["lines"][1]["parcels"][0]["trackingUrl"] == ""
    recorded = next(o for o in state(main)["sellers"][SELLERS["act"][0]]["orders"] if o["orderId"] == oid)
    assert recorded["shipments"] == [[{**PARCEL, "orderLineIds": ["1"]}], [second]]


def test_shipments_are_refused_for_other_supply_modes_statuses_and_malformed_bodies_all_or_nothing(main):
    actor = api(main, "act")
    order = new_order(main, "act", "InPreparation", modes=["Seller", "Fulfillment", "Xdock"])
    oid = order["orderId"]
    for line, mode in (("2", "Fulfillment"), ("3", "Xdock")):
        assert_problem(actor.post(f"/orders/{oid}/shipments", [{**PARCEL, "orderLineIds": [line]}]), 400,
                       f"supplied by {mode}")
    # one good parcel and one bad: nothing ships
    assert_problem(actor.post(f"/orders/{oid}/shipments", [{**PARCEL, "orderLineIds": ["1"]},
                                                           {**PARCEL, "orderLineIds": ["7"]}]), 400, "line 7")
    assert actor.get(f"/orders/{oid}").json()["lines"][0]["status"] == "InPreparation"
    for status in ("WaitingAcceptance", "Accepted"):
        early = new_order(main, "act", status, modes=["Seller"])
        assert_problem(actor.post(f"/orders/{early['orderId']}/shipments", [{**PARCEL, "orderLineIds": ["1"]}]),
                       400, f"is {status}, not InPreparation")
    for body, field in (({**PARCEL, "orderLineIds": []}, "[0].orderLineIds"),
                        ({**PARCEL, "orderLineIds": [1]}, "[0].orderLineIds"),
                        ({"parcelNumber": "X", "orderLineIds": ["1"]}, "[0].carrierName"),
                        ({"carrierName": "DHL", "orderLineIds": ["1"]}, "[0].parcelNumber")):
        assert field in assert_problem(actor.post(f"/orders/{oid}/shipments", [body]), 400)["errors"]
    assert_problem(actor.post(f"/orders/{oid}/shipments", {**PARCEL, "orderLineIds": ["1"]}), 400, "JSON array")
    assert_problem(actor.post(f"/orders/{oid}/shipments", []), 400, "non-empty")
    bad_json = requests.post(f"{actor.url}/orders/{oid}/shipments", data="[{", timeout=T,
                             headers={**actor.headers, "Content-Type": "application/json"})
    assert_problem(bad_json, 400, "not valid JSON")
    assert actor.get(f"/orders/{oid}").json()["status"] == "InPreparation"
    assert actor.post(f"/orders/{oid}/shipments", [{**PARCEL, "orderLineIds": ["1"]}]).status_code == 204


# -- offers --------------------------------------------------------------------------------------
def _package(packer: Api, channel: str = "CDISFR", kind: str = "Update") -> str:
    r = packer.post("/offer-packages", {"packageType": kind}, headers={"SalesChannelId": channel})
    assert r.status_code == 201 and r.content == b"", r.text
    location = r.headers["Content-Location"]
    assert location.startswith(f"{API}/offer-packages/")
    return location.rsplit("/", 1)[1]


def test_offer_packages_integrate_after_a_delay_and_reject_some_items(main):
    packer = api(main, "pack")
    pid = _package(packer)
    assert packer.get(f"/offer-packages/{pid}").json()["state"] == "WaitingForCompletion"
    items = [{"sellerExternalReference": "WH-1001", "quantity": 17},
             {"sellerExternalReference": "CD-7001", "quantity": 0},
             {"sellerExternalReference": "NO-SUCH-SKU", "quantity": 3},
             {"sellerExternalReference": "WH-1002", "quantity": -1}]
    assert packer.post(f"/offer-packages/{pid}/offer-requests", items[:2]).status_code == 204
    assert packer.post(f"/offer-packages/{pid}/offer-requests", items[2:]).status_code == 204
    assert packer.patch(f"/offer-packages/{pid}", {"state": "Ready"}).json()["state"] == "Ready"
    assert_problem(packer.post(f"/offer-packages/{pid}/offer-requests", items[:1]), 400, "WaitingForCompletion")
    assert_problem(packer.patch(f"/offer-packages/{pid}", {"state": "Ready"}), 400, "already Ready")
    assert packer.get(f"/offer-packages/{pid}/offer-requests-results").json()["items"] == []
    control(main, "/clock", {"advance": 150})
    assert packer.get(f"/offer-packages/{pid}").json()["state"] == "IntegrationPending"
    assert state(main)["sellers"]["11003"]["offers"]["CDISFR"]["WH-1001"] == 5  # not applied yet
    control(main, "/clock", {"advance": 151})
    assert packer.get(f"/offer-packages/{pid}").json()["state"] == "Integrated"
    results = packer.get(f"/offer-packages/{pid}/offer-requests-results").json()["items"]
    assert [(r["sellerExternalReference"], r["integrationStatus"], r["resultCode"]) for r in results] == [
        ("WH-1001", "Integrated", "Ok"), ("CD-7001", "Integrated", "Ok"), ("NO-SUCH-SKU", "Rejected", "OfferNotFound"),
        ("WH-1002", "Rejected", "InvalidQuantity")]
    offers = state(main)["sellers"]["11003"]["offers"]
    assert offers["CDISFR"]["WH-1001"] == 17 and offers["CDISFR"]["CD-7001"] == 0 and offers["CDISFR"]["WH-1002"] == 5
    assert offers["CDONSE"]["WH-1001"] == 5  # another channel's offer is its own
    read = packer.get("/offers", salesChannelId="CDISFR", sellerExternalReferences="WH-1001,NO-SUCH-SKU").json()
    assert [(o["sellerExternalReference"], o["quantity"]) for o in read["items"]] == [("WH-1001", 17)]
    # results page by cursor, with a Link to the next page
    first = packer.get(f"/offer-packages/{pid}/offer-requests-results", limit=3)
    assert len(first.json()["items"]) == 3 and 'rel="next"' in first.headers["Link"]
    nxt = requests.get(first.headers["Link"].split(">")[0].lstrip("<"), headers=packer.headers, timeout=T)
    assert [r["sellerExternalReference"] for r in nxt.json()["items"]] == ["WH-1002"] and "Link" not in nxt.headers


def test_a_package_whose_every_item_is_rejected_is_rejected_and_bad_packages_are_refused(main):
    packer = api(main, "pack")
    pid = _package(packer, "CDONSE")
    packer.post(f"/offer-packages/{pid}/offer-requests", [{"sellerExternalReference": "GHOST", "quantity": 1}])
    packer.patch(f"/offer-packages/{pid}", {"state": "Ready"})
    control(main, "/clock", {"advance": 301})
    assert packer.get(f"/offer-packages/{pid}").json()["state"] == "Rejected"
    assert_problem(packer.post("/offer-packages", {"packageType": "Update"}), 400, "SalesChannelId")
    assert_problem(packer.post("/offer-packages", {"packageType": "Update"}, headers={"SalesChannelId": "RAKUFR"}),
                   400, "does not subscribe to RAKUFR")
    assert_problem(packer.post("/offer-packages", {"packageType": "StockOnly"}, headers={"SalesChannelId": "CDISFR"}),
                   400, "packageType")
    open_one = _package(packer)
    too_many = [{"sellerExternalReference": f"WH-{i}", "quantity": 1} for i in range(101)]
    assert_problem(packer.post(f"/offer-packages/{open_one}/offer-requests", too_many), 400, "at most 100")
    assert_problem(packer.post(f"/offer-packages/{open_one}/offer-requests", [{"quantity": 1}]), 400,
                   "sellerExternalReference")
    assert_problem(packer.patch(f"/offer-packages/{open_one}", {"state": "Integrated"}), 400, "must be Ready")
    assert_problem(api(main, "read").get(f"/offer-packages/{open_one}"), 404)  # another seller's package
    # Upsert creates an offer with price and quantity; Delete removes one
    up = _package(packer, kind="Upsert")
    packer.post(f"/offer-packages/{up}/offer-requests", [
        {"sellerExternalReference": "NEW-1", "quantity": 4, "price": 9.5},
        {"sellerExternalReference": "NEW-2", "quantity": 4}])
    packer.patch(f"/offer-packages/{up}", {"state": "Ready"})
    gone = _package(packer, kind="Delete")
    packer.post(f"/offer-packages/{gone}/offer-requests", [{"sellerExternalReference": "WH-1003"}])
    packer.patch(f"/offer-packages/{gone}", {"state": "Ready"})
    control(main, "/clock", {"advance": 301})
    codes = [r["resultCode"] for r in packer.get(f"/offer-packages/{up}/offer-requests-results").json()["items"]]
    assert codes == ["Ok", "MissingOfferData"]
    offers = state(main)["sellers"]["11003"]["offers"]["CDISFR"]
    assert offers["NEW-1"] == 4 and "NEW-2" not in offers and "WH-1003" not in offers


# -- faults and counters -------------------------------------------------------------------------
def test_faults_reach_the_fake_with_a_problem_json_429(main):
    reader = api(main, "read")
    rule = requests.post(f"{main.url}/_sandbox/faults", json=[
        {"channel": "octopia", "kind": "429", "match": "/orders", "times": 1, "retry_after": 2},
        {"channel": "octopia", "kind": "503", "match": "/sellers", "times": 1}], timeout=T)
    assert rule.status_code == 200, rule.text
    try:
        limited = reader.get("/orders")
        body = assert_problem(limited, 429, "Too Many Requests")
        assert limited.headers["Retry-After"] == "2" and body["status"] == 429
        assert reader.get("/orders").status_code == 200
        assert reader.get("/sellers").status_code == 503
        assert reader.get("/sellers").status_code == 200
        requests.post(f"{main.url}/_sandbox/faults", json={"channel": "octopia", "kind": "reset", "times": 1},
                      timeout=T)
        with pytest.raises(requests.ConnectionError):
            reader.get("/orders")
    finally:
        requests.delete(f"{main.url}/_sandbox/faults", timeout=T)


def test_requests_are_counted_per_endpoint_status_and_seller(main):
    counter = Api(main, "11004", get_token(main, "counter", "pw"))
    counter.get("/orders")
    counter.get("/orders/NOPE")
    counter.get("/no-such-route")
    counts = state(main)["sellers"]["11004"]["requests"]
    assert counts["orders"] == {"200": 1} and counts["order"] == {"404": 1}
    assert_problem(counter.get("/no-such-route"), 404, "No route GET /seller/v2/no-such-route")
    assert state(main)["requests"]["token"]["200"] >= 1


def _in_process_orders(spec: str, **options) -> dict:
    from fastapi.testclient import TestClient

    from orderbridge_sandbox.app import create_app
    from orderbridge_sandbox.octopia import OctopiaSellerSpec

    app = create_app(seed=3, anchor=ANCHOR, octopia=[OctopiaSellerSpec.parse(spec)], **options)
    client = TestClient(app)
    token = client.post(TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": "c",
                                          "client_secret": "s"}).json()["access_token"]
    return client.get(f"{API}/orders", params={"pageSize": 100},
                      headers={"Authorization": f"Bearer {token}", "SellerId": "1"}).json()


def test_the_same_seed_gives_the_same_orders_in_process():
    bodies = [_in_process_orders("c:s:1:12:CDISFR+WORTPT") for _ in range(2)]
    assert bodies[0] == bodies[1] and len(bodies[0]["items"]) == 12
    assert {ln["shippingAddress"]["countryCode"] for o in bodies[0]["items"] for ln in o["lines"]
            if o["salesChannel"]["id"] == "WORTPT"} == {"PT"}
    assert max(o["updatedAt"] for o in bodies[0]["items"]) <= (ANCHOR.isoformat() + "Z")


def test_octopia_days_dates_the_initial_orders_where_a_live_scheduled_run_reads():
    # --days spreads every fake's orders; Octopia is read by update window, so live runs need them recent.
    spread = _in_process_orders("c:s:1:30:CDISFR", days=2.0)["items"]
    recent = _in_process_orders("c:s:1:30:CDISFR", days=2.0, octopia_days=0.02)["items"]
    since = (ANCHOR - timedelta(minutes=29)).isoformat() + "Z"
    assert len(recent) == 30 and min(o["updatedAt"] for o in recent) >= since
    assert min(o["updatedAt"] for o in spread) < since


@pytest.mark.parametrize(("text", "expected"), [
    ("plat:sec:98979:5", ("plat", "sec", "98979", 5, ("CDISFR",))),
    ("plat:s:e:c:98979:5:CDISFR+RAKUFR", ("plat", "s:e:c", "98979", 5, ("CDISFR", "RAKUFR"))),
])
def test_the_command_line_spec(text, expected):
    from orderbridge_sandbox.octopia import OctopiaSellerSpec

    spec = OctopiaSellerSpec.parse(text)
    assert (spec.client_id, spec.secret, spec.seller_id, spec.n_orders, spec.channels) == expected


@pytest.mark.parametrize("text", ["plat:98979:5", "plat:sec:98979:x", ":sec:1:5", "plat:sec:1:5:cdisfr"])
def test_a_malformed_command_line_spec_is_refused_naming_the_shape(text):
    from orderbridge_sandbox.octopia import OctopiaSellerSpec

    with pytest.raises(ValueError, match="CLIENT_ID:CLIENT_SECRET:SELLER_ID:N|upper-case"):
        OctopiaSellerSpec.parse(text)


def test_lines_of_one_order_can_ship_to_different_addresses():
    orders = _in_process_orders("c:s:1:30", octopia_split_address_share=1.0)["items"]
    multi = [o for o in orders if len(o["lines"]) > 1]
    assert multi and all(len({json.dumps(ln["shippingAddress"], sort_keys=True) for ln in o["lines"]}) > 1
                         for o in multi)
    same = _in_process_orders("c:s:1:30", octopia_split_address_share=0.0)["items"]
    assert all(len({json.dumps(ln["shippingAddress"], sort_keys=True) for ln in o["lines"]}) == 1 for o in same)


def test_the_command_line_checks_name_what_is_wrong():
    import argparse

    from orderbridge_sandbox.octopia import FAKE, OctopiaSellerSpec

    parser = argparse.ArgumentParser()
    FAKE.add_arguments(parser)
    good = parser.parse_args(["--octopia", "c:s:1:2", "--octopia", "c:s:2:2:CDISFR+WORTPT"])
    assert FAKE.check(good) is None and FAKE.summary(good) == "octopia sellers: 1 (CDISFR), 2 (CDISFR+WORTPT)"
    two_secrets = parser.parse_args(["--octopia", "c:s:1:2", "--octopia", "c:other:2:2"])
    assert "client c is given with two different secrets" in FAKE.check(two_secrets)
    shares = parser.parse_args(["--octopia-fbo-share", "0.8", "--octopia-xdock-share", "0.3"])
    assert "cannot exceed 1" in FAKE.check(shares)
    assert "page-size" in FAKE.check(parser.parse_args(["--octopia-default-page-size", "101"]))
    assert OctopiaSellerSpec.parse("c:s:1:2:CDISFR+CDISFR").channels == ("CDISFR",)


def test_generated_statuses_can_be_limited_and_a_bad_list_is_refused():
    import argparse

    from orderbridge_sandbox.octopia import FAKE

    orders = _in_process_orders("c:s:1:40:CDISFR+RAKUFR",
                                octopia_statuses=("WaitingAcceptance", "InPreparation", "Shipped"))["items"]
    assert {o["status"] for o in orders if o["salesChannel"]["id"] == "CDISFR"} == {"WaitingAcceptance",
                                                                                   "InPreparation", "Shipped"}
    assert {o["status"] for o in orders if o["salesChannel"]["id"] == "RAKUFR"} == {"InPreparation", "Shipped"}
    parser = argparse.ArgumentParser()
    FAKE.add_arguments(parser)
    assert "got Sent" in FAKE.check(parser.parse_args(["--octopia-statuses", "Shipped,Sent"]))
    only_cdiscount = parser.parse_args(["--octopia", "c:s:1:2:CDISFR+RAKUFR", "--octopia-statuses", "Refused"])
    assert "exist only on CDISFR" in FAKE.check(only_cdiscount)
