"""A day's mix of the city's traffic, for Locust (``python -m bench.city`` runs it).

Each simulated resident polls the map of their district, reads a space's day,
and now and then books a study-room seat. Requests go to the ``zhendi serve``
processes in turn (``BENCH_CITY_HOSTS``, one per resident), so the load is
spread as a balancer would. A business refusal (409: the seat is gone, the
person holds one already) is a right answer under load, not a failure;
anything 5xx is one.

Still to come (README.md): door verifies, activity sign-ups, staff reports,
and the 08:00 release-time surge of every study room at once.
"""

import itertools
import os
import random
from datetime import datetime, time, timedelta
from pathlib import Path

from locust import HttpUser, between, task
from locust.env import Environment

from app.core import tokens
from app.core.clock import SHANGHAI, local_today
from app.core.config import Settings
from bench.city.build import Manifest

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
# What a refusal under load may be: the seat taken, a seat held already.
REFUSALS = {409}


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
        day = local_today() + timedelta(days=self.places.randint(1, 6))
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
            if answer.status_code == 201 or answer.status_code in REFUSALS:
                answer.success()
            else:
                answer.failure(f"{answer.status_code}: {answer.text[:200]}")
