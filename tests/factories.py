"""Factories: actors and resources with sensible defaults, built through the API.

Staff rows are the one thing written directly (there is no sign-up for staff);
their tokens are real tokens from ``app.core.tokens``.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import insert

from app.core import tokens
from app.core.clock import SHANGHAI, local_today
from app.core.db import Database, OverlapGuard
from app.core.passwords import hash_password
from app.identity.id_numbers import check_character
from app.models import Staff, StaffRole, StaffScope, staff_centers

STAFF_PASSWORD = "correct horse battery staple"
_STAFF_PASSWORD_HASH = hash_password(STAFF_PASSWORD)
_sequence = itertools.count(1)

Json = dict[str, Any]
Headers = dict[str, str]

EVERY_DAY_9_TO_21 = [{"weekday": day, "opens": "09:00", "closes": "21:00"} for day in range(7)]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def local(day: date, clock: str) -> datetime:
    hours, minutes = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=SHANGHAI)


def days_ahead(days: int) -> date:
    return local_today() + timedelta(days=days)


def center_body(**overrides: Any) -> Json:
    """A valid ``POST /admin/centers`` body."""
    return {
        "name": f"测试党群服务中心{next(_sequence)}",
        "kind": "street_center",
        "district": "普陀区",
        "street": "长风新村街道",
        "address": "上海市普陀区测试路1号",
        "lat": 31.2236,
        "lng": 121.3982,
        "phone": "021-52560000",
        "description": "",
        **overrides,
    }


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    def guarded(self, guard: OverlapGuard) -> None:
        """Run this app's writers under ``guard`` from now on: the negative
        controls' guard with a layer off. The guard is the app's ``Database``'s
        (no module-level switch), and each test has an app of its own."""
        self.database.guard = guard

    async def create_staff_row(
        self,
        role: StaffRole = StaffRole.super_admin,
        *,
        district: str | None = None,
        center_ids: Sequence[int] = (),
        username: str | None = None,
        is_active: bool = True,
        street: str | None = None,
        scope: StaffScope = StaffScope.listed,
    ) -> int:
        async with self.database.writer.begin() as session:
            staff = Staff(
                username=username or f"staff-{next(_sequence)}",
                password_hash=_STAFF_PASSWORD_HASH,
                role=role,
                district=district,
                is_active=is_active,
                street=street,
                scope=scope,
            )
            session.add(staff)
            await session.flush()
            if center_ids:
                await session.execute(
                    insert(staff_centers),
                    [{"staff_id": staff.id, "center_id": center_id} for center_id in center_ids],
                )
            return staff.id

    async def staff(
        self,
        role: StaffRole = StaffRole.super_admin,
        *,
        district: str | None = None,
        center_ids: Sequence[int] = (),
        street: str | None = None,
        scope: StaffScope = StaffScope.listed,
    ) -> Headers:
        staff_id = await self.create_staff_row(
            role, district=district, center_ids=center_ids, street=street, scope=scope
        )
        issued = tokens.issue(self.app.state.settings, tokens.Audience.staff, staff_id)
        return bearer(issued.access_token)

    async def resident(self, openid: str | None = None) -> Headers:
        response = await self.client.post(
            "/api/v1/auth/wechat", json={"code": f"dev:{openid or f'resident-{next(_sequence)}'}"}
        )
        assert response.status_code == 200, response.text
        return bearer(response.json()["access_token"])

    async def center(self, headers: Headers | None = None, **overrides: Any) -> Json:
        body = center_body(**overrides)
        headers = headers or await self.staff()
        response = await self.client.post("/api/v1/admin/centers", json=body, headers=headers)
        assert response.status_code == 201, response.text
        result: Json = response.json()
        return result

    async def space(
        self, center_id: int | None = None, headers: Headers | None = None, **overrides: Any
    ) -> Json:
        headers = headers or await self.staff()
        if center_id is None:
            center_id = (await self.center(headers))["id"]
        body = {
            "center_id": center_id,
            "name": f"会议室{next(_sequence)}",
            "kind": "meeting_room",
            "booking_mode": "exclusive",
            "capacity": 12,
            "slot_minutes": 30,
            "min_minutes": 30,
            "max_minutes": 240,
            "advance_days": 14,
            "open_24h": False,
            "opening_hours": EVERY_DAY_9_TO_21,
            # Open on statutory holidays too, so that a test that is not about
            # holidays books the same on the eve of National Day as on any day.
            # ``holiday_policy=None`` leaves the choice to the server's default.
            "holiday_policy": "open",
        }
        body.update(overrides)
        response = await self.client.post("/api/v1/admin/spaces", json=body, headers=headers)
        assert response.status_code == 201, response.text
        result: Json = response.json()
        return result


def slot(day: date, start: str, end: str) -> dict[str, str]:
    """A booking interval on a Shanghai day, as the API takes it."""
    end_day = day + timedelta(days=1) if end == "24:00" else day
    return {
        "start": local(day, start).isoformat(),
        "end": local(end_day, "00:00" if end == "24:00" else end).isoformat(),
    }


async def next_open_day(api: Api, space_id: int, after: int = 1) -> date:
    """The first day from ``after`` days ahead with a free slot in the space, as
    its availability says: for rooms whose rules a test does not set (the demo's
    close on statutory holidays, some on Sundays)."""
    for ahead in range(after, after + 15):
        day = days_ahead(ahead)
        answer = await api.client.get(
            f"/api/v1/spaces/{space_id}/availability", params={"date": day.isoformat()}
        )
        assert answer.status_code == 200, answer.text
        if any(slot["status"] == "free" for slot in answer.json()["slots"]):
            return day
    raise AssertionError(f"space {space_id} has no free slot in the 15 days from {after} ahead")


async def book(
    api: Api, headers: Headers, space_id: int, day: date, start: str, end: str, **extra: Any
) -> httpx.Response:
    body = {"space_id": space_id, **slot(day, start, end), "purpose": "部门例会", **extra}
    return await api.client.post("/api/v1/reservations", json=body, headers=headers)


# --- personal data ------------------------------------------------------------------


@dataclass
class SentPersonalData:
    """Every ID number and birth date the tests send. The watch in conftest.py
    fails a test that leaves any of them in plaintext in the database or the logs."""

    values: set[str]
    sends: int = 0


SENT_PERSONAL_DATA = SentPersonalData(values=set())


def id_number(sequence: int = 1, born: str = "19900307", region: str = "310101") -> str:
    """A valid GB 11643 number (with a correct check character) for tests."""
    body = f"{region}{born}{sequence % 1000:03d}"
    return body + check_character(body)


def remember_personal_data(number: str) -> None:
    born = number[6:14]
    SENT_PERSONAL_DATA.values.update({number, born, f"{born[:4]}-{born[4:6]}-{born[6:]}"})
    SENT_PERSONAL_DATA.sends += 1


async def verify_real_name(
    api: Api, headers: Headers, number: str | None = None, name: str = "陈晓明"
) -> httpx.Response:
    number = number or id_number(next(_sequence))
    remember_personal_data(number)
    return await api.client.post(
        "/api/v1/me/real-name", json={"name": name, "id_number": number}, headers=headers
    )


async def verified_resident(api: Api) -> Headers:
    headers = await api.resident()
    response = await verify_real_name(api, headers)
    assert response.status_code == 200, response.text
    return headers


async def door(api: Api, space_id: int, headers: Headers | None = None) -> tuple[int, Headers]:
    """Register a door; returns its id and the lock's own Authorization header."""
    response = await api.client.post(
        "/api/v1/admin/doors",
        json={"space_id": space_id, "name": f"门{next(_sequence)}"},
        headers=headers or await api.staff(),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], {"Authorization": f"Device {body['device_key']}"}


def uscc(sequence: int) -> str:
    """A valid unified social credit code for tests (a company registered in Putuo)."""
    from app.organizations.uscc import check_character as uscc_check

    body = f"91310107MA{sequence:07d}"
    return body + uscc_check(body)


# Kinds that register without a unified social credit code.
KINDS_WITHOUT_CODE = ("party_branch", "community_team")


async def organization(
    api: Api, owner: Headers, *, verified: bool = True, **overrides: Any
) -> Json:
    """An organization ``owner`` registers (a company unless ``kind`` says
    otherwise; a kind without a code is sent none), verified by staff."""
    body: Json = {
        "name": f"测试科技有限公司{next(_sequence)}",
        "contact_name": "孙经理",
        "contact_phone": "13800138000",
    }
    if overrides.get("kind") not in KINDS_WITHOUT_CODE:
        body["uscc"] = uscc(next(_sequence))
    body.update(overrides)
    response = await api.client.post("/api/v1/organizations", json=body, headers=owner)
    assert response.status_code == 201, response.text
    result: Json = response.json()
    if verified:
        verify = await api.client.post(
            f"/api/v1/admin/organizations/{result['id']}/verify", headers=await api.staff()
        )
        assert verify.status_code == 200, verify.text
        result = verify.json()
    return result


async def member_of(api: Api, owner: Headers, organization_id: int) -> Headers:
    """A new resident who joined ``organization_id`` through an invitation."""
    invitation = await api.client.post(
        f"/api/v1/organizations/{organization_id}/invitations", headers=owner
    )
    assert invitation.status_code == 201, invitation.text
    colleague = await api.resident()
    joined = await api.client.post(
        "/api/v1/organizations/join", json={"code": invitation.json()["code"]}, headers=colleague
    )
    assert joined.status_code == 200, joined.text
    return colleague
