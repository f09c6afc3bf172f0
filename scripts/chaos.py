"""`make chaos`: the full fault-injection, crash and bad-input suite, with the figures.

Runs ``tests/chaos`` in its full form (``ORDERBRIDGE_CHAOS=full``: more orders, more faulted DAG
runs, every crash point on every channel), on the test suite's own throwaway PostgreSQL and
sandboxes, then prints the results table and writes it, with the details, to
``chaos/results.md``. Exits non-zero when any promise broke. Its Hypothesis tests run the
``explore`` profile (``tests/conftest.py``: new random examples each run, where ``make test`` replays
the same ones); ``HYPOTHESIS_PROFILE`` in the environment overrides it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))
from orderbridge_chaos.run import COLUMNS  # noqa: E402

RESULTS = REPO / "chaos" / "results.md"


def main() -> int:
    records = REPO / "chaos" / "results.jsonl"
    records.parent.mkdir(exist_ok=True)
    records.unlink(missing_ok=True)
    env = dict(os.environ, ORDERBRIDGE_CHAOS="full", ORDERBRIDGE_CHAOS_RESULTS=str(records),
               HYPOTHESIS_PROFILE=os.environ.get("HYPOTHESIS_PROFILE", "explore"))
    started = time.monotonic()
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/chaos"], cwd=REPO,
                           env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    summary = [line for line in tests.stdout.splitlines() if line.startswith(("FAILED", "ERROR", "XFAIL"))
               or " passed" in line or " failed" in line]
    rows = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()] if records.exists() else []
    widths = [max(len(c), *(len(r["row"][i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r["row"], widths, strict=True)))
    print()
    print("\n".join(r["details"] for r in rows))
    print("\n".join(summary))
    table = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
             *("| " + " | ".join(r["row"]) + " |" for r in rows)]
    RESULTS.write_text("\n".join([
        "# orderbridge chaos run", "",
        f"`make chaos` on {time.strftime('%Y-%m-%d %H:%M')} ({wall:.0f} s in all, 2-core machine).", "",
        "## Fault-injection runs (real DAG runs, `dag.test()`)", "", *table, "", *(r["details"] for r in rows), "",
        "## Every chaos test (fault runs, SIGKILL at each step boundary, PostgreSQL stopped mid-run, backfill "
        "racing the scheduled run, property tests, inbound abuse, secrets)", "", "```", *summary, "```", ""]),
        encoding="utf-8")
    records.unlink(missing_ok=True)
    print(f"\nwritten: {RESULTS.relative_to(REPO)}")
    return tests.returncode


if __name__ == "__main__":
    sys.exit(main())
