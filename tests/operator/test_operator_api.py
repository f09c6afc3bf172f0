"""The operator page's API against real PostgreSQL, under the API server's real auth dependency.

FastAPI's TestClient serves the app mounted as Airflow's ``init_plugins`` mounts it; users are
SimpleAuthManager's, their JWTs minted by the real auth manager (``generate_jwt``) and checked by
Airflow's own ``get_user``, from the ``Authorization`` header or the UI's ``_token`` cookie. (The
browser tests run the same app under a real ``airflow api-server``.)
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from operator_support import ACCOUNT, CHANNEL, USERS, land, order_id, plenty_connection, plenty_order, shop_fixture  # noqa: F401 (fixture `shop`)

from conftest import rows, run_task


@pytest.fixture
def users(airflow_db, monkeypatch):
    """The real auth manager (SimpleAuthManager, users of ``USERS``): user name -> a JWT it minted."""
    from airflow.api_fastapi.app import create_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER",
                       "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{u}:{r}" for u, r in USERS.items()))
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "operator-page-tests-" + "x" * 64)
    purge_cached_app()
    manager = create_auth_manager()
    yield {name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role)) for name, role in USERS.items()}
    purge_cached_app()


@pytest.fixture
def client(users, staging_dsn, monkeypatch):
    from orderbridge.operator.app import create_app

    # The account's connection (its mapper reads the extras); nothing listens there: see the resend test.
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", plenty_connection(9))

    root = FastAPI()
    root.mount("/orderbridge", create_app())  # as init_plugins does; staging from AIRFLOW_CONN_ORDERBRIDGE_STAGING
    with TestClient(root) as c:
        yield c


def as_(users, name: str) -> dict:
    return {"Authorization": f"Bearer {users[name]}"}


def history(conn, ext: str) -> list[tuple]:
    return rows(conn, """SELECT event, detail->>'by' FROM staging.order_events WHERE external_order_id = %s
                         AND event LIKE 'operator_%%' ORDER BY id""", ext)


# -- security -----------------------------------------------------------------------------------

ROUTES = [("GET", "/orderbridge/"), ("GET", "/orderbridge/api/me"), ("GET", "/orderbridge/api/queue"),
          ("GET", "/orderbridge/api/search?q=1"), ("GET", "/orderbridge/api/orders/1"),
          ("GET", "/orderbridge/api/deadlines"), ("POST", "/orderbridge/api/orders/1/alias"),
          ("POST", "/orderbridge/api/orders/1/bundle"), ("POST", "/orderbridge/api/orders/1/carrier-code"),
          ("POST", "/orderbridge/api/orders/1/override"), ("POST", "/orderbridge/api/orders/1/retransform"),
          ("POST", "/orderbridge/api/orders/1/outbox/1/resend")]


def test_every_route_answers_401_without_a_login_and_there_are_no_open_docs(client):
    from orderbridge.operator.app import create_app

    app_paths = {r.path for r in create_app().routes}
    assert {p.split("?")[0].removeprefix("/orderbridge").replace("/1", "/{order_id}", 1)
            .replace("/outbox/1", "/outbox/{outbox_id}") for _m, p in ROUTES} == app_paths  # every route listed
    for method, path in ROUTES:
        assert client.request(method, path).status_code == 401, path
        assert client.request(method, path, headers={"Authorization": "Bearer forged"}).status_code == 403, path
    for path in ("/orderbridge/docs", "/orderbridge/openapi.json", "/orderbridge/redoc"):
        assert client.get(path).status_code == 404, path


def test_a_viewer_can_look_but_every_action_answers_403(client, users, shop):
    ext_id = order_id(shop, "7001")
    assert client.get("/orderbridge/api/me", headers=as_(users, "viewer")).json()["can_act"] is False
    detail = client.get(f"/orderbridge/api/orders/{ext_id}", headers=as_(users, "viewer")).json()
    assert detail["order"]["status"] == "awaiting_mapping" and detail["can_act"] is False
    for method, path in ROUTES:
        if method == "POST":
            answer = client.post(path.replace("/1/", f"/{ext_id}/", 1), json={}, headers=as_(users, "viewer"))
            assert answer.status_code == 403, path
    assert history(shop, "7001") == []


def test_the_ui_cookie_is_a_login_too(client, users):
    client.cookies.set("_token", users["op"])
    me = client.get("/orderbridge/api/me").json()
    assert me["user"] == "op" and me["can_act"] is True


# -- reading ------------------------------------------------------------------------------------

def test_the_queue_groups_open_reasons_counts_them_and_filters(client, users, shop):
    answer = client.get("/orderbridge/api/queue", headers=as_(users, "viewer")).json()
    assert answer["by_reason"] == {"awaiting_mapping": 1}
    assert answer["by_account"] == [{"channel": CHANNEL, "account": ACCOUNT, "reason": "awaiting_mapping", "n": 1}]
    item = answer["items"][0]
    assert item["external_order_id"] == "7001" and "PL-NEW" in item["message"]
    for query in ("channel=groupon", "account=other", "reason=invalid_address", "since=2999-01-01T00:00:00Z"):
        assert client.get(f"/orderbridge/api/queue?{query}", headers=as_(users, "viewer")).json()["items"] == []
    assert client.get("/orderbridge/api/queue?reason=nonsense", headers=as_(users, "viewer")).status_code == 422


def test_an_order_is_found_by_any_of_its_ids_and_shows_its_whole_story(client, users, shop):
    ours = order_id(shop, "7002")
    for term in ("7002", "70020", str(ours), "TRK-7002"):
        found = client.get(f"/orderbridge/api/search?q={term}", headers=as_(users, "viewer")).json()
        assert [f["id"] for f in found] == [ours], term
    detail = client.get(f"/orderbridge/api/orders/{ours}", headers=as_(users, "viewer")).json()
    assert detail["dag_id"] == "plentymarkets_demo_de"
    assert [(line["channel_line_id"], line["warehouse_sku"]) for line in detail["lines"]] == [("70020", "WH-1001")]
    assert [(s["tracking_number"], s["carrier_code"]) for s in detail["shipments"]] == [("TRK-7002", None)]
    assert detail["raw"]["payload"]["id"] == 7002
    assert detail["timeline"][0]["run_id"] == "scheduled__2026-11-20T10:00:00+00:00"
    assert [b["kind"] for b in detail["outbox"]] and all(b["task_id"] == "send_status" for b in detail["outbox"])
    assert client.get("/orderbridge/api/orders/999999", headers=as_(users, "viewer")).status_code == 404


# -- fix and retry ------------------------------------------------------------------------------

def test_an_alias_then_a_retransform_moves_the_held_order_to_ready_recorded_with_the_user(client, users, shop):
    held = order_id(shop, "7001")
    url = f"/orderbridge/api/orders/{held}"
    refused = client.post(f"{url}/alias", json={"channel_sku": "PL-NEW", "warehouse_sku": "WH-NOPE"},
                          headers=as_(users, "op"))
    assert refused.status_code == 422 and "WH-NOPE" in refused.json()["detail"]
    assert client.post(f"{url}/alias", json={"channel_sku": "PL-NEW", "warehouse_sku": "WH-1002"},
                       headers=as_(users, "op")).status_code == 200
    assert client.post(f"{url}/alias", json={"channel_sku": "PL-NEW", "warehouse_sku": "WH-1002"},
                       headers=as_(users, "op")).status_code == 409
    assert client.post(f"{url}/retransform", headers=as_(users, "op")).json() == {"before": "awaiting_mapping",
                                                                                  "after": "ready"}
    assert history(shop, "7001") == [("operator_sku_alias", "op"), ("operator_retransform", "op")]
    assert client.get("/orderbridge/api/queue", headers=as_(users, "op")).json()["items"] == []


def test_a_bundle_is_added_for_the_account(client, users, shop):
    url = f"/orderbridge/api/orders/{order_id(shop, '7001')}"
    body = {"bundle_sku": "PL-NEW", "components": [{"warehouse_sku": "WH-1001", "quantity": 2},
                                                   {"warehouse_sku": "WH-1002", "quantity": 1}]}
    assert client.post(f"{url}/bundle", json=body, headers=as_(users, "admin")).status_code == 200
    assert client.post(f"{url}/retransform", headers=as_(users, "admin")).json()["after"] == "ready"
    assert rows(shop, "SELECT warehouse_sku, quantity FROM staging.order_lines l JOIN staging.orders o"
                      " ON o.id = l.order_id WHERE o.external_order_id = '7001' ORDER BY 1") == [("WH-1001", 2),
                                                                                                 ("WH-1002", 1)]
    assert history(shop, "7001") == [("operator_bundle", "admin"), ("operator_retransform", "admin")]
    bad = client.post(f"{url}/bundle", json={"bundle_sku": "X", "components": []}, headers=as_(users, "admin"))
    assert bad.status_code == 422 and "components" in str(bad.json()["detail"])


def test_a_carrier_code_row_is_added_for_the_channel(client, users, shop):
    url = f"/orderbridge/api/orders/{order_id(shop, '7002')}"
    body = {"courier_service": "Mystery Post", "carrier_code": "MYST"}
    assert client.post(f"{url}/carrier-code", json=body, headers=as_(users, "op")).status_code == 200
    assert rows(shop, "SELECT carrier_code FROM staging.carrier_codes WHERE channel = %s"
                      " AND courier_service = 'Mystery Post'", CHANNEL) == [("MYST",)]
    assert client.post(f"{url}/carrier-code", json=body, headers=as_(users, "op")).status_code == 409
    assert history(shop, "7002") == [("operator_carrier_code", "op")]


def test_an_address_correction_is_an_override_that_the_retransform_applies(client, users, shop):
    land(shop, "run-2", plenty_order(7003, postcode=""))
    held = order_id(shop, "7003")
    assert rows(shop, "SELECT status FROM staging.orders WHERE id = %s", held) == [("invalid_address",)]
    url = f"/orderbridge/api/orders/{held}"
    bad = client.post(f"{url}/override", json={"kind": "address", "value": {"zip": "1"}, "why": "phoned"},
                      headers=as_(users, "op"))
    assert bad.status_code == 422 and "zip" in bad.json()["detail"]
    assert client.post(f"{url}/override", json={"kind": "address", "value": {"ship_postcode": "10117"},
                                                 "why": "customer phoned"}, headers=as_(users, "op")).status_code == 200
    assert client.post(f"{url}/retransform", headers=as_(users, "op")).json()["after"] == "ready"
    assert rows(shop, "SELECT ship_postcode, status FROM staging.orders WHERE id = %s", held) == [("10117", "ready")]
    assert rows(shop, "SELECT created_by FROM staging.order_overrides") == [("op",)]


def test_a_stock_hold_is_released_by_an_override(client, users, shop):
    rows(shop, "UPDATE staging.stock_levels SET on_hand = 0")
    land(shop, "run-2", plenty_order(7004))
    held = order_id(shop, "7004")
    assert rows(shop, "SELECT status FROM staging.orders WHERE id = %s", held) == [("awaiting_stock",)]
    url = f"/orderbridge/api/orders/{held}"
    assert client.post(f"{url}/override", json={"kind": "release_stock", "why": "stock is on the way"},
                       headers=as_(users, "op")).status_code == 200
    assert client.post(f"{url}/retransform", headers=as_(users, "op")).json()["after"] == "ready"
    refused = client.post(f"{url}/override", json={"kind": "release_stock", "value": {"x": 1}, "why": "w"},
                          headers=as_(users, "op"))
    assert refused.status_code == 422 and "release_stock" in refused.json()["detail"]


def test_an_unknown_field_in_an_action_is_refused_naming_it(client, users, shop):
    url = f"/orderbridge/api/orders/{order_id(shop, '7001')}/alias"
    answer = client.post(url, json={"channel_sku": "A", "warehouse_sku": "WH-1001", "sku": "x"},
                         headers=as_(users, "op"))
    assert answer.status_code == 422 and "sku" in str(answer.json()["detail"])
    assert history(shop, "7001") == []


def test_one_failed_write_back_is_sent_again_and_only_that_one(client, users, warehouse, monkeypatch):
    from orderbridge.config import load_accounts
    from orderbridge_sandbox.process import start_sandbox

    conn, account = warehouse, next(a for a in load_accounts(CHANNEL) if a.name == ACCOUNT)
    with start_sandbox(["--seed", "11", "--plentymarkets", "demo:rest-user:pw:3", "--anchor",
                        "2026-11-20T12:00:00+00:00", "--days", "2"]) as proc:
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", plenty_connection(proc.port))
        run_task(CHANNEL, "extract_orders", account, "run-1", "scheduled")
        run_task(CHANNEL, "load_staging", account, "run-1")
        first, ours, kind = rows(conn, "SELECT id, order_id, kind FROM staging.outbox ORDER BY id LIMIT 1")[0]
        rows(conn, "UPDATE staging.outbox SET status = 'failed', attempts = 5, last_error = 'timeout' WHERE id = %s",
             first)
        pending = rows(conn, "SELECT id FROM staging.outbox WHERE status = 'pending' ORDER BY id")
        assert pending  # other orders' write-backs, due: a re-send of one must leave them to their task
        ext = rows(conn, "SELECT external_order_id FROM staging.orders WHERE id = %s", ours)[0][0]
        url = f"/orderbridge/api/orders/{ours}/outbox/{first}/resend"

        # Nothing listens at the connection's port: the attempt is recorded, the row is failed again.
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", plenty_connection(9))
        answer = client.post(url, headers=as_(users, "op")).json()
        assert answer["status"] == "failed" and answer["error"]
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE", plenty_connection(proc.port))
        assert client.post(url, headers=as_(users, "op")).json() == {"status": "sent", "error": None}
        assert client.post(url, headers=as_(users, "op")).status_code == 409  # sent: never twice
    assert rows(conn, "SELECT id FROM staging.outbox WHERE status = 'pending' ORDER BY id") == pending
    assert history(conn, ext) == [("operator_resend", "op"), ("operator_resend", "op")]
    assert rows(conn, "SELECT run_id FROM staging.order_events WHERE event = %s ORDER BY id DESC LIMIT 1",
                f"{kind}_sent") == [("operator:op",)]


def test_the_deadline_watch_lists_orders_without_tracking_past_or_near_their_deadline_nearest_first(
        client, users, shop, monkeypatch):
    from datetime import datetime

    from orderbridge.operator.deadlines import DeadlineSettings, add_business_days

    groupon = DeadlineSettings().of("groupon")  # Groupon's own rules, from its TrackingShape
    assert (groupon.tracking_due_business_days, groupon.cancel_unshipped_business_days) == (1, 7)

    friday = datetime(2026, 11, 20, 10, 15)
    assert add_business_days(friday, 1) == datetime(2026, 11, 23, 10, 15)  # Monday
    assert add_business_days(friday, 7) == datetime(2026, 12, 1, 10, 15)
    assert client.get("/orderbridge/api/deadlines", headers=as_(users, "viewer")).json() == []  # plenty: none set
    monkeypatch.setenv("ORDERBRIDGE_DEADLINES", '{"plentymarkets": {"tracking_due_business_days": 1, '
                                                '"cancel_unshipped_business_days": 7}}')
    watch = client.get("/orderbridge/api/deadlines", headers=as_(users, "viewer")).json()
    # 7002 has its parcel; 7001 (placed 2026-11-20) is past both.
    assert [(d["external_order_id"], d["deadline"]) for d in watch] == [("7001", "tracking due"),
                                                                         ("7001", "cancelled without tracking")]
    assert watch[0]["seconds_left"] < watch[1]["seconds_left"] < 0
    # A bad setting is an answer that names the variable and what is wrong, and the rest still works.
    for value, says in (('{"plentymarkets": {"tracking_due_days": 1}}',
                         "ORDERBRIDGE_DEADLINES: plentymarkets.tracking_due_days: Extra inputs are not permitted"),
                        ('{"plentymarkets": {"tracking_due_business_days": -1}}',
                         "plentymarkets.tracking_due_business_days: Input should be greater than or equal to 0"),
                        ("plentymarkets=1", "ORDERBRIDGE_DEADLINES is not a JSON object of channel -> rules")):
        monkeypatch.setenv("ORDERBRIDGE_DEADLINES", value)
        answer = client.get("/orderbridge/api/deadlines", headers=as_(users, "viewer"))
        assert answer.status_code == 500 and says in answer.json()["detail"], answer.text
    monkeypatch.delenv("ORDERBRIDGE_DEADLINES")
    monkeypatch.setenv("ORDERBRIDGE_DEADLINE_WARN_HOURS", "soon")
    answer = client.get("/orderbridge/api/deadlines", headers=as_(users, "viewer"))
    assert "ORDERBRIDGE_DEADLINE_WARN_HOURS: value: Input should be a valid number" in answer.json()["detail"]
    assert client.get("/orderbridge/api/queue", headers=as_(users, "viewer")).status_code == 200
