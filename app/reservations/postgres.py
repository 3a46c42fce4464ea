"""The booking store on PostgreSQL: the write step every act shares.

A booking: one statement to read (``postgres_read.py``) and one to write
(``postgres_sql.py``), on a bare asyncpg connection from
``Database.driver()``, with no transaction around them. The write runs the
guard (migration 0007) and, if it agreed, inserts the reservation, its audit
event, its door code, its notification and the Idempotency-Key's claim, which
commit together or not at all. A series: one read for every occurrence, then
one transaction of the same write step per occurrence, each in a savepoint.
An act that replaces a hold: the same on the caller's session connection.
"""

import asyncio
from dataclasses import replace
from datetime import timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.access.codes import DRAWS, CodeBook
from app.audit import reasons
from app.core.db import Database, OverlapGuard
from app.core.errors import RETRYABLE_SQLSTATES, AppError, ConcurrentUpdate, NotFound
from app.quotas.rules import week_of
from app.reservations import acts, booking, rules
from app.reservations import postgres_read as read
from app.reservations import postgres_sql as sql
from app.reservations.acts import Held, HoldAct
from app.reservations.booking import (
    Answer,
    Booked,
    BookingRequest,
    Plan,
    SeriesAnswer,
    SeriesRequest,
)
from app.reservations.moves import MoveRequest
from app.reservations.rules import (
    Decision,
)
from app.spaces.calendar import SPACE, Interval


class PostgresBookings:
    def __init__(self, database: Database, codes: CodeBook) -> None:
        self._database = database
        self._codes = codes

    async def book(self, request: BookingRequest) -> Answer:
        async with self._database.driver() as driver:
            return await _book(driver, self._codes, request, self._database.guard)

    async def move(self, request: MoveRequest) -> Answer:
        # Imported here: the move's statements (postgres_moves.py) build on this module's.
        from app.reservations.postgres_moves import move

        async with self._database.driver() as driver:
            return await move(driver, self._codes, request, self._database.guard)

    async def book_many(self, request: SeriesRequest) -> SeriesAnswer:
        async with self._database.driver() as driver:
            try:
                return await _book_many(driver, self._codes, request, self._database.guard)
            except booking.RolledBack as rolled_back:
                return rolled_back.refused


async def _book(
    driver: asyncpg.Connection, codes: CodeBook, request: BookingRequest, guard: OverlapGuard
) -> Answer:
    wanted, key = request.wanted, request.key
    row = await driver.fetchrow(
        read.READ.text,
        *read.READ.args(read.read_values(wanted, request.user_id, key.key if key else None)),
    )
    interval = wanted.interval
    snapshot, reservation_id, stored = read.snapshot(
        row, request.user_id, interval.start, interval.end
    )
    if key is not None and stored is not None:
        if not stored.expired(request.now):
            return booking.replay(stored, key)
        await driver.execute(read.FORGET_EXPIRED_KEY, request.user_id, key.key, request.now)
    plan = booking.plan(request, rules.decide(snapshot, wanted, request.now), codes)
    if guard.delay_seconds:
        await asyncio.sleep(guard.delay_seconds)
    return await _written(driver, codes, plan, reservation_id, guard)


Planned = tuple[Interval, Plan | AppError, int]


async def _book_many(
    driver: asyncpg.Connection, codes: CodeBook, request: SeriesRequest, guard: OverlapGuard
) -> SeriesAnswer:
    """One read for every occurrence's snapshot, the decisions, then one
    transaction: the key's claim, the series row, each occurrence's write step
    in its own savepoint (the guard's locks last until the commit, and its
    quota re-count sees the occurrences written before), one notification."""
    key, intervals = request.key, request.intervals
    rows = await driver.fetch(
        read.READ_MANY.text,
        *read.READ_MANY.args(
            {
                "space": request.space_id,
                "user": request.user_id,
                "starts": [interval.start for interval in intervals],
                "ends": [interval.end for interval in intervals],
                "days_before": [interval.start - timedelta(days=1) for interval in intervals],
                "key": key.key if key else None,
                "organization": request.organization_id,
            }
        ),
    )
    planned: list[Planned] = []
    for number, interval in enumerate(intervals):
        snapshot, reservation_id, stored = read.snapshot(
            rows[number], request.user_id, interval.start, interval.end
        )
        if number == 0 and key is not None and stored is not None:
            if not stored.expired(request.now):
                return booking.replay(stored, key)
            await driver.execute(read.FORGET_EXPIRED_KEY, request.user_id, key.key, request.now)
        one = request.booking(interval)
        try:
            decision = rules.decide(snapshot, one.wanted, request.now)
        except AppError as problem:
            planned.append((interval, booking.refusal(problem), 0))
            continue
        planned.append((interval, booking.plan(one, decision, codes), reservation_id))
    if guard.delay_seconds:
        await asyncio.sleep(guard.delay_seconds)
    async with driver.transaction():
        claimed = None
        if key is not None:
            values = {"user": request.user_id, "key": key.key, "request_hash": key.request_hash}
            claimed = await driver.fetchval(
                sql.CLAIM_KEY.text, *sql.CLAIM_KEY.args(values | {"now": request.now})
            )
            if claimed is None:  # the first with this key committed meanwhile
                stored_row = await driver.fetchrow(read.STORED_ANSWER, request.user_id, key.key)
                return booking.replay(read.stored(stored_row), key)
        series_id = await driver.fetchval(
            sql.INSERT_SERIES.text, *sql.INSERT_SERIES.args(request.values())
        )
        occurrences = await _occurrences(driver, codes, planned, series_id, guard)
        booking.settle(request, occurrences)
        first = next(item for item in occurrences if item.reservation_id is not None)
        first_plan = next(p for i, p, _ in planned if i == first.interval)
        assert isinstance(first_plan, Plan)
        assert first.reservation_id is not None
        await _tell(driver, first_plan, first.reservation_id)
        body = request.answer(series_id, occurrences)
        if claimed is not None:
            await driver.execute(sql.ANSWER_KEY, claimed, body.decode())
        return Booked(body)


async def _occurrences(
    driver: asyncpg.Connection,
    codes: CodeBook,
    planned: list[Planned],
    series_id: int,
    guard: OverlapGuard,
) -> list[booking.Occurrence]:
    """Each occurrence's write step, in a savepoint: a refusal undoes only it."""
    occurrences = []
    for interval, planned_one, reservation_id in planned:
        if isinstance(planned_one, AppError):
            occurrences.append(booking.Occurrence(interval, problem=planned_one))
            continue
        plan = replace(planned_one, series_id=series_id)
        try:
            await _written(driver, codes, plan, reservation_id, guard, savepoint=True)
        except AppError as error:
            occurrences.append(booking.Occurrence(interval, problem=booking.refusal(error)))
            continue
        occurrences.append(booking.Occurrence(interval, reservation_id, plan.decision.status))
    return occurrences


async def _tell(driver: asyncpg.Connection, plan: Plan, reservation_id: int) -> None:
    """The one notification of a series, of its first booked occurrence."""
    told = plan.told(reservation_id)
    space = plan.decision.space
    statement = sql.TELL[sql.Told.staff if told.to_staff else sql.Told.booker]
    values = {
        "id": reservation_id,
        "user": plan.request.user_id,
        "center": space.center_id,
        "district": space.center_district,
        "now": plan.request.now,
        "told_kind": told.kind.value,
        "told_title": told.title,
        "told_body": told.body,
        "told_fields": told.fields,
    }
    await driver.execute(statement.text, *statement.args(values))


async def _written(
    driver: asyncpg.Connection,
    codes: CodeBook,
    plan: Plan,
    reservation_id: int,
    guard: OverlapGuard,
    *,
    savepoint: bool = False,
) -> Answer:
    """The write step every act shares: the plan's statement, drawn again while
    its door code clashes with a live one of the space. ``savepoint``: inside a
    transaction (a series), a refusal rolls back this write only."""
    week = week_of(plan.wanted.interval.start)
    for _ in range(DRAWS):
        try:
            if not savepoint:
                return await _write(driver, plan, reservation_id, week, guard)
            async with driver.transaction():
                return await _write(driver, plan, reservation_id, week, guard)
        except asyncpg.ExclusionViolationError as exc:
            if exc.constraint_name == sql.RESERVATIONS_NO_OVERLAP:
                raise await read.taken(driver, plan.wanted) from None
            if exc.constraint_name != sql.CODES_UNIQUE_LIVE:
                raise
            plan = plan.with_fresh_code(codes)  # the code clashed with a live one
    raise AssertionError("no door code without a clash in 20 draws")  # pragma: no cover


async def _write(
    driver: asyncpg.Connection, plan: Plan, reservation_id: int, week: Interval, guard: OverlapGuard
) -> Answer:
    request, decision = plan.request, plan.decision
    key, code = request.key, plan.code
    body = plan.body(reservation_id)
    values = _values(plan, reservation_id, week, guard) | plan.hooked(reservation_id)
    if plan.series_id is not None:
        told = sql.Told.later
        values |= {"series": plan.series_id, "reason": reasons.series(plan.series_id)}
    else:
        told_now = plan.told(reservation_id)
        told = sql.Told.staff if told_now.to_staff else sql.Told.booker
        values |= {
            "center": decision.space.center_id,
            "district": decision.space.center_district,
            "told_kind": told_now.kind.value,
            "told_title": told_now.title,
            "told_body": told_now.body,
            "told_fields": told_now.fields,
        }
    if key is not None:
        values |= {"key": key.key, "request_hash": key.request_hash, "body": body.decode()}
    guarded = _guard(decision, guard)
    statement = sql.write_statement(key is not None, code is not None, guarded, told)
    try:
        written = await driver.fetchval(statement.text, *statement.args(values))
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == sql.GUARD_REFUSED:
            raise booking.refused(plan, exc.message, exc.detail) from None
        if exc.sqlstate in RETRYABLE_SQLSTATES:
            raise ConcurrentUpdate() from None
        raise
    if written:
        return Booked(body)
    stored = await driver.fetchrow(read.STORED_ANSWER, request.user_id, key.key) if key else None
    if stored is None:  # the space was closed to bookings since the read
        raise NotFound(SPACE)
    assert key is not None  # the guard agreed yet nothing was written: the key was taken
    return booking.replay(read.stored(stored), key)


def _values(
    plan: Plan, reservation_id: int, week: Interval, guard: OverlapGuard
) -> dict[str, object]:
    """The write step's values: the reservation, the guard's, the door code's."""
    request = plan.request
    return {
        **sql.guard_values(plan.decision, plan.wanted, week, request.now, guard),
        "user": request.user_id,
        "id": reservation_id,
        "purpose": request.purpose,
        **request.audit,
        **request.kind,
        **sql.code_values(plan.code),
    }


def _guard(decision: Decision, guard: OverlapGuard) -> str:
    if not guard.lock:
        return "none"
    space = decision.space
    # The exclusion constraint alone keeps apart what overlaps; a buffer or a
    # quota needs the guard's re-check.
    if space.exclusive and not decision.quotas and not space.buffer_minutes:
        return "lock"
    return "function"


# --- acts that replace a hold, inside the caller's transaction ---------------------------


async def hold_in(
    session: AsyncSession, codes: CodeBook | None, act: HoldAct, guard: OverlapGuard
) -> Held:
    """``store.hold`` on PostgreSQL: the act on the session's own connection, in
    a savepoint of its transaction (a refusal undoes only the act)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    assert driver.is_in_transaction(), "an act runs inside its caller's transaction"
    request = act.request
    wanted = request.wanted
    row = await driver.fetchrow(
        read.READ_EXCLUDING.text,
        *read.READ_EXCLUDING.args(
            read.read_values(wanted, request.user_id, exclude=act.replaces or 0)
        ),
    )
    interval = wanted.interval
    snapshot, new_id, _ = read.snapshot(row, request.user_id, interval.start, interval.end)
    plan = acts.act_plan(act, snapshot, codes, guard)
    reservation_id = act.replaces or new_id
    week = week_of(interval.start)
    for _ in range(DRAWS):
        try:
            async with driver.transaction():
                await _act(driver, act, plan, reservation_id, week, guard)
            return Held(reservation_id, plan.decision.status, plan.code is not None)
        except asyncpg.ExclusionViolationError as exc:
            if exc.constraint_name == sql.RESERVATIONS_NO_OVERLAP:
                raise await read.taken(driver, wanted) from None
            if exc.constraint_name != sql.CODES_UNIQUE_LIVE or codes is None:
                raise
            plan = plan.with_fresh_code(codes)  # the code clashed with a live one
    raise AssertionError("no door code without a clash in 20 draws")  # pragma: no cover


async def _act(
    driver: asyncpg.Connection,
    act: HoldAct,
    plan: Plan,
    reservation_id: int,
    week: Interval,
    guard: OverlapGuard,
) -> None:
    from_status = act.act.from_status
    values = _values(plan, reservation_id, week, guard) | {
        "exclude": act.replaces,
        "from_status": from_status.value if from_status else None,
        "actor_kind": act.actor_kind,
        "actor_id": act.actor_id,
        "action": act.act.value,
        "reason": act.reason,
    }
    statement = sql.act_statement(act.replaces is not None, plan.code is not None, guard.lock)
    try:
        written = await driver.fetchval(statement.text, *statement.args(values))
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == sql.GUARD_REFUSED:
            raise booking.refused(plan, exc.message, exc.detail) from None
        if exc.sqlstate in RETRYABLE_SQLSTATES:
            raise ConcurrentUpdate() from None
        raise
    if not written:  # the status the act decided on changed: its caller locked it
        raise ConcurrentUpdate()
