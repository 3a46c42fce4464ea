"""Every staff API route has a console page that does the same, or an
explicit exemption with its reason (app/console/coverage.py). No database:
the app's routes are read as they are declared."""

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from app.console import coverage
from app.main import create_app
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def app() -> FastAPI:
    return create_app(make_settings("sqlite+aiosqlite:///:memory:"))


def _console_paths(app: FastAPI) -> list[re.Pattern[str]]:
    """The console's GET and POST routes, as patterns any ``{name}`` matches."""
    patterns = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if isinstance(context.original_route, APIRoute) and path.startswith("/console"):
            patterns.append(re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"))
    return patterns


def test_every_staff_route_has_a_console_page_or_an_exemption(app: FastAPI) -> None:
    staff = coverage.staff_routes(app)
    assert "POST /api/v1/admin/violations/{violation_id}/pardon" in staff  # the detection works
    assert "GET /api/v1/reservations" not in staff  # a resident's route too: not staff-only
    missing = sorted(set(staff) - set(coverage.PAGES) - set(coverage.EXEMPT))
    assert missing == [], "staff routes with no console page: add each to PAGES or EXEMPT"


def test_a_route_is_mapped_once_and_only_while_it_exists(app: FastAPI) -> None:
    staff = coverage.staff_routes(app)
    assert sorted(set(coverage.PAGES) & set(coverage.EXEMPT)) == []
    gone = sorted((set(coverage.PAGES) | set(coverage.EXEMPT)) - set(staff))
    assert gone == [], "listed in app/console/coverage.py but no longer a staff route"


def test_every_exemption_gives_its_reason(app: FastAPI) -> None:
    assert all(len(reason.split()) >= 3 for reason in coverage.EXEMPT.values())


def test_every_mapped_page_is_served_by_the_console(app: FastAPI) -> None:
    served = _console_paths(app)
    unserved = sorted(
        page for page in set(coverage.PAGES.values()) if not any(p.match(page) for p in served)
    )
    assert unserved == [], "console pages named in PAGES that no console route serves"
