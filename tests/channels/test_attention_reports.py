"""Tasks say what they left for a person (WARNING lines and counts), and a DAG's callback sends it to
a webhook when the deployment asks for one (nothing otherwise)."""

from __future__ import annotations

import email
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from orderbridge import staging, steps
from orderbridge.channels.base import Run, Task
from orderbridge.channels.plentymarkets.mapping import PlentyMapper
from orderbridge.channels.registry import get
from orderbridge.config import Account
from orderbridge.dagkit import AttentionNotifier

ACCOUNT = Account("plentymarkets", "acct", "orderbridge_plentymarkets_acct")


def payload(order_id: int, sku: str) -> dict:
    return {"id": order_id, "typeId": 1, "statusId": 5, "createdAt": "2026-11-20T10:15:00+01:00",
            "addressRelations": [{"typeId": 2, "addressId": 1}],
            "addresses": [{"id": 1, "name2": "Max", "name3": "Müller", "address1": "Hauptstr. 5",
                           "postalCode": "10115", "town": "Berlin", "countryId": 1}],
            "orderItems": [{"id": order_id * 10, "typeId": 1, "quantity": 1, "variation": {"id": 1, "number": sku},
                            "amounts": [{"priceGross": 5}]}]}


def land_and_load(conn, run_id: str, *payloads: dict) -> dict:
    with conn.cursor() as cur:
        staging.land_raw(cur, "plentymarkets", ACCOUNT.name, [(str(p["id"]), p) for p in payloads], run_id)
    conn.commit()
    task = Task("load_staging", lambda channel, account, run: steps.load_staging(account, PlentyMapper(), run.run_id),
                "load")
    return steps.run_task(task, get("plentymarkets"), ACCOUNT, Run(run_id))


@pytest.fixture
def warnings():
    """WARNING lines of ``orderbridge.attention``, read straight from its logger (Airflow's logging
    set-up may have re-routed the root logger that caplog listens to)."""
    lines: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("orderbridge.attention")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


@pytest.fixture
def held(conn):
    """Seven orders held for an unknown SKU and one for a bad address, raised by run-1."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO staging.products (sku, name) VALUES ('WH-1001', 'Mug')")
        cur.execute("INSERT INTO staging.stock_levels (sku, warehouse, on_hand) VALUES ('WH-1001', 'main', 50)")
    conn.commit()
    bad_address = payload(99, "WH-1001")
    bad_address["addresses"][0]["postalCode"] = ""
    return land_and_load(conn, "run-1", *(payload(i, f"PL-NEW-{i}") for i in range(1, 8)), bad_address)


def test_a_task_logs_one_warning_per_new_reason_and_returns_the_counts(conn, warnings):
    result = land_and_load(conn, "run-2", *(payload(i, f"PL-NEW-{i}") for i in range(20, 23)))
    assert result["attention_awaiting_mapping"] == 3 and "attention_invalid_address" not in result
    [line] = warnings
    assert line.startswith("load_staging plentymarkets/acct: 3 order(s) need a person, reason awaiting_mapping")
    assert line.endswith("e.g. 20, 21, 22. See staging.attention.")


def test_the_warning_names_at_most_five_examples(conn, warnings):
    result = land_and_load(conn, "run-1", *(payload(i, f"PL-NEW-{i}") for i in range(1, 8)))
    assert result["attention_awaiting_mapping"] == 7
    [line] = warnings
    assert "7 order(s) need a person" in line and "e.g. (first 5) 1, 2, 3, 4, 5. See" in line


def test_an_order_still_held_is_not_new_again(conn, held, warnings):
    result = land_and_load(conn, "run-2")
    assert not [k for k in result if k.startswith("attention_")] and warnings == []


class Hook:
    """A loopback webhook that records what it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(monkeypatch):
    server = Hook()
    monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_ATTENTION_HOOK", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": server.port, "schema": "http"}))
    yield server
    server.close()


def callback(run_id: str) -> None:
    """What the DAG processor does after a run of plentymarkets_acct. The context's DAG is a stand-in
    with no template environment, as the SerializedDAG ``airflow dags test`` hands over."""
    AttentionNotifier("plentymarkets", "acct")({"dag_run": SimpleNamespace(run_id=run_id, dag_id="plentymarkets_acct"),
                                                "dag": SimpleNamespace(dag_id="plentymarkets_acct")})


def test_the_webhook_notifier_posts_the_runs_new_attention(held, hook, monkeypatch):
    monkeypatch.setenv("AIRFLOW__ORDERBRIDGE__ATTENTION_NOTIFY", "orderbridge_attention_hook")
    callback("run-1")
    [body] = hook.bodies
    assert body["dag_id"] == "plentymarkets_acct" and body["run_id"] == "run-1" and body["total"] == 8
    assert body["reasons"] == {"awaiting_mapping": {"count": 7, "examples": ["1", "2", "3", "4", "5"]},
                               "invalid_address": {"count": 1, "examples": ["99"]}}
    assert "8 order(s) need a person" in body["text"]
    callback("run-other")  # a run that raised nothing sends nothing
    assert len(hook.bodies) == 1


def test_no_notification_is_sent_by_default(held, hook):
    callback("run-1")
    assert hook.bodies == []


def test_the_smtp_notifier_mails_the_report_to_the_configured_recipients(held, monkeypatch):
    import asyncore  # the standard library's (3.11) loopback SMTP server; deprecated, enough for a test sink
    import smtpd

    mails: list[tuple[list[str], str]] = []

    class Sink(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            mails.append((rcpttos, data.decode() if isinstance(data, bytes) else data))

    sink = Sink(("127.0.0.1", 0), None)
    loop = threading.Thread(target=asyncore.loop, kwargs={"timeout": 0.05}, daemon=True)
    loop.start()
    try:
        monkeypatch.setenv("AIRFLOW_CONN_ORDERBRIDGE_ATTENTION_MAIL", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": sink.socket.getsockname()[1],
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "orderbridge@example.org"}}))
        monkeypatch.setenv("AIRFLOW__ORDERBRIDGE__ATTENTION_NOTIFY", "orderbridge_attention_mail")
        monkeypatch.setenv("AIRFLOW__ORDERBRIDGE__ATTENTION_EMAIL_TO", "ops@example.org, lead@example.org")
        callback("run-1")
    finally:
        sink.close()
        loop.join(timeout=5)
    [(to, text)] = mails
    mail = email.message_from_string(text)
    html = "".join(part.get_payload(decode=True).decode() for part in mail.walk()
                   if part.get_content_type() == "text/html")
    assert to == ["ops@example.org", "lead@example.org"]
    assert mail["Subject"] == "orderbridge: 8 order(s) need a person (plentymarkets_acct)"
    assert "awaiting_mapping: 7 (e.g. 1, 2, 3, 4, 5)" in html and "invalid_address: 1 (e.g. 99)" in html


def test_every_dag_reports_after_each_run_failed_or_not():
    from orderbridge.dagkit import channel_dag

    dag = channel_dag(get("plentymarkets"), ACCOUNT)
    for callbacks in (dag.on_success_callback, dag.on_failure_callback):
        [notifier] = callbacks if isinstance(callbacks, list) else [callbacks]
        assert isinstance(notifier, AttentionNotifier) and (notifier.channel, notifier.account) == \
            ("plentymarkets", "acct")
