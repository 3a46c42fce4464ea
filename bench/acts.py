"""What one act costs beside a single booking: a 52-week series, and a move.

Each act is timed alone, one request at a time from one client, on spaces no
other scenario books (``Seeded.act_space_ids``), and reported as the ratio of
its median latency to a single booking's median measured in the same run:

- a weekly series of 52 occurrences (``POST /reservation-series``) against one
  ``POST /reservations``: at most 20×;
- a move (``PATCH /reservations/{id}`` to the next free hour) against one
  ``POST /reservations``: at most 1.5×.

A move is only timed where the API has it (a 404 or 405 answer to the PATCH
reports the row as not measured).
"""

import statistics
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx

from app.core.clock import SHANGHAI, local_midnight, local_today

SERIES_OCCURRENCES = 52
SERIES_TARGET = 20.0
MOVE_TARGET = 1.5


@dataclass(frozen=True)
class ActTimes:
    single: float  # median seconds
    series: float
    move: float | None  # None: the API answers no PATCH
    samples: int

    @property
    def series_ratio(self) -> float:
        return self.series / self.single

    @property
    def move_ratio(self) -> float | None:
        return None if self.move is None else self.move / self.single


class Hours:
    """Distinct even hours of the act spaces in the coming days."""

    def __init__(self, space_ids: list[int]) -> None:
        self._spaces = space_ids
        self._next = self._hours()

    def _hours(self) -> Iterator[tuple[int, datetime]]:
        # From tomorrow, six days: a weekly series from the last of them still
        # ends inside the act spaces' 365-day booking window.
        first = local_today() + timedelta(days=1)
        for day in range(6):
            midnight = local_midnight(first + timedelta(days=day)).astimezone(SHANGHAI)
            for hour in range(0, 24, 2):  # every other hour: a move takes the next one
                for space in self._spaces:
                    yield space, midnight + timedelta(hours=hour)

    def take(self) -> tuple[int, datetime]:
        return next(self._next)


def _body(space: int, start: datetime) -> dict[str, object]:
    return {
        "space_id": space,
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
    }


async def _timed(call: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    """The request's latency: ``call`` is a coroutine not yet started."""
    began = time.perf_counter()
    answer = await call
    return time.perf_counter() - began, answer


async def measure_acts(
    base_url: str, authorization: str, space_ids: list[int], samples: int
) -> ActTimes:
    """Median latencies of ``samples`` single bookings, series and moves, interleaved
    so that a change in the machine's load touches all three alike."""
    hours = Hours(space_ids)
    singles: list[float] = []
    series: list[float] = []
    moves: list[float] = []
    move_missing = False
    headers = {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for _ in range(samples):
            space, start = hours.take()
            seconds, booked = await _timed(
                client.post("/api/v1/reservations", json=_body(space, start))
            )
            booked.raise_for_status()
            singles.append(seconds)

            space, start = hours.take()
            rule = f"FREQ=WEEKLY;COUNT={SERIES_OCCURRENCES}"
            seconds, answer = await _timed(
                client.post(
                    "/api/v1/reservation-series", json={**_body(space, start), "rrule": rule}
                )
            )
            answer.raise_for_status()
            booked_all = [o for o in answer.json()["occurrences"] if o["reservation_id"]]
            assert len(booked_all) == SERIES_OCCURRENCES, answer.text
            series.append(seconds)

            if move_missing:
                continue
            moved = booked.json()
            an_hour_later = datetime.fromisoformat(moved["start"]) + timedelta(hours=1)
            target = _body(moved["space_id"], an_hour_later)
            seconds, answer = await _timed(
                client.patch(
                    f"/api/v1/reservations/{moved['id']}",
                    json={"start": target["start"], "end": target["end"]},
                )
            )
            if answer.status_code in (404, 405):
                move_missing = True
                continue
            answer.raise_for_status()
            moves.append(seconds)
    return ActTimes(
        single=statistics.median(singles),
        series=statistics.median(series),
        move=None if move_missing else statistics.median(moves),
        samples=samples,
    )
