"""Signing up for an activity, one's own sign-up, and attendance (签到)."""

from fastapi import Request, status
from fastapi.responses import Response
from pydantic import TypeAdapter

from app.activities import attendance, signups
from app.activities.signing import SignupAsk
from app.activities.signup_schemas import (
    ActivityCheckInQrOut,
    AttendanceOut,
    CheckIn,
    SignupCreate,
    SignupOut,
    WalkIns,
)
from app.activities.signup_store import SignupStore
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.fastlane import Errors, HotRequest, HotRoutes, unknown_query
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CurrentActor, CurrentUser, CurrentUserId, resident_id
from app.models import ActivitySignup

router = api_router("/activities", tags=["activities"])


def _out(signup: ActivitySignup, position: int | None = None) -> SignupOut:
    return SignupOut(
        id=signup.id,
        activity_id=signup.activity_id,
        status=signup.status,
        position=position,
        attendees=signup.attendees,
        created_at=signup.created_at,
        confirmed_at=signup.confirmed_at,
        cancelled_at=signup.cancelled_at,
        checked_in_at=signup.checked_in_at,
    )


def _view(view: signups.SignupView) -> SignupOut:
    return _out(view.signup, view.position)


_ACTIVITY_ID: TypeAdapter[int] = TypeAdapter(ResourceId)
_SIGNUP = TypeAdapter(SignupCreate)


async def sign_up_hot(request: HotRequest) -> Response:
    """``POST /activities/{id}/signups`` without FastAPI's dependencies, checked
    in FastAPI's order: query string, token, then path and body together."""
    unknown_query(request, frozenset())
    user_id = resident_id(request.app.state.settings, request.bearer())
    errors = Errors()
    activity_id = errors.check(lambda: request.path("activity_id", _ACTIVITY_ID))
    body = errors.check(lambda: request.json(_SIGNUP))
    errors.raise_any()
    assert activity_id is not None
    assert body is not None
    return await sign_up_answer(request.app.state.signups, user_id, activity_id, body)


async def sign_up_answer(
    store: SignupStore, user_id: int, activity_id: int, body: SignupCreate
) -> Response:
    answer = await store.sign_up(SignupAsk(user_id, activity_id, body.attendees, utcnow()))
    return Response(answer, status.HTTP_201_CREATED, media_type="application/json")


HOT = HotRoutes(router)


@HOT.route(
    "POST",
    "/{activity_id}/signups",
    fast=sign_up_hot,
    response_model=SignupOut,
    status_code=status.HTTP_201_CREATED,
)
async def sign_up(
    activity_id: ResourceId, body: SignupCreate, user_id: CurrentUserId, request: Request
) -> Response:
    """Sign up (with up to four more people): `confirmed` if the places are
    left, else `waiting` in line with a `position`; moved up and told when
    places free up. One live sign-up per person (409 `already_signed_up`);
    outside the sign-up window 409 `signup_closed`; for another audience
    403 `audience_only`; 403 `real_name_required` where the activity needs it.

    Answered by ``sign_up_hot`` (app/core/fastlane.py); this declaration is the
    contract, and does the same if it is ever reached."""
    return await sign_up_answer(request.app.state.signups, user_id, activity_id, body)


@router.get("/{activity_id}/signups/mine", response_model=SignupOut)
async def my_signup(activity_id: ResourceId, user: CurrentUser, session: SessionDep) -> SignupOut:
    """Your sign-up for the activity (the live one, else your latest), with
    your `position` in line while waiting."""
    return _view(await signups.mine(session, user, activity_id))


@router.delete("/{activity_id}/signups/mine", response_model=SignupOut)
async def cancel_my_signup(
    activity_id: ResourceId, user: CurrentUser, session: SessionDep
) -> SignupOut:
    """Cancel your sign-up until the activity starts (then 409
    `activity_started`); your places go to the first in line who fit."""
    return _view(await signups.cancel_mine(session, user, activity_id))


@router.get("/{activity_id}/check-in-qr", response_model=ActivityCheckInQrOut)
async def read_check_in_qr(
    activity_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> ActivityCheckInQrOut:
    """The activity's check-in QR code, to print (staff in scope or the organiser)."""
    qr = await attendance.check_in_qr(session, actor, activity_id)
    return ActivityCheckInQrOut(token=qr.token, svg=qr.svg)


@router.post("/{activity_id}/check-in", response_model=SignupOut)
async def check_in(
    activity_id: ResourceId, body: CheckIn, user: CurrentUser, session: SessionDep
) -> SignupOut:
    """Check in with the token of the activity's QR code, from 30 minutes before
    the start until the end (409 `check_in_not_open`, `check_in_closed`), if
    your sign-up is confirmed (409 `not_signed_up`). Twice changes nothing."""
    return _out(await attendance.check_in(session, user, activity_id, body.token))


@router.post("/{activity_id}/signups/{signup_id}/check-in", response_model=SignupOut)
async def check_in_for(
    activity_id: ResourceId, signup_id: ResourceId, actor: CurrentActor, session: SessionDep
) -> SignupOut:
    """Staff in scope or the organiser check a confirmed participant in, from
    when check-in opens until the activity is completed."""
    return _out(await attendance.check_in_for(session, actor, activity_id, signup_id))


@router.post("/{activity_id}/walk-ins", response_model=AttendanceOut)
async def add_walk_ins(
    activity_id: ResourceId, body: WalkIns, actor: CurrentActor, session: SessionDep
) -> AttendanceOut:
    """Count people who came without signing up (staff in scope or the
    organiser), from when check-in opens until the activity is completed."""
    counted = await attendance.add_walk_ins(session, actor, activity_id, body.count)
    return AttendanceOut(
        activity_id=counted.activity_id,
        checked_in=counted.checked_in,
        walk_ins=counted.walk_ins,
        attended=counted.attended,
    )
