"""Octopia's shared OAuth2 token (real PostgreSQL, authlib over real HTTP) and its error answers.

The marketplace fake is built elsewhere; this module's loopback stub answers only what these
tests need: the token endpoint (form body, 401 on a bad secret, a counter) and one data route
that answers 401/403/400 problem+json on demand.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from orderbridge import db
from orderbridge.channels.octopia.auth import TokenCache
from orderbridge.channels.octopia.client import OctopiaClient
from orderbridge.errors import AuthError, InvalidPayload

CLIENT_ID, SECRET = "orderbridge-platform", "s3cret-of-the-platform"
PROBLEM = {"Content-Type": "application/problem+json"}


class Stub:
    def __init__(self):
        self.issued: list[tuple[str, float]] = []  # (token, when by the test's clock)
        self.revoked: set[str] = set()
        self.delegated = {"98979", "98980", "98981"}
        self.token_delay = 0.0
        self.clock = lambda: 0.0
        self.lock = threading.Lock()


def _handler(stub: Stub):
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body, headers: dict | None = None):
            raw = json.dumps(body).encode()
            self.send_response(code)
            for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            if self.path == "/octopia/auth/token":
                form = {k: v[0] for k, v in parse_qs(body).items()}
                if form.get("grant_type") != "client_credentials" or form.get("client_secret") != SECRET:
                    return self._answer(401, {"error": "unauthorized_client",
                                              "error_description": "Invalid client secret"})
                time.sleep(stub.token_delay)  # widens the race of the concurrency test; nothing waits on it
                with stub.lock:
                    token = f"tok-{len(stub.issued) + 1}"
                    stub.issued.append((token, stub.clock()))
                return self._answer(200, {"access_token": token, "expires_in": 7200, "token_type": "Bearer"})
            return self._answer(400, {"title": "Bad Request", "detail": "Cannot switch to shipped status",
                                      "errors": {"orderLineIds": ["line 1 is not InPreparation"]},
                                      "traceId": "00-trace-1"}, PROBLEM)

        def do_GET(self):
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            if not token.startswith("tok-") or token in stub.revoked:
                return self._answer(401, {"title": "Unauthorized", "detail": "token expired"}, PROBLEM)
            if self.headers.get("SellerId") not in stub.delegated:
                return self._answer(403, {"title": "Forbidden", "detail": "seller not linked", "traceId": "t-403"},
                                    PROBLEM)
            return self._answer(200, [{"seller_id": self.headers.get("SellerId")}])

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def stub():
    s = Stub()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(s))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    s.port = httpd.server_address[1]
    s.token_url = f"http://127.0.0.1:{s.port}/octopia/auth/token"
    yield s
    httpd.shutdown()
    httpd.server_close()


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def make(stub, staging_dsn, monkeypatch):
    """A client for seller ``seller`` whose token cache uses ``clock`` (a new one per task, as in Airflow)."""

    def client(seller: str = "98979", clock=None, secret: str = SECRET) -> OctopiaClient:
        conn_id = f"orderbridge_octopia_s{seller}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": stub.port, "schema": "http",
            "login": CLIENT_ID, "password": secret,
            "extra": {"api_path": "/octopia/seller/v2", "token_url": stub.token_url, "seller_id": seller}}))
        tokens = TokenCache(lambda: db.connect(staging_dsn), stub.token_url, CLIENT_ID, secret,
                            clock=clock or Clock(), account=f"s{seller}")
        return OctopiaClient(conn_id, f"s{seller}", tokens=tokens, backoff=0)

    return client


def test_a_day_of_runs_for_three_sellers_fetches_one_token_per_two_hours(stub, make, conn):
    clock = Clock()
    start = clock.now
    stub.clock = lambda: (clock.now - start).total_seconds()
    for _run in range(144):  # every 10 minutes for 24 h
        for seller in ("98979", "98980", "98981"):
            for _task in range(3):  # extract, send, stock: each task builds its own client
                make(seller, clock).call("GET", "sellers", decode=True)
        clock.now += timedelta(minutes=10)
    hours = [int(at // 3600) for _token, at in stub.issued]
    # Stale 5 minutes before its 2-hour expiry, i.e. at 1 h 55: the run at 2 h renews it.
    assert [at for _token, at in stub.issued] == [h * 7200.0 for h in range(12)]
    assert max(hours.count(h) for h in set(hours)) == 1  # far under Octopia's 500 an hour
    with conn.cursor() as cur:
        cur.execute("SELECT issued, client_id, position('tok-' in convert_from(token, 'LATIN1')) FROM "
                    "staging.oauth_tokens")
        assert cur.fetchall() == [(12, CLIENT_ID, 0)]  # counted, and no token readable at rest


def test_concurrent_tasks_fetch_one_token_between_them(stub, make):
    stub.token_delay = 0.2
    clients = [make(seller) for seller in ("98979", "98980", "98981") for _ in range(3)]
    errors: list[Exception] = []

    def task(client):
        try:
            client.call("GET", "sellers", decode=True)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=task, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(stub.issued) == 1


def test_a_401_renews_the_token_once_and_repeats_the_call(stub, make):
    client = make()
    client.call("GET", "sellers", decode=True)
    stub.revoked.add("tok-1")  # Octopia expired it early
    assert client.call("GET", "sellers", decode=True) == [{"seller_id": "98979"}]
    assert [t for t, _ in stub.issued] == ["tok-1", "tok-2"] and client.stats["token_renewals"] == 1
    assert make("98980").call("GET", "sellers", decode=True)  # another seller's task reuses tok-2
    assert len(stub.issued) == 2
    stub.revoked.add("tok-2")
    stub.revoked.add("tok-3")  # the new token is refused too: one renewal only, then the error
    with pytest.raises(AuthError) as err:
        client.call("GET", "sellers", decode=True)
    assert "HTTP 401, Octopia refused the access token (Unauthorized: token expired)" in str(err.value)
    assert len(stub.issued) == 3 and "tok-" not in str(err.value)


def test_a_403_says_the_seller_has_not_delegated_to_our_client_id(stub, make):
    stub.delegated.discard("98981")
    with pytest.raises(AuthError) as err:
        make("98981").call("GET", "sellers", decode=True)
    text = str(err.value)
    assert "this seller (98981) has not delegated to our client id orderbridge-platform" in text
    assert "Resolution: the seller links client id orderbridge-platform" in text and "traceId t-403" in text


def test_a_problem_json_refusal_is_invalid_payload_in_octopias_words(stub, make):
    with pytest.raises(InvalidPayload) as err:
        make().declare_parcels("SCID01", [{"parcelNumber": "6A1", "carrierName": "Colissimo", "orderLineIds": ["1"]}])
    assert ("HTTP 400, Octopia refused it: Bad Request: Cannot switch to shipped status; orderLineIds: line 1 is "
            "not InPreparation (traceId 00-trace-1)") in str(err.value)
    assert err.value.problem["traceId"] == "00-trace-1"


def test_a_bad_secret_is_an_auth_error_that_never_shows_the_secret(stub, make):
    with pytest.raises(AuthError) as err:
        make(secret="wrong-secret").call("GET", "sellers")
    assert "HTTP 401, client id orderbridge-platform or its secret refused" in str(err.value)
    assert "wrong-secret" not in str(err.value) and stub.issued == []


def test_a_rotated_secret_cannot_read_the_old_token_and_fetches_a_new_one(stub, make):
    make().call("GET", "sellers")
    tokens = make().tokens
    rotated = TokenCache(tokens.connect, stub.token_url, CLIENT_ID, "another secret")
    rotated.fetch = lambda: ("tok-new", 7200)
    assert rotated.get() == "tok-new" and tokens.issued() == 2
    assert make().tokens.get() == "tok-2"  # the old secret cannot read it either: the stub's next token
