"""The Shoprenter client against a loopback stub of the few routes it calls, on a real PostgreSQL:
the shared rate limit, paging, batch partial failures and a resumable catalogue upload.

The stub answers as shoprenter-plenty-api.md part A says (paging envelope with numbers as strings,
``/batch`` per-item statusCode inside a 200); it is no sandbox fake: the tests against the webshop
fake are ``test_shoprenter_pipeline.py``, skipped until it lands.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from orderbridge import db
from orderbridge.channels.shoprenter import catalogue
from orderbridge.channels.shoprenter.client import ShoprenterClient
from orderbridge.errors import Retryable

SHOP = "demo"
LOGIN, KEY = "apiuser", "apikey-secret"


class Stub:
    def __init__(self):
        self.arrivals: list[tuple[float, str]] = []
        self.sent: list[tuple[str, str]] = []  # (method, sku) of every batch item received
        self.products = [{"innerId": str(n), "sku": f"SKU-{n:05d}", "price": "10.0000", "stock1": str(n % 3),
                          "productClass": {"name": "Books"}} for n in range(1, 6)]
        self.transient: dict[str, int] = {}  # sku -> how many more times its item answers 503
        self.refuse: set[str] = set()  # skus whose item answers 404 40033
        self.fail_batches_from: int | None = None  # batch number from which the whole POST answers 500
        self.batches = 0
        self.auth: set[str] = set()
        self.token_requests: list[tuple] = []
        self.lock = threading.Lock()


def _handler(stub: Stub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, code: int, body) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlsplit(self.path)
            with stub.lock:
                stub.arrivals.append((time.monotonic(), self.headers.get("X-Task", "")))
                stub.auth.add(self.headers.get("Authorization", ""))
            q = {k: v[0] for k, v in parse_qs(url.query).items()}
            if self.headers.get("Accept") != "application/json":
                return self._json(406, {"error": "XML unless JSON is asked for"})
            if url.path.endswith("/productExtend") or url.path.endswith("/orderExtend"):
                page, limit = int(q.get("page", 0)), int(q.get("limit", 10))
                items = stub.products if url.path.endswith("/productExtend") else []
                count = max(1, -(-len(items) // limit))
                last = page >= count - 1
                return self._json(200, {"page": str(page), "pageCount": str(count), "limit": limit,
                                        "next": None if last else {"href": f"{url.path}?page={page + 1}"},
                                        "items": items[page * limit:(page + 1) * limit]})
            return self._json(200, {"page": 0, "next": None, "items": []})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if "/oauth/" in self.path:  # A1: JSON body in, {"token_type", "expires_in", "access_token"} out
                stub.token_requests.append((self.headers.get("Content-Type"), body))
                if body != {"grant_type": "client_credentials", "client_id": LOGIN, "client_secret": KEY}:
                    return self._json(401, {"error": "invalid_client", "error_description": "bad", "message": "no"})
                return self._json(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": "jwt-1"})
            with stub.lock:
                stub.arrivals.append((time.monotonic(), self.headers.get("X-Task", "")))
                stub.batches += 1
                if stub.fail_batches_from is not None and stub.batches >= stub.fail_batches_from:
                    return self._json(500, {"error": 50000, "message": "Internal Server Error"})
                answers = []
                for req in body["data"]["requests"]:
                    sku = req["data"]["sku"]
                    stub.sent.append((req["method"], sku))
                    if stub.transient.get(sku):
                        stub.transient[sku] -= 1
                        code, answer = "503", {"message": "Service Unavailable"}
                    elif sku in stub.refuse:
                        code, answer = "404", {"error": 40033, "message": f"Product not found with sku: {sku}"}
                    else:
                        code, answer = "200", {"sku": sku}
                    answers.append({"method": req["method"], "uri": req["uri"],
                                    "response": {"header": {"statusCode": code}, "body": answer}})
            return self._json(200, {"requests": {"request": answers}})

    return Handler


@pytest.fixture
def stub():
    state = Stub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.port = server.server_address[1]
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def make(stub, staging_dsn, monkeypatch):
    def client(**extra) -> ShoprenterClient:
        conn_id = f"orderbridge_shoprenter_{SHOP}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
            "conn_type": "http", "login": LOGIN, "password": KEY,
            "extra": {"shop": SHOP, "api_base": f"http://127.0.0.1:{stub.port}/shoprenter/{SHOP}", **extra}}))
        return ShoprenterClient(conn_id, SHOP, connect=lambda: db.connect(staging_dsn), backoff=0, max_attempts=2)

    return client


def test_two_tasks_of_one_shop_together_stay_within_3_requests_a_second(stub, make):
    clients = [make(), make()]

    def task(client, name):
        for _ in range(8):
            client.call("GET", "orders", headers={"X-Task": name})

    threads = [threading.Thread(target=task, args=(c, f"t{i}")) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(t for t, _ in stub.arrivals)
    assert len(times) == 16 and {name for _, name in stub.arrivals} == {"t0", "t1"}
    # Every one-second window that starts at a request holds at most 3 requests.
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert busiest <= 3
    assert stub.auth == {"Basic " + base64.b64encode(f"{LOGIN}:{KEY}".encode()).decode()}


def test_pages_run_to_the_last_page_with_numbers_as_strings(stub, make):
    stub.products = stub.products * 1  # 5 products, 2 a page: pages 0, 1, 2
    pages = list(make(limit=2).iter_products())
    assert [len(p) for p in pages] == [2, 2, 1]


def test_batch_retries_only_the_failed_items_and_refuses_the_4xx(stub, make, conn):
    from orderbridge.channels.shoprenter import batch

    client = make()
    stub.transient, stub.refuse = {"B": 1}, {"C"}
    requests_ = [{"method": "PUT", "uri": f"productExtend?sku={s}", "data": {"sku": s}} for s in "ABCD"]
    outcome = batch.send(client.batch, requests_)
    assert (outcome.done, list(outcome.refused), outcome.retry) == ([0, 3, 1], [2], [])
    assert "40033" in outcome.refused[2]
    assert [sku for _, sku in stub.sent] == ["A", "B", "C", "D", "B"]  # only B went twice


def _master(conn, n: int, group: str = "Books", excluded: int = 0):
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name, price, product_group) SELECT 'SKU-' || lpad(i::text, 5,"
                    " '0'), 'Product ' || i, 12.5, CASE WHEN i <= %s THEN 'Hidden' ELSE %s END"
                    " FROM generate_series(1, %s) i", (excluded, group, n))
    conn.commit()


def test_a_first_sync_of_5000_killed_halfway_resumes_without_resending(stub, make, conn):
    _master(conn, 5000, excluded=100)
    stub.products = []
    stub.fail_batches_from = 13  # the 13th batch answers 500 (and every later one): the run dies
    client = make(catalogue_upload=True, excluded_groups=["Hidden"])
    with pytest.raises(Retryable, match="HTTP 500"):
        catalogue.upload(conn, client, SHOP, "run1")
    conn.rollback()
    first = list(stub.sent)
    assert len(first) == 12 * 200 and len(set(first)) == len(first)

    stub.fail_batches_from = None
    counts = catalogue.upload(conn, make(catalogue_upload=True, excluded_groups=["Hidden"]), SHOP, "run2")
    assert counts["resumed"] and counts["chunks"] == 25 - 12 and counts["done"] == 4900 - 12 * 200
    skus = [sku for _, sku in stub.sent]
    assert len(skus) == len(set(skus)) == 4900  # nothing sent twice
    assert not any(sku <= "SKU-00100" for sku in skus)  # the excluded group never went
    with conn.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE state = 'sent') FROM staging.catalogue_chunks")
        assert cur.fetchone() == (25, 25)


def test_upload_sends_only_new_and_changed_and_keeps_before_and_after(stub, make, conn):
    _master(conn, 4)
    stub.products = [{"innerId": "1", "sku": "SKU-00001", "price": "12.5000", "productClass": {"name": "Books"},
                      "productDescriptions": [{"name": "Product 1"}]},
                     {"innerId": "2", "sku": "SKU-00002", "price": 9, "productClass": {"name": "Books"},
                      "productDescriptions": [{"name": "Product 2"}]}]
    counts = catalogue.upload(conn, make(), SHOP, "run1")
    assert (counts["planned_unchanged"], counts["planned_changed"], counts["planned_new"]) == (1, 1, 2)
    assert sorted(stub.sent) == [("POST", "SKU-00003"), ("POST", "SKU-00004"), ("PUT", "SKU-00002")]
    with conn.cursor() as cur:
        cur.execute("SELECT i FROM staging.catalogue_chunks, jsonb_array_elements(items) i"
                    " WHERE i->>'sku' = 'SKU-00002'")
        item = cur.fetchone()[0]
    assert item["before"]["price"] == "9.0000" and item["after"]["price"] == "12.5000"


def test_api2_fetches_a_token_with_a_json_body_and_sends_it_as_bearer(stub, make):
    base = f"http://127.0.0.1:{stub.port}/shoprenter"
    client = make(auth="oauth2", api_base=f"{base}/{SHOP}/api2", token_url=f"{base}/oauth/{SHOP}/app/token")
    client.call("GET", "orders")
    make(auth="oauth2", api_base=f"{base}/{SHOP}/api2", token_url=f"{base}/oauth/{SHOP}/app/token").call("GET", "x")
    assert stub.auth == {"Bearer jwt-1"}
    assert [kind for kind, _ in stub.token_requests] == ["application/json"]  # one token, shared by both clients
