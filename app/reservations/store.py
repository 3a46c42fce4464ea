"""Where the booking pipeline meets an engine, and the one place that says how
the engines differ (docs/ARCHITECTURE.md, "Two engines").

The booking store is the one writer of reservations that hold time
(``tests/test_structure.py`` enforces it). Its acts, one implementation per
engine (``postgres.py``, ``sqlite.py``; one set of tests runs on both):

- ``book``: a single booking, its own read and one write.
- ``book_many``: a series, in one transaction: each occurrence through the
  write step ``book`` takes (a savepoint each; ``all_or_nothing`` undoes all
  on any refusal), its key claimed in that transaction, one notification.
- ``hold``: an act that replaces a hold (a waitlist offer, its acceptance,
  an approval), inside its caller's transaction, with the moved reservation
  left out of the holders (the guard's ``p_exclude``).

Each reads a snapshot, decides with ``rules.decide`` (an act with
``acts.decide_act``) and writes the plan under the guard. What differs:

- **The lock.** PostgreSQL: the write is one statement whose first step is the
  guard function ``zhendi_booking_guard`` (migration 0007). It locks the space
  row (and, under a quota, the subject's row), then re-reads the holders and
  the quota use with fresh snapshots and refuses what would break invariant 1,
  2 or 5 or a quota; the rest of the statement inserts only if it agreed. The
  lock is held for that statement only, inside the server. A lock taken
  inside one statement would not do: the statement's other reads keep the
  snapshot taken before the lock was granted. SQLite: the whole booking, read
  and write, runs in one call on the writer thread (``app/core/sqlite.py``)
  inside ``BEGIN IMMEDIATE``, which holds the database's only write lock, so
  the decision itself is taken under the lock.
- **The backstop.** PostgreSQL also refuses overlapping holders of an
  exclusive space by an exclusion constraint, and equal live door codes of
  one space by another; SQLite has neither and needs neither, its writer
  being alone.
- **Round trips.** PostgreSQL: one statement to read and one to write, on a
  bare asyncpg connection, with no transaction around them; a series reads
  every occurrence in one statement and writes each in a savepoint of one
  transaction, the guard's locks held until it commits. SQLite: one hop to
  the writer thread, for a booking or a whole series.

The guard (``OverlapGuard``) is a value of the ``Database`` handle, given to
each act as a parameter: the store objects read it from the database they
were built on, ``hold`` takes it from its caller. It lives on the ``Database``
because that is the one object every writer of holding reservations reaches:
the request handlers, and the jobs (the offer-waitlist job runs ``hold`` in a
worker process that has only its ``Database``). Fully on in production; the
tests' negative controls open their app's database with a layer off (the
``guarded`` helper of ``tests/factories.py``) to show that each race really
double-books without it.
"""

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.access.codes import CodeBook
from app.core.db import Database, OverlapGuard
from app.reservations import postgres, sqlite
from app.reservations.acts import Held, HoldAct
from app.reservations.booking import (
    Answer,
    BookingRequest,
    SeriesAnswer,
    SeriesRequest,
)
from app.reservations.moves import MoveRequest
from app.reservations.postgres import PostgresBookings
from app.reservations.sqlite import SqliteBookings


class BookingStore(Protocol):
    async def book(self, request: BookingRequest) -> Answer:
        """Book, or replay the first answer of the request's key; raise the
        booking's problem otherwise."""
        ...

    async def book_many(self, request: SeriesRequest) -> SeriesAnswer:
        """Book a series in one transaction, each occurrence by the write step
        ``book`` takes; or replay the first answer of its key; or, if the
        series is refused (``booking.settle``), write nothing and say why."""
        ...

    async def move(self, request: MoveRequest) -> Answer:
        """Move the booking to the new time in one transaction (the same row, the
        same guard, the booking itself left out of holders and quota use), or
        replay the key's first answer; raise the refusal, the booking untouched."""
        ...


async def hold(
    session: AsyncSession, codes: CodeBook | None, act: HoldAct, guard: OverlapGuard
) -> Held:
    """Write an act that replaces a hold (a waitlist offer, its acceptance, an
    approval) inside the session's transaction, by the engine's write step:
    the snapshot read and ``acts.decide_act`` on the session's connection,
    then the write under the guard with the replaced reservation left out
    (``p_exclude`` on PostgreSQL; on SQLite the transaction's write lock).
    ``guard``: the session's ``Database.guard``. Raises the act's problem,
    having written nothing."""
    await session.flush()
    if session.get_bind().dialect.name == "sqlite":
        return await sqlite.hold_in(session, codes, act, guard)
    return await postgres.hold_in(session, codes, act, guard)


def booking_store(database: Database, codes: CodeBook) -> BookingStore:
    """The store of the engine ``database`` opened; each act runs under the
    database's guard as it is when the act starts."""
    if database.sqlite_writer is not None:
        return SqliteBookings(database, codes)
    return PostgresBookings(database, codes)
