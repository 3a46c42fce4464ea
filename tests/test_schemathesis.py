"""Property-based fuzzing of every operation in the OpenAPI document.

Schemathesis generates valid (positive) and invalid (negative) requests for
each operation and checks that none is a server error, that invalid input is
refused with a 4xx, and that every response matches the documented status
codes, content types and schemas. It drives the app in process against a
database seeded with the demo data, as staff on admin endpoints and as a
resident on resident ones. ``ZHENDI_FUZZ_EXAMPLES`` raises the case count
(CI keeps it modest so the suite stays fast).
"""

import asyncio
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from app import demo
from app.core import tokens
from app.core.config import Settings
from app.core.db import Database
from app.core.migrate import upgrade
from app.main import create_app
from app.models import User
from tests.conftest import IN_CI, TemporaryDatabases, make_settings

MAX_EXAMPLES = int(os.environ.get("ZHENDI_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# Operations that end the fuzzing caller's account (erase it, deactivate it):
# run last, so that every other operation is fuzzed as a signed-in caller.
ENDS_THE_ACCOUNT = {("DELETE", "/api/v1/me"), ("POST", "/api/v1/admin/users/{user_id}/deactivate")}


def _operations() -> list[tuple[str, str, GenerationMode]]:
    """Every operation, positively; negatively too when it takes any input."""
    document = create_app(Settings(database_url="sqlite+aiosqlite://")).openapi()
    operations = []
    for path, item in document["paths"].items():
        for method, spec in item.items():
            operations.append((method.upper(), path, GenerationMode.POSITIVE))
            if spec.get("parameters") or spec.get("requestBody"):
                operations.append((method.upper(), path, GenerationMode.NEGATIVE))
    return sorted(operations, key=lambda op: ((op[0], op[1]) in ENDS_THE_ACCOUNT, op))


OPERATIONS = _operations()
cases_run: Counter[str] = Counter()  # per engine, reported in the terminal summary


async def _prepare(settings: Settings) -> tuple[int, int]:
    await upgrade(settings.database_url)
    database = Database.connect(settings)
    try:
        async with database.writer.begin() as session:
            await demo.seed_demo(session)
            user = User(openid="fuzz-resident")
            session.add(user)
            await session.flush()
            return 1, user.id
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def fuzz_target(
    engine_name: str, temporary_databases: TemporaryDatabases
) -> tuple[Any, dict[str, dict[str, str]], str]:
    settings = make_settings(temporary_databases.new(engine_name), log_level="WARNING")
    staff_id, user_id = asyncio.run(_prepare(settings))
    staff = tokens.issue(settings, tokens.Audience.staff, staff_id).access_token
    user = tokens.issue(settings, tokens.Audience.user, user_id).access_token
    credentials = {
        "staff": {"Authorization": f"Bearer {staff}"},
        "user": {"Authorization": f"Bearer {user}"},
        "door": {"Authorization": f"Device {demo.DEMO_DOOR_KEY}"},
    }
    app: FastAPI = create_app(settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app), credentials, engine_name


def _headers_for(path: str, credentials: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/api/v1/admin") or path.endswith(("/approve", "/reject", "/reissue")):
        return credentials["staff"]
    if path.startswith("/api/v1/doors"):
        return credentials["door"]
    if path.startswith(("/api/v1/me", "/api/v1/reservations")):
        return credentials["user"]
    return {}


def _mutates_headers(case: Any) -> bool:
    components = case.meta.components if case.meta is not None else {}
    header = components.get(ParameterLocation.HEADER)
    return header is not None and header.mode is GenerationMode.NEGATIVE


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_operation(
    method: str, path: str, mode: GenerationMode, fuzz_target: tuple[Any, Any, str]
) -> None:
    schema, credentials, engine_name = fuzz_target
    operation = schema[path][method]
    headers = _headers_for(path, credentials)

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=IN_CI,
        database=None,
    )
    def fuzz(case: Any) -> None:
        cases_run[engine_name] += 1
        # A case whose headers are the input under test (a mangled or missing
        # Authorization) is sent as generated; the others as a signed-in caller.
        own = "authorization" in {name.lower() for name in case.headers or {}}
        case.call_and_validate(
            headers=None if own or _mutates_headers(case) else headers, checks=CHECKS
        )

    fuzz()
