"""Octopia's pure parts: settings, the mapper (address groups, supply modes, statuses), approval
effects, problem+json in one line, the tracking payload."""

from __future__ import annotations

import copy

import pytest

from orderbridge.channels.octopia.client import describe_problem, iso
from orderbridge.channels.octopia.mapping import OctopiaMapper, address_groups, landed
from orderbridge.channels.octopia.settings import OctopiaSettings
from orderbridge.channels.octopia.writeback import order_of, tracking_payload
from orderbridge.errors import InvalidPayload, SettingsError
from orderbridge.outbox import OutboxRow

PARIS = {"firstName": "Jean", "lastName": "Dupont", "addressLine1": "1 rue de Rivoli", "postalCode": "75001",
         "city": "Paris", "countryCode": "FR", "phone": "+33100000000", "email": "jean@example.fr"}
LYON = {**PARIS, "addressLine1": "2 place Bellecour", "postalCode": "69002", "city": "Lyon"}


def _line(line_id: str, sku: str = "WH-1001", status: str = "InPreparation", mode: str = "Seller",
          address: dict | None = None, quantity: int = 1) -> dict:
    return {"orderLineId": line_id, "status": status, "quantity": quantity,
            "offer": {"sellerProductId": sku, "productTitle": "Mug", "supplyMode": mode},
            "sellingPrice": {"unitSalesPrice": 9.99}, "shippingAddress": copy.deepcopy(address or PARIS)}


def _order(*lines: dict, status: str = "InPreparation", order_id: str = "SCID01") -> dict:
    return {"orderId": order_id, "status": status, "salesChannel": {"id": "CDISFR", "name": "Cdiscount"},
            "purchasedAt": "2026-03-19T09:57:29Z", "currencyCode": "EUR", "totalPrice": {"sellingPrice": 19.98},
            "lines": list(lines)}


# -- settings -------------------------------------------------------------------------------------

def test_settings_defaults_and_sales_channels_as_list_or_text():
    s = OctopiaSettings.from_extra({"seller_id": 98979, "api_path": "/seller/v2"}, "c")
    assert (s.seller_id, s.sales_channels, s.page_size, s.acceptance) == ("98979", None, 100, "hold")
    assert s.token_url.startswith("https://auth.octopia-io.net/")
    assert OctopiaSettings.from_extra({"seller_id": "1", "sales_channels": "CDISFR+FNAC"}).sales_channels == \
        ["CDISFR", "FNAC"]


@pytest.mark.parametrize("extra, named", [
    ({}, "seller_id is required"),
    ({"seller_id": "abc"}, "seller_id must be the seller's numeric Octopia id"),
    ({"seller_id": "1", "page_size": 500}, "page_size must be at most 100"),
    ({"seller_id": "1", "acceptance": "maybe"}, "acceptance must be 'hold' or 'refuse'"),
    ({"seller_id": "1", "sales_channels": [1]}, "sales_channels must be a list of salesChannelIds"),
    ({"seller_id": "1", "client_secret": "x"}, "client_secret is not an extra this channel reads"),
])
def test_settings_refuse_bad_extras_naming_them(extra, named):
    with pytest.raises(SettingsError) as err:
        OctopiaSettings.from_extra(extra, "orderbridge_octopia_t")
    assert named in str(err.value)
    assert "orderbridge_octopia_t" in str(err.value)


# -- mapper ---------------------------------------------------------------------------------------

def test_one_address_keeps_the_order_id_and_maps_the_line_address():
    order = OctopiaMapper().to_order_of("SCID01", [(7, _order(_line("1"), _line("2", "WH-2002")))])
    assert order.external_order_id == "SCID01" and order.raw_id == 7
    assert [(x.channel_line_id, x.channel_sku, x.status) for x in order.lines] == [("1", "WH-1001", "open"),
                                                                                  ("2", "WH-2002", "open")]
    assert (order.ship_name, order.ship_city, order.ship_postcode, order.ship_country) == \
        ("Jean Dupont", "Paris", "75001", "FR")
    assert order.channel_data["orderId"] == "SCID01" and order.channel_data["salesChannel"] == "CDISFR"


def test_two_addresses_make_two_staging_orders_and_fbo_lines_stay_on_the_first():
    payload = _order(_line("3", address=LYON), _line("1"), _line("2", mode="Fulfillment", address=LYON))
    groups = address_groups(payload)
    assert {k: [line["orderLineId"] for line in v] for k, v in groups.items()} == {"SCID01": ["1", "2"],
                                                                                   "SCID01#3": ["3"]}
    assert [ext for ext, _ in landed([("SCID01", payload)])] == ["SCID01", "SCID01#3"]
    first, second = (OctopiaMapper().to_order_of(ext, [(1, payload)]) for ext in ("SCID01", "SCID01#3"))
    assert (first.ship_city, second.ship_city) == ("Paris", "Lyon")
    fbo = [line for line in first.lines if line.channel_line_id == "2"][0]
    assert fbo.status == "closed" and fbo.channel_status.startswith("Fulfillment: fulfilled by Octopia")
    assert second.channel_data["orderId"] == "SCID01"


def test_only_fbo_and_xdock_lines_give_a_closed_order_never_an_open_line():
    payload = _order(_line("1", mode="Fulfillment"), _line("2", mode="Xdock"))
    order = OctopiaMapper().to_order_of("SCID01", [(1, payload)])
    assert [line.status for line in order.lines] == ["closed", "closed"]


@pytest.mark.parametrize("word, status", [("WaitingAcceptance", "open"), ("Accepted", "open"),
                                          ("Shipped", "closed"), ("Cancelled", "cancelled"),
                                          ("Refused", "cancelled"), ("SomethingNew", "closed")])
def test_line_status_words(word, status):
    order = OctopiaMapper().to_order_of("SCID01", [(1, _order(_line("1", status=word), status=word))])
    assert order.lines[0].status == status and order.lines[0].channel_status == word


def test_the_latest_version_wins_and_a_cancelled_order_is_a_cancel_request():
    old, new = _order(_line("1")), _order(_line("1", status="Cancelled"), status="Cancelled")
    order = OctopiaMapper().to_order_of("SCID01", [(1, old), (2, new)])
    assert order.raw_id == 2 and order.channel_state == "cancel_requested"


@pytest.mark.parametrize("mutate, named", [
    (lambda o: o.pop("lines"), "lines is missing"),
    (lambda o: o["lines"][0]["offer"].pop("sellerProductId"), "lines[1].offer.sellerProductId is missing"),
    (lambda o: o["lines"][0].update(quantity=0), "lines[1].quantity is not a positive integer"),
    (lambda o: o["lines"][0].update(shippingAddress="Paris"), "lines[1].shippingAddress"),
    (lambda o: o.update(purchasedAt="yesterday"), "purchasedAt 'yesterday' is not an ISO-8601 date"),
])
def test_bad_payloads_name_the_field(mutate, named):
    payload = _order(_line("1"))
    mutate(payload)
    with pytest.raises(InvalidPayload) as err:
        OctopiaMapper().to_order_of("SCID01", [(1, payload)])
    assert named in str(err.value)


def test_an_ungroupable_order_still_lands_to_be_quarantined():
    assert landed([("SCID09", {"orderId": "SCID09"})]) == [("SCID09", {"orderId": "SCID09"})]


# -- approval -------------------------------------------------------------------------------------

def _staged(status_word: str = "WaitingAcceptance"):
    return OctopiaMapper().to_order_of("SCID01", [(1, _order(_line("1", status=status_word), status=status_word))])


def test_accept_when_ready_hold_or_refuse_otherwise_once_per_order():
    hold, refuse = OctopiaMapper("hold"), OctopiaMapper("refuse")
    [accept] = hold.acknowledgements(_staged(), "ready")
    assert (accept.kind, accept.key, accept.payload["approval_status"]) == ("approval", "SCID01", "Accepted")
    assert hold.acknowledgements(_staged(), "awaiting_stock") == []
    [no] = refuse.acknowledgements(_staged(), "awaiting_stock")
    assert no.payload["approval_status"] == "Refused" and no.key == accept.key  # one decision per order, ever
    assert refuse.acknowledgements(_staged(), "invalid_address") == []
    assert hold.acknowledgements(_staged("InPreparation"), "ready") == []  # not Cdiscount's acceptance step


# -- wire helpers ---------------------------------------------------------------------------------

def test_problem_json_in_one_line_with_the_channels_words():
    text = describe_problem({"title": "Bad Request", "detail": "Cannot switch to shipped status",
                             "errors": {"orderLineIds": ["line 2 is not InPreparation"]}, "traceId": "00-abc"})
    assert text == ("Bad Request: Cannot switch to shipped status; orderLineIds: line 2 is not InPreparation "
                    "(traceId 00-abc)")
    assert describe_problem({}) == "no title or detail"


def test_dates_are_utc_seconds_and_an_upper_bound_rounds_up():
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 3, 19, 10, 57, 29, 500, tzinfo=timezone(timedelta(hours=1)))
    assert iso(moment) == "2026-03-19T09:57:29Z"
    assert iso(moment, round_up=True) == "2026-03-19T09:57:30Z"
    assert iso(datetime(2026, 3, 19, tzinfo=UTC), round_up=True) == "2026-03-19T00:00:00Z"


def test_tracking_payload_and_the_order_of_a_split_staging_order():
    body = tracking_payload("2", "Colissimo", "6A123", 1, True, tracking_url="https://t/6A123")
    assert body == {"order_line_id": "2", "carrier_name": "Colissimo", "parcel_number": "6A123",
                    "tracking_url": "https://t/6A123", "quantity": 1, "complete": True}
    assert order_of(OutboxRow(1, 1, "SCID01#3", body, 0)) == "SCID01"
