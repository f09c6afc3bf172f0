"""Work done in child processes of bench/run.py (one per channel and N, so each reports its own peak RSS).

Modes (``python bench/_measure.py MODE ...``, prints one JSON object on its last stdout line):

- ``cycle CHANNEL N DSN [--profile]``: the channel's sandbox with N orders -> extract (every page
  landed in raw) -> transform, timed with a split of where the time went; then on the same raw
  rows: the transform alone, the load step alone (``load_orders`` on orders mapped off the clock)
  and the same window loaded a second time (rows written).
- ``inbound N DSN``: Merkana: the fake platform replays N order creates on our endpoint, one call
  each, then the same N again (rows written must be 0); the endpoint process's CPU and peak RSS.
- ``copyref N DSN OUT``: the same Groupon order and line rows, built as the load builds them off
  the clock, COPYed into scratch tables three ways; also written to OUT (JSON lines) for dlt.
- ``dlt OUT DSN DATASET``: (run with the .venv-bench-dlt interpreter) dlt merge of OUT, twice.

A channel is one ``ChannelBench`` entry in ``CHANNELS``: how to start its sandbox, its connection,
its extract (the client's pages) and its mapper. Adding a channel's full cycle is adding an entry.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SEED = 7
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGING_TABLES = ("orders", "order_lines", "order_events", "outbox", "channel_products")
TRUNCATE = ("TRUNCATE " + ", ".join(f"staging.{t}" for t in (*STAGING_TABLES, "returns"))
            + " RESTART IDENTITY CASCADE")
BATCH = 2000  # transform's default batch size; every reference uses the same batches


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def backend_cpu_s(conn) -> float | None:
    """CPU seconds the PostgreSQL backend of ``conn`` has used (local server only)."""
    try:
        with open(f"/proc/{conn.get_backend_pid()}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


# -- the channels -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChannelBench:
    """What the harness needs to run one channel's full cycle against its sandbox."""

    channel: str
    sandbox_args: Callable[[int], list[str]]  # N -> sandbox CLI arguments (besides host/port)
    connection: Callable[[int, int], dict]  # N, sandbox port -> Airflow connection (JSON form)
    # account, exit stack -> (client, its pages of new orders), as the extract task reads them
    pages: Callable[[object, ExitStack], tuple[object, Iterator[list[dict]]]]
    external_id: Callable[[dict], str]
    mapper: Callable[[dict], object]  # connection -> the channel's mapper
    max_n: int | None = None  # largest N its sandbox serves in reasonable time
    max_n_reason: str = ""
    land: Callable | None = None  # the stream's own landing (Octopia: one raw row per delivery address)

    def account(self, n: int):
        from orderbridge.config import Account

        name = f"bench_{n // 1000}k"
        return Account(channel=self.channel, name=name, conn_id=f"orderbridge_{self.channel}_{name}",
                       currency="GBP")


def _groupon() -> ChannelBench:
    from orderbridge.channels.groupon.client import GrouponClient
    from orderbridge.channels.groupon.mapping import GrouponMapper, entry_id

    def supplier(n: int) -> str:
        return str(9000 + n // 1000)

    def pages(account, stack: ExitStack):
        client = GrouponClient(account.conn_id, account.name)
        return client, client.iter_orders(None)

    return ChannelBench(
        channel="groupon",
        sandbox_args=lambda n: ["--groupon", f"{supplier(n)}:bench-token-{n}:{n}"],
        connection=lambda n, port: {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                                    "login": supplier(n), "password": f"bench-token-{n}",
                                    "extra": {"api_path": "/groupon/api/v4", "timeout": 120}},
        pages=pages, external_id=entry_id,
        mapper=lambda conn: GrouponMapper("GBP"),
    )


def _plentymarkets() -> ChannelBench:
    """The second channel: its cycle is measured when its client, mapper and sandbox are there."""
    from orderbridge.channels.plentymarkets.client import PlentyClient
    from orderbridge.channels.plentymarkets.mapping import PlentyMapper
    from orderbridge.channels.plentymarkets.settings import PlentySettings
    from orderbridge.staging import payload_id

    def pages(account, stack: ExitStack):
        client = stack.enter_context(PlentyClient(account.conn_id, account.name))
        status = client.settings.fetch_status
        return client, client.iter_orders(status, status, None)

    return ChannelBench(
        channel="plentymarkets",
        sandbox_args=lambda n: ["--plentymarkets", f"bench:rest-user:bench-pw-{n}:{n}"],
        connection=lambda n, port: {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                                    "login": "rest-user", "password": f"bench-pw-{n}",
                                    "extra": {"api_path": "/plentymarkets/bench", "timeout": 120,
                                              "warehouse_id": 1, "storage_location_id": 7}},
        pages=pages, external_id=lambda e: payload_id(e, "id"),
        mapper=lambda conn: PlentyMapper(PlentySettings.from_extra(conn["extra"])),
        max_n=10_000, max_n_reason="its sandbox scans every order for each page it serves (O(N) a page): "
                                   "100,000 orders take it tens of minutes",
    )


def _octopia() -> ChannelBench:
    """Octopia's window read: one seller on two sales channels, every order of the sandbox's day."""
    from orderbridge.channels.octopia.channel import _land
    from orderbridge.channels.octopia.client import OctopiaClient
    from orderbridge.channels.octopia.mapping import OctopiaMapper, order_id
    from orderbridge.window import Window

    def pages(account, stack: ExitStack):
        client = stack.enter_context(OctopiaClient(account.conn_id, account.name))
        return client, client.iter_orders(Window(ANCHOR - timedelta(days=1, hours=1), ANCHOR + timedelta(minutes=1)))

    return ChannelBench(
        channel="octopia",
        sandbox_args=lambda n: ["--octopia", f"bench-client:bench-secret:98979:{n}:CDISFR+RAKUFR"],
        connection=lambda n, port: {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                                    "login": "bench-client", "password": "bench-secret",
                                    "extra": {"api_path": "/octopia/seller/v2", "timeout": 120, "seller_id": "98979",
                                              "token_url": f"http://127.0.0.1:{port}/octopia/auth/realms/maas/"
                                                           "protocol/openid-connect/token"}},
        pages=pages, external_id=order_id, land=_land, mapper=lambda conn: OctopiaMapper(),
        max_n=10_000, max_n_reason="its sandbox filters every order of the seller for each page it serves "
                                   "(O(N) a page, 100 orders a page)",
    )


CHANNELS: dict[str, Callable[[], ChannelBench]] = {"groupon": _groupon, "plentymarkets": _plentymarkets,
                                                   "octopia": _octopia}


# -- helpers on the staging database ------------------------------------------------------------------
def _writes(cur) -> dict[str, int]:
    cur.execute("SELECT pg_stat_clear_snapshot()")
    cur.execute("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables"
                " WHERE schemaname = 'staging' AND relname = ANY(%s)", (list(STAGING_TABLES),))
    return dict(cur.fetchall())


def _written_since(cur, xid: int) -> int:
    """Rows of the staging tables and raw.orders inserted or updated by transactions after ``xid``."""
    total = 0
    for table in (*(f"staging.{t}" for t in STAGING_TABLES), "raw.orders"):
        cur.execute(f"SELECT count(*) FROM {table} WHERE xmin::text::bigint > %s", (xid,))
        total += cur.fetchone()[0]
    return total


def _flush_stats(conn) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_stat_force_next_flush()")
    conn.commit()
    time.sleep(1.2)  # the flush happens when the session goes idle


def _reset_transform(conn, account) -> None:
    with conn.cursor() as cur:
        cur.execute("DELETE FROM staging.sync_state WHERE channel = %s AND account = %s AND stream = 'transform'",
                    (account.channel, account.name))
    conn.commit()


def _empty_staging(conn, account) -> None:
    with conn.cursor() as cur:
        cur.execute(TRUNCATE)
    conn.commit()
    _reset_transform(conn, account)


def _table_rows(cur) -> dict[str, int]:
    out = {}
    for table in STAGING_TABLES:
        cur.execute(f"SELECT count(*) FROM staging.{table}")
        out[table] = cur.fetchone()[0]
    return out


def mapped_batches(dsn: str, mapper, account) -> Iterator[list]:
    """The transform's batches of mapped orders, read and mapped on a connection of their own."""
    from orderbridge import db, staging

    with closing(db.connect(dsn)) as reader:
        reader.autocommit = True
        with reader.cursor() as cur:
            ids = staging._candidates(cur, account.channel, account.name, 0)
            for grouped in staging._raw_batches(cur, account.channel, account.name, ids, BATCH):
                yield [staging._map_safely(mapper, ext, rows) for ext, rows in grouped.items()]


def load_alone(conn, dsn: str, mapper, account, run_id: str, profile=None) -> dict:
    """``load_orders`` + commit per batch, on orders mapped before the clock starts for that batch."""
    from orderbridge import staging
    from orderbridge.orders import SkuMap

    _empty_staging(conn, account)
    with conn.cursor() as cur:
        skus = SkuMap.load(cur, account.channel, account.name)
    conn.commit()
    total, wall, cpu, server = staging.LoadCounts(), 0.0, 0.0, 0.0
    for orders in mapped_batches(dsn, mapper, account):
        s0, c0, t0 = backend_cpu_s(conn), time.process_time(), time.perf_counter()
        if profile:
            profile.enable()
        with conn.cursor() as cur:
            counts = staging.load_orders(cur, mapper, account.name, orders, skus, run_id)
        conn.commit()
        if profile:
            profile.disable()
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        server += _delta(backend_cpu_s(conn), s0) or 0.0
        total.add(counts)
    with conn.cursor() as cur:
        written = _table_rows(cur)
    conn.commit()
    return {"wall_s": wall, "orders": total.orders, "lines": total.lines, "rows": total.orders + total.lines,
            "effects": total.effects, "client_cpu_s": cpu, "server_cpu_s": server, "tables": written,
            "rows_all_tables": sum(written.values())}


# -- mode cycle ---------------------------------------------------------------------------------------
def cycle(channel: str, n: int, dsn: str, profile: bool = False) -> dict:
    import psutil

    from orderbridge import db, staging, steps
    from orderbridge.staging import retransform
    from orderbridge_sandbox.process import start_sandbox

    bench = CHANNELS[channel]()
    account = bench.account(n)
    out: dict = {"n": n, "channel": channel}
    t0 = time.perf_counter()
    sandbox = start_sandbox(["--seed", str(SEED), *bench.sandbox_args(n), "--anchor", ANCHOR.isoformat(),
                             "--days", "1"], timeout=900, stop_at_exit=True)
    out["sandbox_start_s"] = time.perf_counter() - t0
    connection = bench.connection(n, sandbox.port)
    os.environ[f"AIRFLOW_CONN_{account.conn_id.upper()}"] = json.dumps(connection)
    os.environ.setdefault("AIRFLOW_CONN_ORDERBRIDGE_STAGING", dsn)  # Octopia's client keeps its token there
    sb = psutil.Process(sandbox.pid)
    mapper = bench.mapper(connection)

    # Timers around the seams of exactly what the tasks run (package code unchanged).
    timers = {"http_wait": 0.0, "land_raw": 0.0, "read_raw": 0.0, "map": 0.0, "load_orders": 0.0}

    def timed_pages(pages):
        it = iter(pages)
        while True:
            t = time.perf_counter()
            try:
                page = next(it)
            except StopIteration:
                timers["http_wait"] += time.perf_counter() - t
                return
            timers["http_wait"] += time.perf_counter() - t
            yield page

    # land_raw is looked up on the package (steps.land_pages), the rest in the module that runs them.
    real_land, real_load, real_batches, real_map = (staging.land_raw, retransform.load_orders,
                                                    retransform._raw_batches, retransform._map_safely)

    def raw_batches(*a, **k):
        t = time.perf_counter()
        for batch in real_batches(*a, **k):
            timers["read_raw"] += time.perf_counter() - t
            yield batch
            t = time.perf_counter()
        timers["read_raw"] += time.perf_counter() - t

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timers[name] += time.perf_counter() - t
        return wrapper

    staging.land_raw, retransform.load_orders = timed("land_raw", real_land), timed("load_orders", real_load)
    retransform._raw_batches, retransform._map_safely = raw_batches, timed("map", real_map)
    try:
        with closing(db.connect(dsn)) as conn, ExitStack() as stack:
            client, pages = bench.pages(account, stack)  # the client: what a task process has loaded already
            cpu0, sb_cpu0, pg0 = os.times(), sb.cpu_times(), backend_cpu_s(conn)
            t0 = time.perf_counter()
            extract = steps.land_pages(conn, account, timed_pages(pages), bench.external_id, "bench-cycle",
                                       land=bench.land)
            t1 = time.perf_counter()
            load = staging.transform(conn, mapper, account.name, "bench-cycle")
            t2 = time.perf_counter()
            cpu1, sb_cpu1, pg1 = os.times(), sb.cpu_times(), backend_cpu_s(conn)
            out["cycle"] = {
                "wall_s": t2 - t0, "extract_s": t1 - t0, "transform_s": t2 - t1, "pages": extract["pages"],
                "payloads": extract["payloads"], "orders": load.orders, "lines": load.lines,
                "by_status": load.by_status, "requests": client.stats.get("requests"),
                "our_cpu_s": (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system),
                "sandbox_cpu_s": (sb_cpu1.user - sb_cpu0.user) + (sb_cpu1.system - sb_cpu0.system),
                "postgres_cpu_s": _delta(pg1, pg0), **{f"{k}_s": v for k, v in timers.items()},
            }
            out["rss_after_cycle_mb"] = rss_mb()
            stack.close()  # the client's own goodbye (plentymarkets logs out) needs the sandbox
            sandbox.stop()
            staging.land_raw, retransform.load_orders, retransform._raw_batches, retransform._map_safely = (
                real_land, real_load, real_batches, real_map)

            # The transform alone (read raw, map, load) on the same raw rows, staging empty.
            _empty_staging(conn, account)
            t0 = time.perf_counter()
            load = staging.transform(conn, mapper, account.name, "bench-transform")
            out["transform"] = {"wall_s": time.perf_counter() - t0, "orders": load.orders, "lines": load.lines,
                                "rows": load.orders + load.lines}

            # The load step alone: load_orders on orders mapped before the clock starts.
            out["load"] = load_alone(conn, dsn, mapper, account, "bench-load")

            # The same window a second time: reset the watermark so every raw row is re-read.
            _reset_transform(conn, account)
            _flush_stats(conn)
            with conn.cursor() as cur:
                before = _writes(cur)
                cur.execute("SELECT txid_current() % 4294967296")
                xid0 = cur.fetchone()[0]
            conn.commit()
            t0 = time.perf_counter()
            again = staging.transform(conn, mapper, account.name, "bench-again")
            wall = time.perf_counter() - t0
            _flush_stats(conn)
            with conn.cursor() as cur:
                after = _writes(cur)
                xmin_changed = _written_since(cur, xid0)
            conn.commit()
            out["again"] = {"wall_s": wall, "orders": again.orders, "unchanged": again.unchanged,
                            "rows_written": sum(after.get(t, 0) - before.get(t, 0) for t in STAGING_TABLES),
                            "by_table": {t: after.get(t, 0) - before.get(t, 0) for t in STAGING_TABLES},
                            "xmin_changed": xmin_changed}
            out["peak_rss_mb"] = rss_mb()  # before the profiled rerun below (same work, more memory)
            if profile:
                out["profile"] = _profiled_load(conn, dsn, mapper, account)
    finally:
        staging.land_raw, retransform.load_orders, retransform._raw_batches, retransform._map_safely = (
            real_land, real_load, real_batches, real_map)
        sandbox.stop()
    return out


# -- mode inbound: Merkana pushes its orders to our endpoint ----------------------------------------
MERKANA_MAX_N = 10_000
MERKANA_WHY = ("Merkana sends one order per HTTP call to our endpoint, each answered after its own commit: "
               "100,000 calls take the fake platform about ten minutes")


def _vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def inbound(n: int, dsn: str) -> dict:
    """The fake Merkana platform replays N order creates on our endpoint (``orderbridge.channels.merkana.inbound``),
    one call each, as the platform does; then the same N again (must store nothing)."""
    import psutil
    import requests

    from orderbridge import db
    from orderbridge_sandbox import merkana
    from orderbridge_sandbox.process import start_sandbox

    platform, mid, ours, theirs = "demo", 293, "bench-inbound-token", "bench-merkana-token"
    out: dict = {"n": n, "channel": "merkana"}
    t0 = time.perf_counter()
    sandbox = start_sandbox(["--seed", str(SEED), "--merkana", f"{platform}:{ours}:{theirs}"], timeout=300,
                            stop_at_exit=True)
    out["sandbox_start_s"] = time.perf_counter() - t0
    conn = db.connect(dsn)
    with conn.cursor() as cur:
        merkana.seed_warehouse(cur, mids=(mid,))
    conn.commit()
    env = {"AIRFLOW_CONN_ORDERBRIDGE_STAGING": dsn,
           "AIRFLOW_CONN_ORDERBRIDGE_MERKANA_DEMO": json.dumps(merkana.demo_connection(sandbox.url, ours, theirs)),
           "ORDERBRIDGE_ACCOUNTS": os.path.join(REPO_ROOT, "config", "accounts.yaml")}
    endpoint = merkana.start_inbound(env)
    target = f"{endpoint.url}/merkana/{platform}"
    try:
        ours_p, sb_p = psutil.Process(endpoint.pid), psutil.Process(sandbox.pid)

        def replay(steps: list[str]) -> float:
            t = time.perf_counter()
            response = requests.post(f"{sandbox.url}/_sandbox/merkana/{platform}/replay", timeout=3600, json={
                "target": target, "mid": mid, "steps": steps, "orders": n, "duplicates": 0, "from_start": True})
            response.raise_for_status()
            answers = [o["answer"] for o in response.json().get("orders", [])]
            refused = [a for a in answers if not (isinstance(a, dict) and a.get("status") is True)]
            if refused:
                raise RuntimeError(f"{len(refused)} of {len(answers)} orders refused, e.g. {refused[0]}")
            return time.perf_counter() - t

        replay(["products", "stock"])
        c0, s0 = ours_p.cpu_times(), sb_p.cpu_times()
        wall = replay(["orders"])
        c1, s1 = ours_p.cpu_times(), sb_p.cpu_times()
        with conn.cursor() as cur:
            cur.execute("SELECT count(DISTINCT o.id), count(l.id) FROM staging.orders o"
                        " LEFT JOIN staging.order_lines l ON l.order_id = o.id WHERE o.channel = 'merkana'")
            orders, lines = cur.fetchone()
            cur.execute("SELECT txid_current() % 4294967296")
            xid = cur.fetchone()[0]
        conn.commit()
        again = replay(["orders"])
        with conn.cursor() as cur:
            written = _written_since(cur, xid)
        conn.commit()
        out["cycle"] = {"wall_s": wall, "orders": orders, "lines": lines,
                        "endpoint_cpu_s": (c1.user - c0.user) + (c1.system - c0.system),
                        "sandbox_cpu_s": (s1.user - s0.user) + (s1.system - s0.system)}
        out["again"] = {"wall_s": again, "orders": n, "rows_written": written}
        out["peak_rss_mb"] = _vm_hwm_mb(endpoint.pid)
    finally:
        endpoint.stop()
        sandbox.stop()
        conn.close()
    return out


def _profiled_load(conn, dsn, mapper, account) -> str:
    """The load step alone once more, under cProfile: the top functions by own time and cumulative."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    load_alone(conn, dsn, mapper, account, "bench-profile", profile=prof)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(20)
    return "\n".join(line for line in buf.getvalue().splitlines() if line.strip()
                     and "Ordered by" not in line and "List reduced" not in line).replace(REPO_ROOT, ".")


# -- mode copyref -------------------------------------------------------------------------------------
SCRATCH_DDL = """
DROP SCHEMA IF EXISTS bench_scratch CASCADE;
CREATE SCHEMA bench_scratch;
-- (a) plain: the same columns, no index, no constraint
CREATE TABLE bench_scratch.plain_orders AS SELECT channel, account, {order_cols} FROM staging.orders WITH NO DATA;
CREATE TABLE bench_scratch.plain_lines AS SELECT o.external_order_id, {line_cols}
    FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id WITH NO DATA;
-- (b, c) copies of the staging tables: every index, check, default and foreign key
CREATE TABLE bench_scratch.orders (LIKE staging.orders INCLUDING ALL);
CREATE TABLE bench_scratch.order_lines (LIKE staging.order_lines INCLUDING ALL,
    FOREIGN KEY (order_id) REFERENCES bench_scratch.orders (id) ON DELETE CASCADE);
CREATE TABLE bench_scratch.order_events (LIKE staging.order_events INCLUDING ALL,
    FOREIGN KEY (order_id) REFERENCES bench_scratch.orders (id) ON DELETE SET NULL);
CREATE TABLE bench_scratch.outbox (LIKE staging.outbox INCLUDING ALL,
    FOREIGN KEY (order_id) REFERENCES bench_scratch.orders (id));
"""


def _scratch_sequences(cur) -> None:
    # LIKE copies the id defaults, which draw from staging's sequences: give the copies their own.
    for table in ("orders", "order_lines", "order_events", "outbox"):
        cur.execute(f"CREATE SEQUENCE bench_scratch.{table}_id_seq")
        cur.execute(f"ALTER TABLE bench_scratch.{table} ALTER id SET DEFAULT nextval('bench_scratch.{table}_id_seq')")


def copyref(n: int, dsn: str, dump: str) -> dict:
    from orderbridge import db, staging
    from orderbridge.orders import SkuMap, decide_status, line_rows
    from orderbridge.outbox import OUTBOX_COLUMNS, outbox_rows
    from orderbridge.staging.rows import NEW_ORDER_COLUMNS

    bench = _groupon()
    account, mapper = bench.account(n), bench.mapper({})
    channel, name = account.channel, account.name
    times = {"plain": 0.0, "same_rows_indexed": 0.0, "all_rows_indexed": 0.0}
    orders_n = lines_n = events_n = outbox_n = 0
    order_id = 0
    with closing(db.connect(dsn)) as conn, conn.cursor() as cur, open(dump, "w", encoding="utf-8") as out:
        skus = SkuMap.load(cur, channel, name)
        cur.execute(SCRATCH_DDL.format(order_cols=", ".join(staging.ORDER_COLUMNS),
                                       line_cols=", ".join("l." + c for c in staging.LINE_COLUMNS[1:])))
        _scratch_sequences(cur)
        conn.commit()
        for orders in mapped_batches(dsn, mapper, account):
            # Built off the clock, as the load builds them.
            plain_o, plain_l, rows_o, rows_l, rows_e, effects, ids = [], [], [], [], [], [], {}
            for order in orders:
                lines, unknown = line_rows(order, skus)
                status, reason = decide_status(order, unknown)
                row = staging._order_row(order, status, reason, lines)
                order_id += 1
                ext = order.external_order_id
                ids[ext] = order_id
                plain_o.append((channel, name, *row))
                # The indexed copies take the order row as the load writes it, with its import columns.
                rows_o.append((order_id, channel, name, *row, status, reason, "bench-copy"))
                plain_l.extend((ext, *line) for line in lines)
                rows_l.extend((order_id, *line) for line in lines)
                if order.attention:  # the only history entry a plain import writes
                    rows_e.append((order_id, channel, name, ext, "needs_attention", order.attention, {}, "bench-copy"))
                effects += mapper.acknowledgements(order, status)
            rows_x = outbox_rows(channel, name, effects, ids)
            orders_n, lines_n = orders_n + len(plain_o), lines_n + len(plain_l)
            events_n, outbox_n = events_n + len(rows_e), outbox_n + len(rows_x)

            t = time.perf_counter()
            db.copy_rows(cur, "bench_scratch.plain_orders", ("channel", "account", *staging.ORDER_COLUMNS), plain_o)
            db.copy_rows(cur, "bench_scratch.plain_lines", staging.LINE_COLUMNS, plain_l)
            conn.commit()
            times["plain"] += time.perf_counter() - t

            t = time.perf_counter()
            db.copy_rows(cur, "bench_scratch.orders", NEW_ORDER_COLUMNS, rows_o)
            db.copy_rows(cur, "bench_scratch.order_lines", staging.LINE_TABLE_COLUMNS, rows_l)
            conn.commit()
            times["same_rows_indexed"] += time.perf_counter() - t
            t = time.perf_counter()
            db.copy_rows(cur, "bench_scratch.order_events", staging.EVENT_COLUMNS, rows_e)
            db.copy_rows(cur, "bench_scratch.outbox", OUTBOX_COLUMNS, rows_x)
            conn.commit()
            times["all_rows_indexed"] += time.perf_counter() - t

            cols = ("channel", "account", *staging.ORDER_COLUMNS)
            for row in plain_o:
                out.write(json.dumps({"t": "o", **dict(zip(cols, row, strict=True))}, default=str) + "\n")
            for row in plain_l:
                out.write(json.dumps({"t": "l", **dict(zip(staging.LINE_COLUMNS, row, strict=True))},
                                     default=str) + "\n")
        times["all_rows_indexed"] += times["same_rows_indexed"]
        cur.execute("DROP SCHEMA bench_scratch CASCADE")
        conn.commit()
    return {"n": n, "orders": orders_n, "lines": lines_n, "rows": orders_n + lines_n, "events": events_n,
            "outbox": outbox_n, **{f"{k}_s": v for k, v in times.items()}}


# -- mode dlt (runs in .venv-bench-dlt: no orderbridge, no Airflow) -----------------------------------
def dlt_merge(dump: str, dsn: str, dataset: str) -> dict:
    import dlt
    import psycopg2

    def read(kind):
        with open(dump, encoding="utf-8") as f:
            for text in f:
                row = json.loads(text)
                if row.pop("t") == kind:
                    yield row

    @dlt.resource(name="orders", write_disposition="merge", primary_key=("channel", "account", "external_order_id"))
    def orders():
        yield from read("o")

    @dlt.resource(name="order_lines", write_disposition="merge",
                  primary_key=("external_order_id", "channel_line_id", "component"))
    def order_lines():
        yield from read("l")

    def writes() -> int:
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.2)
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables"
                        " WHERE schemaname = %s AND relname IN ('orders', 'order_lines')", (dataset,))
            return int(cur.fetchone()[0])

    import tempfile
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    # dlt insists on a password; the checkout's cluster uses trust auth and ignores it.
    if "@" in parts.netloc and ":" not in parts.netloc.split("@")[0]:
        user, host = parts.netloc.split("@", 1)
        parts = parts._replace(netloc=f"{user}:unused@{host}")
    dlt_dsn = urlunsplit(parts)
    runs = []
    with tempfile.TemporaryDirectory() as pipelines_dir:
        for _ in range(2):
            pipe = dlt.pipeline(pipeline_name=dataset, destination=dlt.destinations.postgres(dlt_dsn),
                                dataset_name=dataset, pipelines_dir=pipelines_dir)
            w0 = writes() if runs else 0
            t0 = time.perf_counter()
            pipe.run([orders(), order_lines()])
            wall = time.perf_counter() - t0
            runs.append({"wall_s": wall, "rows_written": writes() - w0 if runs else None})
    return {"first_s": runs[0]["wall_s"], "second_s": runs[1]["wall_s"], "second_rows_written": runs[1]["rows_written"],
            "version": dlt.__version__}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode in ("cycle", "copyref"):
        from orderbridge import fastpath

        fastpath.enable()  # what a task process does (dagkit.channel_dag); the inbound mode is the API server's
    if mode == "cycle":
        result = cycle(sys.argv[2], int(sys.argv[3]), sys.argv[4], profile="--profile" in sys.argv)
    elif mode == "inbound":
        result = inbound(int(sys.argv[2]), sys.argv[3])
    elif mode == "copyref":
        result = copyref(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif mode == "dlt":
        result = dlt_merge(sys.argv[2], sys.argv[3], sys.argv[4])
    elif mode == "available":
        from orderbridge.channels.registry import CHANNELS as REGISTERED

        result = {}
        for name in REGISTERED:  # every registered channel is reported, measured or not
            if name == "merkana":  # it pushes to us: its figure is our endpoint's (``inbound``)
                result[name] = {"why": None, "max_n": MERKANA_MAX_N, "max_n_reason": MERKANA_WHY, "mode": "inbound"}
            elif name not in CHANNELS:
                result[name] = {"why": "no benchmark yet: add its ChannelBench to bench/_measure.py CHANNELS"}
            else:
                try:
                    bench = CHANNELS[name]()
                    result[name] = {"why": None, "max_n": bench.max_n, "max_n_reason": bench.max_n_reason}
                except Exception as err:  # noqa: BLE001 - a channel not there yet is reported, not fatal
                    result[name] = {"why": f"{type(err).__name__}: {err}"}
    else:
        raise SystemExit(f"unknown mode {mode}")
    result["child_peak_rss_mb"] = rss_mb()
    print(json.dumps(result, default=str))
