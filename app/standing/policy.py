"""How many no-shows suspend a resident, for how long: each center's own
numbers where it set them, the service's defaults elsewhere."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.config import Settings
from app.models import Center


@dataclass(frozen=True)
class Policy:
    points_to_suspend: int
    window: timedelta  # a violation's point counts this long
    suspension: timedelta

    def counts_since(self, now: datetime) -> datetime:
        return now - self.window


def policy_for(center: Center, settings: Settings) -> Policy:
    points = center.violation_points_to_suspend or settings.violation_points_to_suspend
    window_days = center.violation_window_days or settings.violation_window_days
    suspension_days = center.suspension_days or settings.suspension_days
    return Policy(points, timedelta(days=window_days), timedelta(days=suspension_days))
