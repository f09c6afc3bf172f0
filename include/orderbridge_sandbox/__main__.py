"""Command line: serve the sandbox with uvicorn.

    python -m orderbridge_sandbox --port 8765 --seed 42 --groupon 1001:secret-token:40 \
        --plentymarkets demo:rest-user:secret-pw:40

One worker, log level ``warning`` and no access log: Groupon's token travels in the query string,
and an access log would print it. Tokens and passwords are never echoed at start either.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from orderbridge_sandbox.app import GrouponAccountSpec, create_app
from orderbridge_sandbox.faults import FaultSpecError, register_connection
from orderbridge_sandbox.merkana import PlatformSpec as MerkanaPlatformSpec
from orderbridge_sandbox.plentymarkets import PlentySystemSpec


class _TrackedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, registering each connection so ``reset`` faults can abort it."""

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        register_connection(self.client, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        register_connection(self.client, None)
        super().connection_lost(exc)


def _fault(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--fault takes a JSON object: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--fault takes a JSON object")
    return value


def _spec(parse):
    """An argparse ``type`` from a spec's ``parse``: its ValueError becomes a usage error."""
    def convert(text: str):
        try:
            return parse(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from err

    return convert


def _anchor(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--anchor takes an ISO datetime: {err}") from err


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m orderbridge_sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42, help="drives all generated data and fault rates")
    parser.add_argument("--groupon", action="append", type=_spec(GrouponAccountSpec.parse), default=[],
                        metavar="SUPPLIER_ID:TOKEN:N",
                        help="a Groupon supplier account with N initial orders (repeatable)")
    parser.add_argument("--groupon-page-size", type=int, default=250, help="get_orders max_items_per_page")
    parser.add_argument("--groupon-auth-failure-status", type=int, default=401,
                        help="HTTP status for bad credentials (the live value is unknown; 401 or 200)")
    parser.add_argument("--groupon-split-rate", type=float, default=0.03,
                        help="share of orders sent as two entries with the same orderid (each with its own ship-to)")
    parser.add_argument("--groupon-cancel-rate", type=float, default=0.03,
                        help="share of lines already cancelled or refunded when first listed")
    parser.add_argument("--groupon-ascii-json", action="store_true",
                        help="answer with \\u escapes instead of raw UTF-8 under text/json")
    parser.add_argument("--plentymarkets", action="append", type=_spec(PlentySystemSpec.parse), default=[],
                        metavar="SYSTEM:USERNAME:PASSWORD:N",
                        help="a plentymarkets system (served under /plentymarkets/SYSTEM) with its REST user and "
                             "N initial orders (repeatable; the password may contain ':')")
    parser.add_argument("--plenty-token-ttl", type=int, default=86_400, help="login expires_in, seconds")
    parser.add_argument("--plenty-max-sessions", type=int, default=3, help="concurrent sessions per user")
    parser.add_argument("--plenty-read-limit", type=int, default=200,
                        help="GET calls per user per rate window (Classic plan: 200 a minute)")
    parser.add_argument("--plenty-write-limit", type=int, default=80,
                        help="POST/PUT/DELETE calls per user per rate window (Classic plan: 80 a minute)")
    parser.add_argument("--plenty-rate-window", type=float, default=60.0, help="rate window length, seconds")
    parser.add_argument("--plenty-numbers-as-strings", action="store_true",
                        help="answer paging numbers, order ids, quantities and amounts as strings, as some "
                             "live systems do (the spec says numbers)")
    parser.add_argument("--plenty-max-items-per-page", type=int, default=250,
                        help="itemsPerPage cap (a guess: the spec gives no maximum)")
    parser.add_argument("--merkana", action="append", type=_spec(MerkanaPlatformSpec.parse), default=[],
                        metavar="PLATFORM:OUR_TOKEN:THEIR_TOKEN",
                        help="a fake Merkana platform: it sends OUR_TOKEN when it calls our endpoints and requires "
                             "THEIR_TOKEN on our ff-orders-status / ff-supplies posts (repeatable)")
    parser.add_argument("--merkana-stock-mode", choices=("delta", "absolute"), default="delta",
                        help="how the fake applies ff-supplies br: added to its stock (delta) or as the level")
    parser.add_argument("--days", type=float, default=2.0, help="initial orders spread over this many days")
    parser.add_argument("--anchor", type=_anchor, default=None,
                        help="ISO datetime the order dates end at (naive = UTC; default now)")
    parser.add_argument("--fault", action="append", type=_fault, default=[], metavar="JSON",
                        help='a fault rule active from the start, e.g. \'{"channel":"groupon","kind":"429",'
                             '"rate":0.1,"retry_after":1}\' (repeatable)')
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.groupon_page_size < 1:
        raise SystemExit("--groupon-page-size must be at least 1")
    if min(args.plenty_token_ttl, args.plenty_max_sessions, args.plenty_read_limit, args.plenty_write_limit,
           args.plenty_max_items_per_page) < 1 or args.plenty_rate_window <= 0:
        raise SystemExit("--plenty-* limits, the token TTL and the rate window must be positive")
    try:
        app = create_app(seed=args.seed, groupon_accounts=args.groupon, groupon_page_size=args.groupon_page_size,
                         groupon_auth_failure_status=args.groupon_auth_failure_status,
                         groupon_split_rate=args.groupon_split_rate, groupon_cancel_rate=args.groupon_cancel_rate,
                         groupon_raw_utf8=not args.groupon_ascii_json, days=args.days, anchor=args.anchor,
                         faults=args.fault, plentymarkets_systems=args.plentymarkets,
                         plenty_token_ttl=args.plenty_token_ttl, plenty_max_sessions=args.plenty_max_sessions,
                         plenty_read_limit=args.plenty_read_limit, plenty_write_limit=args.plenty_write_limit,
                         plenty_rate_window=args.plenty_rate_window,
                         plenty_numbers_as_strings=args.plenty_numbers_as_strings,
                         plenty_max_items_per_page=args.plenty_max_items_per_page,
                         merkana_platforms=args.merkana, merkana_stock_mode=args.merkana_stock_mode)
    except FaultSpecError as err:
        raise SystemExit(f"--fault: {err}") from err
    accounts = ", ".join(a.supplier_id for a in args.groupon) or "none"
    systems = ", ".join(s.system for s in args.plentymarkets) or "none"
    print(f"orderbridge sandbox on http://{args.host}:{args.port} (groupon accounts: {accounts};"
          f" plentymarkets systems: {systems})", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, workers=1, log_level=args.log_level,
                            access_log=False, proxy_headers=False, http=_TrackedH11Protocol,
                            timeout_graceful_shutdown=2)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
