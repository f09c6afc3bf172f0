"""Secrets never leak: not into task logs, not into ``raw``, not into error messages or history.

Real DAG runs with distinctive secrets, made to fail in the ways that print the most (connections
reset, timeouts, refused credentials), then every log line and every stored text is searched.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from chaos_support import channel_fixture  # noqa: F401 (fixture `channel`)

from conftest import REPO
from orderbridge_chaos.run import ANCHOR, compress_retries, set_faults

SECRET = "s3cr3t-0bvious-Marker-4711"


def stored_texts(conn) -> str:
    with conn.cursor() as cur:
        cur.execute("""SELECT coalesce(string_agg(payload::text, ' '), '') FROM raw.orders""")
        raw = cur.fetchone()[0]
        cur.execute("""SELECT coalesce(string_agg(concat_ws(' ', message, detail::text), ' '), '')
                       FROM staging.order_events""")
        events = cur.fetchone()[0]
        cur.execute("""SELECT coalesce(string_agg(concat_ws(' ', last_error, result::text, payload::text), ' '), '')
                       FROM staging.outbox""")
        outbox = cur.fetchone()[0]
    conn.rollback()
    return " ".join((raw, events, outbox))


# The bearer tokens the plentymarkets sandbox hands out look like JWTs (base64 JSON: "eyJ...").
TOKEN_MARK = "eyJ"


def cached_tokens(conn, client_secret: str) -> list[str]:
    """The OAuth access tokens staging caches (Octopia), decrypted as a worker would: each must
    stay out of logs and stored texts, and the cache must hold none of them in plain text."""
    from orderbridge.channels.octopia.auth import fernet_for

    with conn.cursor() as cur:
        cur.execute("SELECT token_key, token FROM staging.oauth_tokens WHERE token IS NOT NULL")
        rows = cur.fetchall()
    conn.rollback()
    tokens = [fernet_for(client_secret, key).decrypt(bytes(token)).decode() for key, token in rows]
    assert all(t.encode() not in bytes(token) for t, (_key, token) in zip(tokens, rows, strict=True))
    return tokens


@pytest.mark.slow
@pytest.mark.parametrize("channel", ["groupon", "plentymarkets", "octopia", "shoprenter"], indirect=True)
def test_secrets_stay_out_of_task_logs_raw_and_errors(channel, conn, airflow_db, monkeypatch, capfd, caplog):
    from airflow.dag_processing.dagbag import DagBag

    adapter, sandbox = channel
    for name, value in adapter.env(sandbox, secret=SECRET).items():
        monkeypatch.setenv(name, value)
    sandbox_secret = adapter.connection(sandbox)["password"]
    dag = DagBag(dag_folder=str(REPO / "dags")).get_dag(adapter.dag_id)
    compress_retries(dag, delay=0.2)
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    # 1. Wrong credentials (our secret is refused): the task fails at once, saying why.
    refused = dag.test(logical_date=ANCHOR)
    assert str(refused.state) == "failed"
    # 2. The right secret, and every request dropped or too slow: errors carry the URL's context.
    for name, value in adapter.env(sandbox, secret=sandbox_secret).items():
        monkeypatch.setenv(name, value)
    # On the order reads: a lost answer to plentymarkets' login would hold one of its three sessions
    # until the token expires, and three of them lock the user out (see README, plentymarkets).
    set_faults(sandbox, [{"channel": adapter.channel, "kind": "reset", "times": 3, "match": adapter.orders_route},
                         {"channel": adapter.channel, "kind": "cut", "times": 3, "match": adapter.orders_route}])
    dag.test(logical_date=ANCHOR + timedelta(minutes=10))
    set_faults(sandbox, [])
    ok = dag.test(logical_date=ANCHOR + timedelta(minutes=20))
    assert str(ok.state) == "success"
    out = capfd.readouterr()
    logs = out.out + out.err + caplog.text
    assert "credentials" in logs or "refused" in logs
    tokens = cached_tokens(conn, sandbox_secret)
    assert bool(tokens) == (adapter.channel == "octopia")  # the one channel whose token staging shares
    for secret in (SECRET, sandbox_secret, TOKEN_MARK, *tokens):
        assert secret not in logs, f"{secret[:6]}... leaked into a task log"
        assert secret not in stored_texts(conn), f"{secret[:6]}... stored in raw/staging"


@pytest.mark.parametrize("channel", ["plentymarkets"], indirect=True)
def test_plenty_password_and_token_stay_out_of_logs_raw_and_errors(channel, conn, monkeypatch, caplog):
    from orderbridge.errors import AuthError

    adapter, sandbox = channel
    with conn.cursor() as cur:
        adapter.seed_warehouse(cur)
    conn.commit()
    right = adapter.connection(sandbox)["password"]
    for name, value in adapter.env(sandbox, secret=SECRET).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(AuthError) as refused:
        adapter.steps()["extract_orders"]("run-0")
    assert SECRET not in str(refused.value) and "Resolution" in str(refused.value)
    for name, value in adapter.env(sandbox).items():
        monkeypatch.setenv(name, value)
    set_faults(sandbox, [{"channel": adapter.channel, "kind": "cut", "times": 1},
                         {"channel": adapter.channel, "kind": "reset", "times": 1}])
    for step in adapter.steps().values():
        step("run-1")
    for secret in (SECRET, right, TOKEN_MARK):
        assert secret not in caplog.text
        assert secret not in stored_texts(conn)
