"""`make demo`: the whole system once, end to end, on this machine, without credentials.

Starts (or reuses) the checkout's PostgreSQL and the marketplace sandbox, migrates the staging
schema and Airflow's database, then runs real DAG runs through Airflow (`airflow dags test`) for
every channel account: a first cycle imports orders and acknowledges them (Groupon: mark exported;
plentymarkets: 5.1, 6.2, 6.3), the simulated warehouse ships part of them and starts picking
others while plentymarkets customers cancel and return some, a second cycle posts tracking and
answers the cancellations. It ends with one summary table per channel.

Subcommands (for scripts/airflow.sh): `up` prepares the stack as the demo does (migrations, the
demo catalogue), writes the sandbox connections into Airflow's metadata database and prints the
shell exports that point Airflow at the local stack; `sandbox` only makes sure the sandbox runs.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from psycopg2.extras import execute_values

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
SANDBOX_PORT_FILE, SANDBOX_PID_FILE = LOCAL / "sandbox.port", LOCAL / "sandbox.pid"
ORDERS_PER_ACCOUNT = 120
SEED = 20261122
# plentymarkets shipping profiles of the sandbox (GET /rest/orders/shipping/presets) for the
# simulated warehouse's courier services; two are left unmapped, so the demo shows blocked parcels.
PLENTY_PROFILES = {"DHL Germany": "6", "DPD UK": "7", "GLS": "8", "Hermes": "10"}
# Merkana: the secret the platform sends us, the token it gave us; its demo merchant.
MERKANA_OUR_TOKEN, MERKANA_THEIR_TOKEN, MERKANA_MID = "demo-ff-secret-0001", "demo-merkana-token-0001", 293

sys.path.insert(0, str(REPO / "include"))
import airflow_conns  # noqa: E402  (scripts/, beside this file)

from orderbridge import dagkit, db  # noqa: E402
from orderbridge.channels.registry import CHANNELS  # noqa: E402
from orderbridge.config import load_accounts  # noqa: E402
from orderbridge_sandbox import merkana as mk  # noqa: E402
from orderbridge_sandbox.octopia import demo as octo  # noqa: E402
from orderbridge_sandbox.shoprenter import demo as sr  # noqa: E402
from orderbridge_sandbox.warehouse import seed_catalogue, ship_some  # noqa: E402


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, text=True, **kwargs)


def postgres_url(database: str = "orderbridge") -> str:
    sh(str(REPO / "scripts" / "pg.sh"), "up", stdout=subprocess.DEVNULL)
    return sh(str(REPO / "scripts" / "pg.sh"), "url", database, capture_output=True).stdout.strip()


def sandbox_accounts() -> list[tuple[str, str, str]]:
    """(account name, sandbox supplier id, sandbox token) for every configured Groupon account."""
    return [(a.name, str(1001 + i), f"sandbox-token-{a.name}") for i, a in enumerate(load_accounts("groupon"))]


def merkana_platforms() -> list[str]:
    return [a.name for a in load_accounts("merkana")]


def plenty_systems() -> list[tuple[str, str, str]]:
    """(account name = sandbox system, backend user, password) for every plentymarkets account."""
    return [(a.name, f"rest-{a.name}", f"sandbox-pw-{a.name}") for a in load_accounts("plentymarkets")]


def sandbox_url() -> tuple[str, bool]:
    """The running sandbox's URL, starting it (detached, reused by later runs) if needed, and whether
    it was started now."""
    if SANDBOX_PORT_FILE.exists():
        url = f"http://127.0.0.1:{SANDBOX_PORT_FILE.read_text().strip()}"
        try:
            if requests.get(f"{url}/_sandbox/health", timeout=2).ok and _serves_every_account(url):
                return url, False
            stop_sandbox()  # one from an older checkout, without today's channels
        except requests.ConnectionError:
            pass
    from orderbridge_sandbox.process import start_sandbox

    args = ["--seed", str(SEED)]
    for _name, supplier, token in sandbox_accounts():
        args += ["--groupon", f"{supplier}:{token}:{ORDERS_PER_ACCOUNT}"]
    for system, user, password in plenty_systems():
        args += ["--plentymarkets", f"{system}:{user}:{password}:{ORDERS_PER_ACCOUNT}"]
    for platform in merkana_platforms():
        args += ["--merkana", f"{platform}:{MERKANA_OUR_TOKEN}:{MERKANA_THEIR_TOKEN}"]
    args += octo.sandbox_args() + sr.sandbox_args()
    LOCAL.mkdir(exist_ok=True)
    proc = start_sandbox(args, log_path=LOCAL / "sandbox.log")
    SANDBOX_PORT_FILE.write_text(str(proc.port))
    SANDBOX_PID_FILE.write_text(str(proc.pid))
    return proc.url, True


def empty_staging(staging_url: str) -> None:
    """Drop and recreate the demo's staging database: what it held belonged to a sandbox that is gone
    (a new one generates the same order ids afresh, which staging would take for orders it has)."""
    database = staging_url.rsplit("/", 1)[1]
    with closing(db.connect(staging_url.rsplit("/", 1)[0] + "/postgres")) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{database}"')


def _serves_every_account(url: str) -> bool:
    plenty = requests.get(f"{url}/_sandbox/plentymarkets", timeout=2)
    merkana = requests.get(f"{url}/_sandbox/merkana", timeout=2)
    octopia = requests.get(f"{url}/_sandbox/octopia/state", timeout=2)
    shoprenter = requests.get(f"{url}/_sandbox/shoprenter/state", timeout=2)
    return (plenty.ok and merkana.ok and octopia.ok and octo.SELLER in octopia.json()["sellers"] and shoprenter.ok
            and set(sr.SHOPS) <= set(shoprenter.json()["shops"])
            and {s for s, _u, _p in plenty_systems()} <= set(plenty.json()["systems"])
            and set(merkana_platforms()) <= set(merkana.json()["platforms"]))


def stop_sandbox() -> None:
    if SANDBOX_PID_FILE.exists():
        try:
            os.killpg(int(SANDBOX_PID_FILE.read_text().strip()), signal.SIGTERM)
            time.sleep(1)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
        SANDBOX_PID_FILE.unlink(missing_ok=True)
    SANDBOX_PORT_FILE.unlink(missing_ok=True)


def airflow_env(sandbox: str, *, connections: bool = True) -> dict[str, str]:
    """Airflow's environment for the local stack; with ``connections``, the sandbox connections as
    ``AIRFLOW_CONN_*`` too (`make demo`; `make up` writes them into the metadata DB instead)."""
    env = {
        "AIRFLOW_HOME": str(LOCAL / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url("airflow").replace("postgresql://",
                                                                                "postgresql+psycopg2://"),
        "ORDERBRIDGE_STAGING_URL": postgres_url(),
        "ORDERBRIDGE_ACCOUNTS": str(REPO / "config" / "accounts.yaml"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    if connections:
        env.update({f"AIRFLOW_CONN_{conn_id.upper()}": conn if isinstance(conn, str) else json.dumps(conn)
                    for conn_id, conn in sandbox_connections(sandbox).items()})
    return env


def sandbox_connections(sandbox: str, webhook_base: str | None = None) -> dict[str, dict | str]:
    """Every Airflow connection the demo accounts need (conn id -> connection as JSON), pointing at
    ``sandbox``, and ``orderbridge_staging`` (as its URL); ``webhook_base``: where our Shoprenter
    webhook receiver answers (the API server under ``make up``)."""
    port = int(sandbox.rsplit(":", 1)[1])
    conns: dict[str, dict | str] = {db.STAGING_CONN_ID: postgres_url()}
    accounts = {a.name: a for a in load_accounts("groupon")}
    for name, supplier, token in sandbox_accounts():
        conns[accounts[name].conn_id] = {
            "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
            "login": supplier, "password": token, "extra": {"api_path": "/groupon/api/v4"}}
    plenty = {a.name: a for a in load_accounts("plentymarkets")}
    for system, user, password in plenty_systems():
        conns[plenty[system].conn_id] = {
            "conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "login": user,
            "password": password, "extra": {"api_path": f"/plentymarkets/{system}",
                                            "plenty_id": plenty_client_id(sandbox, system),
                                            "warehouse_id": 1, "storage_location_id": 1}}
    merkana = {a.name: a for a in load_accounts("merkana")}
    for platform in merkana_platforms():
        conns[merkana[platform].conn_id] = mk.demo_connection(sandbox, MERKANA_OUR_TOKEN, MERKANA_THEIR_TOKEN,
                                                              mids=(MERKANA_MID,))
    octopia = {a.name: a for a in load_accounts("octopia")}
    conns[octopia[octo.ACCOUNT].conn_id] = octo.connection(
        "127.0.0.1", port, f"{sandbox}/octopia/auth/realms/maas/protocol/openid-connect/token")
    conns.update(sr.connections(sandbox, webhook_base))
    return conns


def plenty_client_id(sandbox: str, system: str) -> int:
    """The system's client id (plentyId), which a merchant reads in plenty's setup: the sandbox draws
    it from its seed, and the connection's ``plenty_id`` must match or every order is another client's."""
    return requests.get(f"{sandbox}/_sandbox/plentymarkets/{system}/state", timeout=10).json()["plenty_id"]


def dag_ids() -> list[str]:
    return [dagkit.dag_id(a) for channel in CHANNELS for a in load_accounts(channel)]  # the registry's


def run_cycle(env: dict[str, str], logical_date: datetime) -> None:
    for dag_id in dag_ids():
        print(f"  airflow dags test {dag_id} {logical_date.isoformat()}", flush=True)
        result = subprocess.run(["airflow", "dags", "test", dag_id, logical_date.isoformat()],
                                env={**os.environ, **env}, capture_output=True, text=True)
        log_file = LOCAL / f"demo-{dag_id}.log"
        log_file.write_text(result.stdout + result.stderr)
        if result.returncode != 0 or "state=failed" in result.stdout + result.stderr:
            sys.exit(f"DAG run {dag_id} failed; its log is in {log_file}")


PROBLEMS: list[str] = []  # the demo's own invariants that did not hold: it exits 1 after the tables


def summary(staging_url: str, sandbox: str) -> list[dict]:
    rows = []
    with closing(db.connect(staging_url)) as conn, conn.cursor() as cur:
        for name, supplier, _token in sandbox_accounts():
            state = requests.get(f"{sandbox}/_sandbox/groupon/{supplier}/state", timeout=10).json()
            orders = state["orders"]
            lines = [line for o in orders for e in o["entries"] for line in e["lines"]]
            cur.execute(
                """SELECT count(*), count(*) FILTER (WHERE status = 'awaiting_mapping'),
                          count(*) FILTER (WHERE status = 'invalid_address'),
                          count(DISTINCT s.order_id)
                   FROM staging.orders o LEFT JOIN LATERAL (SELECT order_id FROM staging.shipments
                        WHERE order_id = o.id LIMIT 1) s ON true
                   WHERE channel = 'groupon' AND account = %s""",
                (name,),
            )
            staged, awaiting, bad_address, shipped = cur.fetchone()
            cur.execute("SELECT count(DISTINCT detail->>'shipment_id') FROM staging.order_events"
                        " WHERE channel = 'groupon' AND account = %s AND event = 'tracking_blocked'", (name,))
            blocked = cur.fetchone()[0]
            entries = [(o["orderid"], e) for o in orders for e in o["entries"]]
            cur.execute("SELECT external_order_id, ship_name, ship_address1, ship_city, ship_postcode"
                        " FROM staging.orders WHERE channel = 'groupon' AND account = %s", (name,))
            addresses = {ext: tuple(rest) for ext, *rest in cur.fetchall()}
            # Each entry is one shipment: staged as <orderid>#<lowest line id>, to that entry's ship-to.
            wrong = [orderid for orderid, e in entries
                     if addresses.get(f"{orderid}#{min(li['ci_lineitemid'] for li in e['lines'])}")
                     != tuple(e["ship_to"][k] for k in ("name", "address1", "city", "zip"))]
            cur.execute("""SELECT count(*) FILTER (WHERE l.status = 'cancelled'),
                                  count(*) FILTER (WHERE l.status = 'cancelled' AND EXISTS (
                                      SELECT 1 FROM staging.outbox b WHERE b.channel = 'groupon'
                                      AND b.account = o.account AND b.kind = 'tracking'
                                      AND b.payload->>'ci_lineitem_id' = l.channel_line_id))
                           FROM staging.order_lines l JOIN staging.orders o ON o.id = l.order_id
                           WHERE o.channel = 'groupon' AND o.account = %s AND l.component = 0""", (name,))
            cancelled, cancelled_tracked = cur.fetchone()
            if wrong or cancelled_tracked:
                PROBLEMS.append(f"groupon/{name}: {len(wrong)} entries staged with another ship-to address "
                                f"({', '.join(wrong[:3])}), {cancelled_tracked} cancelled lines given tracking")
            cur.execute("SELECT count(*) FROM staging.outbox WHERE channel = 'groupon' AND account = %s"
                        " AND status = 'pending'", (name,))
            rows.append({
                "channel": "groupon", "account": name, "orders in sandbox": len(orders),
                "split (2 addresses)": sum(1 for o in orders if len(o["entries"]) > 1),
                "in staging (1 per entry)": staged,
                "to the right address": "yes" if not wrong else f"NO ({len(wrong)})",
                "exported": sum(1 for o in orders if all(line["exported"] for e in o["entries"]
                                                         for line in e["lines"])),
                "cancelled lines": f"{cancelled} of {state['totals']['cancelled_lines']}, 0 picked"
                if not cancelled_tracked else f"{cancelled}, {cancelled_tracked} TRACKED",
                "awaiting mapping": awaiting, "invalid address": bad_address, "shipped": shipped,
                "tracking confirmed": sum(1 for o in orders if any(line["tracking"] for e in o["entries"]
                                                                   for line in e["lines"])),
                "blocked: no carrier code": blocked,
                "lines posted twice": sum(1 for line in lines if len(line["tracking"]) > 1 or line["export_calls"] > 1),
                "pending write-backs": cur.fetchone()[0],
            })
    return rows


def plenty_between_cycles(cur, sandbox: str) -> str:
    """The warehouse ships and starts picking; plentymarkets customers cancel two orders and send one
    back (plenty makes a return order of it, typeId 3, as ``POST /rest/orders/{id}/returns`` does).

    Done once per sandbox: a second `make demo` finds the customers' changes already made.
    """
    done = []
    for system, _user, _password in plenty_systems():
        shipped = ship_some(cur, "plentymarkets", system)
        state = requests.get(f"{sandbox}/_sandbox/plentymarkets/{system}/state", timeout=10).json()
        if state["returns"] or any(h.get("source") == "backend" for o in state["orders"] for h in o["history"]):
            done.append(f"{system}: shipped {shipped}")
            continue
        cur.execute(
            """SELECT o.external_order_id, EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id)
               FROM staging.orders o WHERE o.channel = 'plentymarkets' AND o.account = %s AND o.status = 'ready'
               ORDER BY o.external_order_id::bigint""",
            (system,),
        )
        ready = cur.fetchall()
        waiting = [ext for ext, has_shipment in ready if not has_shipment]
        returned = next(ext for ext, has_shipment in ready if has_shipment)
        picking, cancelled = waiting[0], waiting[1]
        cur.execute("UPDATE staging.orders SET status = 'in_progress' WHERE channel = 'plentymarkets'"
                    " AND account = %s AND external_order_id = %s", (system, picking))
        for ext in (picking, cancelled):
            requests.post(f"{sandbox}/_sandbox/plentymarkets/{system}/orders/{ext}/status",
                          json={"statusId": 8.0}, timeout=10).raise_for_status()
        # Everything of that order comes back: a return order of its own, status 9 (read in cycle 2).
        requests.post(f"{sandbox}/_sandbox/plentymarkets/{system}/orders/{returned}/returns", json={},
                      timeout=10).raise_for_status()
        done.append(f"{system}: shipped {shipped}, picking {picking}; customers cancelled {cancelled} and "
                    f"{picking} (already in picking), returned {returned}")
    return "; ".join(done)


def plenty_summary(staging_url: str, sandbox: str) -> list[dict]:
    rows = []
    with closing(db.connect(staging_url)) as conn, conn.cursor() as cur:
        for system, _user, _password in plenty_systems():
            state = requests.get(f"{sandbox}/_sandbox/plentymarkets/{system}/state", timeout=10).json()
            orders = state["orders"]
            ours = {o["id"]: [float(h["to"]) for h in o["history"] if h.get("source") != "backend"] for o in orders}
            cur.execute(
                """SELECT count(*), count(*) FILTER (WHERE status = 'awaiting_mapping'),
                          count(*) FILTER (WHERE attention IS NOT NULL),
                          (SELECT count(*) FROM staging.returns WHERE channel = 'plentymarkets' AND account = %s),
                          (SELECT count(*) FROM staging.returns WHERE channel = 'plentymarkets' AND account = %s
                             AND order_id IS NOT NULL),
                          (SELECT coalesce(sum(l.quantity), 0) FROM staging.return_lines l
                             JOIN staging.returns r ON r.id = l.return_id
                             WHERE r.channel = 'plentymarkets' AND r.account = %s),
                          (SELECT count(*) FROM staging.outbox WHERE channel = 'plentymarkets' AND account = %s
                             AND status = 'pending')
                   FROM staging.orders WHERE channel = 'plentymarkets' AND account = %s""",
                (system, system, system, system, system),
            )
            staged, awaiting, flagged, returns, linked, units, pending = cur.fetchone()
            rows.append({
                "channel": "plentymarkets", "account": system, "orders in sandbox": len(orders),
                "in staging": staged,
                **{label: sum(1 for h in ours.values() if status in h)
                   for label, status in (("5.1 transferred", 5.1), ("6.2 bad address", 6.2), ("6.3 no stock", 6.3),
                                         ("8.8 cancel answered", 8.8))},
                "awaiting mapping": awaiting, "flagged for a person": flagged,
                "shipped (package + 7)": sum(1 for o in orders if o["packages"] and 7.0 in ours[o["id"]]),
                "return orders in sandbox": len(state["returns"]), "returns recorded": returns,
                "linked to their order": linked, "units coming back": units,
                "set twice": sum(1 for h in ours.values() if len(h) != len(set(h)))
                + sum(1 for o in orders if len(o["packages"]) != len({p["packageNumber"] for p in o["packages"]})),
                "pending write-backs": pending,
            })
    return rows


def week_one_columns(cur, rows: list[dict]) -> list[dict]:
    """Each row with what needs a person next: orders partly shipped, and open attention by reason."""
    for row in rows:
        cur.execute("SELECT count(*) FROM staging.orders WHERE channel = %s AND account = %s"
                    " AND status = 'partially_shipped'", (row["channel"], row["account"]))
        row["partially shipped"] = cur.fetchone()[0]
        cur.execute("SELECT reason, count(*) FROM staging.attention WHERE channel = %s AND account = %s"
                    " AND cleared_at IS NULL GROUP BY 1 ORDER BY 2 DESC, 1", (row["channel"], row["account"]))
        row["attention by reason"] = ", ".join(f"{reason} {n}" for reason, n in cur.fetchall()) or "none"
    return rows


def print_table(rows: list[dict]) -> None:
    headers = list(rows[0])
    widths = [max(len(h), *(len(str(r[h])) for r in rows)) for h in headers]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(row[h]).ljust(w) for h, w in zip(headers, widths, strict=True)))


def prepare(env: dict[str, str], new_sandbox: bool) -> None:
    """Staging and Airflow's database migrated, the demo catalogue seeded (products, stock, aliases,
    bundles, carrier codes; idempotent). Staging starts empty with a new sandbox: what it held
    belonged to the one that is gone."""
    staging_url = env["ORDERBRIDGE_STAGING_URL"]
    if new_sandbox:
        empty_staging(staging_url)
    db.migrate(staging_url)
    sh("airflow", "db", "migrate", env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with closing(db.connect(staging_url)) as conn:
        with conn.cursor() as cur:
            seed_catalogue(cur, "groupon")
            seed_catalogue(cur, "plentymarkets")
            mk.seed_warehouse(cur, mids=(MERKANA_MID,))
            octo.seed_warehouse(cur)
            sr.seed_warehouse(cur)
            execute_values(cur, "INSERT INTO staging.carrier_codes (channel, courier_service, carrier_code) VALUES %s"
                                " ON CONFLICT DO NOTHING",
                           [("plentymarkets", service, profile) for service, profile in PLENTY_PROFILES.items()])
        conn.commit()


def main() -> None:
    started = time.monotonic()
    command = sys.argv[1] if len(sys.argv) > 1 else "run"
    sandbox, new_sandbox = sandbox_url()
    if command == "sandbox":
        print(sandbox)
        return
    if command == "up":  # scripts/airflow.sh: everything but Airflow's processes; the exports on stdout
        env = airflow_env(sandbox, connections=False)
        prepare(env, new_sandbox)
        receiver = f"http://127.0.0.1:{os.environ.get('AIRFLOW_PORT', '8080')}"  # the API server's plugin
        print(airflow_conns.write_connections(sandbox_connections(sandbox, receiver), env, overwrite=new_sandbox),
              file=sys.stderr)
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
        return
    env = airflow_env(sandbox)
    staging_url = env["ORDERBRIDGE_STAGING_URL"]
    print(f"PostgreSQL: {staging_url}\nSandbox:    {sandbox}")
    prepare(env, new_sandbox)
    for platform in merkana_platforms():
        # make demo runs no API server: serve the same plugin app alone for the platform to call
        with mk.start_inbound(env, log_path=LOCAL / "merkana-inbound.log") as ours:
            sent = mk.demo_run(sandbox, f"{ours.url}/merkana", platform=platform, mid=MERKANA_MID, orders=40)
        print(f"Merkana platform {platform} called our endpoints: {sent}")
    # On a 10-minute boundary: the DAGs' cron intervals end there, so each cycle's window is the
    # ten minutes before its date (Octopia's orders are dated inside cycle 1's).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    now -= timedelta(minutes=now.minute % 10)
    if new_sandbox:  # Octopia is read by window: its orders are dated where cycle 1 reads
        print(f"Octopia seller {octo.SELLER} got {octo.add_orders(sandbox, now - timedelta(minutes=20))} orders")
        print(f"Shoprenter shops {', '.join(sr.SHOPS)} got {sr.add_orders(sandbox)} orders")
    receiver = sr.start_receiver(env, LOCAL / "shoprenter-inbound.log")  # the shops' webhooks reach it
    env.update({f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn)
                for conn_id, conn in sr.connections(sandbox, receiver.url).items()})
    print("Cycle 1: import orders, acknowledge them, reconcile stock")
    run_cycle(env, now - timedelta(minutes=20))
    with closing(db.connect(staging_url)) as conn:
        with conn.cursor() as cur:
            shipped = sum(ship_some(cur, "groupon", name) for name, _s, _t in sandbox_accounts())
            plenty = plenty_between_cycles(cur, sandbox)
            shipped += sum(ship_some(cur, "merkana", f"{p}/{MERKANA_MID}") for p in merkana_platforms())
            shipped += octo.between_cycles(cur, sandbox)
            shipped += sr.between_cycles(cur, sandbox)
        conn.commit()
    print(f"Warehouse simulator shipped {shipped} Groupon, Merkana and Octopia orders; plentymarkets {plenty}")
    print("Cycle 2: post tracking for the shipped orders")
    run_cycle(env, now - timedelta(minutes=10))
    with closing(db.connect(staging_url)) as conn, conn.cursor() as cur:
        merkana_rows, octopia_rows = mk.summary_rows(cur, sandbox), octo.summary_rows(cur, sandbox)
        shoprenter_rows = sr.summary_rows(cur, sandbox)
    receiver.stop()
    tables = {"shoprenter": lambda: shoprenter_rows, "groupon": lambda: summary(staging_url, sandbox),
              "plentymarkets": lambda: plenty_summary(staging_url, sandbox), "merkana": lambda: merkana_rows,
              "octopia": lambda: octopia_rows}
    for channel in CHANNELS:  # one table per registered channel
        print()
        if channel in tables:
            with closing(db.connect(staging_url)) as conn, conn.cursor() as cur:
                print_table(week_one_columns(cur, tables[channel]()))
        else:
            print(f"{channel}: its DAG runs above; it has no demo table yet (scripts/demo.py)")
    if PROBLEMS:
        sys.exit("\nThe demo's invariants did not hold:\n  " + "\n  ".join(PROBLEMS))
    print(f"\nDone in {time.monotonic() - started:.0f} s. The staging database stays up: psql {staging_url}")
    print("Task logs: .local/airflow/logs; `make down` stops PostgreSQL and the sandbox.")


if __name__ == "__main__":
    main()
