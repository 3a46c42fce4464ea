"""One transaction per request, committed before the response is sent."""

from typing import Any

import httpx
from sqlalchemy import event, func, select

from app.core.migrate import upgrade
from app.models import Center, StaffRole
from tests.conftest import TemporaryDatabases, make_settings, running
from tests.factories import Api, center_body
from tests.test_errors import assert_problem


async def test_a_failed_commit_is_never_reported_as_success(api: Api) -> None:
    headers = await api.staff()
    engine = api.database.engine.sync_engine

    def refuse_commit(connection: Any) -> None:
        raise RuntimeError("the disk is full")

    event.listen(engine, "commit", refuse_commit)
    try:
        transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/api/v1/admin/centers", json=center_body(), headers=headers
            )
    finally:
        event.remove(engine, "commit", refuse_commit)
    assert_problem(response, 500, "internal_error")
    async with api.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Center)) == 0


async def test_an_error_after_a_write_rolls_the_write_back(api: Api) -> None:
    headers = await api.staff()
    center = await api.center(headers)
    response = await api.client.patch(
        f"/api/v1/admin/centers/{center['id']}",
        json={"phone": "021-999", "name": center["name"], "district": "闵行区"},
        headers=await api.staff(StaffRole.district_admin, district="普陀区"),
    )
    assert_problem(response, 403, "out_of_scope")
    assert (await api.client.get(f"/api/v1/centers/{center['id']}")).json()["phone"] == (
        "021-52560000"
    )


async def test_sqlite_writers_begin_immediate(temporary_databases: TemporaryDatabases) -> None:
    """SQLite ignores FOR UPDATE; taking the write lock at BEGIN is what serializes writers."""
    url = temporary_databases.new("sqlite")
    await upgrade(url)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with running(make_settings(url)) as api:
        headers = await api.staff()
        engine = api.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", record)
        await api.client.post("/api/v1/admin/centers", json=center_body(), headers=headers)
        writes = list(statements)
        statements.clear()
        await api.client.get("/api/v1/centers")
        reads = list(statements)
    assert writes[0] == "BEGIN IMMEDIATE"
    assert reads[0] == "BEGIN"
