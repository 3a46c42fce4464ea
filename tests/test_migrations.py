"""The schema comes only from Alembic: upgrade head matches the models, downgrade works."""

import asyncio
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrate import alembic_config, downgrade_engine, upgrade_engine
from app.models import Base
from tests.conftest import TemporaryDatabases


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
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
