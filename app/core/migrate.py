"""Running the Alembic migrations from code (the CLI, the server, the tests).

The scripts live in the top-level ``migrations/`` directory, which installs
as the ``app.migrations`` package, so this works from any working directory
after a plain ``pip install``.
"""

from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(str(resources.files("app.migrations")))))
    return config


def ours(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What comparing the database with the models looks at: our tables, not
    procrastinate's (the job queue on PostgreSQL, migration 0009)."""
    return not (type_ == "table" and (name or "").startswith("procrastinate"))


# Replicas starting together must not run the same migration twice.
_MIGRATION_LOCK_KEY = 0x7A68656E  # "zhen"


def _run(connection: Connection, revision: str, downgrade: bool) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")
    config = alembic_config()
    config.attributes["connection"] = connection
    if downgrade:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def upgrade_engine(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, revision, False)


async def downgrade_engine(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_run, revision, True)


async def upgrade(
    database_url: str, revision: str = "head", *, connect_timeout: float | None = None
) -> None:
    """Migrate to ``revision``. No statement timeout: a migration may rebuild an
    index, and replicas starting together wait for each other's lock."""
    options: dict[str, Any] = {}
    if connect_timeout is not None and not database_url.startswith("sqlite"):
        options["connect_args"] = {"timeout": connect_timeout}
    engine = create_async_engine(database_url, **options)
    try:
        await upgrade_engine(engine, revision)
    finally:
        await engine.dispose()
