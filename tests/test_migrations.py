"""The schema comes only from Alembic: upgrade head matches the models, downgrade works."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Executable, insert, inspect, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from app.core.db import sqlstate
from app.core.migrate import alembic_config, downgrade_engine, ours, upgrade_engine
from app.models import Base, Reservation
from tests.conftest import TemporaryDatabases


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": ours}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _round_trip(url: str) -> None:
    engine = create_async_engine(url)
    try:
        await upgrade_engine(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_drift) == []
            assert await connection.run_sync(_tables) >= set(Base.metadata.tables)
        await downgrade_engine(engine, "base")
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
        await upgrade_engine(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_drift) == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_upgrade_matches_models_and_downgrade_round_trips(
    engine: str, temporary_databases: TemporaryDatabases
) -> None:
    asyncio.run(_round_trip(temporary_databases.new(engine)))


def test_one_linear_history_with_date_named_files() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    for revision in scripts.walk_revisions():
        filename = revision.path.rsplit("/", 1)[-1]
        assert re.match(r"\d{4}_\d{2}_\d{2}_\d{4}-", filename), filename


async def _exclusion_constraint(url: str) -> tuple[str | None, str]:
    engine = create_async_engine(url)
    try:
        await upgrade_engine(engine)
        async with engine.begin() as connection:
            kind = await connection.scalar(
                text(
                    "SELECT contype::text FROM pg_constraint"
                    " WHERE conname = 'reservations_no_overlap'"
                )
            )
            for statement in filter(str.strip, SEED_ROWS.split(";")):
                await connection.execute(text(statement))
            try:
                async with connection.begin_nested():
                    await connection.execute(text(OVERLAPPING_ROW))
            except IntegrityError as exc:
                return kind, str(sqlstate(exc))
        return kind, "accepted"
    finally:
        await engine.dispose()


SEED_ROWS = """
INSERT INTO users (id, openid, real_name_verified) VALUES (1, 'o1', false);
INSERT INTO centers (id, name, kind, district, street, address, lat, lng, description)
  VALUES (1, 'c', 'post', 'd', '', 'a', 31.2, 121.4, '');
INSERT INTO spaces (id, center_id, name, kind, booking_mode, capacity, slot_minutes, min_minutes,
  max_minutes, advance_days, open_24h, requires_approval, requires_real_name, facilities,
  description, is_active)
  VALUES (1, 1, 's', 'meeting_room', 'exclusive', 10, 30, 30, 240, 14, true, false, false, '[]',
  '', true);
INSERT INTO reservations (space_id, user_id, starts_at, ends_at, exclusive, status, purpose,
  attendees) VALUES (1, 1, '2030-01-01 10:00+08', '2030-01-01 11:00+08', true, 'confirmed', '', 1);
"""
OVERLAPPING_ROW = """
INSERT INTO reservations (space_id, user_id, starts_at, ends_at, exclusive, status, purpose,
  attendees) VALUES (1, 1, '2030-01-01 10:30+08', '2030-01-01 11:30+08', true, 'pending', '', 1)
"""


def test_postgresql_refuses_overlapping_holders_by_itself(
    temporary_databases: TemporaryDatabases,
) -> None:
    """The backstop, without any application code: 23P01 from the exclusion constraint."""
    kind, outcome = asyncio.run(_exclusion_constraint(temporary_databases.new("postgresql")))
    assert kind == "x"
    assert outcome == "23P01"


async def _lengths_accepted(url: str) -> dict[str, bool]:
    """Which booking lengths the database itself accepts, insert and update."""
    engine = create_async_engine(url)
    start = datetime(2030, 1, 2, 2, tzinfo=UTC)
    outcomes = {}
    try:
        await upgrade_engine(engine)
        async with engine.begin() as connection:
            for statement in filter(str.strip, SEED_ROWS.split(";")[:3]):
                await connection.execute(text(statement))
            for label, length in (("a day", timedelta(days=1)), ("a day and a slot", DAY_AND_SLOT)):
                row = {**BOOKING_ROW, "starts_at": start, "ends_at": start + length}
                outcomes[f"insert {label}"] = await _accepted(connection, insert(Reservation), row)
            stretch = update(Reservation).values(ends_at=start + DAY_AND_SLOT)
            outcomes["update to a day and a slot"] = await _accepted(connection, stretch, {})
    finally:
        await engine.dispose()
    return outcomes


DAY_AND_SLOT = timedelta(days=1, minutes=30)
BOOKING_ROW = {
    "space_id": 1,
    "user_id": 1,
    "exclusive": True,
    "status": "confirmed",
    "purpose": "",
    "attendees": 1,
}


async def _accepted(
    connection: AsyncConnection, statement: Executable, row: dict[str, object]
) -> bool:
    try:
        async with connection.begin_nested():
            await connection.execute(statement, [row] if row else None)
    except IntegrityError:
        return False
    return True


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_the_database_refuses_bookings_longer_than_a_day(
    engine: str, temporary_databases: TemporaryDatabases
) -> None:
    """Overlap queries bound their index scans by this rule, so the database keeps it."""
    outcomes = asyncio.run(_lengths_accepted(temporary_databases.new(engine)))
    assert outcomes == {
        "insert a day": True,
        "insert a day and a slot": False,
        "update to a day and a slot": False,
    }


async def _function_settings(url: str) -> dict[str, list[str] | None]:
    engine = create_async_engine(url)
    try:
        await upgrade_engine(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT proname, proconfig FROM pg_proc WHERE proname LIKE 'zhendi_%'")
            )
            return {row[0]: row[1] for row in rows.all()}
    finally:
        await engine.dispose()


def test_the_guard_keeps_its_plans(temporary_databases: TemporaryDatabases) -> None:
    """Planned again on every call, the guard's queries cost a booking more
    than running them does (migration 0010)."""
    settings = asyncio.run(_function_settings(temporary_databases.new("postgresql")))
    generic = ["plan_cache_mode=force_generic_plan"]
    assert settings == {"zhendi_booking_guard": generic, "zhendi_quota_used": generic}
