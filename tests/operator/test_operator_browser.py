"""The operator page in Chromium (Playwright, the system's browser) inside the Airflow UI of a real
``airflow api-server``: Airflow's login, our page in its nav frame, and what each role may do."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from operator_support import PASSWORDS, api_server, plenty_connection, shop_fixture  # noqa: F401 (fixture `shop`)

from conftest import REPO, rows

CHROMIUM = os.environ.get("ORDERBRIDGE_CHROMIUM", "/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; "
                                                         "Playwright's own browser download is not used)"),
]
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
# ORDERBRIDGE_SCREENSHOTS=docs refreshes the README's screenshots (docs/operator-*.png).
SCREENSHOTS = os.environ.get("ORDERBRIDGE_SCREENSHOTS")


@pytest.fixture
def server(airflow_db, shop, staging_dsn):
    with api_server(staging_dsn, {"AIRFLOW_CONN_ORDERBRIDGE_PLENTYMARKETS_DEMO_DE": plenty_connection(9)}) as url:
        yield url


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def logged_in(browser, server: str, user: str):
    """A page logged in through Airflow's own login form, on the operator page in the UI's frame."""
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.goto(f"{server}/plugin/orders")  # not logged in: Airflow sends us to its login
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(PASSWORDS[user])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/plugin/orders")
    return page, page.frame_locator("iframe")


def shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=tmp_path / name, full_page=False)
    if SCREENSHOTS:
        shutil.copy(tmp_path / name, REPO / SCREENSHOTS / name)


def test_an_operator_finds_an_order_by_tracking_fixes_a_held_one_and_sees_it_ready(server, browser, shop, tmp_path):
    page, frame = logged_in(browser, server, "admin")
    queue = frame.locator("h3[data-reason=awaiting_mapping]")
    playwright.expect(queue).to_contain_text("awaiting_mapping (1)")
    playwright.expect(frame.locator("#who")).to_have_text("admin")
    shot(page, tmp_path, "operator-queue.png")

    frame.get_by_placeholder("order id, line id, our id or tracking number").fill("TRK-7002")
    frame.get_by_role("button", name="Find").click()
    playwright.expect(frame.locator("#external-id")).to_have_text("7002")
    timeline = frame.locator("#timeline")
    playwright.expect(timeline).to_contain_text("scheduled__2026-11-20T10:00:00+00:00")
    run_link = timeline.get_by_role("link", name="scheduled__2026-11-20T10:00:00+00:00").first
    run = quote("scheduled__2026-11-20T10:00:00+00:00", safe="")
    assert run_link.get_attribute("href") == f"/dags/plentymarkets_demo_de/runs/{run}"  # that run in Airflow's UI

    frame.get_by_placeholder("order id, line id, our id or tracking number").fill("7001")
    frame.get_by_role("button", name="Find").click()
    playwright.expect(frame.locator("#status")).to_have_text("awaiting_mapping")
    alias = frame.locator("form[data-action=alias]")
    alias.locator("input[name=channel_sku]").fill("PL-NEW")
    alias.locator("input[name=warehouse_sku]").fill("WH-1002")
    alias.get_by_role("button", name="Add alias").click()
    playwright.expect(frame.locator("#message")).to_have_text("SKU alias: done")
    frame.get_by_role("button", name="Re-transform from raw").click()
    playwright.expect(frame.locator("#status")).to_have_text("ready")
    playwright.expect(frame.locator("#timeline")).to_contain_text("re-transformed from raw: awaiting_mapping -> ready")
    shot(page, tmp_path, "operator-order.png")
    assert rows(shop, """SELECT event, detail->>'by' FROM staging.order_events WHERE external_order_id = '7001'
                         AND event LIKE 'operator_%%' ORDER BY id""") == [("operator_sku_alias", "admin"),
                                                                         ("operator_retransform", "admin")]


def test_a_viewer_sees_the_order_but_no_edit_buttons_and_the_api_refuses_them(server, browser, shop):
    assert requests.get(f"{server}/orderbridge/api/queue", timeout=10).status_code == 401  # no login
    assert requests.get(f"{server}/orderbridge/", timeout=10).status_code == 401
    page, frame = logged_in(browser, server, "viewer")
    playwright.expect(frame.locator("#who")).to_have_text("viewer (read-only)")
    frame.get_by_placeholder("order id, line id, our id or tracking number").fill("7001")
    frame.get_by_role("button", name="Find").click()
    playwright.expect(frame.locator("#status")).to_have_text("awaiting_mapping")
    assert frame.locator("#actions").count() == 0 and frame.get_by_role("button", name="Add alias").count() == 0
    ours = rows(shop, "SELECT id FROM staging.orders WHERE external_order_id = '7001'")[0][0]
    # The browser's own session (the _token cookie Airflow's login set) asking anyway:
    answer = page.request.post(f"{server}/orderbridge/api/orders/{ours}/alias",
                               data={"channel_sku": "PL-NEW", "warehouse_sku": "WH-1002"})
    assert answer.status == 403
    assert page.request.post(f"{server}/orderbridge/api/orders/{ours}/retransform").status == 403
    assert rows(shop, "SELECT count(*) FROM staging.sku_aliases") == [(0,)]
