"""Which door store answers the locks: see ``app/reservations/store.py`` for how
the engines differ; the lock's question follows the same discipline."""

from app.access.codes import CodeBook
from app.access.postgres import PostgresDoors
from app.access.sqlite import SqliteDoors
from app.access.verify import DoorStore
from app.core.db import Database


def door_store(database: Database, codes: CodeBook) -> DoorStore:
    if database.sqlite_writer is not None:
        return SqliteDoors(database.sqlite_writer, codes)
    return PostgresDoors(database, codes)
