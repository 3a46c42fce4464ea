"""What a periodic job's run reports (the jobs themselves live in their
domains; ``app/jobs`` schedules and counts them)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """What one run changed, for the job's log, the CLI and /metrics."""

    changed: int
    summary: str
