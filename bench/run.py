"""`make bench`: staging load vs COPY vs dlt, rerun writes, peak memory, DAG parse and import time.

Usage: .venv/bin/python bench/run.py [--n 10000 --n 100000] [--channel groupon ...] [--no-dlt]
Needs the checkout's PostgreSQL up (scripts/pg.sh up; `make bench` does it). Recreates the
database orderbridge_bench. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
DB = "orderbridge_bench"
DLT_PY = REPO / ".venv-bench-dlt" / "bin" / "python"
REFERENCE = "groupon"  # the channel whose rows the COPY and dlt references load
TABLES = "orders, order_lines, order_events, outbox, channel_products"


def pg_url(db: str) -> str:
    return subprocess.run([str(REPO / "scripts" / "pg.sh"), "url", db], check=True, capture_output=True,
                          text=True).stdout.strip()


def child(args: list[str], python: str = sys.executable, timeout: float = 1800) -> dict:
    proc = subprocess.run([python, str(BENCH / "_measure.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh_database(channels: list[str]) -> str:
    import psycopg2

    admin = psycopg2.connect(pg_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB}")
    admin.close()
    dsn = pg_url(DB)
    from orderbridge import db
    from orderbridge_sandbox.warehouse import seed_catalogue

    db.migrate(dsn)
    conn = db.connect(dsn)
    with conn.cursor() as cur:
        for channel in channels:
            if channel != "merkana":  # its merchant's catalogue comes with its run (sandbox.merkana.seed_warehouse)
                seed_catalogue(cur, channel)
    conn.commit()
    conn.close()
    return dsn


def dag_parse_time() -> dict:
    code = (
        "import time, json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "t = time.perf_counter()\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "s = time.perf_counter() - t\n"
        "print(json.dumps({'parse_s': s, 'dags': len(bag.dags), 'errors': len(bag.import_errors),"
        " 'files': len(bag.dagbag_stats), 'error_text': list(bag.import_errors.values())[:1]}))\n"
    )
    imp = ("import time, json\nt = time.perf_counter()\n"
           "import orderbridge.staging, orderbridge.channels.groupon.mapping\n"
           "print(json.dumps({'import_s': time.perf_counter() - t}))\n")
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
                   ORDERBRIDGE_ACCOUNTS=str(REPO / "config" / "accounts.yaml"))
        out = {}
        for script in (code, imp):
            proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO,
                                  timeout=300)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-2000:])
            out.update(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def machine() -> dict:
    mem = 0.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) / 1024 / 1024
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    import psycopg2

    with psycopg2.connect(pg_url("postgres")) as conn, conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pgv = cur.fetchone()[0]
        cur.execute("SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'shared_buffers')")
        settings = dict(cur.fetchall())
    return {"cores": os.cpu_count(), "mem_gib": mem, "cpu": cpu, "python": platform.python_version(),
            "postgres": pgv, "pg_settings": settings, "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def fmt(x, spec=",.0f") -> str:
    return "n/a" if x is None else format(x, spec)


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else 0.0


def build_report(m: dict, res: dict, refs: dict, dags: dict, missing: dict, total_s: float) -> tuple[str, list]:
    rows, chart = [], []
    for n in sorted(res):
        for channel, r in res[n].items():
            if r.get("error"):
                rows.append((n, f"{channel}: ERROR", "", "", "", r["error"].splitlines()[-1][:100]))
                continue
            if "transform" not in r:  # Merkana: its orders are pushed to our endpoint, one call each
                c, ag = r["cycle"], r["again"]
                rows.append((n, f"{channel}: full cycle (platform -> our endpoint, one order a call -> raw + "
                                "staging)", f"{c['wall_s']:.1f} s", fmt(rate(c["orders"], c["wall_s"])),
                             fmt(rate(c["orders"] + c["lines"], c["wall_s"])),
                             f"CPU: endpoint {c['endpoint_cpu_s']:.1f} s, platform {c['sandbox_cpu_s']:.1f} s"))
                rows.append((n, f"{channel}: the same orders sent again", f"{ag['wall_s']:.1f} s",
                             fmt(rate(ag["orders"], ag["wall_s"])), "", f"rows written: {ag['rows_written']}"))
                rows.append((n, f"{channel}: peak RSS of the endpoint process", f"{r['peak_rss_mb']:.0f} MiB", "", "",
                             ""))
                chart.append({"n": n, "method": f"{channel}\nfull cycle", "ops": rate(c["orders"], c["wall_s"])})
                continue
            c, tr, ld, ag = r["cycle"], r["transform"], r["load"], r["again"]
            load_rps = rate(ld["rows"], ld["wall_s"])
            rows.append((n, f"{channel}: full cycle (sandbox -> HTTP -> raw -> staging)", f"{c['wall_s']:.1f} s",
                         fmt(rate(c["orders"], c["wall_s"])), fmt(rate(c["orders"] + c["lines"], c["wall_s"])), ""))
            rows.append((n, f"{channel}: transform (read raw, map, load)", f"{tr['wall_s']:.1f} s",
                         fmt(rate(tr["orders"], tr["wall_s"])), fmt(rate(tr["rows"], tr["wall_s"])), ""))
            note = (f"writes {ld['rows_all_tables']:,} rows in 5 tables; CPU: ours {ld['client_cpu_s']:.1f} s, "
                    f"PostgreSQL {ld['server_cpu_s']:.1f} s")
            rows.append((n, f"{channel}: **staging load alone** (`load_orders`)", f"{ld['wall_s']:.1f} s",
                         fmt(rate(ld["orders"], ld["wall_s"])), fmt(load_rps), note))
            chart += [{"n": n, "method": f"{channel}\nfull cycle", "ops": rate(c["orders"], c["wall_s"])},
                      {"n": n, "method": f"{channel}\ntransform", "ops": rate(tr["orders"], tr["wall_s"])},
                      {"n": n, "method": f"{channel}\nload alone", "ops": rate(ld["orders"], ld["wall_s"])}]
            if channel == REFERENCE and n in refs:
                ref = refs[n]
                cp = ref.get("copy")
                if cp:
                    for key, label in (("plain_s", "reference: plain COPY of the same rows (no index)"),
                                       ("same_rows_indexed_s", "reference: COPY of the same rows into copies of "
                                                               "staging.orders/order_lines (indexes, FK)"),
                                       ("all_rows_indexed_s", "reference: COPY of every row the load writes "
                                                              "(+ events, outbox) into such copies")):
                        ref_rps = rate(cp["rows"], cp[key])
                        rows.append((n, label, f"{cp[key]:.1f} s", fmt(rate(cp["orders"], cp[key])), fmt(ref_rps),
                                     f"load / this = {load_rps / ref_rps:.2f}x"))
                    chart.append({"n": n, "method": "plain COPY\n(no index)", "ops": rate(cp["orders"], cp["plain_s"])})
                    chart.append({"n": n, "method": "COPY, all rows\n(indexed copies)",
                                  "ops": rate(cp["orders"], cp["all_rows_indexed_s"])})
                dl = ref.get("dlt")
                if dl and cp:
                    dlt_rps = rate(cp["rows"], dl["first_s"])
                    rows.append((n, f"reference: dlt {dl.get('version', '')} merge of the same rows (first run)",
                                 f"{dl['first_s']:.1f} s", fmt(rate(cp["orders"], dl["first_s"])), fmt(dlt_rps),
                                 f"load / dlt = {load_rps / dlt_rps:.2f}x"))
                    rows.append((n, "reference: dlt merge, same rows again", f"{dl['second_s']:.1f} s", "", "",
                                 f"rows written: {fmt(dl['second_rows_written'])}"))
                    chart.append({"n": n, "method": "dlt\nmerge", "ops": rate(cp["orders"], dl["first_s"])})
                elif ref.get("dlt_error"):
                    rows.append((n, "reference: dlt merge", "not run", "", "", ref["dlt_error"][:80]))
            rows.append((n, f"{channel}: same window loaded again (transform)", f"{ag['wall_s']:.1f} s",
                         fmt(rate(ag["orders"], ag["wall_s"])), "",
                         f"rows written: {ag['rows_written']} (xmin changed: {ag['xmin_changed']})"))
            rows.append((n, f"{channel}: peak RSS of the worker process", f"{r['peak_rss_mb']:.0f} MiB", "", "", ""))
    rows.append(("-", f"DAG parse, all of dags/ ({dags.get('files', '?')} files, {dags.get('dags', '?')} DAGs)",
                 f"{dags.get('parse_s', float('nan')):.3f} s", "", "", f"import errors: {dags.get('errors')}"))
    rows.append(("-", "import orderbridge.staging, orderbridge.channels.groupon.mapping",
                 f"{dags.get('import_s', float('nan')):.3f} s",
                 "", "", ""))

    head = ("N", "what", "time / size", "orders/s", "rows/s", "ratio / note")
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]

    tg = []

    def target(name, ok, detail):
        tg.append(f"- **{'met' if ok else 'NOT met' if ok is False else 'not measured'}**: {name} ({detail})")

    ns = sorted(res)
    big_n, small_n = ns[-1], ns[0]
    big = res[big_n].get(REFERENCE, {})
    ld, cp, dl = big.get("load"), refs.get(big_n, {}).get("copy"), refs.get(big_n, {}).get("dlt")
    if ld and cp:
        ratio = rate(ld["rows"], ld["wall_s"]) / rate(cp["rows"], cp["plain_s"])
        floor = rate(cp["rows"], cp["same_rows_indexed_s"]) / rate(cp["rows"], cp["plain_s"])
        target("staging load >= 0.5x plain COPY rows/s", ratio >= 0.5,
               f"{ratio:.2f}x at N={big_n:,}; a bare COPY of the same rows into tables with staging's indexes "
               f"and foreign key reaches {floor:.2f}x, see below")
    else:
        target("staging load >= 0.5x plain COPY rows/s", None, "missing figures")
    if ld and dl and cp:
        ratio = rate(ld["rows"], ld["wall_s"]) / rate(cp["rows"], dl["first_s"])
        target("staging load >= 4x dlt merge", ratio >= 4, f"{ratio:.2f}x at N={big_n:,}")
    else:
        target("staging load >= 4x dlt merge", None, "dlt not measured")
    agains = {f"{ch} {n // 1000}k": r["again"]["rows_written"] for n in ns for ch, r in res[n].items() if "again" in r}
    target("second load of the same window writes 0 rows", bool(agains) and all(v == 0 for v in agains.values())
           or (False if agains else None), f"rows written: {agains}")
    for channel in res[big_n]:
        b, s = res[big_n][channel].get("peak_rss_mb"), res[small_n].get(channel, {}).get("peak_rss_mb")
        if b and s and big_n != small_n:
            target(f"{channel}: peak RSS at {big_n // 1000}k <= 1.5x at {small_n // 1000}k", b / s <= 1.5,
                   f"{s:.0f} -> {b:.0f} MiB, {b / s:.2f}x")
    if "parse_s" in dags:
        target("all DAG files parse in under 1 s", dags["parse_s"] < 1.0 and not dags.get("errors"),
               f"{dags['parse_s']:.3f} s for {dags.get('files')} files")
    c = big.get("cycle")
    if c:
        ours = c["land_raw_s"] + c["read_raw_s"] + c["map_s"] + c["load_orders_s"]
        share = c["http_wait_s"] / c["wall_s"]
        target(f"{REFERENCE} full cycle at N={big_n:,} bounded by the sandbox and HTTP, not our code",
               c["http_wait_s"] >= ours,
               f"{share:.0%} of {c['wall_s']:.1f} s waiting on the sandbox and HTTP, {ours / c['wall_s']:.0%} in our "
               "code's steps; split below")

    prof = ["| channel, N | wall | HTTP wait (sandbox + transfer + JSON decode) | land_raw | read raw (SQL + jsonb "
            "decode) | mapper | load_orders | other (candidates, commits) | CPU: ours | CPU: sandbox | CPU: PostgreSQL "
            "backend |", "|---" * 11 + "|"]
    notes = []
    for n in ns:
        for channel, r in res[n].items():
            c = r.get("cycle")
            if not c or "http_wait_s" not in c:
                continue
            other = c["wall_s"] - c["http_wait_s"] - c["land_raw_s"] - c["read_raw_s"] - c["map_s"] - c["load_orders_s"]
            parts = [c["http_wait_s"], c["land_raw_s"], c["read_raw_s"], c["map_s"], c["load_orders_s"], other]
            cells = " | ".join(f"{v:.1f} s ({v / c['wall_s']:.0%})" for v in parts)
            prof.append(f"| {channel} {n:,} | {c['wall_s']:.1f} s | {cells} | {c['our_cpu_s']:.1f} s | "
                        f"{c['sandbox_cpu_s']:.1f} s | {fmt(c.get('postgres_cpu_s'), '.1f')} s |")
            notes.append(f"- {channel}, N={n:,}: sandbox start (generating the orders, not timed) "
                         f"{r['sandbox_start_s']:.1f} s; {c['requests']} requests, {c['pages']} pages, "
                         f"{c['lines']:,} staging line rows, statuses {c['by_status']}; the load wrote "
                         f"{r['load']['tables']}; the second load wrote {r['again']['by_table']}.")
    for channel, why in missing.items():
        notes.append(f"- {channel}: not measured ({why}).")

    md = [
        "# orderbridge benchmark", "",
        f"{m['date']} · {m['cores']} cores ({m['cpu']}) · {m['mem_gib']:.1f} GiB RAM · Python {m['python']} · "
        f"PostgreSQL {m['postgres']} (the checkout's private cluster, fsync={m['pg_settings'].get('fsync')}, "
        f"shared_buffers={m['pg_settings'].get('shared_buffers')} x 8 kB) · whole run {total_s:.0f} s", "",
        "Rerun with `make bench`; what each figure means is in [README.md](README.md). Rows = orders + staging "
        "line rows, the same rows in every reference; orders/s and rows/s are over the step's wall time.", "",
        *table, "", "![orders/s by method and N](orders_per_second.png)", "",
        "## Targets (issue 16)", "", *tg, "",
        "## Where the full cycle's time goes", "",
        "Timers around the seams the tasks use (no profiler overhead). `HTTP wait` is the time spent in `next()` on "
        "the client's page iterator: the sandbox building the page, transfer, and our JSON decode. The CPU columns "
        "are seconds used during the cycle by our process, the sandbox process, and our PostgreSQL backend.", "",
        *prof, "", *notes, "",
    ]
    for n in ns:
        for channel, r in res[n].items():
            if r.get("profile"):
                md += [f"### cProfile of the staging load alone, {channel}, N={n:,} (a separate, profiled run)", "",
                       "```", r["profile"], "```", ""]
    return "\n".join(md), chart


def draw(chart: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(c["method"] for c in chart))
    ns = sorted({c["n"] for c in chart})
    fig, ax = plt.subplots(figsize=(max(8, 1.25 * len(methods)), 4.8))
    width = 0.8 / max(1, len(ns))
    for i, n in enumerate(ns):
        vals = [next((c["ops"] for c in chart if c["n"] == n and c["method"] == m), 0) for m in methods]
        xs = [j + (i - (len(ns) - 1) / 2) * width for j in range(len(methods))]
        bars = ax.bar(xs, vals, width, label=f"N = {n:,} orders")
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in vals], fontsize=7)
    ax.set_xticks(range(len(methods)), methods, fontsize=8)
    ax.set_ylabel("orders / s")
    ax.set_title("orderbridge: orders per second by method (higher is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, action="append", help="order counts (default 10000 and 100000)")
    parser.add_argument("--channel", action="append", help="channels to cycle (default: every one available)")
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--out", default=str(BENCH / "results.md"))
    parser.add_argument("--accounts", type=int, action="append",
                        help="accounts per machine: account counts (default 50, 200, 500; bench/accounts.py)")
    parser.add_argument("--no-accounts", action="store_true", help="skip the accounts-per-machine scenario")
    args = parser.parse_args()
    ns = sorted(args.n or [10_000, 100_000])
    start = time.perf_counter()
    available = child(["available"])
    available.pop("child_peak_rss_mb", None)
    channels = args.channel or [ch for ch, info in available.items() if info["why"] is None]
    missing = {ch: info["why"] for ch, info in available.items() if info["why"] is not None and ch not in channels}
    if REFERENCE not in channels:
        channels.insert(0, REFERENCE)
    print(f"channels: {', '.join(channels)}" + (f" (not available: {missing})" if missing else ""), flush=True)
    print(f"fresh database {DB}: drop, create, migrate, seed the catalogue", flush=True)
    dsn = fresh_database(channels)
    res: dict[int, dict] = {n: {} for n in ns}
    refs: dict[int, dict] = {}
    for n in ns:
        for channel in channels:
            limit = available.get(channel, {}).get("max_n")
            if limit and n > limit:
                missing[f"{channel} at N={n:,}"] = available[channel]["max_n_reason"]
                continue
            inbound = available.get(channel, {}).get("mode") == "inbound"
            print(f"N={n:,} {channel}: " + ("orders pushed to our endpoint, then again" if inbound else
                                            "full cycle, transform, load alone, load again") + " (child process)",
                  flush=True)
            try:
                r = child(["inbound", str(n), dsn] if inbound else
                          ["cycle", channel, str(n), dsn, *(["--profile"] if n == ns[0] and channel == REFERENCE
                                                           else [])])
            except Exception as err:  # report what failed, keep the rest of the run
                res[n][channel] = {"error": str(err)}
                print(f"  failed: {err}", flush=True)
                continue
            res[n][channel] = r
            if inbound:
                print(f"  {r['cycle']['orders']:,} orders in {r['cycle']['wall_s']:.1f} s, again "
                      f"{r['again']['wall_s']:.1f} s ({r['again']['rows_written']} rows written), endpoint peak RSS "
                      f"{r['peak_rss_mb']:.0f} MiB", flush=True)
                continue
            print(f"  cycle {r['cycle']['wall_s']:.1f} s, transform {r['transform']['wall_s']:.1f} s, load "
                  f"{r['load']['wall_s']:.1f} s, again {r['again']['wall_s']:.1f} s "
                  f"({r['again']['rows_written']} rows written), peak RSS {r['peak_rss_mb']:.0f} MiB", flush=True)
        if "error" in res[n].get(REFERENCE, {"error": 1}):
            continue
        ref = refs[n] = {}
        dump = Path(tempfile.mkstemp(prefix=f"orderbridge-bench-{n}-", suffix=".jsonl")[1])
        try:
            print(f"N={n:,}: COPY references", flush=True)
            ref["copy"] = child(["copyref", str(n), dsn, str(dump)])
            print(f"  plain {ref['copy']['plain_s']:.2f} s, indexed copies {ref['copy']['same_rows_indexed_s']:.2f} s"
                  f" (all rows {ref['copy']['all_rows_indexed_s']:.2f} s) for {ref['copy']['rows']:,} rows", flush=True)
            if args.no_dlt:
                ref["dlt_error"] = "skipped (--no-dlt)"
            elif not DLT_PY.exists():
                ref["dlt_error"] = f"{DLT_PY.relative_to(REPO)} missing (make bench installs it)"
            else:
                print(f"N={n:,}: dlt merge reference (twice)", flush=True)
                try:
                    ref["dlt"] = child(["dlt", str(dump), dsn, f"dlt_bench_{n // 1000}k"], python=str(DLT_PY))
                    print(f"  dlt {ref['dlt']['first_s']:.1f} s, again {ref['dlt']['second_s']:.1f} s", flush=True)
                except Exception as err:
                    ref["dlt_error"] = str(err).splitlines()[-1]
                    print(f"  dlt failed: {err}", flush=True)
        finally:
            dump.unlink(missing_ok=True)
    concurrent = None
    if "merkana" in channels:  # issue 16 item 4: its own module, bench/merkana_concurrency.py
        print("Merkana: 10,000 orders on 8 concurrent platform connections (child process)", flush=True)
        proc = subprocess.run([sys.executable, str(BENCH / "merkana_concurrency.py"), "--json", "--dsn", dsn],
                              capture_output=True, text=True, timeout=1800, cwd=REPO)
        concurrent = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
        print(f"  {'failed: ' + proc.stderr[-500:] if concurrent is None else 'done'}", flush=True)
    catalogue: list[str] = []
    if not args.channel or "shoprenter" in args.channel:  # issue 14: its own module, bench/shoprenter_catalogue.py
        from shoprenter_catalogue import section
        catalogue = section()
    print("DAG parse and import time (fresh subprocesses)", flush=True)
    try:
        dags = dag_parse_time()
    except Exception as err:
        print(f"  failed: {err}", flush=True)
        dags = {}
    md, chart = build_report(machine(), res, refs, dags, missing, time.perf_counter() - start)
    if concurrent:
        from merkana_concurrency import report_lines
        md += "\n" + "\n".join(report_lines(concurrent)) + "\n"
    md += "\n" + "\n".join(catalogue) + "\n" if catalogue else ""
    if not args.no_accounts:  # bench/accounts.py: its own table and chart, appended here
        import accounts

        md += "\n" + accounts.report(accounts.run(args.accounts or [50, 200, 500], ["local", "celery"], 3,
                                                   accounts.BUDGET_S, chart=Path(args.out)))
    Path(args.out).write_text(md, encoding="utf-8")
    draw(chart, Path(args.out).with_name("orders_per_second.png"))
    print()
    print(md)


if __name__ == "__main__":
    main()
