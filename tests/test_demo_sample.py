"""Every tester gets through the demo: with the development verifier the
README's sample ID number binds to any number of accounts, each marked as a
sample; any other number, and the sample under a real check, binds once."""

import httpx
import pytest

from app import demo
from app.models import StaffRole
from tests.factories import Api, Headers, book, days_ahead, id_number, verify_real_name
from tests.fake_identity import FakeIdentityProvider
from tests.test_errors import assert_problem
from tests.test_real_name import checked_api, provider  # noqa: F401 (fixtures)

pytestmark = pytest.mark.dates

SAMPLE_ID_NUMBER = demo.DEMO_ID_NUMBER  # the one the README shows


async def provider_of(api: Api, user_id: int) -> str | None:
    response = await api.client.get(f"/api/v1/admin/users/{user_id}", headers=await api.staff())
    assert response.status_code == 200, response.text
    found: str | None = response.json()["real_name_provider"]
    return found


def verified(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["real_name_verified"] is True
    assert body["id_number_masked"] == "1101**********002X"
    user_id: int = body["id"]
    return user_id


async def test_the_readme_sample_number_lets_every_tester_book_a_real_name_seat(
    api: Api,
) -> None:
    assert SAMPLE_ID_NUMBER == "11010519491231002X"
    center = await api.center()
    staff = await api.staff(StaffRole.center_admin, center_ids=[center["id"]])
    seats = await api.space(
        center["id"],
        headers=staff,
        kind="study_room",
        booking_mode="shared",
        capacity=4,
        requires_real_name=True,
    )
    testers: list[Headers] = [await api.resident() for _ in range(3)]
    day = days_ahead(2)
    for tester in testers:
        user_id = verified(await verify_real_name(api, tester, SAMPLE_ID_NUMBER))
        assert await provider_of(api, user_id) == "demo_sample"  # marked, for staff to see
        again = await verify_real_name(api, tester, SAMPLE_ID_NUMBER)  # changes nothing
        assert verified(again) == user_id
        seat = await book(api, tester, seats["id"], day, "10:00", "11:00", attendees=1)
        assert seat.status_code == 201, seat.text

    # A tester bound to the sample cannot add another number on top of it.
    other = await verify_real_name(api, testers[0], id_number(31))
    assert_problem(other, 409, "already_verified")


async def test_any_other_number_still_binds_one_account(api: Api) -> None:
    number = id_number(32)
    first, second = await api.resident(), await api.resident()
    user_id = (await verify_real_name(api, first, number)).json()["id"]
    assert await provider_of(api, user_id) == "format_only"
    assert_problem(await verify_real_name(api, second, number), 409, "real_name_not_accepted")


async def test_a_real_check_binds_the_sample_number_once(
    checked_api: Api,  # noqa: F811
    provider: FakeIdentityProvider,  # noqa: F811
) -> None:
    api = checked_api
    provider.registry[SAMPLE_ID_NUMBER] = "陈晓明"
    first, second = await api.resident(), await api.resident()
    user_id = verified(await verify_real_name(api, first, SAMPLE_ID_NUMBER))
    assert await provider_of(api, user_id) == "http"
    refused = await verify_real_name(api, second, SAMPLE_ID_NUMBER)
    assert_problem(refused, 409, "real_name_not_accepted")
