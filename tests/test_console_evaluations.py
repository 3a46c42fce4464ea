"""The console's evaluation page: a street's table and each position's card,
kept to the staff member's scope, and its download (the figures themselves
are tests/test_evaluations.py's)."""

from collections.abc import AsyncIterator

import pytest
import time_machine

from app.models import StaffRole
from tests.factories import Api
from tests.test_console import console, staff_member
from tests.test_docs import EXTERNAL
from tests.test_evaluations import BOOKING_TIME, EVALUATED_AT, Net, build_net

PAGE = "/console/evaluations"


@pytest.fixture
async def net(api: Api) -> AsyncIterator[Net]:
    with time_machine.travel(BOOKING_TIME, tick=False) as clock:
        yield await build_net(api, clock)


async def test_a_streets_table_and_each_positions_card(api: Api, net: Net) -> None:
    client = await console(api, await staff_member(api))
    params = {"period": "2026-11", "ancestor_id": str(net.street["id"])}
    page = await client.get(PAGE, params=params)
    assert page.status_code == 200, page.text
    assert EXTERNAL.findall(page.text) == []
    for center in (net.street, net.g1, net.g2):
        assert f'id="position-{center["id"]}"' in page.text
        assert center["name"] in page.text
    assert "同级第 1 名" in page.text
    assert "服务 2 人" in page.text
    csv = await client.get(f"{PAGE}/download", params={**params, "format": "csv"})
    assert csv.content.startswith("\ufeff".encode())
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("阵地编号,阵地名称")
    assert len(lines) == 4

    streets = await client.get(PAGE, params={**params, "group_by": "street"})
    assert net.street["street"] in streets.text
    assert 'id="position-' not in streets.text


async def test_scope_and_a_bad_month(api: Api, net: Net) -> None:
    username = await staff_member(api, StaffRole.center_admin, center_ids=[net.g1["id"]])
    client = await console(api, username)
    page = await client.get(PAGE, params={"period": "2026-11"})
    assert page.status_code == 200, page.text
    assert net.g1["name"] in page.text
    assert net.g2["name"] not in page.text
    refused = await client.get(PAGE, params={"period": "2026-11", "ancestor_id": net.street["id"]})
    assert refused.status_code == 303
    assert "error=out_of_scope" in refused.headers["location"]
    with time_machine.travel(EVALUATED_AT, tick=False):
        ahead = await client.get(PAGE, params={"period": "2027-02"})
    assert "error=invalid_period" in ahead.headers["location"]
    # The page opens on the last whole month.
    opened = await client.get(PAGE)
    assert 'value="2026-11"' in opened.text
