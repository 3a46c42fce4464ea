"""Suggestions and the ledger (台账) (README, "Suggestions and the ledger").

A resident (or an organization through a member) raises a suggestion or a
problem at a center. Staff covering the center keep the ledger: they assign
it, answer it (publicly or privately) and close it with an outcome (销项).
Statuses go ``open → assigned → answered → closed``; each item is due a
number of days after it is raised, by its category (``CATEGORY_RULES``), and
is overdue while it is not closed past that instant. The submitter is told
of every step by staff (``suggestion_progress``), and may reopen a closed
item once, within ``REOPEN_DAYS`` of its closing: it is due again as if
raised then.

Every change locks the row and checks the status it decided on, and is
audited under the entity ``suggestion``; a staff member's read of the
submitter's contact is audited too (``read_contact``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.centers.service import get_center_in_scope
from app.core.crypto import PiiCipher
from app.core.errors import AppError, InvalidTransition, NotFound, Text
from app.identity import phones
from app.identity.principals import StaffPrincipal
from app.models import (
    CATEGORY_RULES,
    Center,
    NotificationKind,
    Staff,
    Suggestion,
    SuggestionCategory,
    SuggestionOutcome,
    SuggestionStatus,
    User,
)
from app.notifications import service as notifications
from app.organizations.service import role_of
from app.suggestions.figures import overdue_clause
from app.suggestions.schemas import AnswerIn, CloseIn, SuggestionIn
from app.uploads import service as uploads
from app.webhooks import outbox as webhooks

ENTITY = "suggestion"
SUGGESTION = Text("建议", "suggestion")
CENTER = Text("中心", "center")
ORGANIZATION = Text("组织", "organization")
REOPEN_DAYS = 7
STATUS_NAMES = {
    SuggestionStatus.open: "已重新打开",
    SuggestionStatus.assigned: "已交由工作人员办理",
    SuggestionStatus.answered: "已答复",
    SuggestionStatus.closed: "已办结",
}
NOT_CLOSED = Text("该建议已办结", "The suggestion is closed")
NOT_REOPENABLE = Text(
    "只能在办结后 7 天内重新打开一次", "A closed suggestion is reopened once, within 7 days"
)


class AssigneeOutsideScope(AppError):
    status = 422
    code = "assignee_outside_scope"
    title = Text("无法指派", "Cannot assign")
    detail = Text(
        "工作人员 {staff_id} 不存在、已停用或不负责该中心",
        "Staff member {staff_id} does not exist, is inactive or does not cover the center",
    )


class NoContactConsent(AppError):
    status = 409
    code = "no_contact_consent"
    title = Text("未同意联系", "No consent to contact")
    detail = Text(
        "提出人未同意被联系，或已注销账号",
        "The submitter did not agree to be contacted, or has erased the account",
    )


@dataclass(frozen=True)
class Seen:
    suggestion: Suggestion
    center_name: str
    photos: list[int]


def overdue(suggestion: Suggestion, now: datetime) -> bool:
    return suggestion.status is not SuggestionStatus.closed and suggestion.due_at <= now


def closed_on_time(suggestion: Suggestion) -> bool | None:
    if suggestion.closed_at is None:
        return None
    return suggestion.closed_at < suggestion.due_at


def reopen_until(suggestion: Suggestion) -> datetime | None:
    if suggestion.closed_at is None or suggestion.reopened_at is not None:
        return None
    return suggestion.closed_at + timedelta(days=REOPEN_DAYS)


def due(category: SuggestionCategory, start: datetime) -> datetime:
    return start + timedelta(days=CATEGORY_RULES[category].days)


async def _seen(session: AsyncSession, rows: Sequence[tuple[Suggestion, str]]) -> list[Seen]:
    photos = await uploads.photo_ids(session, [row.id for row, _ in rows])
    return [Seen(row, name, photos.get(row.id, [])) for row, name in rows]


def _with_center() -> Select[Suggestion, str]:
    return select(Suggestion, Center.name).join(Center, Center.id == Suggestion.center_id)


async def _one(session: AsyncSession, suggestion: Suggestion) -> Seen:
    center = await session.get(Center, suggestion.center_id)
    assert center is not None
    return (await _seen(session, [(suggestion, center.name)]))[0]


def _record(
    session: AsyncSession,
    actor: StaffPrincipal | User,
    suggestion: Suggestion,
    action: str,
    was: SuggestionStatus | None,
) -> None:
    audit.record(
        session,
        actor,
        entity=ENTITY,
        entity_id=suggestion.id,
        action=action,
        from_status=was.value if was else None,
        to_status=suggestion.status.value,
    )


async def _tell(session: AsyncSession, suggestion: Suggestion, now: datetime) -> None:
    """Tell the submitter (if the account is still linked) where it stands."""
    if suggestion.user_id is None:
        return
    center = await session.get(Center, suggestion.center_id)
    assert center is not None
    answer = suggestion.answer if suggestion.status is not SuggestionStatus.assigned else None
    notifications.tell_user(
        session,
        NotificationKind.suggestion_progress,
        suggestion.user_id,
        {
            "center_name": center.name,
            "title": CATEGORY_RULES[suggestion.category].label,
            "status": STATUS_NAMES[suggestion.status],
            "text": f"答复：{answer}" if answer else "",
        },
        now,
        center_id=center.id,
    )


# --- the submitter ------------------------------------------------------------------


async def submit(session: AsyncSession, user: User, body: SuggestionIn, now: datetime) -> Seen:
    center = await session.get(Center, body.center_id)
    if center is None:
        raise NotFound(CENTER)
    if body.organization_id is not None:
        if await role_of(session, body.organization_id, user.id) is None:
            raise NotFound(ORGANIZATION)
    suggestion = Suggestion(
        center_id=center.id,
        user_id=user.id,
        organization_id=body.organization_id,
        category=body.category,
        text=body.text,
        contact_ok=body.contact_ok,
        status=SuggestionStatus.open,
        due_at=due(body.category, now),
        created_at=now,
        updated_at=now,
    )
    session.add(suggestion)
    await session.flush()
    await uploads.attach(session, user, body.photos, suggestion.id)
    _record(session, user, suggestion, "submit", None)
    await webhooks.suggestion_created(session, suggestion)
    await session.flush()
    return await _one(session, suggestion)


async def mine(
    session: AsyncSession, user: User, *, limit: int, offset: int
) -> tuple[list[Seen], int]:
    where = Suggestion.user_id == user.id
    total = await session.scalar(select(func.count()).select_from(Suggestion).where(where))
    rows = await session.execute(
        _with_center().where(where).order_by(Suggestion.id.desc()).limit(limit).offset(offset)
    )
    return await _seen(session, [(row, name) for row, name in rows]), int(total or 0)


async def _own(session: AsyncSession, user: User, suggestion_id: int) -> Suggestion:
    suggestion = await session.scalar(
        select(Suggestion).where(Suggestion.id == suggestion_id).with_for_update()
    )
    if suggestion is None or suggestion.user_id != user.id:
        raise NotFound(SUGGESTION)
    return suggestion


async def mine_one(session: AsyncSession, user: User, suggestion_id: int) -> Seen:
    return await _one(session, await _own(session, user, suggestion_id))


async def reopen(session: AsyncSession, user: User, suggestion_id: int, now: datetime) -> Seen:
    suggestion = await _own(session, user, suggestion_id)
    until = reopen_until(suggestion)
    if suggestion.status is not SuggestionStatus.closed or until is None or now >= until:
        raise InvalidTransition(NOT_REOPENABLE)
    was = suggestion.status
    suggestion.status = (
        SuggestionStatus.assigned if suggestion.assigned_staff_id else SuggestionStatus.open
    )
    suggestion.outcome = None
    suggestion.closed_at = None
    suggestion.reopened_at = now
    suggestion.due_at = due(suggestion.category, now)
    _record(session, user, suggestion, "reopen", was)
    await session.flush()
    return await _one(session, suggestion)


# --- staff: the ledger --------------------------------------------------------------


@dataclass(frozen=True)
class LedgerQuery:
    status: SuggestionStatus | None = None
    center_id: int | None = None
    category: SuggestionCategory | None = None
    overdue: bool | None = None


async def ledger(
    session: AsyncSession,
    staff: StaffPrincipal,
    query: LedgerQuery,
    now: datetime,
    *,
    limit: int,
    offset: int,
) -> tuple[list[Seen], int, int]:
    """A page of the ledger in scope, oldest due first; its total; and how
    many of the rows matching every filter but ``overdue`` are overdue."""
    where: list[ColumnElement[bool]] = [staff.center_clause()]
    if query.center_id is not None:
        await get_center_in_scope(session, staff, query.center_id)
        where.append(Suggestion.center_id == query.center_id)
    if query.status is not None:
        where.append(Suggestion.status == query.status)
    if query.category is not None:
        where.append(Suggestion.category == query.category)
    counted = (
        select(func.count())
        .select_from(Suggestion)
        .join(Center, Center.id == Suggestion.center_id)
        .where(*where)
    )
    late = await session.scalar(counted.where(overdue_clause(now)))
    if query.overdue is not None:
        late_clause = overdue_clause(now)
        where.append(late_clause if query.overdue else ~late_clause)
    total = await session.scalar(counted.where(*where))
    rows = await session.execute(
        _with_center()
        .where(*where)
        .order_by(Suggestion.due_at, Suggestion.id)
        .limit(limit)
        .offset(offset)
    )
    seen = await _seen(session, [(row, name) for row, name in rows])
    return seen, int(total or 0), int(late or 0)


async def _in_scope(
    session: AsyncSession, staff: StaffPrincipal, suggestion_id: int, *, lock: bool = False
) -> Suggestion:
    query = select(Suggestion).where(Suggestion.id == suggestion_id)
    if lock:
        query = query.with_for_update()
    suggestion = await session.scalar(query)
    if suggestion is None:
        raise NotFound(SUGGESTION)
    center = await session.get(Center, suggestion.center_id)
    if center is None or not staff.covers_center(center):
        raise NotFound(SUGGESTION)
    return suggestion


async def read(session: AsyncSession, staff: StaffPrincipal, suggestion_id: int) -> Seen:
    return await _one(session, await _in_scope(session, staff, suggestion_id))


def _open_for_staff(suggestion: Suggestion) -> SuggestionStatus:
    if suggestion.status is SuggestionStatus.closed:
        raise InvalidTransition(NOT_CLOSED)
    return suggestion.status


async def assign(
    session: AsyncSession, staff: StaffPrincipal, suggestion_id: int, staff_id: int, now: datetime
) -> Seen:
    suggestion = await _in_scope(session, staff, suggestion_id, lock=True)
    was = _open_for_staff(suggestion)
    assignee = await session.scalar(
        select(Staff.id).where(Staff.id == staff_id, notifications.covering(suggestion.center_id))
    )
    if assignee is None:
        raise AssigneeOutsideScope(staff_id=staff_id)
    suggestion.assigned_staff_id = assignee
    if was is SuggestionStatus.open:
        suggestion.status = SuggestionStatus.assigned
    _record(session, staff, suggestion, "assign", was)
    await _tell(session, suggestion, now)
    await session.flush()
    return await _one(session, suggestion)


def _set_answer(suggestion: Suggestion, body: AnswerIn, now: datetime) -> None:
    suggestion.answer = body.answer
    suggestion.answer_public = body.public
    suggestion.answered_at = now


async def answer(
    session: AsyncSession, staff: StaffPrincipal, suggestion_id: int, body: AnswerIn, now: datetime
) -> Seen:
    suggestion = await _in_scope(session, staff, suggestion_id, lock=True)
    was = _open_for_staff(suggestion)
    _set_answer(suggestion, body, now)
    suggestion.status = SuggestionStatus.answered
    _record(session, staff, suggestion, "answer", was)
    await _tell(session, suggestion, now)
    await session.flush()
    return await _one(session, suggestion)


async def close(
    session: AsyncSession, staff: StaffPrincipal, suggestion_id: int, body: CloseIn, now: datetime
) -> Seen:
    suggestion = await _in_scope(session, staff, suggestion_id, lock=True)
    was = _open_for_staff(suggestion)
    _set_answer(suggestion, body, now)
    suggestion.outcome = SuggestionOutcome(body.outcome)
    suggestion.status = SuggestionStatus.closed
    suggestion.closed_at = now
    _record(session, staff, suggestion, "close", was)
    await _tell(session, suggestion, now)
    await session.flush()
    return await _one(session, suggestion)


async def contact(
    session: AsyncSession, cipher: PiiCipher, staff: StaffPrincipal, suggestion_id: int
) -> tuple[str | None, str | None]:
    """The submitter's phone and nickname, if they agreed to be contacted:
    personal data, so the read is audited."""
    suggestion = await _in_scope(session, staff, suggestion_id)
    submitter = None
    if suggestion.contact_ok and suggestion.user_id is not None:
        submitter = await session.get(User, suggestion.user_id)
    if submitter is None or submitter.erased_at is not None:
        raise NoContactConsent()
    audit.record(
        session,
        staff,
        entity=ENTITY,
        entity_id=suggestion.id,
        action="read_contact",
        from_status=None,
        to_status=None,
    )
    await session.flush()
    return phones.reveal(cipher, submitter), submitter.nickname


# --- the public ------------------------------------------------------------------------


async def public_answers(
    session: AsyncSession, center_id: int, *, limit: int, offset: int
) -> tuple[list[Suggestion], int]:
    """A center's publicly answered suggestions, newest answer first."""
    if await session.get(Center, center_id) is None:
        raise NotFound(CENTER)
    where = and_(
        Suggestion.center_id == center_id,
        Suggestion.answer_public.is_(True),
        Suggestion.answer.is_not(None),
    )
    total = await session.scalar(select(func.count()).select_from(Suggestion).where(where))
    rows = await session.scalars(
        select(Suggestion)
        .where(where)
        .order_by(Suggestion.answered_at.desc(), Suggestion.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total or 0)
