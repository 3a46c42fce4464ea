"""The bench harness in miniature, so that it cannot rot: real servers, real load,
every scenario, seconds long. Its figures mean nothing; only that it runs does."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, PG_ADMIN_URL, TemporaryDatabases, _pg_execute

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_bench_runs_end_to_end(temporary_databases: TemporaryDatabases) -> None:
    temporary_databases.new("postgresql")  # skips (or fails in CI) without PostgreSQL
    admin = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    database = f"zhendi_bench_smoke_{os.getpid()}"
    env = {**os.environ, "BENCH_PG_ADMIN": admin, "BENCH_PG_DATABASE": database}
    loadgen = "python" if IN_CI else "auto"  # CI has no wrk; the fallback must work too
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench.run", "--smoke", "--loadgen", loadgen],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    assert result.returncode == 0, result.stdout + result.stderr
    scenarios = (
        "floor: one INSERT",
        "availability",
        "book: exclusive meeting room",
        "book: study-room seat with a door code",
        "book: company account under a quota rule",
        "book with Idempotency-Key",
        "verify",
        "surge",
        "sign up for an activity",  # "not measured" where the tree has no sign-ups
        "list this week's activities near me",
        "poll the map around me",
        "memory, every scenario",
        "memory",
    )
    for scenario in scenarios:
        assert f"| {scenario} |" in result.stdout
    for engine in ("postgresql", "sqlite"):  # each against its own floor
        assert f"| floor: one INSERT | {engine} |" in result.stdout
        assert f"| list this week's activities near me | {engine} |" in result.stdout
        assert f"| poll the map around me | {engine} |" in result.stdout


@pytest.mark.slow
def test_the_report_bench_runs(temporary_databases: TemporaryDatabases) -> None:
    temporary_databases.new("postgresql")  # skips (or fails in CI) without PostgreSQL
    admin = PG_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    database = f"zhendi_bench_reports_smoke_{os.getpid()}"
    env = {**os.environ, "BENCH_PG_ADMIN": admin, "BENCH_REPORTS_DATABASE": database}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bench.reports", "--smoke"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    assert result.returncode == 0, result.stdout + result.stderr
    for scenario in ("month by space", "month by weekday_hour", "year by space"):
        assert f"| {scenario} |" in result.stdout


def test_the_series_expansion_bench_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.series", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "| `FREQ=DAILY;INTERVAL=7;BYDAY=TU;COUNT=1` |" in result.stdout
    assert "most days looked at 366 (horizon 366)" in result.stdout
