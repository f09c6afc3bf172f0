"""``ChannelClient`` against a real HTTP server on loopback: what each answer becomes.

The server is ``http.server`` in a thread, scripted per test: each request takes the next answer
of the script (a status with headers and body, a slow answer, or a connection cut in the middle
of the body) and is recorded with its headers, so a test can assert what went over the wire.
Waits are recorded by an injected ``sleep`` and backoff is 0: nothing here really sleeps, except
the server holding an answer past the client's (short) timeout.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orderbridge.channels.plentymarkets.client import PlentyClient
from orderbridge.errors import (
    AuthError,
    EndpointNotFound,
    InvalidPayload,
    Permanent,
    RateLimited,
    Retryable,
    SettingsError,
)
from orderbridge.http import ChannelClient, wait_logged

CONN_ID = "orderbridge_unit_test"
PASSWORD = "s3cr3t-Token-4711"


@dataclass
class Answer:
    status: int = 200
    body: bytes | str | dict | list = b"{}"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (past the client's timeout: a timeout)
    cut: bool = False  # promise the whole body, send half of it, close: a reset mid-body

    def raw(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


class Script:
    """The answers the server gives, in order (the last one repeats), and the requests it got."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque([Answer()])
        self.received: list[Received] = []
        self.port = 0  # set once the server listens

    def __call__(self, *answers: Answer) -> Script:
        self.answers = deque(answers)
        return self

    def next(self) -> Answer:
        return self.answers.popleft() if len(self.answers) > 1 else self.answers[0]


def _handler(script: Script):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            script.received.append(Received(self.command, self.path, dict(self.headers), body))
            answer = script.next()
            if answer.delay:
                time.sleep(answer.delay)
            raw = answer.raw()
            self.send_response(answer.status)
            headers = {"Content-Type": "application/json", **answer.headers}
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(raw)))
            if answer.cut:
                self.send_header("Connection", "close")
            self.end_headers()
            if answer.cut:
                self.wfile.write(raw[: len(raw) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, *args) -> None:  # keep pytest output quiet
            pass

    return Handler


@pytest.fixture
def server():
    script = Script()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(script))
    httpd.daemon_threads = True
    httpd.block_on_close = False  # a handler still holding a slow answer must not hold up the test
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    script.port = httpd.server_address[1]
    yield script
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def connect(server, monkeypatch):
    """Point the connection at the server and build a client with recorded (not real) sleeps."""

    def make(cls=ChannelClient, extra: dict | None = None, **kwargs):
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({
            "conn_type": "http", "host": "127.0.0.1", "port": server.port, "schema": "http",
            "login": "unit-user", "password": PASSWORD, "extra": {"api_path": "/api/v1", **(extra or {})}}))
        slept: list[float] = []
        kwargs.setdefault("backoff", 0)
        client = cls(CONN_ID, "unit", sleep=slept.append, **kwargs)
        client.slept = slept
        return client

    return make


# -- 429: wait inside the attempt -------------------------------------------------------------------

def test_429_waits_retry_after_inside_the_attempt_and_spends_no_retry(server, connect):
    server(Answer(429, headers={"Retry-After": "7"}), Answer(429, headers={"Retry-After": "3"}),
           Answer(200, {"ok": True}))
    client = connect()
    assert client.request_json("GET", "orders") == {"ok": True}
    assert client.slept == [7.0, 3.0]
    assert client.stats == {"requests": 3, "throttled": 2, "retried": 0}
    assert [r.path for r in server.received] == ["/api/v1/orders"] * 3


@pytest.fixture
def progress():
    """The client's wait lines, read straight from its logger (Airflow may have re-routed the root's)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage()) if "waiting" in record.getMessage() else None
    logger = logging.getLogger("orderbridge.http")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_long_retry_after_is_waited_in_steps_that_each_log_what_is_left(server, connect, progress):
    server(Answer(429, headers={"Retry-After": "75"}), Answer(200, {"ok": True}))
    client = connect()
    assert client.request_json("GET", "orders") == {"ok": True}
    assert client.slept == [30.0, 30.0, 15.0]  # never more than 30 s without a line in the log
    lines = progress
    assert lines == [f"generic/unit: 429 on GET orders, Retry-After 75 s (waited 0 s of at most 300 s in this "
                     f"attempt): waiting, {left} s of 75 s left" for left in (75, 45, 15)]


def test_short_waits_are_not_logged(progress):
    slept = []
    wait_logged(slept.append, 0.25, "rate limit")
    assert slept == [0.25] and progress == []


def test_429_past_max_retry_after_raises_rate_limited(server, connect):
    server(Answer(429, headers={"Retry-After": "6"}))
    client = connect(max_retry_after=10)
    with pytest.raises(RateLimited, match="still 429"):
        client.request("GET", "orders")
    assert client.slept == [6.0]  # the second 6 s would pass the cap: raised instead of waited
    assert len(server.received) == 2 and client.stats["retried"] == 0


# -- transient: back off, then Retryable -------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_5xx_and_408_back_off_and_raise_retryable_after_max_attempts(server, connect, status):
    server(Answer(status, {"error": {"message": "busy"}}))
    client = connect(max_attempts=3)
    with pytest.raises(Retryable) as err:
        client.request("POST", "orders/1", json={"a": 1})
    assert not isinstance(err.value, RateLimited) and err.value.status_code == status
    assert len(server.received) == 3 and client.stats["retried"] == 2
    assert client.slept == [0, 0]  # backoff 0: the two waits between three tries, none real


def test_a_transient_error_then_success_returns_the_answer(server, connect):
    server(Answer(503), Answer(200, {"page": 1}))
    client = connect(max_attempts=3)
    assert client.request_json("GET", "orders") == {"page": 1}
    assert client.stats["retried"] == 1


def test_no_answer_within_the_timeout_is_retryable(server, connect):
    server(Answer(200, {"late": True}, delay=1.0))
    client = connect(extra={"timeout": 0.2}, max_attempts=2)
    with pytest.raises(Retryable, match="no answer within 0.2 s"):
        client.request("GET", "orders")
    assert len(server.received) == 2


def test_a_connection_reset_mid_body_is_retried_and_then_read(server, connect):
    server(Answer(200, {"entries": list(range(200))}, cut=True), Answer(200, {"entries": [1]}))
    client = connect(max_attempts=2)
    assert client.request_json("GET", "orders") == {"entries": [1]}
    assert client.stats["retried"] == 1


def test_resets_mid_body_outlasting_max_attempts_raise_retryable(server, connect):
    server(Answer(200, {"entries": list(range(200))}, cut=True))
    client = connect(max_attempts=3)
    with pytest.raises(Retryable, match="connection failed"):
        client.request_json("GET", "orders")
    assert len(server.received) == 3


def test_an_unreadable_json_body_is_retryable(server, connect):
    server(Answer(200, b'{"entries": [1, 2'))
    client = connect(max_attempts=2)
    with pytest.raises(Retryable, match="unreadable JSON"):
        client.request_json("GET", "orders")
    assert len(server.received) == 2


# -- permanent: fail at once with a Resolution --------------------------------------------------------

def test_401_is_an_auth_error_saying_check_the_credentials(server, connect):
    server(Answer(401, {"error": {"message": "Unauthenticated."}}))
    client = connect()
    with pytest.raises(AuthError) as err:
        client.request("GET", "orders")
    assert isinstance(err.value, Permanent) and err.value.status_code == 401
    assert f"Resolution: check login/password of connection {CONN_ID}" in str(err.value)
    assert len(server.received) == 1


def test_403_naming_missing_permissions_says_to_grant_them(server, connect):
    # plentymarkets (B3): the user is known, but may not call this route.
    server(Answer(403, {"error": {"message": "This action is unauthorized.",
                                  "missing_permissions": ["order.show", "order.edit"]}}))
    client = connect()
    with pytest.raises(AuthError) as err:
        client.request("PUT", "rest/orders/7", json={"statusId": 5.1})
    message = str(err.value)
    assert "order.show" in message and "order.edit" in message
    resolution = message.split("Resolution:", 1)[1]
    assert "grant" in resolution and "unit-user" in resolution and CONN_ID in resolution
    assert "password" not in resolution  # the credentials are fine: a new password would not help


def test_403_without_missing_permissions_still_points_at_the_credentials(server, connect):
    server(Answer(403, "Forbidden"))
    with pytest.raises(AuthError, match="check login/password"):
        connect().request("GET", "orders")


@pytest.mark.parametrize("status", [404, 405, 410])
def test_404_405_410_is_a_broken_endpoint_not_a_refused_payload(server, connect, status):
    server(Answer(status, "Not Found"))
    client = connect(extra={"api_path": "/api/v9"})
    with pytest.raises(EndpointNotFound) as err:
        client.request("POST", "mark_exported", data={"ci_lineitem_ids": "[1]"})
    assert isinstance(err.value, Permanent) and not isinstance(err.value, InvalidPayload)
    message = str(err.value)
    assert f"HTTP {status}" in message and "/api/v9/mark_exported" in message
    assert "Resolution:" in message and "api_path" in message and CONN_ID in message
    assert len(server.received) == 1  # never retried


@pytest.mark.parametrize("status", [400, 409, 413, 422])
def test_other_4xx_are_invalid_payload(server, connect, status):
    server(Answer(status, {"error": {"message": "validation error found"},
                           "validation_errors": {"statusId": ["invalid"]}}))
    client = connect()
    with pytest.raises(InvalidPayload) as err:
        client.request("PUT", "rest/orders/7", external_id="7", json={"statusId": "x"})
    assert err.value.status_code == status and err.value.external_id == "7"
    assert "validation_errors" in str(err.value) and len(server.received) == 1


# -- text, secrets, headers -------------------------------------------------------------------------

def test_charset_less_text_json_is_read_as_utf8(server, connect):
    text = "Schloßallee 5, Őrház utca, Алексей Смирнов \U0001F381"
    server(Answer(200, json.dumps({"name": text}, ensure_ascii=False).encode("utf-8"),
                  headers={"Content-Type": "text/json"}))
    assert connect().request_json("GET", "get_orders") == {"name": text}


def test_secrets_are_masked_in_errors(server, connect):
    # Groupon sends its token as a parameter; a server may echo the request back in its error.
    server(Answer(400, f"bad request: supplier_id=1&token={PASSWORD}"))
    client = connect()
    with pytest.raises(InvalidPayload) as err:
        client.request("GET", "get_orders", params={"supplier_id": "1", "token": PASSWORD})
    assert PASSWORD not in str(err.value) and "token=***" in str(err.value)
    assert f"token={PASSWORD}" in server.received[0].path  # it did travel, as the API wants


def test_secrets_are_masked_in_errors_about_the_connection(server, connect):
    server(Answer(200, {"x": 1}, delay=1.0))
    client = connect(extra={"timeout": 0.2}, max_attempts=1)
    with pytest.raises(Retryable) as err:
        client.request("GET", f"get_orders/{PASSWORD}")
    assert PASSWORD not in str(err.value)


def test_no_connection_extra_is_sent_as_a_header(server, connect):
    # HttpHook.get_conn copies every extra into the session headers; the settings are removed again.
    extra = {"timeout": 5, "rate_per_second": 100, "max_retry_after": 60}
    client = connect(extra=extra)
    client.request("GET", "orders", headers={"api-token": "per-request"})
    headers = {k.lower(): v for k, v in server.received[0].headers.items()}
    leaked = {k for k in {**extra, "api_path": "/api/v1"} if k.lower() in headers}
    assert leaked == set(), f"extras sent as headers: {leaked}"
    assert headers["user-agent"].startswith("python-requests/")  # the session's own headers stay
    assert headers["api-token"] == "per-request"  # what a client sets itself is sent


def test_an_extra_the_client_does_not_read_is_refused_before_any_request(server, connect):
    with pytest.raises(SettingsError, match="extra client_secret is not .*extra seller_id is not") as err:
        connect(extra={"client_secret": "do-not-send", "seller_id": "S1", "X-Custom-Id": "abc"})
    assert "do-not-send" not in str(err.value) and "X-Custom-Id" in str(err.value)
    assert server.received == []


class VersionedClient(ChannelClient):
    header_extras = frozenset({"X-Api-Version"})


def test_an_extra_the_client_names_as_a_header_is_sent(server, connect):
    client = connect(VersionedClient, extra={"X-Api-Version": "2024-01", "timeout": 5})
    client.request("GET", "orders")
    headers = {k.lower(): v for k, v in server.received[0].headers.items()}
    assert headers["x-api-version"] == "2024-01" and "timeout" not in headers


# -- closing a client: one attempt, never raises ------------------------------------------------------

def plenty(connect):
    return connect(PlentyClient, extra={"api_path": ""}, max_attempts=4)


@pytest.mark.parametrize("logout", [Answer(500, "down"), Answer(429, headers={"Retry-After": "30"}),
                                    Answer(200, "x" * 100, cut=True), Answer(401, "expired")],
                         ids=["5xx", "429", "reset", "401"])
def test_logout_is_one_attempt_and_never_raises_from_exit(server, connect, caplog, logout):
    server(Answer(200, {"access_token": "tok-" + PASSWORD}), Answer(200, {"entries": []}), logout)
    client = plenty(connect)
    with caplog.at_level(logging.WARNING), client:
        client.call("GET", "rest/orders")
    assert [r.path for r in server.received] == ["/rest/login", "/rest/orders", "/rest/logout"]
    assert client.slept == []  # no backoff, no Retry-After wait on the way out
    assert client._token is None
    assert PASSWORD not in caplog.text and "tok-" not in caplog.text


def test_an_error_inside_the_block_is_not_replaced_by_a_failed_logout(server, connect):
    server(Answer(200, {"access_token": "tok"}), Answer(404, "no such route"), Answer(503, "down"))
    client = plenty(connect)
    with pytest.raises(EndpointNotFound), client:
        client.call("GET", "rest/ordres")
    assert [r.path for r in server.received][-1] == "/rest/logout"
    assert len(server.received) == 3


def test_a_spent_plenty_call_budget_is_waited_out_with_progress_in_the_log(server, connect, progress):
    spent = {"X-Plenty-Global-Long-Period-Calls-Left": "1", "X-Plenty-Global-Long-Period-Decay": "70"}
    server(Answer(200, {"access_token": "tok"}), Answer(200, {"entries": []}, headers=spent),
           Answer(200, {"entries": []}))
    client = plenty(connect)
    client.call("GET", "rest/orders")
    assert client.slept == [30.0, 30.0, 10.0] and client.stats["budget_waits"] == 1
    lines = progress
    assert [line.rsplit(": waiting, ", 1)[1] for line in lines] == ["70 s of 70 s left", "40 s of 70 s left",
                                                                   "10 s of 70 s left"]
    assert lines[0].startswith("plentymarkets/unit: call budget X-Plenty-Global-Long-Period spent (1 call left)")
