"""Plain bookings of an exclusive space take the direct path on PostgreSQL (two
statements, no transaction: see app/reservations/direct.py); everything else the
transactional one. Both must answer alike, record the same audit trail, and
hand each case to the right path."""

from typing import Any

import httpx
import pytest

from app.reservations import direct
from tests.factories import Api, Headers, book, days_ahead

DAY = days_ahead(3)


async def _history(api: Api, headers: Headers, reservation_id: int) -> list[tuple[Any, ...]]:
    response = await api.client.get(
        f"/api/v1/reservations/{reservation_id}/history", headers=headers
    )
    assert response.status_code == 200, response.text
    return [
        (event["action"], event["actor_kind"], event["actor_id"], event["to_status"])
        for event in response.json()
    ]


@pytest.mark.parametrize("requires_approval", [False, True])
async def test_a_booking_answers_what_reading_it_back_shows(
    api: Api, requires_approval: bool
) -> None:
    resident = await api.resident()
    space = await api.space(requires_approval=requires_approval)
    booked = await book(api, resident, space["id"], DAY, "10:00", "11:00")
    assert booked.status_code == 201, booked.text
    body = booked.json()
    read = await api.client.get(f"/api/v1/reservations/{body['id']}", headers=resident)
    assert body == read.json()
    assert body["status"] == ("pending" if requires_approval else "confirmed")
    assert await _history(api, resident, body["id"]) == [
        ("create", "user", body["user_id"], body["status"])
    ]


class PathSpy:
    """Records what each call of ``direct.try_booking`` decided."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []
        self._real = direct.try_booking

    async def __call__(self, *args: Any) -> direct.Booked | direct.Replayed | None:
        answer = await self._real(*args)
        self.outcomes.append("transactional" if answer is None else type(answer).__name__)
        return answer


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> PathSpy:
    recorder = PathSpy()
    monkeypatch.setattr(direct, "try_booking", recorder)
    return recorder


async def _book(api: Api, headers: Headers, space_id: int, **extra: Any) -> httpx.Response:
    key = extra.pop("idempotency_key", None)
    if key is not None:
        headers = {**headers, "Idempotency-Key": key}
    response = await book(api, headers, space_id, DAY, "14:00", "15:00", **extra)
    assert response.status_code == 201, response.text
    return response


async def test_which_bookings_take_the_direct_path(api: Api, spy: PathSpy) -> None:
    postgres = api.database.engine.dialect.name == "postgresql"
    resident = await api.resident()
    meeting_room = await api.space()
    study_room = await api.space(kind="study_room", booking_mode="shared", capacity=10)
    keyed_room = await api.space()

    await _book(api, resident, meeting_room["id"])
    await _book(api, resident, study_room["id"])
    first = await _book(api, resident, keyed_room["id"], idempotency_key="retry-safe-1")
    again = await _book(api, resident, keyed_room["id"], idempotency_key="retry-safe-1")

    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    if postgres:
        assert spy.outcomes == ["Booked", "transactional", "Booked", "Replayed"]
    else:
        assert spy.outcomes == ["transactional"] * 4


async def test_a_key_first_used_on_the_transactional_path_replays_on_the_direct_one(
    api: Api, spy: PathSpy
) -> None:
    """A key claimed by a booking that took the transactional path (here: the
    space had a quota rule, since removed) is honoured by the direct path too."""
    staff = await api.staff()
    resident = await api.resident()
    space = await api.space(headers=staff)
    quotas = f"/api/v1/admin/spaces/{space['id']}/quotas"
    rule = [{"subject": "user", "metric": "bookings_per_week", "max_value": 5}]
    added = await api.client.put(quotas, json=rule, headers=staff)
    assert added.status_code == 200, added.text
    first = await _book(api, resident, space["id"], idempotency_key="across-paths")
    removed = await api.client.put(quotas, json=[], headers=staff)
    assert removed.status_code == 200, removed.text
    again = await _book(api, resident, space["id"], idempotency_key="across-paths")
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await book(
        api,
        {**resident, "Idempotency-Key": "across-paths"},
        space["id"],
        DAY,
        "16:00",
        "17:00",
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    postgres = api.database.engine.dialect.name == "postgresql"
    # On PostgreSQL the reused key is refused by the direct path itself.
    assert spy.outcomes == (["transactional", "Replayed"] if postgres else ["transactional"] * 3)
