"""Where the booking pipeline meets an engine, and the one place that says how
the engines differ (docs/ARCHITECTURE.md, "Two engines").

Both stores read a snapshot, call ``rules.decide`` and write the plan with
the statements of their own module (``postgres.py``, ``sqlite.py``; one set of
tests runs on both). What differs:

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
  bare asyncpg connection, with no transaction around them. SQLite: one hop
  to the writer thread.

``booking.GUARD`` switches the guards off for the tests' negative controls,
which show that each race really double-books without them.
"""

from typing import Protocol

from app.access.codes import CodeBook
from app.core.db import Database
from app.reservations.booking import Answer, BookingRequest
from app.reservations.postgres import PostgresBookings
from app.reservations.sqlite import SqliteBookings


class BookingStore(Protocol):
    async def book(self, request: BookingRequest) -> Answer:
        """Book, or replay the first answer of the request's key; raise the
        booking's problem otherwise."""
        ...


def booking_store(database: Database, codes: CodeBook) -> BookingStore:
    if database.sqlite_writer is not None:
        return SqliteBookings(database.sqlite_writer, codes)
    return PostgresBookings(database, codes)
