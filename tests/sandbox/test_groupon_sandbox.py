"""The Groupon fake over real HTTP: a sandbox child process per module, talked to with requests.

Accounts are split by purpose so tests do not disturb each other: 1001 is only ever read, 1002 is
for mark_exported, 1003 for tracking, 1004 for determinism of generated continuations, 1005 for
the control API's extra orders and 1006 for lines cancelled after export.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta

import pytest
import requests

from orderbridge_sandbox.process import start_sandbox

ANCHOR = datetime(2024, 3, 15, 12, 0)
ARGS = ["--seed", "42", "--groupon", "1001:tok-read:40", "--groupon", "1002:tok-export:30",
        "--groupon", "1003:tok-track:20", "--groupon", "1004:tok-det:0", "--groupon", "1005:tok-more:5",
        "--groupon", "1006:tok-cancel:6",
        "--groupon-page-size", "10", "--groupon-split-rate", "0.1", "--anchor", ANCHOR.isoformat(),
        "--fault", '{"channel": "groupon", "match": "/api/v3/", "kind": "503", "times": 1}']
READ = {"supplier_id": "1001", "token": "tok-read"}
EXPORT = {"supplier_id": "1002", "token": "tok-export"}
TRACK = {"supplier_id": "1003", "token": "tok-track"}
ORDER_DATE = "%m/%d/%Y %I:%M%p UTC"
T = 10  # seconds; every request has a timeout


@pytest.fixture(scope="module")
def sandbox():
    with start_sandbox(ARGS) as proc:
        yield proc


@pytest.fixture(scope="module")
def twin():
    """A second sandbox with the same seed and data, answering bad credentials with HTTP 200."""
    with start_sandbox([*ARGS, "--groupon-auth-failure-status", "200"]) as proc:
        yield proc


@pytest.fixture(scope="module")
def base(sandbox) -> str:
    return f"{sandbox.url}/groupon/api/v2"


@pytest.fixture
def faults(sandbox):
    """The fault control URL, with no rule left over before or after the test."""
    url = f"{sandbox.url}/_sandbox/faults"
    requests.delete(url, timeout=T).raise_for_status()
    yield url
    requests.delete(url, timeout=T).raise_for_status()


def get_orders(base: str, auth: dict, **params) -> requests.Response:
    response = requests.get(f"{base}/get_orders", params={**auth, **params}, timeout=T)
    response.encoding = "utf-8"  # JSON is UTF-8; requests would read charset-less text/json as ISO-8859-1
    return response


def all_entries(base: str, auth: dict, **params) -> list[dict]:
    entries, page = [], 1
    while True:
        body = get_orders(base, auth, page=page, **params).json()
        assert body["success"] is True, body
        entries += body["data"]
        if page >= body["meta"]["no_of_pages"]:
            return entries
        page += 1


def state(sandbox, supplier_id: str) -> dict:
    response = requests.get(f"{sandbox.url}/_sandbox/groupon/{supplier_id}/state", timeout=T)
    response.raise_for_status()
    return response.json()


def lines_by_id(sandbox, supplier_id: str) -> dict[int, dict]:
    return {ln["ci_lineitemid"]: ln for o in state(sandbox, supplier_id)["orders"]
            for e in o["entries"] for ln in e["lines"]}


def post(base: str, endpoint: str, auth: dict, **fields) -> requests.Response:
    return requests.post(f"{base}/{endpoint}", data={**auth, **fields}, timeout=T)


def test_health_and_text_json(sandbox, base):
    assert requests.get(f"{sandbox.url}/_sandbox/health", timeout=T).json() == {"ok": True, "pid": sandbox.pid}
    response = get_orders(base, READ)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/json"
    assert response.json()["success"] is True


def test_paging_meta_and_sort_order(sandbox, base):
    first = get_orders(base, READ).json()
    total = first["meta"]["no_of_items"]
    assert total >= 40  # 40 orders, a few split in two entries
    assert first["meta"] == {"no_of_pages": math.ceil(total / 10), "current_page": 1, "max_items_per_page": 10,
                             "no_of_items": total}
    entries = []
    for page in range(1, first["meta"]["no_of_pages"] + 1):
        body = get_orders(base, READ, page=page).json()
        assert body["meta"]["current_page"] == page
        assert len(body["data"]) == (10 if page < body["meta"]["no_of_pages"] else total - 10 * (page - 1))
        entries += body["data"]
    assert len(entries) == total
    ids = [e["orderid"] for e in entries]
    assert ids == sorted(ids)
    assert len({li["ci_lineitemid"] for e in entries for li in e["line_items"]}) == sum(
        len(e["line_items"]) for e in entries)
    beyond = get_orders(base, READ, page=first["meta"]["no_of_pages"] + 1).json()
    assert beyond["success"] is True and beyond["data"] == []
    assert get_orders(base, READ, page="x").json()["success"] is False


def test_empty_result_is_exactly_the_recorded_one(base):
    response = get_orders(base, READ, start_datetime="01/01/2020 00:00", end_datetime="01/01/2020 12:00")
    assert response.text == ('{"meta":{"no_of_pages":0,"current_page":0,"max_items_per_page":10,"no_of_items":0},'
                             '"data":[],"success":true}')


def test_entries_look_like_groupon_v4(base):
    entries = all_entries(base, READ)
    for e in entries:
        assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d[AP]M UTC", e["date"])
        assert ANCHOR - timedelta(days=2) <= datetime.strptime(e["date"], ORDER_DATE) < ANCHOR
        assert e["shipping"]["method"] == "BEST" and e["shipping"]["carrier"] is None
        assert set(e["customer"]["billing_address"]) >= {"name", "address1", "city", "state", "zip", "country"}
        assert 1 <= len(e["line_items"]) <= 4
        items = sum(li["unit_price"] * li["quantity"] for li in e["line_items"])
        assert e["amount"]["total"] == pytest.approx(items + e["amount"]["shipping"])
        for li in e["line_items"]:
            assert isinstance(li["ci_lineitemid"], int) and isinstance(li["fulfillment_lineitem_id"], str)
            assert li["status"] in ("open", "cancelled", "refunded")  # the last two: guessed words
            assert li["weight"] == "" or float(li["weight"]) >= 0
    customers = [e["customer"] for e in entries]
    assert any(c["country"] == "UK" and c["state"] is None for c in customers)
    assert {c["country"] for c in customers} & {"US", "USA"}
    assert {"DE", "FR"} <= {c["country"] for c in customers}
    assert any(re.search(r"[\u0370-\u03ff\u0400-\u04ff\u3040-\u30ff\u4e00-\u9fff]", c["name"] + c["address1"])
               for c in customers)
    lines = [li for e in entries for li in e["line_items"]]
    assert any(li["quantity"] > 1 for li in lines)
    assert any(li["bom_sku"] and li["bom_sku"][0].isdigit() for li in lines)  # a kit: "2xWH-1005"
    assert len({type(li["weight"]) for li in lines}) == 2  # numbers and strings, as live
    assert len({len(i) for i in {e["orderid"] for e in entries}}) >= 3  # several id formats


def test_split_order_shares_orderid_and_date_but_ships_to_its_own_address(base):
    entries = all_entries(base, READ)
    by_id: dict[str, list[dict]] = {}
    for e in entries:
        by_id.setdefault(e["orderid"], []).append(e)
    splits = [group for group in by_id.values() if len(group) > 1]
    assert splits, "seed 42 with split rate 0.1 gives split orders"
    for first, second in splits:
        assert first["date"] == second["date"] and first["parent_orderid"] == second["parent_orderid"]
        assert first["customer"]["billing_address"] == second["customer"]["billing_address"]
        assert first["customer"]["address1"] != second["customer"]["address1"]  # v4 doc example
        assert not {li["ci_lineitemid"] for li in first["line_items"]} & {
            li["ci_lineitemid"] for li in second["line_items"]}


def test_default_filter_hides_fully_exported_entries_and_window_keeps_them(sandbox, base):
    before = all_entries(base, EXPORT)
    entry = next(e for e in before if len(e["line_items"]) >= 2
                 and sum(x["orderid"] == e["orderid"] for x in before) == 1)
    ids = [li["ci_lineitemid"] for li in entry["line_items"]]
    assert post(base, "mark_exported", EXPORT, ci_lineitem_ids=json.dumps(ids[:1])).json() == {"success": True}
    assert entry["orderid"] in {e["orderid"] for e in all_entries(base, EXPORT)}  # still one line to export
    post(base, "mark_exported", EXPORT, ci_lineitem_ids=json.dumps(ids[1:]))
    after = all_entries(base, EXPORT)
    assert entry["orderid"] not in {e["orderid"] for e in after}
    assert len(after) == len(before) - 1
    date = datetime.strptime(entry["date"], ORDER_DATE)
    window = all_entries(base, EXPORT, start_datetime=(date - timedelta(hours=1)).strftime("%m/%d/%Y %H:%M"),
                         end_datetime=(date + timedelta(hours=1)).strftime("%m/%d/%Y %H:%M"))
    again = next(e for e in window if e["orderid"] == entry["orderid"])
    assert [li["status"] for li in again["line_items"]] == ["open"] * len(ids)  # exported is not shipped
    assert all(lines_by_id(sandbox, "1002")[i]["exported"] for i in ids)


def test_window_returns_orders_dated_inside_it(sandbox, base):
    entries = all_entries(base, READ)
    start, end = ANCHOR - timedelta(hours=30), ANCHOR - timedelta(hours=6)
    expected = [e for e in entries if start <= datetime.strptime(e["date"], ORDER_DATE) < end]
    assert 0 < len(expected) < len(entries)
    # The space as "+" in one parameter and "%20" in the other, as clients send them.
    query = (f"supplier_id=1001&token=tok-read&start_datetime={start:%m/%d/%Y+%H:%M}"
             f"&end_datetime={end:%m/%d/%Y%%20%H:%M}")
    got, page = [], 1
    while True:
        body = json.loads(requests.get(f"{base}/get_orders?{query}&page={page}", timeout=T).content)
        got += body["data"]
        if page >= body["meta"]["no_of_pages"]:
            break
        page += 1
    assert got == expected


@pytest.mark.parametrize(("start", "end", "word"), [
    ("03/14/2024 11:59", "03/15/2024 12:00", "24 hours"),
    ("03/15/2024 12:00", "03/15/2024 12:00", "later"),
    ("03/15/2024 12:00", "03/15/2024 11:00", "later"),
    ("2024-03-14T12:00", "2024-03-15T12:00", "MM/DD/YYYY"),
    ("03/14/2024 12:00", "", "together"),
])
def test_window_rules_answer_200_success_false(base, start, end, word):
    response = get_orders(base, READ, start_datetime=start, end_datetime=end)
    assert response.status_code == 200
    assert response.json()["success"] is False and word in response.json()["reason"]


def test_window_of_exactly_24_hours_is_fine(base):
    body = get_orders(base, READ, start_datetime="03/14/2024 12:00", end_datetime="03/15/2024 12:00").json()
    assert body["success"] is True and body["meta"]["no_of_items"] > 0


def test_auth_failures_in_query_and_form_body(sandbox, base):
    failure = {"success": False, "reason": "Invalid supplier_id or token"}
    for auth in ({"supplier_id": "1001", "token": "wrong"}, {"supplier_id": "999", "token": "tok-read"}, {}):
        response = get_orders(base, auth)
        assert (response.status_code, response.json()) == (401, failure)
        assert response.headers["content-type"] == "text/json"
    bad_form = {"supplier_id": "1002", "token": "tok-read"}  # another account's token
    response = post(base, "mark_exported", bad_form, ci_lineitem_ids="[1]")
    assert (response.status_code, response.json()) == (401, failure)
    # Credentials in the body of a GET, as the v2 doc's Python sample sends them.
    assert requests.get(f"{base}/get_orders", data=READ, timeout=T).json()["success"] is True
    assert requests.get(f"{base}/get_orders", params=READ, data={"token": "wrong"}, timeout=T).status_code == 401
    assert state(sandbox, "1001")["requests"]["get_orders"]["401"] >= 2


def test_mark_exported_accepts_every_encoding_and_is_idempotent(sandbox, base):
    entries = all_entries(base, EXPORT)
    a, b, c, d = [li["ci_lineitemid"] for e in entries[-6:] for li in e["line_items"]][:4]
    url = f"{base}/mark_exported"
    urlencoded = requests.post(url, data={**EXPORT, "ci_lineitem_ids": f"[{a}]"}, timeout=T)
    multipart = requests.post(url, files={"supplier_id": (None, "1002"), "token": (None, "tok-export"),
                                          "ci_lineitem_ids": (None, f'["{b}"]')}, timeout=T)
    raw = requests.post(url, data=f"supplier_id=1002&token=tok-export&ci_lineitem_ids=[{c}]",
                        headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=T)
    raw_untyped = requests.post(url, data=f"supplier_id=1002&token=tok-export&ci_lineitem_ids=[{d}]".encode(),
                                timeout=T)
    assert "multipart/form-data" in multipart.request.headers["content-type"]
    for response in (urlencoded, multipart, raw, raw_untyped):
        assert response.json() == {"success": True}
    again = requests.post(url, data={**EXPORT, "ci_lineitem_ids": json.dumps([a, str(b), 1])}, timeout=T).json()
    assert again == {"success": True, "data": {"unknown_ids": [1]}}
    lines = lines_by_id(sandbox, "1002")
    assert [lines[i]["exported"] for i in (a, b, c, d)] == [True] * 4
    assert [lines[i]["export_calls"] for i in (a, b, c, d)] == [2, 2, 1, 1]


@pytest.mark.parametrize("field", ["[1,", '{"a": 1}', '["x"]', "", None])
def test_mark_exported_malformed_field(base, field):
    fields = {} if field is None else {"ci_lineitem_ids": field}
    response = post(base, "mark_exported", EXPORT, **fields)
    assert response.status_code == 200
    assert response.json()["success"] is False and "ci_lineitem_ids" in response.json()["reason"]


def test_tracking_notification_carriers_and_non_open_ids(sandbox, base):
    lines = [li for e in all_entries(base, TRACK) for li in e["line_items"]]
    x, y, z = lines[0]["ci_lineitemid"], lines[1]["ci_lineitemid"], lines[2]["ci_lineitemid"]
    bad = [{"carrier": "RYM", "ci_lineitem_id": x, "tracking": "A1"},
           {"carrier": "XYZ", "ci_lineitem_id": y, "tracking": "B1"}]
    refused = post(base, "tracking_notification", TRACK, tracking_info=json.dumps(bad)).json()
    assert refused["success"] is False and refused["reason"].startswith("Invalid carrier code(s): XYZ.")
    assert "Accepted codes" in refused["reason"] and len(refused["reason"]) < 200
    assert lines_by_id(sandbox, "1003")[x]["tracking"] == []  # the whole request was refused
    good = [{"carrier": "rym", "ci_lineitem_id": x, "tracking": "RM123456785GB"},
            {"carrier": "Envialia", "ci_lineitem_id": str(y), "tracking": "ENV-9", "quantity": 1}]
    answer = post(base, "tracking_notification", TRACK, tracking_info=json.dumps(good)).json()
    assert answer == {"success": True, "data": {"non_open_ids": []}}
    repeat = [{"carrier": "DPDUK", "ci_lineitem_id": x, "tracking": "again"},
              {"carrier": "DPDUK", "ci_lineitem_id": z, "tracking": "Z1"},
              {"carrier": "DPDUK", "ci_lineitem_id": 1, "tracking": "nobody"}]
    answer = post(base, "tracking_notification", TRACK, tracking_info=json.dumps(repeat)).json()
    assert answer == {"success": True, "data": {"non_open_ids": [x, 1]}}
    recorded = lines_by_id(sandbox, "1003")
    assert recorded[x]["tracking"] == [{"carrier": "rym", "tracking": "RM123456785GB", "quantity": None}]
    assert recorded[y]["tracking"] == [{"carrier": "Envialia", "tracking": "ENV-9", "quantity": 1}]
    assert [recorded[i]["status"] for i in (x, y, z)] == ["ship"] * 3
    shown = {li["ci_lineitemid"]: li["status"] for e in all_entries(base, TRACK) for li in e["line_items"]}
    assert shown[x] == "ship"
    malformed = post(base, "tracking_notification", TRACK, tracking_info='[{"carrier": "UPS"}]').json()
    assert malformed["success"] is False


def test_lineitem_tracking_notification_is_v4_only(sandbox, base):
    line = [li for e in all_entries(base, TRACK) for li in e["line_items"]][-1]
    info = json.dumps([{"carrier": "GLS", "fulfillment_lineitem_id": line["fulfillment_lineitem_id"],
                        "tracking": "GLS1"}])
    assert post(base, "lineitem_tracking_notification", TRACK, tracking_info=info).status_code == 404
    v4 = base.replace("/v2", "/v4")
    assert post(v4, "lineitem_tracking_notification", TRACK, tracking_info=info).json() == {
        "success": True, "data": {"non_open_ids": []}}
    again = post(v4, "lineitem_tracking_notification", TRACK, tracking_info=info).json()
    assert again["data"]["non_open_ids"] == [line["fulfillment_lineitem_id"]]
    assert lines_by_id(sandbox, "1003")[line["ci_lineitemid"]]["status"] == "ship"


def test_state_counts_requests_per_endpoint_and_status(sandbox, base):
    before = state(sandbox, "1005")["requests"].get("get_orders", {}).get("200", 0)
    get_orders(base, {"supplier_id": "1005", "token": "tok-more"})
    post(base, "mark_exported", {"supplier_id": "1005", "token": "tok-more"}, ci_lineitem_ids="oops")
    counts = state(sandbox, "1005")["requests"]
    assert counts["get_orders"]["200"] == before + 1 and counts["mark_exported"]["200"] == 1


def test_a_line_cancelled_after_export_stays_out_of_the_queue_and_a_window_lists_its_new_status(sandbox, base):
    auth = {"supplier_id": "1006", "token": "tok-cancel"}
    entries = all_entries(base, auth)
    ids = [li["ci_lineitemid"] for e in entries for li in e["line_items"]]
    assert post(base, "mark_exported", auth, ci_lineitem_ids=json.dumps(ids)).json() == {"success": True}
    assert all_entries(base, auth) == []
    control = f"{sandbox.url}/_sandbox/groupon/1006/lines"
    for line, word in zip(ids[:2], ("cancelled", "refunded"), strict=True):
        answer = requests.post(f"{control}/{line}/status", json={"status": word}, timeout=T)
        assert answer.status_code == 200 and answer.json()["line"]["status"] == word
    assert all_entries(base, auth) == []  # exported stays exported: the queue never offers it again
    listed = {}
    for day in (2, 1):  # the orders' two days, a 24-hour window each
        window = {"start_datetime": (ANCHOR - timedelta(days=day)).strftime("%m/%d/%Y %H:%M"),
                  "end_datetime": (ANCHOR - timedelta(days=day - 1)).strftime("%m/%d/%Y %H:%M")}
        listed |= {li["ci_lineitemid"]: li["status"] for e in all_entries(base, auth, **window)
                   for li in e["line_items"]}
    assert sorted(listed) == sorted(ids)
    assert (listed[ids[0]], listed[ids[1]]) == ("cancelled", "refunded") and set(listed.values()) >= {"open"}
    reads = state(sandbox, "1006")["window_reads"]  # what a client asked for, for tests to count
    assert {r["end"] for r in reads} == {(ANCHOR - timedelta(days=d)).isoformat() + "+00:00" for d in (1, 0)}


@pytest.mark.parametrize(("body", "status", "word"), [
    ({"status": "ship"}, 400, "cancelled, refunded"), ({"status": "open"}, 400, "cancelled, refunded"),
    ({}, 400, "None"), ("not json", 400, "cancelled, refunded"),
])
def test_the_line_status_control_takes_only_what_a_customer_or_groupon_does(sandbox, body, status, word):
    line = next(iter(lines_by_id(sandbox, "1006")))
    url = f"{sandbox.url}/_sandbox/groupon/1006/lines/{line}/status"
    answer = (requests.post(url, data=body, timeout=T) if isinstance(body, str)
              else requests.post(url, json=body, timeout=T))
    assert answer.status_code == status and word in answer.text
    missing = requests.post(f"{sandbox.url}/_sandbox/groupon/1006/lines/1/status", json={"status": "cancelled"},
                            timeout=T)
    assert missing.status_code == 404


def test_control_api_adds_orders(sandbox, base):
    response = requests.post(f"{sandbox.url}/_sandbox/groupon/1005/orders", json={"n": 3}, timeout=T)
    new = response.json()["orderids"]
    assert len(new) == 3
    assert set(new) <= {o["orderid"] for o in state(sandbox, "1005")["orders"]}
    assert set(new) <= {e["orderid"] for e in all_entries(base, {"supplier_id": "1005", "token": "tok-more"})}
    assert requests.post(f"{sandbox.url}/_sandbox/groupon/nope/orders", json={"n": 1}, timeout=T).status_code == 404


def test_fault_429_sends_retry_after_then_recovers(base, faults):
    rule = {"channel": "groupon", "match": "get_orders", "kind": "429", "times": 2, "retry_after": 3}
    assert requests.post(faults, json=rule, timeout=T).json()["ok"] is True
    first, second, third = (get_orders(base, READ) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["retry-after"] == "3"
    listed = requests.get(faults, timeout=T).json()["rules"]
    assert [(r["fired"], r["active"]) for r in listed] == [(2, False)]


def test_fault_5xx_only_on_matching_path(base, faults):
    requests.post(faults, json={"channel": "groupon", "match": "mark_exported", "kind": "500", "status": 502,
                                "times": 1}, timeout=T).raise_for_status()
    assert get_orders(base, READ).status_code == 200
    assert post(base, "mark_exported", EXPORT, ci_lineitem_ids="[]").status_code == 502
    assert post(base, "mark_exported", EXPORT, ci_lineitem_ids="[]").status_code == 200


def test_fault_slow_delays_then_answers(base, faults):
    requests.post(faults, json={"channel": "groupon", "kind": "slow", "delay": 0.6, "times": 2},
                  timeout=T).raise_for_status()
    started = time.monotonic()
    assert get_orders(base, READ).json()["success"] is True
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.Timeout):
        requests.get(f"{base}/get_orders", params=READ, timeout=0.2)


def test_fault_malformed_body(base, faults):
    requests.post(faults, json={"channel": "groupon", "kind": "malformed", "times": 1}, timeout=T).raise_for_status()
    response = get_orders(base, READ)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_fault_reset_drops_the_connection(base, faults):
    requests.post(faults, json={"channel": "groupon", "kind": "reset", "times": 1}, timeout=T).raise_for_status()
    with pytest.raises(requests.ConnectionError):
        get_orders(base, READ)
    assert get_orders(base, READ).status_code == 200


def test_fault_rate_fires_some_of_the_time_and_never_on_control_routes(sandbox, base, faults):
    requests.post(faults, json={"channel": "groupon", "kind": "500", "rate": 0.5}, timeout=T).raise_for_status()
    codes = [get_orders(base, READ).status_code for _ in range(30)]
    assert 5 < codes.count(500) < 25 and codes.count(200) == 30 - codes.count(500)
    assert all(requests.get(f"{sandbox.url}/_sandbox/health", timeout=T).ok for _ in range(5))
    assert requests.get(faults, timeout=T).json()["rules"][0]["fired"] == codes.count(500)


@pytest.mark.parametrize("rule", [{"channel": "amazon", "kind": "500"}, {"channel": "groupon", "kind": "boom"},
                                  {"channel": "groupon", "kind": "500", "rate": 2},
                                  {"channel": "groupon", "kind": "500", "status": 404}])
def test_fault_rules_are_validated(faults, rule):
    response = requests.post(faults, json=rule, timeout=T)
    assert response.status_code == 400 and response.json()["ok"] is False
    assert requests.get(faults, timeout=T).json()["rules"] == []


def test_cli_fault_is_active_from_the_start(twin):
    # On the twin: the faults fixture clears every rule of the first sandbox, --fault ones included.
    v3 = f"{twin.url}/groupon/api/v3/get_orders"
    assert requests.get(v3, params=READ, timeout=T).status_code == 503
    assert requests.get(v3, params=READ, timeout=T).status_code == 200


def test_same_seed_gives_identical_pages_and_continuations(sandbox, base, twin):
    twin_base = f"{twin.url}/groupon/api/v2"
    pages = get_orders(base, READ).json()["meta"]["no_of_pages"]
    for page in range(1, pages + 1):
        assert get_orders(twin_base, READ, page=page).text == get_orders(base, READ, page=page).text
    more = [requests.post(f"{s.url}/_sandbox/groupon/1004/orders", json={"n": 4}, timeout=T).json()
            for s in (sandbox, twin)]
    assert more[0] == more[1] and len(more[0]["orderids"]) == 4


def test_auth_failure_status_is_configurable(twin):
    refused = get_orders(f"{twin.url}/groupon/api/v2", {"supplier_id": "1001", "token": "wrong"})
    assert (refused.status_code, refused.json()) == (200, {"success": False, "reason": "Invalid supplier_id or token"})
