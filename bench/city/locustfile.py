"""A day's mix of the city's traffic, for Locust (``python -m bench.city`` runs it).

Each simulated resident polls the map of their district, reads a space's day,
and now and then books a study-room seat or signs up for an activity; the
study rooms' locks ask whether a code opens their door; district staff read
the utilization report by street. Requests go to the ``zhendi serve``
processes in turn (``BENCH_CITY_HOSTS``, one per simulated user), so the
load is spread as a balancer would. A business refusal (409: the seat is
gone, the person holds one already, signed up already) is a right answer
under load, not a failure; anything 5xx is one, and is counted apart
(``BENCH_CITY_5XX``). The 08:00 release-time surge is a burst of its own
after the mix (``__main__.py``).
"""

import itertools
import json
import os
import random
from collections import Counter
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from locust import HttpUser, between, events, task
from locust.env import Environment

from app.core import tokens
from app.core.clock import SHANGHAI, local_today
from app.core.config import Settings
from bench.city.build import DOOR_KEY, Manifest

MANIFEST = Manifest.read(Path(os.environ.get("BENCH_CITY_MANIFEST", "bench/.work/city.json")))
HOSTS = itertools.cycle(os.environ.get("BENCH_CITY_HOSTS", "http://127.0.0.1:8000").split(","))
SETTINGS = Settings(
    database_url=os.environ.get("ZHENDI_DATABASE_URL", "postgresql+asyncpg://localhost/x"),
    jwt_secret=os.environ["ZHENDI_JWT_SECRET"],
    pii_key=os.environ["ZHENDI_PII_KEY"],
    env="development",
    dev_login=False,
)
# A phone's map of the streets around it: about 4 × 4.4 km.
MAP_HALF_SPAN = 0.02
# What a refusal under load may be: the seat taken, a seat held already,
# signed up already.
REFUSALS = {409}
# Live door codes, one per study room's door: [door id, space id, code].
DOORS: list[list[Any]] = json.loads(
    Path(os.environ.get("BENCH_CITY_DOORS", "bench/.work/city-doors.json")).read_text()
)
SERVER_ERRORS: Counter[str] = Counter()


@events.request.add_listener
def count_server_errors(name: str, response: Any = None, **_: Any) -> None:
    if response is not None and getattr(response, "status_code", 0) >= 500:
        SERVER_ERRORS[name] += 1


@events.quitting.add_listener
def write_server_errors(**_: Any) -> None:
    if path := os.environ.get("BENCH_CITY_5XX"):
        Path(path).write_text(json.dumps(SERVER_ERRORS))


def judged(answer: Any, *accepted: int) -> None:
    """A 2xx or an accepted refusal is a success; anything else a failure."""
    if 200 <= answer.status_code < 300 or answer.status_code in accepted:
        answer.success()
    else:
        answer.failure(f"{answer.status_code}: {answer.text[:200]}")


def map_path(places: random.Random) -> str:
    lat, lng = places.choice(MANIFEST.district_points)
    lat += places.uniform(-0.1, 0.1)
    lng += places.uniform(-0.1, 0.1)
    return (
        "/api/v1/map?bbox="
        f"{lng - MAP_HALF_SPAN:.4f},{lat - MAP_HALF_SPAN:.4f},"
        f"{lng + MAP_HALF_SPAN:.4f},{lat + MAP_HALF_SPAN:.4f}"
    )


class Resident(HttpUser):
    weight = 20
    wait_time = between(1, 5)

    def __init__(self, environment: Environment) -> None:
        self.host = next(HOSTS)
        super().__init__(environment)
        self.places = random.Random()
        user_id = self.places.randint(MANIFEST.first_resident_id, MANIFEST.last_resident_id)
        token = tokens.issue(SETTINGS, tokens.Audience.user, user_id).access_token
        self.authorization = {"Authorization": f"Bearer {token}"}

    @task(10)
    def poll_the_map(self) -> None:
        self.client.get(map_path(self.places), name="/api/v1/map")

    @task(6)
    def read_a_day(self) -> None:
        space_id = self.places.choice(MANIFEST.space_ids + MANIFEST.study_room_ids)
        day = local_today() + timedelta(days=self.places.randint(0, 6))
        self.client.get(
            f"/api/v1/spaces/{space_id}/availability?date={day.isoformat()}",
            name="/api/v1/spaces/{id}/availability",
        )

    @task(1)
    def book_a_seat(self) -> None:
        space_id = self.places.choice(MANIFEST.study_room_ids)
        # Not the last day of the window: that one the 08:00 surge opens.
        day = local_today() + timedelta(days=self.places.randint(1, 5))
        start = datetime.combine(day, time(self.places.randint(8, 20)), tzinfo=SHANGHAI)
        body = {
            "space_id": space_id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "purpose": "自习",
            "attendees": 1,
        }
        with self.client.post(
            "/api/v1/reservations",
            json=body,
            headers=self.authorization,
            name="/api/v1/reservations",
            catch_response=True,
        ) as answer:
            judged(answer, *REFUSALS)

    @task(1)
    def sign_up(self) -> None:
        activity_id = self.places.choice(MANIFEST.activity_ids)
        with self.client.post(
            f"/api/v1/activities/{activity_id}/signups",
            json={"attendees": 1},
            headers=self.authorization,
            name="/api/v1/activities/{id}/signups",
            catch_response=True,
        ) as answer:
            judged(answer, *REFUSALS)


class Lock(HttpUser):
    """A study room's smart lock: someone types a live code at its keypad."""

    fixed_count = max(1, min(len(DOORS), 10))
    wait_time = between(1, 3)

    def __init__(self, environment: Environment) -> None:
        self.host = next(HOSTS)
        super().__init__(environment)
        self.places = random.Random()

    @task
    def verify(self) -> None:
        door_id, space_id, code = self.places.choice(DOORS)
        with self.client.post(
            f"/api/v1/doors/{door_id}/verify",
            json={"code": code},
            headers={"Authorization": f"Device {DOOR_KEY.format(space_id=space_id)}"},
            name="/api/v1/doors/{id}/verify",
            catch_response=True,
        ) as answer:
            if answer.status_code == 200 and answer.json().get("granted"):
                answer.success()
            else:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")


class DistrictStaff(HttpUser):
    """A district admin reading last month's utilization of the district by street."""

    fixed_count = 2
    wait_time = between(5, 15)

    def __init__(self, environment: Environment) -> None:
        self.host = next(HOSTS)
        super().__init__(environment)
        self.places = random.Random()
        staff_id = self.places.choice(MANIFEST.staff_ids)
        token = tokens.issue(SETTINGS, tokens.Audience.staff, staff_id).access_token
        self.authorization = {"Authorization": f"Bearer {token}"}

    @task
    def read_the_report(self) -> None:
        last = local_today() - timedelta(days=1)
        first = last - timedelta(days=29)
        with self.client.get(
            f"/api/v1/admin/reports/utilization?from={first.isoformat()}&to={last.isoformat()}"
            "&group_by=street",
            headers=self.authorization,
            name="/api/v1/admin/reports/utilization?group_by=street",
            catch_response=True,
        ) as answer:
            judged(answer)
