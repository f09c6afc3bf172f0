"""Incremental windows: which slice of time one extract covers.

A scheduled or backfill run has a data interval and reads exactly that. A manual run may have none
(Airflow 3 manual runs carry no interval); then the window runs from the stored watermark, minus
an overlap, to now. The overlap is harmless because every load is an upsert by natural key; it
catches orders a channel indexes a little late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_OVERLAP = timedelta(minutes=10)
DEFAULT_FIRST_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def slices(self, longest: timedelta) -> list[Window]:
        """Cut the window into consecutive pieces no longer than ``longest``."""
        pieces, start = [], self.start
        while start < self.end:
            end = min(start + longest, self.end)
            pieces.append(Window(start, end))
            start = end
        return pieces


def resolve_window(interval_start: datetime | None, interval_end: datetime | None, watermark: str | None,
                   now: datetime | None = None, overlap: timedelta = DEFAULT_OVERLAP,
                   first_lookback: timedelta = DEFAULT_FIRST_LOOKBACK) -> Window:
    """The run's data interval if it has one, else watermark - overlap .. now."""
    if interval_start is not None and interval_end is not None and interval_end > interval_start:
        return Window(interval_start, interval_end)
    now = now or datetime.now(UTC)
    start = datetime.fromisoformat(watermark) - overlap if watermark else now - first_lookback
    return Window(start, now)
