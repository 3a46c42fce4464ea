"""Door codes for their owners, staff door management, and the locks' question."""

from typing import Annotated

import orjson
from fastapi import Depends, Query, Request, Security, status
from fastapi.responses import Response
from fastapi.security import APIKeyHeader
from pydantic import TypeAdapter

from app.access import doors, service
from app.access.dependencies import CodeBookDep, CommandKeysDep, LocksDep
from app.access.locks import CommandKeys, DoorRef
from app.access.schemas import (
    AccessOut,
    DoorCreate,
    DoorOut,
    DoorWithKey,
    UnlockRequest,
    UnlockResult,
    VerifyRequest,
    VerifyResult,
)
from app.access.verify import DoorStore
from app.core.clock import SHANGHAI, utcnow
from app.core.db import SessionDep
from app.core.errors import app_error_response, problem_responses
from app.core.fastlane import Errors, HotRequest, HotRoutes, unknown_query
from app.core.routing import api_router
from app.core.schemas import MAX_ID, Limit, Offset, Page, ResourceId
from app.identity.dependencies import CurrentStaff, CurrentUser, LimiterDep
from app.models import Door

router = api_router(tags=["access"])

_device_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    scheme_name="DeviceKey",
    description="`Device <device_key>`, the key shown when the door was registered",
)


async def device_key(authorization: Annotated[str | None, Security(_device_header)]) -> str:
    return _device_key(authorization)


def _device_key(authorization: str | None) -> str:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "device" or not key.strip():
        raise doors.InvalidDeviceKey()
    return key.strip()


DENIED = {"granted": False, "reason": "denied", "reservation_id": None}
_DOOR_ID: TypeAdapter[int] = TypeAdapter(ResourceId)
_VERIFY = TypeAdapter(VerifyRequest)


async def verify_hot(request: HotRequest) -> Response:
    """``POST /doors/{id}/verify`` without FastAPI's dependencies: the same checks
    in the same order (query string, device key, then path and body together)."""
    unknown_query(request, frozenset())
    key = _device_key(request.header("authorization"))
    errors = Errors()
    door_id = errors.check(lambda: request.path("door_id", _DOOR_ID))
    body = errors.check(lambda: request.json(_VERIFY))
    errors.raise_any()
    assert door_id is not None
    assert body is not None
    return await answer_lock(Request(request.scope), door_id, key, body.code)


async def answer_lock(request: Request, door_id: int, key: str, code: str) -> Response:
    store: DoorStore = request.app.state.doors
    now = utcnow()
    verdict = await store.verify(door_id, doors.device_key_hash(key), code, now)
    if (locked_out := verdict.locked_out(now)) is not None:
        return app_error_response(request, locked_out)
    answer: dict[str, object]
    if verdict.granted:
        answer = {"granted": True, "reason": "granted", "reservation_id": verdict.reservation_id}
    elif verdict.opens_at is not None:
        opens_at = verdict.opens_at.astimezone(SHANGHAI).isoformat()
        answer = {**DENIED, "reason": "not_yet", "opens_at": opens_at}
    else:
        answer = DENIED
    return Response(orjson.dumps(answer), media_type="application/json")


HOT = HotRoutes(router)


@HOT.route(
    "POST",
    "/doors/{door_id}/verify",
    fast=verify_hot,
    response_model=VerifyResult,
    responses=problem_responses(429),
)
async def verify_code(
    door_id: ResourceId,
    body: VerifyRequest,
    key: Annotated[str, Depends(device_key)],
    request: Request,
) -> Response:
    """Asked by a lock: does this code open this door now? Every attempt is logged
    (never the code itself). A booking's code typed up to 30 minutes before it
    opens (its check-in) is `not_yet` with `opens_at`, for the keypad to show,
    and costs nothing; any other code that does not open now is `denied`,
    whatever the reason, and too many of them at the space's doors lock its
    keypad out for a while (429 with Retry-After).

    Answered by ``verify_hot`` (app/core/fastlane.py); this declaration is
    the contract, and does the same if it is ever reached."""
    return await answer_lock(request, door_id, key, body.code)


@router.post(
    "/reservations/{reservation_id}/unlock",
    response_model=UnlockResult,
    responses=problem_responses(429, 503),
)
async def unlock(
    reservation_id: ResourceId,
    body: UnlockRequest,
    user: CurrentUser,
    session: SessionDep,
    locks: LocksDep,
    limiter: LimiterDep,
) -> UnlockResult:
    """Open a door of your booking's space from the app, while its door code would
    work. A way in that no stranger's wrong codes can shut; logged like a code,
    and the first one checks you in."""
    await limiter.hit(limiter.rules.unlock_per_user, str(user.id))
    granted = await service.unlock(session, locks, user, reservation_id, body.door_id)
    return UnlockResult(
        granted=granted,
        reason="granted" if granted else "outside_window",
        reservation_id=reservation_id,
    )


@router.get("/reservations/{reservation_id}/access", response_model=AccessOut)
async def read_access(
    reservation_id: ResourceId, user: CurrentUser, session: SessionDep, codes: CodeBookDep
) -> AccessOut:
    """Your door code for this reservation (only you ever see it)."""
    access = await service.read_access(session, codes, user, reservation_id)
    return AccessOut(
        door_code=access.code,
        valid_from=access.valid_from,
        valid_until=access.valid_until,
        door_ids=access.door_ids,
    )


@router.post(
    "/admin/doors", response_model=DoorWithKey, status_code=status.HTTP_201_CREATED, tags=["admin"]
)
async def create_door(
    body: DoorCreate, staff: CurrentStaff, session: SessionDep, keys: CommandKeysDep
) -> DoorWithKey:
    door, key = await doors.create_door(session, staff, body.space_id, body.name)
    return await _door_with_keys(session, door, key, keys)


@router.get("/admin/doors", response_model=Page[DoorOut], tags=["admin"])
async def list_doors(
    space_id: Annotated[int, Query(ge=1, le=MAX_ID)],
    staff: CurrentStaff,
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[DoorOut]:
    found = await doors.list_doors(session, staff, space_id)
    lockouts = await doors.keypad_lockouts(session, [space_id])
    rows = [DoorOut.of(door, lockouts.get(door.space_id)) for door in found]
    return Page.of(rows, limit, offset)


@router.post("/admin/doors/{door_id}/rotate-key", response_model=DoorWithKey, tags=["admin"])
async def rotate_key(
    door_id: ResourceId, staff: CurrentStaff, session: SessionDep, keys: CommandKeysDep
) -> DoorWithKey:
    """A new device key and command key for the lock; the old ones stop working."""
    door, key = await doors.rotate_door_key(session, staff, door_id)
    return await _door_with_keys(session, door, key, keys)


@router.post("/admin/doors/{door_id}/clear-lockout", response_model=DoorOut, tags=["admin"])
async def clear_lockout(door_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> DoorOut:
    """Reopen the keypad of this door's space (shared by all its doors): the
    lockout ends and the wrong codes typed so far stop counting."""
    return await _door_out(session, await doors.clear_lockout(session, staff, door_id))


async def _door_with_keys(
    session: SessionDep, door: Door, device_key: str, keys: CommandKeys
) -> DoorWithKey:
    return DoorWithKey(
        **dict(await _door_out(session, door)),
        device_key=device_key,
        command_key=keys.shown(DoorRef(door.id, door.device_key_hash)),
    )


async def _door_out(session: SessionDep, door: Door) -> DoorOut:
    lockouts = await doors.keypad_lockouts(session, [door.space_id])
    return DoorOut.of(door, lockouts.get(door.space_id))
