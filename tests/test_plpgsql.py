"""The live PL/pgSQL (app/reservations/plpgsql.py) and the migrations' copies of
it cannot drift: the newest migration that writes the functions carries this
text, and a database migrated to head runs it."""

import asyncio
import re
from types import ModuleType

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrate import alembic_config, upgrade_engine
from app.reservations import plpgsql
from tests.conftest import TemporaryDatabases

NAMES = ("QUOTA_USED", "BOOKING_GUARD")


def newest_copy() -> ModuleType:
    """The newest migration (walking down from head) that writes the functions."""
    scripts = ScriptDirectory.from_config(alembic_config())
    for revision in scripts.walk_revisions():
        module = revision.module
        if all(hasattr(module, name) for name in NAMES):
            return module
    raise AssertionError("no migration writes the booking guard")


def test_the_newest_migration_carries_the_live_text() -> None:
    module = newest_copy()
    for name in NAMES:
        assert getattr(module, name) == getattr(plpgsql, name), (
            f"{name} in app/reservations/plpgsql.py differs from migration "
            f"{module.revision}: add a migration with the new text"
        )
    assert tuple(module.SETTINGS) == plpgsql.SETTINGS


def _body(source: str) -> str:
    match = re.search(r"\$\$(.*)\$\$", source, re.DOTALL)
    assert match is not None
    return match.group(1)


async def _sources(url: str) -> dict[str, str]:
    engine = create_async_engine(url)
    try:
        await upgrade_engine(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT proname, prosrc FROM pg_proc WHERE proname LIKE 'zhendi_%'")
            )
            return {row[0]: row[1] for row in rows.all()}
    finally:
        await engine.dispose()


def test_the_database_runs_the_live_text(temporary_databases: TemporaryDatabases) -> None:
    sources = asyncio.run(_sources(temporary_databases.new("postgresql")))
    assert sources == {
        "zhendi_quota_used": _body(plpgsql.QUOTA_USED),
        "zhendi_booking_guard": _body(plpgsql.BOOKING_GUARD),
    }
