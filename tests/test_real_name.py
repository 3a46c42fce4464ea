"""Real-name verification through the API: masked forms only, one number one account."""

import asyncio
import logging

import pytest
from sqlalchemy import select

from app.core.crypto import Sealed
from app.models import User
from tests.conftest import LOG_BOOK, _plaintext_personal_data
from tests.factories import Api, id_number, remember_personal_data, verify_real_name
from tests.test_errors import assert_problem


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
    assert "1985" not in response.text
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
    assert_problem(await verify_real_name(api, second, number), 409, "id_number_taken")
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
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"id_number_taken"}


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
