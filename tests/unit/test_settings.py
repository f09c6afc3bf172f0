"""Connection extras as settings (``channels.settings`` and each channel's ``settings.py``): what each
channel accepts, what it refuses and how it says so, and that a client refuses a bad connection when
it is built, before any request."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pydantic
import pytest
import yaml

from orderbridge.channels import registry
from orderbridge.channels.groupon.settings import GrouponSettings
from orderbridge.channels.merkana.settings import PlatformSettings
from orderbridge.channels.octopia.settings import OctopiaSettings
from orderbridge.channels.plentymarkets.settings import PlentySettings
from orderbridge.channels.settings import ChannelSettings
from orderbridge.channels.shoprenter.settings import ShoprenterSettings
from orderbridge.config import Account
from orderbridge.errors import Permanent, SettingsError
from orderbridge.http import ChannelClient

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-Value-4711"
SHARED = {"api_path": "/api/v4", "timeout": 30, "rate_per_second": 2, "max_retry_after": 120}
# The extras each README connection section documents, with a value of the documented shape.
DOCUMENTED = {
    "groupon": {**SHARED, "mark_exported": True, "lookback_days": 3},
    "plentymarkets": {**SHARED, "plenty_id": 1000, "warehouse_id": 1, "storage_location_id": 7,
                      "status_fetch": 5, "status_transferred": "5.1", "status_address_error": 6.2,
                      "status_no_stock": "6.3", "status_cancel_requested": "8.0", "status_cancel_acknowledged": 8.8,
                      "status_shipped": 7, "items_per_page": 50, "stock_reason_id": 301, "package_type": 26},
    "merkana": {**SHARED, "inbound_token": SECRET,
                "merchants": {"293": {}, "4755": {"unknown_product_sku": "UNK-4755"}},
                "unknown_product_sku": "MK-UNKNOWN-{mid}", "stock_mode": "delta", "field_names": {"br": "qty"},
                "status_values": {"shipped": "shipped"}, "max_body_bytes": 1024, "status_batch_size": 10,
                "stock_batch_size": 20, "retry_delay_seconds": 60, "unmapped_courier": "service_name"},
    "octopia": {**SHARED, "token_url": "https://auth.octopia-io.net/token", "seller_id": "98979",
                "sales_channels": ["CDISFR", "RAKUFR"], "order_overlap_minutes": 15, "page_size": 100,
                "acceptance": "hold", "token_margin_seconds": 300, "accept_language": "fr-FR", "offer_batch": 100,
                "results_limit": 100, "subscription_states": ["Active"]},
    "shoprenter": {**SHARED, "shop": "demoshop", "auth": "oauth2", "api_base": "https://demoshop.api2.myshoprenter.hu/api",
                   "token_url": "https://oauth.app.shoprenter.net/demoshop/app/token", "webhook_secret": "a" * 16,
                   "webhook_url": "https://airflow.example/shoprenter/demo/x/order-status",
                   "order_becomes": "awaiting_payment", "paid_statuses": ["15"], "cancelled_statuses": ["7"],
                   "accepted_status": "2", "order_overlap_minutes": 15, "shop_timezone": "Europe/Budapest",
                   "limit": 200, "batch_size": 200, "shop_rate": 3, "batch_cost": "one",
                   "quantity_fields": ["stock1"], "catalogue_download": True, "catalogue_upload": True,
                   "excluded_groups": ["Kert"], "group_field": "productCategoryRelations", "price_customer_group": "8",
                   "stock_down_warehouse": "shop", "stock_up_warehouses": ["main"], "stock_field": "stock1",
                   "token_margin_seconds": 300, "webhook_max_bytes": 100_000},
}
CHANNELS = tuple(DOCUMENTED)
REQUIRED = {"octopia": {"seller_id": "98979"}, "shoprenter": {"shop": "demoshop"}}  # extras with no default


def parse(channel: str, extra: dict, conn_id: str = "orderbridge_unit_x") -> ChannelSettings:
    """The channel's settings of a connection with these extras."""
    if channel == "merkana":
        return PlatformSettings.from_extra("demo", conn_id, extra)
    return {"groupon": GrouponSettings, "plentymarkets": PlentySettings,
            "octopia": OctopiaSettings, "shoprenter": ShoprenterSettings}[channel].from_extra(extra, conn_id)


# -- what each channel accepts ---------------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_accepts_its_documented_extras(channel):
    settings = parse(channel, DOCUMENTED[channel])
    assert (settings.api_path, settings.timeout, settings.rate_per_second, settings.max_retry_after) == (
        "/api/v4", 30.0, 2.0, 120.0)


@pytest.mark.parametrize("channel", CHANNELS)
def test_no_extras_means_the_defaults(channel):
    settings = parse(channel, REQUIRED.get(channel, {}))
    assert (settings.api_path, settings.timeout, settings.rate_per_second, settings.max_retry_after) == (
        "", 30.0, None, 300.0)


def test_plentymarkets_reads_status_ids_exactly_and_numbers_as_ints():
    settings = parse("plentymarkets", DOCUMENTED["plentymarkets"])
    assert settings.transferred_status == Decimal("5.1") and settings.cancel_status == Decimal("8")
    assert settings.address_error_status == Decimal("6.2")  # a float in JSON, still exactly 6.2
    assert (settings.plenty_id, settings.storage_location_id, settings.items_per_page) == (1000, 7, 50)
    assert set(settings.status_names()) == {"fetch_status", "transferred_status", "address_error_status",
                                            "no_stock_status", "cancel_status", "cancel_ack_status", "shipped_status",
                                            "return_received_status"}


def test_plentymarkets_empty_extras_keep_their_defaults_and_the_retired_one_is_ignored():
    settings = PlentySettings.from_extra({"status_fetch": "", "warehouse_id": None, "status_returns": "9.0.1"})
    assert settings == PlentySettings()
    assert not hasattr(settings, "status_returns")


def test_merkana_reads_its_extras():
    settings = parse("merkana", DOCUMENTED["merkana"])
    assert (settings.platform, settings.conn_id, settings.inbound_token) == ("demo", "orderbridge_unit_x", SECRET)
    assert settings.unknown_sku("4755", "1") == "UNK-4755" and settings.unknown_sku("293", "1") == "MK-UNKNOWN-293"
    assert settings.fields.wire("br") == "qty" and settings.retry_delay == timedelta(minutes=1)
    assert (settings.status_batch_size, settings.stock_batch_size, settings.max_body_bytes) == (10, 20, 1024)
    assert SECRET not in repr(settings)  # the inbound secret stays out of any log line that prints settings


def test_rate_per_second_zero_or_empty_means_no_limit():
    assert GrouponSettings.from_extra({"rate_per_second": 0}).rate_per_second is None
    assert GrouponSettings.from_extra({"rate_per_second": ""}).rate_per_second is None
    assert GrouponSettings.from_extra({"rate_per_second": "2.5"}).rate_per_second == 2.5


def test_settings_are_frozen():
    settings = GrouponSettings.from_extra({})
    with pytest.raises(pydantic.ValidationError):
        settings.timeout = 1  # type: ignore[misc]


def _compose_connections() -> dict[str, dict]:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    found = {}
    for service in compose.get("services", {}).values():
        env = service.get("environment") or {}
        items = env.items() if isinstance(env, dict) else (line.split("=", 1) for line in env)
        for key, value in items:
            if key.startswith("AIRFLOW_CONN_ORDERBRIDGE_") and str(value).lstrip().startswith("{"):
                found[key.removeprefix("AIRFLOW_CONN_").lower()] = json.loads(value)
    return found


def test_the_connections_this_repository_sets_are_accepted():
    from types import SimpleNamespace

    from orderbridge_chaos import adapter_for
    from orderbridge_sandbox.merkana.demo import demo_connection

    sandbox = SimpleNamespace(port=1, url="http://127.0.0.1:1")
    connections = {**_compose_connections(), "orderbridge_merkana_sandbox": demo_connection(sandbox.url, "a", "b"),
                   **{f"orderbridge_{c}_chaos": adapter_for(c).connection(sandbox) for c in CHANNELS}}
    assert {c.split("_")[1] for c in connections} == set(CHANNELS)
    for conn_id, connection in connections.items():
        parse(conn_id.split("_")[1], connection.get("extra") or {}, conn_id)


# -- what each channel refuses, and how --------------------------------------------------------------

@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("unknown", ["rate_per_secnd", "seller_ident", "pageSize", "client_secret"])
def test_an_unknown_extra_is_refused_naming_it_and_what_the_channel_takes(channel, unknown):
    with pytest.raises(SettingsError) as err:
        parse(channel, {**DOCUMENTED[channel], unknown: SECRET})
    message = str(err.value)
    assert f"connection orderbridge_unit_x: extra {unknown} is not an extra this channel reads" in message
    takes = message.split("Resolution:", 1)[1]
    assert all(name in takes for name in DOCUMENTED[channel])
    assert SECRET not in message
    assert isinstance(err.value, Permanent) and err.value.channel == channel


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(("extra", "why"), [
    ({"timeout": "soon"}, "extra timeout must be a number"),
    ({"timeout": 0}, "extra timeout must be greater than 0"),
    ({"timeout": "nan"}, "extra timeout must be a finite number"),
    ({"rate_per_second": -1}, "extra rate_per_second must be at least 0"),
    ({"max_retry_after": "an hour"}, "extra max_retry_after must be a number"),
    ({"api_path": ["/v1"]}, "extra api_path must be a string"),
])
def test_a_malformed_shared_extra_is_refused_naming_it(channel, extra, why):
    with pytest.raises(SettingsError, match=f"{why}.*Resolution: .*timeout"):
        parse(channel, extra)


@pytest.mark.parametrize(("channel", "extra", "why"), [
    ("plentymarkets", {"warehouse_id": "main"}, "extra warehouse_id must be a whole number"),
    ("plentymarkets", {"status_fetch": "five"}, "extra status_fetch must be a plentymarkets status id"),
    ("plentymarkets", {"status_shipped": "9.0.1"}, "extra status_shipped .* write 9.01, not 9.0.1"),
    ("plentymarkets", {"status_shipped": "NaN"}, "extra status_shipped must be a finite number"),
    ("merkana", {"stock_mode": "levels"}, "extra stock_mode must be 'delta' or 'absolute'"),
    ("merkana", {"merchants": "293"}, "extra merchants must be a list of mids or an object keyed by mid"),
    ("merkana", {"unknown_product_sku": "{sku}"}, r"extra unknown_product_sku may only use \{mid\}"),
    ("merkana", {"merchants": {"7": {"unknown_product_sku": "{x}"}}}, r"extra merchants.7.unknown_product_sku"),
    ("merkana", {"field_names": {"x": "y"}}, "extra field_names unknown field"),
    ("merkana", {"retry_delay_seconds": "soon"}, "extra retry_delay_seconds must be a number of seconds"),
    ("merkana", {"status_batch_size": 0}, "extra status_batch_size must be at least 1"),
    ("merkana", {"platform": "other"}, "extra platform is not an extra this channel reads"),
])
def test_a_malformed_channel_extra_is_refused_naming_it(channel, extra, why):
    with pytest.raises(SettingsError, match=f"{why}.*Resolution:"):
        parse(channel, extra)


def test_groupon_merchant_options_default_to_marking_exported_and_a_three_day_lookback():
    assert (parse("groupon", {}).mark_exported, parse("groupon", {}).lookback_days) == (True, 3)
    settings = parse("groupon", {"mark_exported": False, "lookback_days": 0})
    assert (settings.mark_exported, settings.lookback_days) == (False, 0)


@pytest.mark.parametrize(("extra", "why"), [
    ({"mark_exported": "sometimes"}, "extra mark_exported must be true or false"),
    ({"lookback_days": -1}, "extra lookback_days must be at least 0"),
    ({"lookback_days": 31}, "extra lookback_days must be at most 30"),
    ({"lookback_days": "a week"}, "extra lookback_days must be a whole number"),
])
def test_a_malformed_groupon_option_is_refused_naming_it(extra, why):
    with pytest.raises(SettingsError, match=f"{why}.*Resolution:.*lookback_days.*mark_exported"):
        parse("groupon", extra)


def test_every_problem_is_named_at_once():
    with pytest.raises(SettingsError) as err:
        parse("plentymarkets", {"timeout": "soon", "warehouse_id": "main", "status_fetsh": 5})
    assert all(f"extra {name} " in str(err.value) for name in ("timeout", "warehouse_id", "status_fetsh"))


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_secret_looking_value_is_never_echoed(channel):
    extra = {"client_secret": SECRET, "timeout": SECRET, "rate_per_second": SECRET, "max_retry_after": SECRET,
             "api_path": {"token": SECRET}}
    extra |= {"plentymarkets": {"status_fetch": SECRET, "warehouse_id": SECRET, "plenty_id": SECRET},
              "merkana": {"stock_mode": SECRET, "unmapped_courier": SECRET, "max_body_bytes": SECRET,
                          "retry_delay_seconds": SECRET, "status_values": SECRET, "merchants": SECRET}
              }.get(channel, {})
    with pytest.raises(SettingsError) as err:
        parse(channel, extra)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    assert all(f"extra {name} " in str(err.value) for name in extra)


def test_a_settingserror_fails_the_task_at_once():
    from airflow.sdk import RetryAction

    from orderbridge.dagkit import RETRY_POLICY

    assert RETRY_POLICY.evaluate(SettingsError("bad extra"), 1, 4).action is RetryAction.FAIL


# -- clients: the connection is read when the client is built ---------------------------------------

def connect(monkeypatch, conn_id: str, extra: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": 9, "schema": "http", "login": "user",
        "password": SECRET, "extra": extra}))


@pytest.mark.parametrize(("channel", "account"), [("groupon", "demo_uk"), ("plentymarkets", "demo_de"),
                                                  ("merkana", "demo/293")])
def test_a_channel_client_on_a_connection_with_an_unknown_extra_fails_naming_it(monkeypatch, channel, account):
    conn_id = f"orderbridge_{channel}_unit"
    connect(monkeypatch, conn_id, {**DOCUMENTED[channel], "rate_per_secnd": 5})
    with pytest.raises(SettingsError, match=f"connection {conn_id}: extra rate_per_secnd is not an extra") as err:
        with registry.get(channel).client(Account(channel, account, conn_id)):
            pass
    assert SECRET not in str(err.value)


@pytest.mark.parametrize(("channel", "account"), [("groupon", "demo_uk"), ("plentymarkets", "demo_de"),
                                                  ("merkana", "demo/293")])
def test_a_channel_client_reads_its_settings_once(monkeypatch, channel, account):
    conn_id = f"orderbridge_{channel}_unit"
    connect(monkeypatch, conn_id, {**DOCUMENTED[channel], "timeout": 7, "rate_per_second": 4, "max_retry_after": 9})
    with registry.get(channel).client(Account(channel, account, conn_id)) as client:
        assert isinstance(client.settings, type(client).settings_class)
        assert (client.timeout, client.max_retry_after, client.limiter.interval) == (7.0, 9.0, 0.25)
        assert client.session is not None  # builds the session (no request), which sets the base URL
        assert client.url("orders") == "http://127.0.0.1:9/api/v4/orders"


def test_plentymarkets_client_keeps_its_settings_attributes(monkeypatch):
    connect(monkeypatch, "orderbridge_plentymarkets_unit", {"status_fetch": "4", "warehouse_id": "3"})
    with registry.get("plentymarkets").client(Account("plentymarkets", "u", "orderbridge_plentymarkets_unit")) as c:
        assert (c.settings.fetch_status, c.settings.warehouse_id) == (Decimal("4"), 3)


class HeaderClient(ChannelClient):
    header_extras = frozenset({"X-Api-Version"})


def test_header_extras_are_accepted_and_named_as_accepted(monkeypatch):
    connect(monkeypatch, "orderbridge_unit_headers", {"X-Api-Version": "2024-01", "timeout": 5})
    client = HeaderClient("orderbridge_unit_headers", "unit")
    assert client.settings.timeout == 5.0 and client.extra["X-Api-Version"] == "2024-01"
    connect(monkeypatch, "orderbridge_unit_headers", {"X-Api-Version": "2024-01", "X-Api-Versoin": "2024-01"})
    with pytest.raises(SettingsError, match="extra X-Api-Versoin is not .*takes the extras X-Api-Version, api_path"):
        HeaderClient("orderbridge_unit_headers", "unit")
