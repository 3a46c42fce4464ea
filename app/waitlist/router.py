"""Waiting for a place in a full space, and accepting the one offered."""

from fastapi import status

from app.access.dependencies import CodeBookDep
from app.core.clock import utcnow
from app.core.db import GuardDep, SessionDep
from app.core.routing import api_router
from app.core.schemas import Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentUser
from app.reservations.schemas import ReservationOut
from app.spaces.calendar import Interval
from app.waitlist import service
from app.waitlist.schemas import WaitlistEntryOut, WaitlistJoin

router = api_router(tags=["waitlist"])


@router.post(
    "/spaces/{space_id}/waitlist",
    response_model=WaitlistEntryOut,
    status_code=status.HTTP_201_CREATED,
)
async def join_waitlist(
    space_id: ResourceId, body: WaitlistJoin, user: CurrentUser, session: SessionDep
) -> WaitlistEntryOut:
    """Wait for a place in a full range (`409 not_full` while it can be booked).
    When a place frees, the first in line is offered it: it is held for them for
    `ZHENDI_OFFER_HOLD_MINUTES` and they are told (`waitlist_offer`)."""
    entry = await service.join(session, user, space_id, Interval(body.start, body.end), utcnow())
    return WaitlistEntryOut.of(entry)


@router.get("/me/waitlist", response_model=Page[WaitlistEntryOut])
async def my_waitlist(
    user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[WaitlistEntryOut]:
    """Your waitlist entries, newest first."""
    rows = [WaitlistEntryOut.of(entry) for entry in await service.mine(session, user)]
    return Page.of(rows, limit, offset)


@router.delete("/me/waitlist/{entry_id}", response_model=WaitlistEntryOut)
async def withdraw(
    entry_id: ResourceId, user: CurrentUser, session: SessionDep
) -> WaitlistEntryOut:
    """Leave the line; a place held for you goes to the next in line."""
    return WaitlistEntryOut.of(await service.withdraw(session, user, entry_id))


@router.post(
    "/waitlist/{entry_id}/accept",
    response_model=ReservationOut,
    status_code=status.HTTP_201_CREATED,
)
async def accept_offer(
    entry_id: ResourceId,
    user: CurrentUser,
    session: SessionDep,
    codes: CodeBookDep,
    guard: GuardDep,
) -> ReservationOut:
    """Book the place held for you (every booking rule applies again)."""
    reservation = await service.accept(session, codes, guard, user, entry_id, utcnow())
    return ReservationOut.of(reservation)
