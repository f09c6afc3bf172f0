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

from orderbridge_sandbox.app import create_app, fakes
from orderbridge_sandbox.faults import FaultSpecError, register_connection
from orderbridge_sandbox.plugin import Fake, FakeNotFound


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


def _anchor(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--anchor takes an ISO datetime: {err}") from err


def build_parser(plugged: dict[str, Fake] | None = None) -> argparse.ArgumentParser:
    """The command line: the sandbox's own options around those of every registered channel's fake."""
    parser = argparse.ArgumentParser(prog="python -m orderbridge_sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=42, help="drives all generated data and fault rates")
    for fake in (fakes() if plugged is None else plugged).values():  # each channel's own options
        fake.add_arguments(parser)
    parser.add_argument("--days", type=float, default=2.0, help="initial orders spread over this many days")
    parser.add_argument("--anchor", type=_anchor, default=None,
                        help="ISO datetime the order dates end at (naive = UTC; default now)")
    parser.add_argument("--fault", action="append", type=_fault, default=[], metavar="JSON",
                        help='a fault rule active from the start, e.g. \'{"channel":"groupon","kind":"429",'
                             '"rate":0.1,"retry_after":1}\' (repeatable)')
    parser.add_argument("--log-level", default="warning")
    return parser


def main(argv: list[str] | None = None) -> None:
    try:
        plugged = fakes()
    except FakeNotFound as err:
        raise SystemExit(str(err)) from err
    args = build_parser(plugged).parse_args(argv)
    for fake in plugged.values():
        if problem := fake.check(args):
            raise SystemExit(problem)
    try:
        app = create_app(seed=args.seed, days=args.days, anchor=args.anchor, faults=args.fault, options=args)
    except FaultSpecError as err:
        raise SystemExit(f"--fault: {err}") from err
    served = "; ".join(line for fake in plugged.values() if (line := fake.summary(args)))
    print(f"orderbridge sandbox on http://{args.host}:{args.port}" + (f" ({served})" if served else ""),
          file=sys.stderr, flush=True)
    config = uvicorn.Config(app, host=args.host, port=args.port, workers=1, log_level=args.log_level,
                            access_log=False, proxy_headers=False, http=_TrackedH11Protocol,
                            timeout_graceful_shutdown=2)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
