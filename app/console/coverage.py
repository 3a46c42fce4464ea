"""Which console page does what each staff-only API route does.

Every API route that needs a staff token (its dependencies include one of
``STAFF_DEPENDENCIES``) is either in ``PAGES``, with the console path that
performs it, or in ``EXEMPT``, with the reason it has no page.
tests/test_console_coverage.py fails on a staff route in neither, in both,
or listed here but no longer in the API, and on a page path no console
route serves. A new staff route is one line here.
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from app.identity import dependencies

STAFF_DEPENDENCIES: frozenset[Callable[..., Any]] = frozenset(
    {
        dependencies.current_staff,
        dependencies.current_staff_changing_password,
        dependencies.current_staff_reading,
    }
)

PAGES: dict[str, str] = {
    # bookings, series, approvals
    "POST /api/v1/reservations/{reservation_id}/approve": "/console/bookings/{reservation_id}",
    "POST /api/v1/reservations/{reservation_id}/reject": "/console/bookings/{reservation_id}",
    "POST /api/v1/reservation-series/{series_id}/approve": "/console/approvals",
    "POST /api/v1/reservation-series/{series_id}/reject": "/console/approvals",
    "POST /api/v1/reservations/{reservation_id}/access/reissue": (
        "/console/bookings/{reservation_id}"
    ),
    "POST /api/v1/admin/reservations": "/console/book",
    # doors
    "POST /api/v1/admin/doors": "/console/doors",
    "GET /api/v1/admin/doors": "/console/doors",
    "POST /api/v1/admin/doors/{door_id}/rotate-key": "/console/doors",
    "POST /api/v1/admin/doors/{door_id}/clear-lockout": "/console/doors",
    # organizations
    "GET /api/v1/admin/organizations": "/console/organizations",
    "POST /api/v1/admin/organizations/{organization_id}/verify": "/console/organizations",
    "POST /api/v1/admin/organizations/{organization_id}/reject": "/console/organizations",
    # spaces: settings, hours, closures, quotas, calendar feed, feedback, check-in code
    "GET /api/v1/admin/spaces": "/console/spaces",
    "GET /api/v1/admin/spaces/{space_id}": "/console/spaces/{space_id}",
    "PATCH /api/v1/admin/spaces/{space_id}": "/console/spaces/{space_id}",
    "PUT /api/v1/admin/spaces/{space_id}/opening-hours": "/console/spaces/{space_id}",
    "GET /api/v1/admin/spaces/{space_id}/closures": "/console/spaces/{space_id}",
    "POST /api/v1/admin/spaces/{space_id}/closures": "/console/spaces/{space_id}",
    "DELETE /api/v1/admin/spaces/{space_id}/closures/{closure_id}": "/console/spaces/{space_id}",
    "GET /api/v1/admin/spaces/{space_id}/quotas": "/console/spaces/{space_id}",
    "PUT /api/v1/admin/spaces/{space_id}/quotas": "/console/spaces/{space_id}",
    "GET /api/v1/admin/centers/{center_id}/quotas": "/console/spaces",
    "PUT /api/v1/admin/centers/{center_id}/quotas": "/console/spaces",
    "POST /api/v1/admin/spaces/{space_id}/calendar-feed": "/console/spaces/{space_id}",
    "GET /api/v1/admin/spaces/{space_id}/feedback": "/console/spaces/{space_id}/feedback",
    "GET /api/v1/admin/spaces/{space_id}/check-in-qr": "/console/spaces/{space_id}/check-in-qr",
    "POST /api/v1/admin/spaces/{space_id}/check-in-qr/rotate": (
        "/console/spaces/{space_id}/check-in-qr"
    ),
    # residents: counter real names, re-binding, deactivation; violations and appeals
    "POST /api/v1/admin/real-names/{user_id}/verify": "/console/residents/{user_id}",
    "POST /api/v1/admin/real-names/rebind": "/console/residents/{user_id}",
    "GET /api/v1/admin/users/{user_id}": "/console/residents/{user_id}",
    "POST /api/v1/admin/users/{user_id}/deactivate": "/console/residents/{user_id}",
    "POST /api/v1/admin/users/{user_id}/activate": "/console/residents/{user_id}",
    "GET /api/v1/admin/violations": "/console/violations",
    "POST /api/v1/admin/violations/{violation_id}/pardon": "/console/violations",
    "POST /api/v1/admin/violations/{violation_id}/uphold": "/console/violations",
    # staff accounts, own password, audit trail
    "GET /api/v1/admin/staff": "/console/staff",
    "POST /api/v1/admin/staff": "/console/staff",
    "GET /api/v1/admin/staff/{staff_id}": "/console/staff",
    "POST /api/v1/admin/staff/{staff_id}/reset-password": "/console/staff",
    "POST /api/v1/admin/staff/{staff_id}/deactivate": "/console/staff",
    "POST /api/v1/admin/staff/{staff_id}/activate": "/console/staff",
    "POST /api/v1/admin/me/password": "/console/me/password",
    "GET /api/v1/admin/audit": "/console/audit",
    "POST /api/v1/auth/sign-out": "/console/logout",
    # questionnaires: list, results, publish, close, download
    "GET /api/v1/admin/questionnaires": "/console/questionnaires",
    "GET /api/v1/admin/questionnaires/{questionnaire_id}": (
        "/console/questionnaires/{questionnaire_id}"
    ),
    "POST /api/v1/admin/questionnaires/{questionnaire_id}/publish": (
        "/console/questionnaires/{questionnaire_id}"
    ),
    "POST /api/v1/admin/questionnaires/{questionnaire_id}/close": (
        "/console/questionnaires/{questionnaire_id}"
    ),
    "GET /api/v1/admin/questionnaires/{questionnaire_id}/results": (
        "/console/questionnaires/{questionnaire_id}"
    ),
    "GET /api/v1/admin/questionnaires/{questionnaire_id}/responses": (
        "/console/questionnaires/{questionnaire_id}/responses"
    ),
    # the holiday calendar
    "GET /api/v1/admin/calendar/days/{day}": "/console/calendar",
    "PUT /api/v1/admin/calendar/days/{day}": "/console/calendar/{day}",
    "DELETE /api/v1/admin/calendar/days/{day}": "/console/calendar/{day}/clear",
    # the staff inbox and dead letters
    "GET /api/v1/admin/notifications": "/console/inbox",
    "POST /api/v1/admin/notifications/read-all": "/console/inbox",
    "POST /api/v1/admin/notifications/{notification_id}/read": "/console/inbox",
    "GET /api/v1/admin/notifications/failed": "/console/inbox",
    # reports and evaluations
    "GET /api/v1/admin/reports/utilization": "/console/reports",
    "GET /api/v1/admin/reports/activities": "/console/activities",
    "GET /api/v1/admin/evaluations": "/console/evaluations",
    "GET /api/v1/admin/evaluation-weights": "/console/evaluations",
    "PUT /api/v1/admin/evaluation-weights": "/console/evaluations",
    # centers and new spaces
    "GET /api/v1/admin/centers": "/console/centers",
    "POST /api/v1/admin/centers": "/console/centers",
    "GET /api/v1/admin/centers/{center_id}": "/console/centers/{center_id}",
    "PATCH /api/v1/admin/centers/{center_id}": "/console/centers/{center_id}",
    "POST /api/v1/admin/spaces": "/console/spaces/new",
    # the board: every space's day, and its events
    "GET /api/v1/admin/spaces/{space_id}/events": "/console/today",
}

PAGES.update(
    {
        # the ledger of suggestions (台账)
        "GET /api/v1/admin/suggestions": "/console/suggestions",
        "GET /api/v1/admin/suggestions/{suggestion_id}": "/console/suggestions/{suggestion_id}",
        "POST /api/v1/admin/suggestions/{suggestion_id}/assign": (
            "/console/suggestions/{suggestion_id}/take"
        ),
        "POST /api/v1/admin/suggestions/{suggestion_id}/answer": (
            "/console/suggestions/{suggestion_id}/answer"
        ),
        "POST /api/v1/admin/suggestions/{suggestion_id}/close": (
            "/console/suggestions/{suggestion_id}/close"
        ),
        # the screen at the door
        "POST /api/v1/admin/spaces/{space_id}/kiosk-key": "/console/spaces/{space_id}/kiosk-key",
    }
)

_NO_PAGE_YET = "no console page yet: "
_LISTS = _NO_PAGE_YET + "the four lists are kept through the API (README, The four lists)"
_WEBHOOKS = _NO_PAGE_YET + "webhooks are registered and followed through the API (README, Webhooks)"

EXEMPT: dict[str, str] = {
    "GET /api/v1/admin/suggestions/summary": "the ledger's page counts its overdue items",
    "GET /api/v1/admin/suggestions/{suggestion_id}/contact": (
        _NO_PAGE_YET + "the submitter's contact is an audited read through the API"
    ),
    "GET /api/v1/admin/suggestions/{suggestion_id}/photos/{upload_id}": (
        _NO_PAGE_YET + "the item's page counts its photos; they are read through the API"
    ),
    **dict.fromkeys(
        (
            "GET /api/v1/admin/lists/summary",
            "GET /api/v1/admin/needs",
            "POST /api/v1/admin/needs",
            "GET /api/v1/admin/needs/{need_id}",
            "PATCH /api/v1/admin/needs/{need_id}",
            "DELETE /api/v1/admin/needs/{need_id}",
            "POST /api/v1/admin/needs/{need_id}/matches",
            "DELETE /api/v1/admin/needs/{need_id}/matches/{match_id}",
            "GET /api/v1/admin/resources",
            "POST /api/v1/admin/resources",
            "GET /api/v1/admin/resources/{resource_id}",
            "PATCH /api/v1/admin/resources/{resource_id}",
            "DELETE /api/v1/admin/resources/{resource_id}",
            "POST /api/v1/admin/resources/{resource_id}/accept",
            "POST /api/v1/admin/resources/{resource_id}/decline",
            "GET /api/v1/admin/projects",
            "POST /api/v1/admin/projects",
            "GET /api/v1/admin/projects/{project_id}",
            "PATCH /api/v1/admin/projects/{project_id}",
            "DELETE /api/v1/admin/projects/{project_id}",
            "GET /api/v1/admin/service-objects",
            "POST /api/v1/admin/service-objects",
            "PATCH /api/v1/admin/service-objects/{served_id}",
            "DELETE /api/v1/admin/service-objects/{served_id}",
        ),
        _LISTS,
    ),
    **dict.fromkeys(
        (
            "GET /api/v1/admin/webhooks",
            "POST /api/v1/admin/webhooks",
            "DELETE /api/v1/admin/webhooks/{webhook_id}",
            "GET /api/v1/admin/webhooks/{webhook_id}/deliveries",
            "POST /api/v1/admin/webhooks/deliveries/{delivery_id}/retry",
        ),
        _WEBHOOKS,
    ),
    "GET /api/v1/admin/me": "the console's header names the signed-in account",
    "GET /api/v1/admin/me/sessions": (
        "an API client's view of its own tokens; the console's 退出 signs out everywhere"
    ),
    "PATCH /api/v1/admin/staff/{staff_id}": (
        "no console form yet: a role or scope change goes through the API, audited there;"
        " the staff page creates, resets, deactivates and activates accounts"
    ),
    "GET /api/v1/admin/spaces/{space_id}/calendar.ics": (
        "a file for calendar programs; the space page issues the feed's address instead"
    ),
    "DELETE /api/v1/admin/spaces/{space_id}/calendar-feed": (
        "issuing a new address on the space page revokes the previous one"
    ),
    "POST /api/v1/admin/spaces/{space_id}/events": (
        "no console form yet: a staff activity holds its venue as an event"
        " (/console/activities/new); a bare hold goes through the API"
    ),
    "GET /api/v1/admin/spaces/{space_id}/events/{event_id}": (
        "each event shows on the board's timeline, /console/today"
    ),
    "DELETE /api/v1/admin/spaces/{space_id}/events/{event_id}": (
        "cancelling the activity releases its event (/console/activities);"
        " a bare hold is released through the API"
    ),
    "POST /api/v1/admin/questionnaires": (
        "questions (up to 50, of four kinds, with options and scales) are written as JSON"
        " through the API; the console publishes, closes and reads them"
    ),
    "PUT /api/v1/admin/questionnaires/{questionnaire_id}": (
        "a draft's questions are edited through the API, where they are written"
    ),
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any] | None]:
    yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def staff_routes(app: FastAPI) -> dict[str, APIRoute]:
    """``"METHOD path"`` of every API route (in the OpenAPI) that needs a staff token."""
    found: dict[str, APIRoute] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not context.include_in_schema:
            continue
        if not STAFF_DEPENDENCIES.intersection(_calls(context.dependant)):
            continue
        for method in sorted(context.methods or ()):
            found[f"{method} {context.path}"] = route
    return found
