"""Acts that make a reservation hold time other than a booking — a waitlist
offer, its acceptance, an approval — written by the booking store's write
step (``store.hold``) inside their caller's transaction, with the reservation
they replace left out of the holders (the guard's ``p_exclude``)."""

from dataclasses import dataclass, replace
from enum import StrEnum

from app.access.codes import CodeBook
from app.core.db import OverlapGuard
from app.core.errors import NotFound
from app.models import ReservationStatus
from app.reservations import rules
from app.reservations.booking import BookingRequest, Plan, draw_code
from app.reservations.errors import SpaceClosed
from app.reservations.rules import Decision, Snapshot
from app.spaces.calendar import SPACE


class Act(StrEnum):
    """An act that makes a reservation hold time other than a booking: the audit
    action each writes."""

    offer = "offer"  # a freed place held for the first in line (a new ``held`` row)
    accept = "accept_offer"  # the held place becomes the booking
    approve = "approve"  # staff confirm a request, re-checked under the space's lock

    @property
    def from_status(self) -> ReservationStatus | None:
        return ACT_FROM[self]


ACT_FROM = {
    Act.offer: None,
    Act.accept: ReservationStatus.held,
    Act.approve: ReservationStatus.pending,
}


@dataclass(frozen=True)
class HoldAct:
    """What ``store.hold`` writes inside the caller's transaction. ``replaces``:
    the reservation the act moves (accept, approve), left out of the holders by
    the snapshot and by the guard (its ``p_exclude``)."""

    act: Act
    request: BookingRequest
    replaces: int | None
    actor_kind: str
    actor_id: int | None
    reason: str | None = None


@dataclass(frozen=True)
class Held:
    reservation_id: int
    status: ReservationStatus
    coded: bool


def decide_act(act: HoldAct, snapshot: Snapshot) -> Decision:
    """The rules an act is decided by: an offer and its acceptance by every
    booking rule (an offer holds the place as ``held``, without a code); an
    approval by what may have changed since the request: closures and holders."""
    request = act.request
    if act.act is not Act.approve:
        decision = rules.decide(snapshot, request.wanted, request.now)
        if act.act is Act.offer:
            return replace(decision, status=ReservationStatus.held, needs_code=False)
        return decision
    space = snapshot.space
    if space is None:
        raise NotFound(SPACE)
    if snapshot.closure is not None:
        raise SpaceClosed(reason=snapshot.closure)
    rules.refuse_conflicts(space, request.user_id, request.wanted, snapshot.holders)
    return Decision(space, ReservationStatus.confirmed, space.has_doors, None, ())


def act_plan(act: HoldAct, snapshot: Snapshot, codes: CodeBook | None, guard: OverlapGuard) -> Plan:
    """The act's plan. Guard off (the tests' negative controls): nothing of the
    holders is re-checked, as a racing writer would not."""
    if not guard.lock:
        snapshot = replace(snapshot, holders=())
    decision = decide_act(act, snapshot)
    code = None
    if decision.needs_code:
        assert codes is not None
        code = draw_code(codes, decision, act.request.wanted)
    return Plan(act.request, decision, code)
