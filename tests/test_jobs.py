"""The periodic jobs as operators run them: ``zhendi jobs``, ``zhendi worker``
processes, the runner inside ``zhendi serve``, and their counts in /metrics.
Also the race the jobs must not lose: a door unlock against the no-show
release of the same booking."""

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app import demo
from app.core.clock import utcnow
from app.core.migrate import upgrade
from app.jobs.registry import JOBS, run_job
from app.models import AuditEvent, JobStats, Reservation, ReservationStatus, Violation
from tests.conftest import TemporaryDatabases, make_settings, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    local,
    verified_resident,
    verify_real_name,
)
from tests.test_doors import door_code, next_slot, try_code
from tests.test_lifecycle import STUDY_ROOM, reservation
from tests.test_production import production_env

pytestmark = pytest.mark.dates

ZHENDI = str(Path(sys.executable).with_name("zhendi"))
DAY = days_ahead(1)


def zhendi(
    cwd: Path, *args: str, database_url: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    base = {key: value for key, value in os.environ.items() if not key.startswith("ZHENDI_")}
    return subprocess.Popen(
        [ZHENDI, *args],
        cwd=cwd,
        env={**base, "ZHENDI_DATABASE_URL": database_url, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(process: subprocess.Popen[str], timeout: float = 120) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def migrated(temporary_databases: TemporaryDatabases, engine: str) -> str:
    url = temporary_databases.new(engine)
    asyncio.run(upgrade(url))
    return url


# --- a newcomer on the demo data ----------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_a_newcomer_sees_a_no_show_released_by_jobs_run_at(
    engine: str, tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    """Book 阅心书斋, do not come, ``zhendi jobs run --at <start + 20 min>``:
    the seat is free again and the violation is on the resident's standing."""
    settings = make_settings(await asyncio.to_thread(migrated, temporary_databases, engine))
    await demo.seed_demo_database(settings)
    async with running(settings) as api:
        resident = await api.resident(demo.DEMO_RESIDENT_CODE.removeprefix("dev:"))
        verified = await verify_real_name(api, resident, demo.DEMO_ID_NUMBER)
        assert verified.status_code == 200, verified.text
        listed = await api.client.get("/api/v1/spaces", params={"kind": "study_room"})
        spaces = listed.json()["items"]
        [room] = [space for space in spaces if space["name"] == "阅心书斋"]
        assert room["requires_check_in"] is True
        response = await book(api, resident, room["id"], DAY, "10:00", "11:00")
        assert response.status_code == 201, response.text
        held = response.json()

        start = local(DAY, "10:00")
        at = (start + timedelta(minutes=20)).isoformat()
        async with api.database.reader() as session:  # the demo's bookings of today
            ended = await session.scalar(
                select(func.count()).where(
                    Reservation.status == ReservationStatus.confirmed,
                    Reservation.ends_at <= start + timedelta(minutes=20),
                )
            )
        process = zhendi(tmp_path, "jobs", "run", "--at", at, database_url=settings.database_url)
        output = await asyncio.to_thread(finished, process)
        assert f"release-no-shows: 1 no-shows released (reservations {held['id']})" in output
        assert f"complete-finished: {ended} bookings completed" in output
        assert "expire-pending: 0 pending requests expired" in output

        assert (await reservation(api, resident, held["id"]))["status"] == "no_show"
        slots = (
            await api.client.get(
                f"/api/v1/spaces/{room['id']}/availability", params={"date": DAY.isoformat()}
            )
        ).json()["slots"]
        assert {slot["start"][11:16]: slot["remaining"] for slot in slots}["10:00"] == 10
        standing = (await api.client.get("/api/v1/me/standing", headers=resident)).json()
        assert standing["points"] == 1
        assert standing["violations"][0]["reservation_id"] == held["id"]


# --- two runners at once ------------------------------------------------------------------------


async def lifecycle_fixture(api: Api, count: int) -> dict[str, list[int]]:
    """``count`` (at most 12) bookings each of three kinds, tomorrow: no-shows to
    release, confirmed ones to complete, pending requests to expire."""
    staff = await api.staff()
    center_id = (await api.center(staff))["id"]
    checked = int((await api.space(center_id, staff, **{**STUDY_ROOM, "capacity": count}))["id"])
    plain = int((await api.space(center_id, staff, capacity=count, booking_mode="shared"))["id"])
    approved = int((await api.space(center_id, staff, requires_approval=True))["id"])
    kinds: dict[str, list[int]] = {"no_show": [], "completed": [], "expired": []}
    for index in range(count):
        resident = await verified_resident(api)
        for kind, space_id in (("no_show", checked), ("completed", plain)):
            response = await book(api, resident, space_id, DAY, "10:00", "11:00")
            assert response.status_code == 201, response.text
            kinds[kind].append(response.json()["id"])
        hour = f"{9 + index:02d}"  # one request an hour: 09:00 to 20:30 at most
        asked = await book(api, resident, approved, DAY, f"{hour}:00", f"{hour}:30")
        assert asked.status_code == 201, asked.text
        kinds["expired"].append(asked.json()["id"])
    return kinds


async def assert_changed_once(api: Api, kinds: dict[str, list[int]]) -> None:
    async with api.database.reader() as session:
        for status, ids in kinds.items():
            statuses = (
                await session.scalars(select(Reservation.status).where(Reservation.id.in_(ids)))
            ).all()
            assert Counter(s.value for s in statuses) == {status: len(ids)}
            moves = (
                await session.execute(
                    select(AuditEvent.entity_id, func.count())
                    .where(
                        AuditEvent.entity == "reservation",
                        AuditEvent.entity_id.in_(ids),
                        AuditEvent.to_status == status,
                    )
                    .group_by(AuditEvent.entity_id)
                )
            ).all()
            assert sorted(moves) == [(i, 1) for i in sorted(ids)]
        violations = (
            await session.scalars(
                select(Violation.reservation_id).order_by(Violation.reservation_id)
            )
        ).all()
        assert violations == sorted(kinds["no_show"])


async def test_two_jobs_runs_at_once_change_each_booking_once(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    """SQLite: two ``zhendi jobs run`` processes started together."""
    settings = make_settings(await asyncio.to_thread(migrated, temporary_databases, "sqlite"))
    async with running(settings) as api:
        kinds = await lifecycle_fixture(api, 12)
        at = local(DAY, "23:00").isoformat()
        processes = [
            zhendi(tmp_path, "jobs", "run", "--at", at, database_url=settings.database_url)
            for _ in range(2)
        ]
        outputs = [await asyncio.to_thread(finished, process) for process in processes]
        await assert_changed_once(api, kinds)
        released = [_count(output, "release-no-shows") for output in outputs]
        assert sum(released) == 12, outputs


def _count(output: str, job: str) -> int:
    [line] = [line for line in output.splitlines() if line.startswith(f"{job}: ")]
    return int(line.split()[1])


async def test_two_workers_share_the_jobs_on_postgresql(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    """Two ``zhendi worker`` processes on one database, ticking every second:
    every booking is changed once, by whichever worker took the run."""
    settings = make_settings(await asyncio.to_thread(migrated, temporary_databases, "postgresql"))
    async with running(settings) as api:
        kinds = await lifecycle_fixture(api, 12)
        async with api.database.writer.begin() as session:
            # The workers run as of now: move tomorrow's bookings two days back.
            await session.execute(
                text(
                    "UPDATE reservations SET starts_at = starts_at - interval '2 days',"
                    " ends_at = ends_at - interval '2 days'"
                )
            )
        env = {"ZHENDI_JOBS_EVERY_SECONDS": "1", "ZHENDI_LOG_LEVEL": "INFO"}
        workers = [
            zhendi(tmp_path, "worker", database_url=settings.database_url, env=env)
            for _ in range(2)
        ]
        try:
            await _until_done(api, kinds)
        finally:
            for worker in workers:
                worker.terminate()
        logs = [await asyncio.to_thread(_output, worker) for worker in workers]
        await assert_changed_once(api, kinds)
        async with api.database.reader() as session:
            runs = {row.job: row.runs for row in (await session.scalars(select(JobStats))).all()}
        assert runs["release-no-shows"] >= 1
        for log in logs:
            assert "Traceback" not in log, log


async def _until_done(api: Api, kinds: dict[str, list[int]], timeout: float = 90) -> None:
    everything = sum(len(ids) for ids in kinds.values())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with api.database.reader() as session:
            open_ = await session.scalar(
                select(func.count())
                .select_from(Reservation)
                .where(Reservation.status.in_(["pending", "confirmed"]))
            )
        if open_ == 0:
            return
        await asyncio.sleep(0.5)
    pytest.fail(f"the workers left bookings open ({everything} to change)")


def _output(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=60)
    return output


# --- the CLI -------------------------------------------------------------------------------


def test_jobs_list_and_run_refusals(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    url = temporary_databases.new("sqlite")
    listed = finished(zhendi(tmp_path, "jobs", "list", database_url=url))
    for name in JOBS:
        assert name in listed
    assert "never run" in listed

    unknown = zhendi(tmp_path, "jobs", "run", "release-no-showz", database_url=url)
    output, _ = unknown.communicate(timeout=60)
    assert unknown.returncode != 0
    assert "no such job: release-no-showz" in output
    naive = zhendi(tmp_path, "jobs", "run", "--at", "2026-12-02T10:20", database_url=url)
    output, _ = naive.communicate(timeout=60)
    assert naive.returncode != 0
    assert "+08:00" in output

    one = finished(zhendi(tmp_path, "jobs", "run", "expire-pending", database_url=url))
    assert "expire-pending: 0 pending requests expired" in one
    assert "release-no-shows" not in one
    assert "1 runs, 0 failed" in finished(zhendi(tmp_path, "jobs", "list", database_url=url))

    production = subprocess.run(
        [ZHENDI, "jobs", "run", "--at", "2026-12-02T10:20:00+08:00"],
        cwd=tmp_path,
        env={**production_env(), "ZHENDI_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert production.returncode != 0
    assert "development only" in production.stderr


def test_the_worker_needs_postgresql(
    tmp_path: Path, temporary_databases: TemporaryDatabases
) -> None:
    process = zhendi(tmp_path, "worker", database_url=temporary_databases.new("sqlite"))
    output, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "zhendi serve" in output


# --- in process, and counted -------------------------------------------------------------------


async def test_serve_runs_the_jobs_in_process_and_metrics_count_them(database_url: str) -> None:
    settings = make_settings(database_url, jobs_in_process=True, jobs_every_seconds=1)
    async with running(settings) as api:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with api.database.reader() as session:
                runs = await session.scalar(
                    select(JobStats.runs).where(JobStats.job == "expire-pending")
                )
            if runs:
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail("the in-process runner never ran expire-pending")
        metrics = (await api.client.get("/metrics")).text
        assert 'zhendi_job_runs_total{job="expire-pending"}' in metrics
        assert 'zhendi_job_failures_total{job="expire-pending"} 0.0' in metrics


async def test_a_failing_job_is_counted_and_reraised(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> Any:
        raise RuntimeError("the disk is full")

    job = dataclasses.replace(JOBS["complete-finished"], function=broken)
    with pytest.raises(RuntimeError):
        await run_job(api.database, api.app.state.settings, job, utcnow())
    metrics = (await api.client.get("/metrics")).text
    assert 'zhendi_job_failures_total{job="complete-finished"} 1.0' in metrics
    async with api.database.reader() as session:
        stats = await session.get(JobStats, "complete-finished")
    assert stats is not None
    assert stats.last_error == "RuntimeError: the disk is full"


# --- the door against the release ------------------------------------------------------------


class DoorClock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now: datetime | None = None
        monkeypatch.setattr("app.access.router.utcnow", lambda: self.now or utcnow())


async def _race(
    api: Api, door_id: int, device: Headers, code: str, reservation_id: int, now: datetime
) -> tuple[bool, str, int]:
    """The lock and the release job at once, on one booking; what each got."""
    verify = try_code(api, door_id, device, code)
    release = run_job(api.database, api.app.state.settings, JOBS["release-no-shows"], now)
    answer, _ = await asyncio.gather(verify, release)
    return await _outcome(api, answer.json()["granted"], reservation_id)


async def _outcome(api: Api, granted: bool, reservation_id: int) -> tuple[bool, str, int]:
    async with api.database.reader() as session:
        status = await session.scalar(
            select(Reservation.status).where(Reservation.id == reservation_id)
        )
        violations = await session.scalar(
            select(func.count())
            .select_from(Violation)
            .where(Violation.reservation_id == reservation_id)
        )
    assert status is not None
    return granted, status.value, int(violations or 0)


DOOR_WON = (True, "checked_in", 0)
RELEASE_WON = (False, "no_show", 1)
TRIALS = 10


async def test_a_door_unlock_and_the_release_never_both_win(
    doors_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = doors_api
    clock = DoorClock(monkeypatch)
    space_id = int(
        (await api.space(**{**STUDY_ROOM, "capacity": TRIALS + 2, "no_show_after_minutes": 1}))[
            "id"
        ]
    )
    door_id, device = await door(api, space_id)
    start, _ = next_slot()
    late = start + timedelta(minutes=5)  # past the deadline, inside the code's window
    clock.now = late

    async def booking() -> tuple[int, str]:
        resident = await verified_resident(api)
        body = {"space_id": space_id, "start": start.isoformat(),
                "end": (start + timedelta(minutes=30)).isoformat()}  # fmt: skip
        response = await api.client.post("/api/v1/reservations", json=body, headers=resident)
        assert response.status_code == 201, response.text
        reservation_id = response.json()["id"]
        return reservation_id, (await door_code(api, resident, reservation_id))["door_code"]

    # Controls: alone, each side wins, so "exactly one" below is not vacuous.
    reservation_id, code = await booking()
    granted = (await try_code(api, door_id, device, code)).json()["granted"]
    await run_job(api.database, api.app.state.settings, JOBS["release-no-shows"], late)
    assert await _outcome(api, granted, reservation_id) == DOOR_WON
    reservation_id, code = await booking()
    await run_job(api.database, api.app.state.settings, JOBS["release-no-shows"], late)
    granted = (await try_code(api, door_id, device, code)).json()["granted"]
    assert await _outcome(api, granted, reservation_id) == RELEASE_WON

    outcomes = []
    for _ in range(TRIALS):
        reservation_id, code = await booking()
        outcomes.append(await _race(api, door_id, device, code, reservation_id, late))
    assert set(outcomes) <= {DOOR_WON, RELEASE_WON}, outcomes
