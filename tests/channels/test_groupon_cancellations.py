"""Groupon lines cancelled or refunded after we exported them, and the merchant's options (issue 17).

A scheduled run reads the unexported queue, which never offers an exported order again; the
look-back re-reads the last days by date window (groupon-api.md §3.1: a window returns exported
orders too, with their lines' statuses now). These tests cancel lines in the sandbox after export,
as the customer or Groupon would, and run the real tasks over HTTP into a real PostgreSQL.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from groupon_support import ACCOUNT, SUPPLIER, TOKEN, control, cycle, rows, use_sandbox
from orderbridge_sandbox.process import start_sandbox
from orderbridge_sandbox.warehouse import ship_some

PAGE = 4


def _start(monkeypatch, orders: int, **extra):
    # No --anchor: orders are dated over the two days before now, inside the look-back.
    proc = start_sandbox(["--seed", "17", "--groupon", f"{SUPPLIER}:{TOKEN}:{orders}", "--groupon-page-size",
                          str(PAGE), "--days", "2", "--groupon-split-rate", "0", "--groupon-cancel-rate", "0"])
    use_sandbox(monkeypatch, proc.port, **extra)
    return proc


def ready_orders(conn) -> dict[str, list[str]]:
    """Ready staging orders -> their channel line ids."""
    found: dict[str, list[str]] = {}
    for ext, line in rows(conn, """SELECT o.external_order_id, l.channel_line_id FROM staging.orders o
                                   JOIN staging.order_lines l ON l.order_id = o.id AND l.component = 0
                                   WHERE o.status = 'ready' ORDER BY o.id, l.channel_line_id"""):
        found.setdefault(ext, []).append(line)
    return found


def line_state(conn, line: str) -> tuple:
    return rows(conn, """SELECT o.status, l.status, l.channel_status FROM staging.order_lines l
                         JOIN staging.orders o ON o.id = l.order_id WHERE l.channel_line_id = %s""", line)[0]


def test_a_line_cancelled_after_export_before_picking_is_cancelled_in_staging_and_never_tracked(warehouse,
                                                                                                 monkeypatch):
    with _start(monkeypatch, 10) as sandbox:
        orderid = control(sandbox, "state")["orders"][0]["orderid"]
        two = control(sandbox, f"orders/{orderid}/split", {"lines": 2})["entry"]  # an entry of two lines
        cycle("run-1")
        st = control(sandbox, "state")
        assert st["totals"]["exported_lines"] == st["totals"]["lines"]  # the queue is empty now
        ready = ready_orders(warehouse)
        kept, dropped = (str(li["ci_lineitemid"]) for li in two["line_items"])
        assert any(set(lines) == {kept, dropped} for lines in ready.values())
        whole = next(lines[0] for lines in ready.values() if len(lines) == 1)

        control(sandbox, f"lines/{dropped}/status", {"status": "cancelled"})  # the customer, after export
        control(sandbox, f"lines/{whole}/status", {"status": "refunded"})     # Groupon refunds a one-line order
        second = cycle("run-2")
        assert second["extract"]["payloads"] == 0 and second["extract"]["lookback"] > 0

        assert line_state(warehouse, dropped) == ("ready", "cancelled", "cancelled")
        assert line_state(warehouse, kept) == ("ready", "open", "open")
        assert line_state(warehouse, whole) == ("cancelled", "cancelled", "refunded")
        events = rows(warehouse, "SELECT event, detail FROM staging.order_events WHERE event IN"
                                 " ('lines_cancelled', 'status_changed')")
        assert sorted((e, str(d.get("lines") or d.get("to"))) for e, d in events) == sorted([
            ("lines_cancelled", str([dropped])), ("lines_cancelled", str([whole])), ("status_changed", "cancelled")])

        # The warehouse ships every ready order: the cancelled line gets no tracking, the other does.
        with warehouse.cursor() as cur:
            assert ship_some(cur, "groupon", ACCOUNT.name, share=1.0) > 0
        warehouse.commit()
        third = cycle("run-3")
        assert third["tracking"]["sent_rejected"] == 0
        tracked = {line["ci_lineitemid"]: line["tracking"] for o in control(sandbox, "state")["orders"]
                   for e in o["entries"] for line in e["lines"]}
        assert tracked[int(kept)] and not tracked[int(dropped)] and not tracked[int(whole)]
        assert not rows(warehouse, "SELECT 1 FROM staging.outbox WHERE kind = 'tracking'"
                                   " AND payload->>'ci_lineitem_id' IN (%s, %s)", dropped, whole)


def test_a_line_cancelled_after_picking_started_flags_the_order_cancel_after_pick(warehouse, monkeypatch):
    with _start(monkeypatch, 6) as sandbox:
        cycle("run-1")
        ext, lines = next(iter(ready_orders(warehouse).items()))
        with warehouse.cursor() as cur:
            cur.execute("UPDATE staging.orders SET status = 'in_progress' WHERE external_order_id = %s", (ext,))
        warehouse.commit()
        control(sandbox, f"lines/{lines[0]}/status", {"status": "cancelled"})

        cycle("run-2")
        status, attention = rows(warehouse, "SELECT status, attention FROM staging.orders"
                                            " WHERE external_order_id = %s", ext)[0]
        assert status == "in_progress"  # the warehouse owns it: nothing of it is rewritten
        assert line_state(warehouse, lines[0])[1] == "open"
        assert lines[0] in attention and "after the warehouse started" in attention and "Resolution" in attention
        events = rows(warehouse, "SELECT detail FROM staging.order_events WHERE event = 'cancel_refused'"
                                 " AND external_order_id = %s", ext)
        assert [d for (d,) in events] == [{"status": "in_progress", "reason": "cancel_after_pick",
                                           "lines": [lines[0]]}]
        cycle("run-3")  # seen again, flagged once
        assert len(rows(warehouse, "SELECT 1 FROM staging.order_events WHERE event = 'cancel_refused'")) == 1


def test_the_lookback_is_bounded_days_times_24_hour_slices_times_pages(warehouse, monkeypatch):
    days, orders = 2, 30
    with _start(monkeypatch, orders, lookback_days=days) as sandbox:
        before = datetime.now().astimezone()
        cycle("run-1")
        reads = control(sandbox, "state")["window_reads"]
        windows = sorted({(r["start"], r["end"]) for r in reads})
        assert len(windows) == days
        spans = [(datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in windows]
        assert all(b - a == timedelta(hours=24) for a, b in spans)  # each request within Groupon's limit
        assert all(spans[i][1] == spans[i + 1][0] for i in range(days - 1))  # contiguous
        assert spans[-1][1] >= before  # up to now
        # Every page of every slice read once: no more requests than that.
        for window in windows:
            pages = [r for r in reads if (r["start"], r["end"]) == window]
            assert sorted(r["page"] for r in pages) == list(range(1, max(1, pages[0]["no_of_pages"]) + 1))
        assert len(reads) <= days * math.ceil(orders / PAGE)
        # What the run asked Groupon for in all: the queue's pages and the look-back's, nothing else.
        queue = math.ceil(control(sandbox, "state")["totals"]["entries"] / PAGE)
        assert control(sandbox, "state")["requests"]["get_orders"] == {"200": queue + len(reads)}


def test_lookback_days_zero_reads_no_window(warehouse, monkeypatch):
    with _start(monkeypatch, 5, lookback_days=0) as sandbox:
        assert cycle("run-1")["extract"]["lookback"] == 0
        assert control(sandbox, "state")["window_reads"] == []


def test_an_account_that_does_not_mark_exported_stages_each_order_once_and_sends_nothing(warehouse, monkeypatch):
    with _start(monkeypatch, 9, mark_exported=False) as sandbox:
        entries = control(sandbox, "state")["totals"]["entries"]
        first = cycle("run-1")
        assert first["extract"]["payloads"] == entries and first["load"]["inserted"] == entries
        for run in ("run-2", "run-3"):
            again = cycle(run)
            # The queue offers every order again (nothing was marked): landed and loaded once only.
            assert again["extract"]["payloads"] == entries and again["extract"]["new_payloads"] == 0
            assert again["load"]["inserted"] == again["load"]["updated"] == 0 and again["mark"]["claimed"] == 0
        assert rows(warehouse, "SELECT count(*), count(DISTINCT external_order_id) FROM staging.orders") \
            == [(entries, entries)]
        assert rows(warehouse, "SELECT count(*) FROM raw.orders") == [(entries,)]
        assert rows(warehouse, "SELECT count(*) FROM staging.outbox WHERE kind = 'mark_exported'") == [(0,)]
        st = control(sandbox, "state")
        assert st["totals"]["exported_lines"] == 0 and "mark_exported" not in st["requests"]
