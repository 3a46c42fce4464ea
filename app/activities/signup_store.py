"""Where signing up meets an engine (``signing.py`` holds what both share).

- **PostgreSQL**, on a bare asyncpg connection (``Database.driver()``): one
  statement reads the snapshot; one writes the sign-up that finds its places
  (``TAKE_AND_CONFIRM``: the places' UPDATE, the sign-up and its notification,
  committed together). One that finds none locks the activity's row in a
  transaction, tries the take once more and else joins the line.
- **SQLite**: read, decide and write in one call on the writer thread inside
  ``BEGIN IMMEDIATE`` (``app/core/sqlite.py``), so the decision is taken
  under the database's only write lock.

The guard's ``lock`` off (``OverlapGuard``; the tests' negative control, on a
database whose places have no CHECK) reads in one transaction and writes in
another, by what the snapshot saw left, after ``delay_seconds``: the race the
conditional take exists to close.
"""

import asyncio
import sqlite3
from typing import Any, Protocol

import asyncpg

from app.activities import places, signing
from app.activities.signing import SignupAsk
from app.activities.signups import AlreadySignedUp
from app.core.db import Database, OverlapGuard
from app.core.sql import Statement
from app.core.sqlite import SqliteWorker, instant, named, stamp
from app.models import SignupStatus

ONE_PER_PERSON = "uq_activity_signups_one_per_person"


def _unchecked(statement: str) -> str:
    """The statement with the places' condition gone: the negative control's."""
    return statement.replace(places.FITS, "TRUE")


UNCHECKED_TAKE = _unchecked(signing.TAKE)

_READ = Statement.of(signing.READ)
_TAKE_AND_CONFIRM = Statement.of(signing.TAKE_AND_CONFIRM)
_TAKE_AND_CONFIRM_UNCHECKED = Statement.of(_unchecked(signing.TAKE_AND_CONFIRM))
_LOCK = Statement.of(signing.LOCK)
_JOIN_LINE = Statement.of(signing.JOIN_LINE)


class SignupStore(Protocol):
    async def sign_up(self, ask: SignupAsk) -> bytes:
        """Sign up, confirmed or waiting, and answer the 201's body; or raise the
        refusal, having written nothing."""
        ...


def signup_store(database: Database) -> SignupStore:
    if database.sqlite_writer is not None:
        return SqliteSignups(database)
    return PostgresSignups(database)


def _same(value: Any) -> Any:
    return value


# --- PostgreSQL -------------------------------------------------------------------------


class PostgresSignups:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def sign_up(self, ask: SignupAsk) -> bytes:
        guard = self._database.guard
        async with self._database.driver() as driver:
            values = ask.values()
            row = await driver.fetchrow(_READ.text, *_READ.args(values))
            decided = signing.decide(row, ask, _same)
            values |= decided.confirmation.values()
            try:
                if not guard.lock:
                    return await _unguarded(driver, ask, values, decided, guard)
                signup_id = await driver.fetchval(
                    _TAKE_AND_CONFIRM.text, *_TAKE_AND_CONFIRM.args(values)
                )
                if signup_id is not None:
                    return signing.answer(ask, signup_id, True, None)
                return await _locked(driver, ask, values)
            except asyncpg.UniqueViolationError as exc:
                # Two sign-ups of one person at once: the second's statement,
                # places and all, is undone.
                if exc.constraint_name == ONE_PER_PERSON:
                    raise AlreadySignedUp() from None
                raise


async def _locked(driver: asyncpg.Connection, ask: SignupAsk, values: dict[str, Any]) -> bytes:
    """No place was left a moment ago: under the row lock, until the commit, a
    cancellation that freed places before it has committed them, and one
    after it will find this sign-up in the line."""
    async with driver.transaction():
        state = await driver.fetchrow(_LOCK.text, *_LOCK.args(values))
        closed = signing.closed_under_lock(state, ask.now, _same)
        if closed is not None:
            raise closed
        signup_id = await driver.fetchval(_TAKE_AND_CONFIRM.text, *_TAKE_AND_CONFIRM.args(values))
        if signup_id is not None:
            return signing.answer(ask, signup_id, True, None)
        waiting = await driver.fetchrow(_JOIN_LINE.text, *_JOIN_LINE.args(values))
        return signing.answer(ask, waiting["id"], False, waiting["position"])


async def _unguarded(
    driver: asyncpg.Connection,
    ask: SignupAsk,
    values: dict[str, Any],
    decided: signing.Decided,
    guard: OverlapGuard,
) -> bytes:
    await asyncio.sleep(guard.delay_seconds)
    if decided.places_left >= ask.attendees:
        statement = _TAKE_AND_CONFIRM_UNCHECKED
        signup_id = await driver.fetchval(statement.text, *statement.args(values))
        return signing.answer(ask, signup_id, True, None)
    waiting = await driver.fetchrow(_JOIN_LINE.text, *_JOIN_LINE.args(values))
    return signing.answer(ask, waiting["id"], False, waiting["position"])


# --- SQLite -----------------------------------------------------------------------------

_CONFIRM = signing.insert_signup(SignupStatus.confirmed)
_WAIT = signing.insert_signup(SignupStatus.waiting)
_TELL = signing.tell(":told_fields")
_POSITION = f"""
SELECT count(*) FROM activity_signups
WHERE activity_id = :activity AND status = '{SignupStatus.waiting.value}' AND id <= :id"""


def _instant(value: Any) -> Any:
    return instant(value) if isinstance(value, str) else value


class SqliteSignups:
    def __init__(self, database: Database) -> None:
        assert database.sqlite_writer is not None, "SQLite's store, after Database.open()"
        self._database = database
        self._writer: SqliteWorker = database.sqlite_writer

    async def sign_up(self, ask: SignupAsk) -> bytes:
        guard = self._database.guard
        if guard.lock:
            return await self._writer.transaction(lambda db: _sign_up(db, ask))
        decided = await self._writer.run(lambda db: _decided(db, ask))
        await asyncio.sleep(guard.delay_seconds)
        fits = decided.places_left >= ask.attendees
        return await self._writer.transaction(
            lambda db: _write(db, ask, decided, take=UNCHECKED_TAKE if fits else None)
        )


def _decided(db: sqlite3.Connection, ask: SignupAsk) -> signing.Decided:
    row = named(db.execute(signing.READ, _params(ask.values())))
    return signing.decide(row, ask, _instant)


def _sign_up(db: sqlite3.Connection, ask: SignupAsk) -> bytes:
    """Read, decide and write under the writer's lock: the snapshot is what
    the write finds, so the take's condition cannot fail for another writer."""
    return _write(db, ask, _decided(db, ask), take=signing.TAKE)


def _write(
    db: sqlite3.Connection, ask: SignupAsk, decided: signing.Decided, take: str | None
) -> bytes:
    values = _params(ask.values() | decided.confirmation.values())
    try:
        if take is not None and db.execute(take, values).fetchone() is not None:
            (signup_id,) = db.execute(_CONFIRM, values).fetchone()
            db.execute(_TELL, values)
            return signing.answer(ask, signup_id, True, None)
        (signup_id,) = db.execute(_WAIT, values).fetchone()
    except sqlite3.IntegrityError as exc:
        # The negative control's second sign-up of one person (under the
        # lock, the snapshot has seen the first).
        if "UNIQUE constraint failed: activity_signups" in str(exc):
            raise AlreadySignedUp() from None
        raise
    (position,) = db.execute(_POSITION, values | {"id": signup_id}).fetchone()
    return signing.answer(ask, signup_id, False, position)


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {name: stamp(value) if name == "now" else value for name, value in values.items()}
