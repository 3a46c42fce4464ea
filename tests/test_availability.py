"""Daily availability: the slot grid in Shanghai time, hours, closures, the past."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.clock import local_today, utcnow
from tests.factories import Api, days_ahead, local
from tests.test_errors import assert_problem

pytestmark = pytest.mark.dates


async def availability(api: Api, space_id: int, day: date) -> dict[str, object]:
    response = await api.client.get(
        f"/api/v1/spaces/{space_id}/availability", params={"date": day.isoformat()}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def statuses(body: dict[str, object]) -> list[str]:
    return [slot["status"] for slot in body["slots"]]  # type: ignore[attr-defined]


async def test_a_24_hour_space_has_48_half_hour_slots_from_shanghai_midnight(api: Api) -> None:
    space = await api.space(open_24h=True, opening_hours=[], booking_mode="shared", capacity=10)
    day = days_ahead(2)
    body = await availability(api, space["id"], day)
    slots = body["slots"]
    assert isinstance(slots, list)
    assert len(slots) == 48
    assert slots[0]["start"] == f"{day.isoformat()}T00:00:00+08:00"
    assert slots[-1]["end"] == f"{(day + timedelta(days=1)).isoformat()}T00:00:00+08:00"
    assert set(statuses(body)) == {"free"}
    assert {slot["remaining"] for slot in slots} == {10}  # seats of a shared space
    assert body["slot_minutes"] == 30
    # Shanghai midnight is 16:00 UTC the day before.
    first = datetime.fromisoformat(slots[0]["start"]).astimezone(UTC)
    assert (first.hour, first.date()) == (16, day - timedelta(days=1))


async def test_slots_outside_opening_hours_are_closed(api: Api) -> None:
    space = await api.space()  # every day 09:00–21:00, 30-minute slots
    body = await availability(api, space["id"], days_ahead(1))
    assert statuses(body) == ["closed"] * 18 + ["free"] * 24 + ["closed"] * 6


async def test_a_day_without_opening_hours_is_closed(api: Api) -> None:
    monday_only = [{"weekday": 0, "opens": "09:00", "closes": "12:00"}]
    space = await api.space(opening_hours=monday_only)
    tuesday = next(days_ahead(n) for n in range(1, 8) if days_ahead(n).weekday() == 1)
    assert set(statuses(await availability(api, space["id"], tuesday))) == {"closed"}
    monday = tuesday - timedelta(days=1)
    if monday > local_today():
        assert statuses(await availability(api, space["id"], monday)).count("free") == 6


async def test_a_closure_across_midnight_closes_slots_on_both_days(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, open_24h=True, opening_hours=[])
    day = days_ahead(3)
    closure = {
        "start": local(day, "22:00").isoformat(),
        "end": local(day + timedelta(days=1), "02:00").isoformat(),
        "reason": "夜间消杀",
    }
    response = await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures", json=closure, headers=admin
    )
    assert response.status_code == 201
    assert statuses(await availability(api, space["id"], day)) == ["free"] * 44 + ["closed"] * 4
    next_day = await availability(api, space["id"], day + timedelta(days=1))
    assert statuses(next_day) == ["closed"] * 4 + ["free"] * 44


async def test_a_closure_inside_a_slot_closes_the_whole_slot(api: Api) -> None:
    admin = await api.staff()
    space = await api.space(headers=admin, slot_minutes=60, min_minutes=60, max_minutes=240)
    day = days_ahead(2)
    closure = {
        "start": local(day, "10:15").isoformat(),
        "end": local(day, "10:45").isoformat(),
        "reason": "临时维修",
    }
    await api.client.post(
        f"/api/v1/admin/spaces/{space['id']}/closures", json=closure, headers=admin
    )
    body = await availability(api, space["id"], day)
    assert len(body["slots"]) == 24  # type: ignore[arg-type]
    assert statuses(body)[9:12] == ["free", "closed", "free"]


async def test_past_slots_are_past(api: Api) -> None:
    space = await api.space(open_24h=True, opening_hours=[])
    yesterday = await availability(api, space["id"], local_today() - timedelta(days=1))
    assert set(statuses(yesterday)) == {"past"}
    assert {slot["remaining"] for slot in yesterday["slots"]} == {0}  # type: ignore[attr-defined]

    # A slot that has begun still takes a walk-in while half of it remains.
    half = timedelta(minutes=space["slot_minutes"]) / 2
    before = utcnow()
    today = await availability(api, space["id"], local_today())
    after = utcnow()
    for slot in today["slots"]:  # type: ignore[attr-defined]
        walk_ins_until = datetime.fromisoformat(slot["start"]) + half
        if walk_ins_until < before:
            assert slot["status"] == "past"
        elif walk_ins_until > after:
            assert slot["status"] == "free"


async def test_bookable_until_is_the_end_of_the_advance_window(api: Api) -> None:
    space = await api.space(advance_days=7)
    body = await availability(api, space["id"], days_ahead(1))
    assert body["bookable_until"] == f"{days_ahead(8).isoformat()}T00:00:00+08:00"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("2026-02-30", "validation_failed"),
        ("tomorrow", "validation_failed"),
        ("9999-12-31", "date_out_of_range"),
        ("0001-01-01", "date_out_of_range"),
    ],
)
async def test_bad_dates_are_422(api: Api, value: str, code: str) -> None:
    space = await api.space()
    response = await api.client.get(
        f"/api/v1/spaces/{space['id']}/availability", params={"date": value}
    )
    assert_problem(response, 422, code)


async def test_availability_of_unknown_space_is_404(api: Api) -> None:
    response = await api.client.get(
        "/api/v1/spaces/12345/availability", params={"date": days_ahead(1).isoformat()}
    )
    assert_problem(response, 404, "not_found")


@given(
    st.lists(
        st.tuples(st.integers(-100, 1540), st.integers(1, 600), st.integers(1, 3)), max_size=30
    ),
    st.sampled_from([15, 30, 60, 90]),
)
def test_bucketing_finds_exactly_the_overlapping_bookings(
    raw: list[tuple[int, int, int]], slot_minutes: int
) -> None:
    from app.spaces.availability import _bookings_by_slot, grid

    day = date(2030, 1, 7)
    slots = grid(day, slot_minutes)
    midnight = slots[0].start
    held = [
        (midnight + start * 60.0, midnight + (start + length) * 60.0, seats)
        for start, length, seats in raw
    ]
    buckets = _bookings_by_slot(held, slots)
    for slot, bucket in zip(slots, buckets, strict=True):
        expected = [b for b in held if b[0] < slot.end and slot.start < b[1]]
        assert sorted(bucket) == sorted(expected)
