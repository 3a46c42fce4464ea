"""Real-name verification through the API: masked forms only, one number one account."""

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy import select

from app.core.crypto import Sealed
from app.models import AccessCode, AuditEvent, StaffRole, User
from tests.conftest import LOG_BOOK, _plaintext_personal_data, make_settings, running
from tests.factories import (
    Api,
    Headers,
    book,
    days_ahead,
    door,
    id_number,
    remember_personal_data,
    verify_real_name,
)
from tests.fake_identity import APPCODE, FakeIdentityProvider, serve_fake_identity_provider
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates

INSTANT = re.compile(r'"\d{4}-\d\d-\d\dT[^"]*"')


async def test_verification_shows_masked_forms_only(api: Api) -> None:
    resident = await api.resident()
    number = id_number(7, born="19851120")
    response = await verify_real_name(api, resident, number, name="陈晓明")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["real_name_verified"] is True
    assert body["name_masked"] == "陈**"
    assert body["id_number_masked"] == f"{number[:4]}**********{number[-4:]}"
    assert number not in response.text
    # No birth year anywhere; the instants the answer carries (whose fraction
    # of a second may hold any digits) are left out of the search.
    assert "1985" not in INSTANT.sub('""', response.text)
    me = await api.client.get("/api/v1/me", headers=resident)
    assert me.json() == body

    async with api.database.reader() as session:
        user = await session.scalar(select(User).where(User.id == body["id"]))
    assert user is not None
    assert user.id_number_sealed is not None
    assert number.encode() not in user.id_number_sealed
    assert user.real_name_provider == "format_only"
    assert user.id_number_sealed is not None
    assert user.pii_key_version is not None
    sealed = Sealed(user.id_number_sealed, user.pii_key_version)
    assert api.app.state.pii_cipher.open("id_number", sealed) == number  # only with the key


async def test_one_number_binds_one_account(api: Api) -> None:
    number = id_number(8)
    first, second = await api.resident(), await api.resident()
    assert (await verify_real_name(api, first, number)).status_code == 200
    assert_problem(await verify_real_name(api, second, number), 409, "real_name_not_accepted")
    again = await verify_real_name(api, first, number)
    assert again.status_code == 200  # the same person verifying again changes nothing
    other = await verify_real_name(api, first, id_number(9))
    assert_problem(other, 409, "already_verified")
    assert (await api.client.get("/api/v1/me", headers=second)).json()[
        "real_name_verified"
    ] is False


async def test_two_accounts_racing_for_one_number_only_one_wins(api: Api) -> None:
    number = id_number(10)
    residents = [await api.resident() for _ in range(8)]
    responses = await asyncio.gather(
        *(verify_real_name(api, resident, number) for resident in residents)
    )
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {
        "real_name_not_accepted"
    }


@pytest.mark.parametrize(
    ("number", "name", "status", "code"),
    [
        ("11010519491231002x", "陈晓明", 422, "invalid_id_number"),  # lower-case x
        ("110105194912310021", "陈晓明", 422, "invalid_id_number"),  # check digit
        ("99010519491231002X", "陈晓明", 422, "invalid_id_number"),  # region
        ("11010519491231002", "陈晓明", 422, "validation_failed"),  # 17 characters
        ("11010519491231002X", "陈", 422, "validation_failed"),  # name too short
        ("11010519491231002X", "陈晓明1", 422, "validation_failed"),
        (id_number(11, born="20200101"), "陈晓明", 403, "guardian_consent_required"),
    ],
)
async def test_refusals_have_clear_codes_and_never_echo_the_number(
    api: Api, number: str, name: str, status: int, code: str
) -> None:
    resident = await api.resident()
    remember_personal_data(number)
    response = await api.client.post(
        "/api/v1/me/real-name", json={"name": name, "id_number": number}, headers=resident
    )
    assert_problem(response, status, code)
    assert number not in response.text
    me = (await api.client.get("/api/v1/me", headers=resident)).json()
    assert me["real_name_verified"] is False
    assert me["id_number_masked"] is None


async def test_the_watch_finds_plaintext_personal_data(api: Api) -> None:
    """The suite-wide scan can fail: a number written to the log is caught."""
    number = id_number(12)
    remember_personal_data(number)
    LOG_BOOK.unscanned()
    logging.getLogger("zhendi.test").warning("oops %s", number)
    leaks = await _plaintext_personal_data(api.database, sends_before=-1)
    assert sorted(leaks) == sorted([f"log: {number[:4]}…", f"log: {number[6:10]}…"])


# --- a real check: the HTTP provider, the counter, disputes ---------------------------


@pytest.fixture
def provider() -> Iterator[FakeIdentityProvider]:
    with serve_fake_identity_provider() as fake:
        yield fake


@pytest.fixture
async def checked_api(database_url: str, provider: FakeIdentityProvider) -> AsyncIterator[Api]:
    settings = make_settings(
        database_url,
        real_name_verifier="http",
        real_name_http_url=provider.url,
        real_name_http_token=APPCODE,
        real_name_http_timeout_seconds=1,
    )
    async with running(settings) as running_api:
        yield running_api


async def test_the_http_check_binds_only_a_matching_name(
    checked_api: Api, provider: FakeIdentityProvider
) -> None:
    api = checked_api
    number = id_number(21)
    provider.registry[number] = "王小红"
    resident = await api.resident()
    refused = await verify_real_name(api, resident, number, name="陈晓明")
    assert_problem(refused, 409, "real_name_not_accepted")
    accepted = await verify_real_name(api, resident, number, name="王小红")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["name_masked"] == "王**"
    assert provider.calls[-1] == {"name": "王小红", "idcard": number}
    async with api.database.reader() as session:
        user = await session.get(User, accepted.json()["id"])
    assert user is not None
    assert user.real_name_provider == "http"


@pytest.mark.parametrize("trouble", ["down", "slow"])
async def test_provider_trouble_is_a_503_and_binds_nothing(
    checked_api: Api, provider: FakeIdentityProvider, trouble: str
) -> None:
    api = checked_api
    number = id_number(22)
    provider.registry[number] = "陈晓明"
    setattr(provider, trouble, True)
    resident = await api.resident()
    response = await verify_real_name(api, resident, number)
    assert_problem(response, 503, "real_name_unavailable")
    assert int(response.headers["retry-after"]) > 0
    me = (await api.client.get("/api/v1/me", headers=resident)).json()
    assert me["real_name_verified"] is False


async def test_the_answer_does_not_tell_whether_a_number_is_registered(
    checked_api: Api, provider: FakeIdentityProvider
) -> None:
    """Bound to someone else, or the name does not match: the same status, code and
    body, and the provider is asked either way (the same timing class)."""
    api = checked_api
    taken, free = id_number(23), id_number(24)
    provider.registry.update({taken: "陈晓明", free: "王小红"})
    assert (await verify_real_name(api, await api.resident(), taken)).status_code == 200
    calls = len(provider.calls)
    prober = await api.resident()
    bound_elsewhere = await verify_real_name(api, prober, taken, name="陈晓明")
    wrong_name = await verify_real_name(api, prober, free, name="陈晓明")
    assert len(provider.calls) == calls + 2

    def shown(response: httpx.Response) -> tuple[int, dict[str, object], str | None]:
        return response.status_code, response.json(), response.headers.get("retry-after")

    assert shown(bound_elsewhere) == shown(wrong_name)
    assert bound_elsewhere.json()["code"] == "real_name_not_accepted"


async def test_real_name_claims_are_rate_limited_per_account(database_url: str) -> None:
    settings = make_settings(database_url, rate_limit_real_name_per_user="3 per hour")
    async with running(settings) as api:
        resident = await api.resident()
        for sequence in range(3):
            number = id_number(30 + sequence, born="20200101")  # refused: under 14
            assert (await verify_real_name(api, resident, number)).status_code == 403
        limited = await verify_real_name(api, resident, id_number(33))
        assert_problem(limited, 429, "rate_limited")
        assert int(limited.headers["retry-after"]) > 0
        other = await verify_real_name(api, await api.resident(), id_number(34))
        assert other.status_code == 200  # another account has its own budget


@pytest.fixture
async def counter_api(database_url: str) -> AsyncIterator[Api]:
    settings = make_settings(database_url, real_name_verifier="counter")
    async with running(settings) as running_api:
        yield running_api


async def counter_check(
    api: Api, staff: Headers, user_id: int, number: str, center_id: int, name: str = "陈晓明"
) -> httpx.Response:
    remember_personal_data(number)
    return await api.client.post(
        f"/api/v1/admin/real-names/{user_id}/verify",
        json={"name": name, "id_number": number, "center_id": center_id},
        headers=staff,
    )


async def test_at_the_counter_staff_verify_in_person(counter_api: Api) -> None:
    api = counter_api
    center = await api.center()
    resident = await api.resident()
    online = await verify_real_name(api, resident, id_number(40))
    assert_problem(online, 409, "real_name_in_person")
    me = (await api.client.get("/api/v1/me", headers=resident)).json()

    other_center = await api.center()
    elsewhere = await api.staff(StaffRole.center_admin, center_ids=[other_center["id"]])
    refused = await counter_check(api, elsewhere, me["id"], id_number(40), center["id"])
    assert_problem(refused, 403, "out_of_scope")

    here = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    verified = await counter_check(api, here, me["id"], id_number(40), center["id"])
    assert verified.status_code == 200, verified.text
    assert verified.json()["real_name_provider"] == "counter"
    assert id_number(40) not in verified.text
    assert (await api.client.get("/api/v1/me", headers=resident)).json()["real_name_verified"]

    second = (await api.client.get("/api/v1/me", headers=await api.resident())).json()
    taken = await counter_check(api, here, second["id"], id_number(40), center["id"])
    assert_problem(taken, 409, "id_number_taken")  # staff may know: they use rebind


async def test_the_true_holder_takes_the_number_back_at_the_counter(api: Api) -> None:
    """A squatter bound someone else's number. The holder proves it in person;
    staff re-bind it. The squatter loses it, and their running bookings that
    needed it are cancelled with a reason, their codes revoked; all audited."""
    number = id_number(41)
    squatter = await api.resident()
    assert (await verify_real_name(api, squatter, number, name="陈晓明")).status_code == 200
    staff = await api.staff()
    center = await api.center(staff)
    study = await api.space(
        center["id"],
        staff,
        kind="study_room",
        booking_mode="shared",
        capacity=10,
        requires_real_name=True,
    )
    meeting = await api.space(center["id"], staff)
    await door(api, study["id"], staff)  # so the study-room booking gets a code
    needs_name = (await book(api, squatter, study["id"], days_ahead(1), "10:00", "11:00")).json()
    plain = (await book(api, squatter, meeting["id"], days_ahead(1), "10:00", "11:00")).json()
    holder = await api.resident()
    holder_id = (await api.client.get("/api/v1/me", headers=holder)).json()["id"]
    assert_problem(await verify_real_name(api, holder, number), 409, "real_name_not_accepted")

    remember_personal_data(number)
    rebound = await api.client.post(
        "/api/v1/admin/real-names/rebind",
        json={
            "user_id": holder_id,
            "name": "陈晓明",
            "id_number": number,
            "center_id": center["id"],
            "reason": "本人持证到柜台申诉",
        },
        headers=staff,
    )
    assert rebound.status_code == 200, rebound.text
    assert rebound.json()["real_name_verified"] is True
    assert (await api.client.get("/api/v1/me", headers=holder)).json()["real_name_verified"]
    lost = (await api.client.get("/api/v1/me", headers=squatter)).json()
    assert (lost["real_name_verified"], lost["id_number_masked"]) == (False, None)

    cancelled = await api.client.get(f"/api/v1/reservations/{needs_name['id']}", headers=squatter)
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["status_reason"] == "实名信息经柜台核验已更正至证件持有人"
    kept = await api.client.get(f"/api/v1/reservations/{plain['id']}", headers=squatter)
    assert kept.json()["status"] == "confirmed"
    async with api.database.reader() as session:
        codes = (await session.scalars(select(AccessCode))).all()
        events = (
            await session.execute(
                select(AuditEvent.entity_id, AuditEvent.action, AuditEvent.actor_kind).where(
                    AuditEvent.entity == "user"
                )
            )
        ).all()
    assert codes
    assert all(code.revoked_at is not None for code in codes)
    squatter_id = lost["id"]
    assert {(entity_id, action) for entity_id, action, _ in events} == {
        (squatter_id, "real_name_revoked"),
        (holder_id, "real_name_rebound"),
    }
    assert {kind.value for _, _, kind in events} == {"staff"}
