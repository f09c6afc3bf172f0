"""The deadline watch: open orders ordered by the time left before a channel's deadline.

A channel's deadlines come from its ``TrackingShape`` (Groupon: tracking due 1 business day after the
order, cancelled without tracking after 7, partially shipped orders cancelled at the date
``shipments.py`` raises as ``partially_shipped_deadline``). ``ORDERBRIDGE_DEADLINES`` (JSON, channel ->
``{"tracking_due_business_days": n, "cancel_unshipped_business_days": n}``) sets or overrides them per
channel; ``ORDERBRIDGE_DEADLINE_WARN_HOURS`` (default 24) is how near counts as near. Business days are
Monday to Friday: public holidays are not known here (a guess, in the README's table).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderbridge.channels.registry import CHANNELS

OPEN = ("ready", "awaiting_mapping", "invalid_address", "awaiting_stock", "in_progress", "partially_shipped")


class InvalidDeadlines(ValueError):
    """``ORDERBRIDGE_DEADLINES`` or ``ORDERBRIDGE_DEADLINE_WARN_HOURS`` is set to something unusable."""


class ChannelDeadlines(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tracking_due_business_days: int | None = Field(None, ge=0, le=60)
    cancel_unshipped_business_days: int | None = Field(None, ge=0, le=60)


class DeadlineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERBRIDGE_", extra="ignore")
    deadlines: dict[str, ChannelDeadlines] = {}
    deadline_warn_hours: float = Field(24, gt=0)

    @classmethod
    def from_environment(cls) -> DeadlineSettings:
        """The settings the environment gives.

        Raises:
            InvalidDeadlines: a setting is not valid JSON or not a valid rule, naming the variable.
        """
        try:
            return cls()
        except ValidationError as e:
            raise InvalidDeadlines("; ".join(
                f"{cls.model_config['env_prefix']}{str(err['loc'][0]).upper()}: "
                f"{'.'.join(map(str, err['loc'][1:])) or 'value'}: "
                f"{err['msg']}" for err in e.errors())) from e
        except ValueError as e:  # pydantic-settings: the variable's text is not JSON
            raise InvalidDeadlines(f"ORDERBRIDGE_DEADLINES is not a JSON object of channel -> rules ({e.__cause__})") \
                from e

    def of(self, channel: str) -> ChannelDeadlines:
        shape = getattr(CHANNELS.get(channel), "tracking", None)
        base = ChannelDeadlines(tracking_due_business_days=getattr(shape, "tracking_due_business_days", None),
                                cancel_unshipped_business_days=getattr(shape, "cancel_unshipped_business_days", None))
        override = self.deadlines.get(channel)
        return base.model_copy(update=override.model_dump(exclude_unset=True)) if override else base


def add_business_days(start: datetime, days: int) -> datetime:
    """``start`` plus ``days`` working days (Monday to Friday), at the same time of day."""
    moment = start
    while days > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            days -= 1
    return moment


def watch(cur, now: datetime, settings: DeadlineSettings | None = None) -> list[dict]:
    """Open orders with a deadline within the warning window (or past), the nearest first."""
    settings = settings or DeadlineSettings.from_environment()
    cur.execute("""SELECT o.id, o.channel, o.account, o.external_order_id, o.status,
                          coalesce(o.placed_at, o.created_at) AS placed_at,
                          EXISTS (SELECT 1 FROM staging.shipments s WHERE s.order_id = o.id) AS has_tracking,
                          (SELECT a.detail->>'deadline' FROM staging.attention a WHERE a.order_id = o.id
                             AND a.reason = 'partially_shipped_deadline' AND a.cleared_at IS NULL LIMIT 1) AS partial
                   FROM staging.orders o WHERE o.status = ANY(%s)""", (list(OPEN),))
    warn = timedelta(hours=settings.deadline_warn_hours)
    found = []
    for order_id, channel, account, ext, status, placed, has_tracking, partial in cur.fetchall():
        rules = settings.of(channel)
        candidates = []
        if partial:
            candidates.append(("cancelled while partially shipped", datetime.fromisoformat(partial)))
        if not has_tracking and placed is not None:
            if rules.tracking_due_business_days is not None:
                candidates.append(("tracking due", add_business_days(placed, rules.tracking_due_business_days)))
            if rules.cancel_unshipped_business_days is not None:
                candidates.append(("cancelled without tracking",
                                   add_business_days(placed, rules.cancel_unshipped_business_days)))
        for what, due in candidates:
            if due - now <= warn:
                found.append({"order_id": order_id, "channel": channel, "account": account,
                              "external_order_id": ext, "status": status, "deadline": what, "due": due,
                              "seconds_left": int((due - now).total_seconds())})
    return sorted(found, key=lambda d: d["seconds_left"])
