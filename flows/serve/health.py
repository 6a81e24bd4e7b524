"""Operational alerts about serve's own runs, to `[health] alert_channels`:

- a scheduled run that failed, crashed or timed out: one alert when a streak of such runs starts
  (with the reason in one line), and a recovery note when a run completes again;
- no run completed for 3 x the schedule's interval: one alert, and a note when one completes.

serve learns how each run ended from Prefect (the flow runs of its deployment), so a run killed
outright (crashed, with no chance to say so itself) is seen too. The state is kept in a small JSON
file beside the warehouse, so a restarted serve does not alert again for a streak already reported.
These alerts go straight to the channels (serve does not hold the warehouse while runs write it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alerts.deliver import deliver
from extractors.records import Alert
from flows.channels import SecretUnavailable, build_channel
from flows.settings import Settings

STALE_AFTER_INTERVALS = 3
RULE = "serve-health"


def health_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".serve-health.json")


@dataclass
class RunHealth:
    path: Path
    failing_since: str | None = None  # the first failed run of the current streak
    failed_runs: int = 0
    last_completed: str | None = None  # ISO time
    stale_alerted: bool = False
    seen: list[str] = field(default_factory=list)  # flow run ids already counted (newest last)

    @classmethod
    def load(cls, path: Path) -> RunHealth:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(path=path, **{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError):
            return cls(path=path)

    def save(self) -> None:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "path"}
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.path)

    def observe(self, run_id: str, name: str, outcome: str, why: str, ended: datetime) -> list[str]:
        """A finished run: outcome is completed, failed, crashed or timed_out. Returns the subjects of
        the alerts to raise (none, one, or a recovery note)."""
        if run_id in self.seen:
            return []
        self.seen = [*self.seen[-199:], run_id]
        subjects = []
        if outcome == "completed":
            if self.failing_since is not None:
                subjects.append(
                    f"newswatch runs recovered: run {name} completed after {self.failed_runs} "
                    f"that did not (since {self.failing_since})"
                )
            elif self.stale_alerted:
                subjects.append(f"newswatch runs completing again: run {name} completed")
            self.failing_since, self.failed_runs, self.stale_alerted = None, 0, False
            self.last_completed = ended.astimezone(UTC).isoformat()
        else:
            self.failed_runs += 1
            if self.failing_since is None:
                self.failing_since = ended.astimezone(UTC).isoformat(timespec="seconds")
                subjects.append(f"newswatch scheduled run {name} {outcome.replace('_', ' ')}: {why}")
        return subjects

    def check_stale(self, now: datetime, interval: timedelta, serving_since: datetime) -> list[str]:
        """One alert when no run has completed for 3 x the interval (counted from serve's start
        when none ever did)."""
        last = datetime.fromisoformat(self.last_completed) if self.last_completed else serving_since
        limit = STALE_AFTER_INTERVALS * interval
        if self.stale_alerted or now - last < limit:
            return []
        self.stale_alerted = True
        since = (
            f"since {last.astimezone():%Y-%m-%d %H:%M %Z}" if self.last_completed else "since serve started"
        )
        return [f"newswatch: no scheduled run has completed {since} ({STALE_AFTER_INTERVALS} x the interval)"]


def send_operational(settings: Settings, subject: str) -> list[str]:
    """Deliver one operational message to every health channel; returns the errors (none if sent)."""
    errors = []
    for name in settings.health.alert_channels:
        alert = Alert(
            alert_id=0, rule=RULE, channel=name, story=None, notice=subject, created_at=datetime.now(UTC)
        )
        try:
            outcome = deliver(build_channel(name, settings.channels[name]), [alert])
        except SecretUnavailable as e:
            errors.append(f"{name}: {e}")
            continue
        if not outcome.ok:
            errors.append(f"{name}: {outcome.error}")
    return errors
