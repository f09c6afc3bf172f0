"""After each DAG run: what it left for a person, sent where the deployment says (off by default).

Configured per deployment with Airflow options (``airflow.cfg`` or the environment):

- ``[orderbridge] attention_notify`` (``AIRFLOW__ORDERBRIDGE__ATTENTION_NOTIFY``): the id of an
  Airflow connection. An ``http`` connection is a webhook: the report is POSTed to its URL as JSON.
  An ``smtp`` connection sends it by e-mail with the SMTP provider's ``SmtpNotifier`` to
  ``[orderbridge] attention_email_to`` (comma-separated). Unset or empty: nothing is sent.

The report counts the attention rows the run raised that are still open, per reason, with up to
five example orders each (``attention.raised_since``). A run that raised none sends nothing.
"""

from __future__ import annotations

import logging
from contextlib import closing

from orderbridge import attention

log = logging.getLogger(__name__)

SECTION, OPTION, EMAIL_TO = "orderbridge", "attention_notify", "attention_email_to"


def _option(name: str) -> str:
    from airflow.sdk import conf

    return (conf.get(SECTION, name, fallback="") or "").strip()


def report(channel: str, account: str, dag_id: str, run_id: str) -> dict | None:
    """The run's new attention, as sent; None when it raised nothing still open."""
    from orderbridge.steps import staging_connection

    with closing(staging_connection()) as conn, conn.cursor() as cur:
        new = attention.raised_since(cur, channel, account, None, run_id)
    if not new:
        return None
    total = sum(n for n, _examples in new.values())
    lines = [f"{reason}: {n} order(s), e.g. {', '.join(examples)}" for reason, (n, examples) in new.items()]
    return {"dag_id": dag_id, "run_id": run_id, "channel": channel, "account": account, "total": total,
            "reasons": {reason: {"count": n, "examples": examples} for reason, (n, examples) in new.items()},
            "text": f"{dag_id} run {run_id}: {total} order(s) need a person (see staging.attention). "
                    + "; ".join(lines)}


def send_new_attention(channel: str, account: str, context) -> dict | None:
    """Send the run's report where ``[orderbridge] attention_notify`` points; returns what was sent."""
    conn_id = _option(OPTION)
    if not conn_id:
        return None
    run = context["dag_run"]
    body = report(channel, account, getattr(run, "dag_id", None) or f"{channel}_{account}", run.run_id)
    if body is None:
        return None
    from airflow.sdk import BaseHook

    conn_type = (BaseHook.get_connection(conn_id).conn_type or "").lower()
    if conn_type in ("smtp", "email"):
        _email(conn_id, body, context)
    else:
        from airflow.providers.http.hooks.http import HttpHook

        HttpHook(method="POST", http_conn_id=conn_id).run(json=body)
    log.info("attention report for %s sent through %s: %s", body["dag_id"], conn_id, body["text"])
    return body


def _email(conn_id: str, body: dict, context) -> None:
    from html import escape

    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = [a.strip() for a in _option(EMAIL_TO).split(",") if a.strip()]
    if not to:
        raise ValueError(f"[{SECTION}] {EMAIL_TO} is empty: the attention report through {conn_id} has no "
                         f"recipient. Resolution: set AIRFLOW__ORDERBRIDGE__ATTENTION_EMAIL_TO.")
    items = "".join(f"<li>{escape(r)}: {v['count']} (e.g. {escape(', '.join(v['examples']))})</li>"
                    for r, v in body["reasons"].items())
    SmtpNotifier(to=to, smtp_conn_id=conn_id, subject=f"orderbridge: {body['total']} order(s) need a person "
                 f"({body['dag_id']})", html_content=f"<p>{escape(body['text'])}</p><ul>{items}</ul>").notify(
        # The text is final: without the DAG it renders in a plain Jinja environment (the SerializedDAG
        # `airflow dags test` passes has no template environment of its own).
        {key: value for key, value in context.items() if key != "dag"})
