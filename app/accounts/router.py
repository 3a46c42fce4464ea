"""Staff: counter verification, re-binding, deactivation. Residents: export and erase."""

from fastapi import Response, status

from app.accounts import service
from app.accounts.schemas import (
    AnswerExport,
    CounterVerification,
    DoorAttemptExport,
    MembershipExport,
    PersonalDataExport,
    ProfileExport,
    QuestionnaireResponseExport,
    RealNameExport,
    Rebind,
    ReservationExport,
    StatusChange,
    SuggestionExport,
    UserAdminOut,
)
from app.core.clock import utcnow
from app.core.db import SessionDep
from app.core.errors import problem_responses
from app.core.routing import api_router
from app.core.schemas import ResourceId
from app.identity.dependencies import CipherDep, CurrentStaff, CurrentUser
from app.reservations.schemas import HistoryEntry, ReservationOut

router = api_router(tags=["accounts"])
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/admin/real-names/{user_id}/verify",
    response_model=UserAdminOut,
    responses=problem_responses(409),
    tags=["admin"],
)
async def verify_at_counter(
    user_id: ResourceId,
    body: CounterVerification,
    staff: CurrentStaff,
    session: SessionDep,
    cipher: CipherDep,
) -> UserAdminOut:
    """Verify a resident in person: the name and number as read off the card
    they showed at your center's counter."""
    user = await service.verify_at_counter(
        session,
        cipher,
        staff,
        user_id,
        name=body.name,
        id_number=body.id_number,
        center_id=body.center_id,
    )
    return UserAdminOut.model_validate(user)


@router.post("/admin/real-names/rebind", response_model=UserAdminOut, tags=["admin"])
async def rebind(
    body: Rebind, staff: CurrentStaff, session: SessionDep, cipher: CipherDep
) -> UserAdminOut:
    """The card's true holder proved it at your counter: bind the number to
    their account. Whoever held it loses it, and their running bookings of
    spaces that require a real name are cancelled. Unless you are a super
    admin, that account must lie in your scope: it has booked, and only at
    centers you manage (403 `out_of_scope` otherwise, nothing changed)."""
    user = await service.rebind(
        session,
        cipher,
        staff,
        body.user_id,
        name=body.name,
        id_number=body.id_number,
        center_id=body.center_id,
        reason=body.reason,
    )
    return UserAdminOut.model_validate(user)


@router.get("/admin/users/{user_id}", response_model=UserAdminOut, tags=["admin"])
async def read_user(user_id: ResourceId, staff: CurrentStaff, session: SessionDep) -> UserAdminOut:
    return UserAdminOut.model_validate(await service.get_user(session, staff, user_id))


@router.post("/admin/users/{user_id}/deactivate", response_model=UserAdminOut, tags=["admin"])
async def deactivate(
    user_id: ResourceId, body: StatusChange, staff: CurrentStaff, session: SessionDep
) -> UserAdminOut:
    """Stop an account at once: its tokens stop working and its running bookings
    are cancelled. Refused with 403 `out_of_scope`, nothing changed, if any of
    those bookings lies outside your scope (super admins excepted)."""
    user = await service.deactivate(session, staff, user_id, body.reason)
    return UserAdminOut.model_validate(user)


@router.post("/admin/users/{user_id}/activate", response_model=UserAdminOut, tags=["admin"])
async def activate(
    user_id: ResourceId, body: StatusChange, staff: CurrentStaff, session: SessionDep
) -> UserAdminOut:
    user = await service.activate(session, staff, user_id, body.reason)
    return UserAdminOut.model_validate(user)


@router.get("/me/export", response_model=PersonalDataExport)
async def export_my_data(
    user: CurrentUser, session: SessionDep, cipher: CipherDep, response: Response
) -> PersonalDataExport:
    """Everything held about you, as JSON: your real name unmasked, for you only."""
    found = await service.export(session, cipher, user)
    response.headers.update(NO_STORE)
    person = found.user
    return PersonalDataExport(
        exported_at=utcnow(),
        profile=ProfileExport(
            id=person.id,
            openid=person.openid,
            unionid=person.unionid,
            nickname=person.nickname,
            phone=found.phone,
            is_active=person.is_active,
            created_at=person.created_at,
            last_login_at=person.last_login_at,
            real_name=RealNameExport(
                verified=person.real_name_verified,
                name=found.name,
                id_number=found.id_number,
                provider=person.real_name_provider,
                verified_at=person.real_name_verified_at,
            ),
        ),
        organizations=[
            MembershipExport(
                organization_id=membership.organization_id,
                organization_name=name,
                organization_kind=kind,
                role=membership.role,
                joined_at=membership.joined_at,
            )
            for membership, name, kind in found.memberships
        ],
        reservations=[
            ReservationExport(
                **dict(ReservationOut.of(reservation)),
                history=[HistoryEntry.of(event) for event in events],
            )
            for reservation, events in found.reservations
        ],
        door_attempts=[
            DoorAttemptExport(
                door_id=attempt.door_id,
                reservation_id=attempt.reservation_id,
                at=attempt.at,
                outcome=attempt.outcome,
                method=attempt.method,
            )
            for attempt in found.door_attempts
        ],
        suggestions=[
            SuggestionExport(
                id=suggestion.id,
                center_id=suggestion.center_id,
                organization_id=suggestion.organization_id,
                category=suggestion.category,
                text=suggestion.text,
                photos=list(photos),
                contact_ok=suggestion.contact_ok,
                status=suggestion.status,
                answer=suggestion.answer,
                outcome=suggestion.outcome,
                created_at=suggestion.created_at,
                closed_at=suggestion.closed_at,
            )
            for suggestion, photos in found.suggestions
        ],
        questionnaire_responses=[
            QuestionnaireResponseExport(
                questionnaire_id=response.questionnaire_id,
                questionnaire_title=title,
                submitted_at=response.submitted_at,
                answers=[
                    AnswerExport(
                        question_id=answer.question_id,
                        question=question,
                        option=answer.option,
                        value=answer.value,
                        text=answer.text,
                    )
                    for answer, question in answers
                ],
            )
            for response, title, answers in found.responses
        ],
    )


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
async def erase_my_account(user: CurrentUser, session: SessionDep) -> Response:
    """Erase your account: your real name, WeChat identity and phone are destroyed
    and your bookings stay only as anonymous statistics, your suggestions and
    questionnaire answers unlinked from you. Refused while you hold
    a running booking or own an organization."""
    await service.erase(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
