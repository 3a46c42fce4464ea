"""The job counters in /metrics. Runs happen in every worker process, so the
counts live in the database (``job_stats``); the API process that is scraped
reads them there."""

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.core.db import Database
from app.jobs.registry import job_stats
from app.models import JobStats


class _Snapshot(Collector):
    def __init__(self, rows: list[JobStats]) -> None:
        self._rows = rows

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        runs = CounterMetricFamily("zhendi_job_runs", "Runs of a periodic job", labels=["job"])
        failures = CounterMetricFamily(
            "zhendi_job_failures", "Runs of a periodic job that failed", labels=["job"]
        )
        changed = CounterMetricFamily(
            "zhendi_job_changed_rows", "Rows the runs of a periodic job changed", labels=["job"]
        )
        last = GaugeMetricFamily(
            "zhendi_job_last_finished_timestamp_seconds",
            "When the last run of a periodic job finished",
            labels=["job"],
        )
        for row in self._rows:
            runs.add_metric([row.job], row.runs)
            failures.add_metric([row.job], row.failures)
            changed.add_metric([row.job], row.changed)
            last.add_metric([row.job], row.last_finished_at.timestamp())
        yield from (runs, failures, changed, last)


async def exposition(database: Database) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(await job_stats(database)))
    return generate_latest(registry)
