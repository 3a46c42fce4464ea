"""Staff logins under attack.

A burst of concurrent guesses checks the password at most the limit's number
of times: each attempt takes its place in the budget before Argon2 runs, in
one process and across processes sharing Redis. And a device that signed in
before keeps signing in while strangers have throttled the username (OWASP's
device cookies): a few failures lock out only that device, a forged or
revoked device cookie counts as none.
"""

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import cast
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import update

from app.core import passwords, tokens
from app.core.clock import utcnow
from app.core.config import Settings
from app.models import Staff, StaffRole
from tests.conftest import TemporaryDatabases, make_settings, require_service, running
from tests.factories import STAFF_PASSWORD, Api, bearer
from tests.servers import servers
from tests.test_errors import assert_problem

TOKEN = "/api/v1/auth/token"
CONSOLE_LOGIN = "/console/login"
CONSOLE_CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
REDIS_URL = os.environ.get("ZHENDI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
USERNAME_LIMIT = 10  # the default "10 per 15 minutes; 30 per day"
DEVICE_LIMIT = 5  # the default "5 per 15 minutes; 20 per day"
BURST = 50
STALLED_SECONDS = 2.0


def redis_settings() -> dict[str, object]:
    address = urlsplit(REDIS_URL)
    require_service("Redis", address.hostname or "127.0.0.1", address.port or 6379)
    return {"redis_url": REDIS_URL, "redis_key_prefix": f"zhendi-test-{secrets.token_hex(4)}"}


def forget_redis_keys(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL, socket_timeout=2) as store:
        for key in store.scan_iter(f"{prefix}*"):
            store.delete(key)


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """Where the limiter counts: in the process, or in Redis."""
    if request.param == "memory":
        yield {}
        return
    chosen = redis_settings()
    yield chosen
    forget_redis_keys(str(chosen["redis_key_prefix"]))


@pytest.fixture
def pg_url(temporary_databases: TemporaryDatabases) -> str:
    return temporary_databases.new("postgresql")


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with running(make_settings(database_url)) as running_api:
        yield running_api


def new_client(api: Api) -> httpx.AsyncClient:
    """A browser or client of its own: its own cookie jar, on the same app."""
    return httpx.AsyncClient(transport=api.client._transport, base_url="http://test")


async def login(
    client: httpx.AsyncClient, username: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        TOKEN, data={"username": username, "password": password}, headers=headers
    )


async def trusted_device(api: Api, username: str) -> tuple[httpx.AsyncClient, str]:
    """A client that signed in: it keeps the device cookie, and the device
    token the answer carries for clients without a cookie jar."""
    client = new_client(api)
    signed_in = await login(client, username, STAFF_PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    device_token = signed_in.json()["device_token"]
    assert client.cookies.get("zhendi_device") == device_token
    return client, device_token


async def throttle(api: Api, username: str) -> None:
    """A stranger guesses until the username is locked for strangers."""
    stranger = new_client(api)
    answers = [
        (await login(stranger, username, f"guess-{n}")).status_code
        for n in range(USERNAME_LIMIT + 2)
    ]
    assert answers == [401] * USERNAME_LIMIT + [429] * 2


class HeldPasswordChecks:
    """Counts the password checks and holds each until released, as a slow
    Argon2 would: the guesses of a burst are all in flight at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = 0
        self.release = asyncio.Event()
        real_verify = passwords.verify_password

        async def held_verify(password_hash: str | None, password: str) -> bool:
            self.started += 1
            await self.release.wait()
            return await real_verify(password_hash, password)

        monkeypatch.setattr("app.identity.service.verify_password", held_verify)

    async def settled(self, attempts: Sequence["asyncio.Task[httpx.Response]"]) -> None:
        """Wait until every attempt is answered or held in its password check
        (or, if checks hold the database's connections and the rest queue for
        one, until nothing has moved for a while)."""
        seen, still_since = -1, asyncio.get_running_loop().time()
        while (progress := self.started + sum(task.done() for task in attempts)) < len(attempts):
            now = asyncio.get_running_loop().time()
            if progress != seen:
                seen, still_since = progress, now
            elif now - still_since > STALLED_SECONDS:
                return
            await asyncio.sleep(0.01)


# --- a burst of concurrent guesses ------------------------------------------------


async def test_a_burst_of_guesses_checks_the_password_at_most_the_limit(
    database_url: str, storage: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 wrong passwords at once, then the right one while they are being
    checked: every one of them was checked before (51 checks, and the right
    one got 200); now at most the limit are, and the right one gets 429."""
    async with running(make_settings(database_url, **storage)) as api:
        await api.create_staff_row(username="burst-admin")
        checks = HeldPasswordChecks(monkeypatch)
        guesses = [
            asyncio.create_task(login(new_client(api), "burst-admin", f"guess-{n}"))
            for n in range(BURST)
        ]
        await checks.settled(guesses)
        right = asyncio.create_task(login(new_client(api), "burst-admin", STAFF_PASSWORD))
        await checks.settled([*guesses, right])
        checks.release.set()
        answers = [answer.status_code for answer in await asyncio.gather(*guesses)]
        last = await right

    assert checks.started <= USERNAME_LIMIT, f"{checks.started} password checks"
    assert len([code for code in answers if code != 429]) <= USERNAME_LIMIT, answers
    assert set(answers) <= {401, 429}
    assert_problem(last, 429, "rate_limited")


async def test_a_request_over_budget_runs_no_argon2(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(make_settings(database_url)) as api:
        await api.create_staff_row(username="spent-admin")
        await throttle(api, "spent-admin")
        checks = HeldPasswordChecks(monkeypatch)
        checks.release.set()
        refused = await login(new_client(api), "spent-admin", STAFF_PASSWORD)
    assert_problem(refused, 429, "rate_limited")
    assert checks.started == 0


BURST_CONNECTIONS = httpx.Limits(
    max_connections=BURST, max_keepalive_connections=BURST, keepalive_expiry=2.0
)
PASSWORD_CHECKS = re.compile(r"^zhendi_password_checks_total (\S+)$", re.MULTILINE)


async def open_connections(clients: Sequence[httpx.AsyncClient], each: int) -> None:
    """Connections opened beforehand, so that the burst arrives at once."""
    await asyncio.gather(*(client.get("/healthz") for client in clients for _ in range(each)))


async def first_refusal(attempts: Sequence["asyncio.Task[httpx.Response]"]) -> None:
    """Wait until one of the attempts is refused: the budget is used up."""
    for answered in asyncio.as_completed(attempts):
        if (await answered).status_code == 429:
            return
    raise AssertionError("no attempt of the burst was refused")


async def password_checks(clients: Sequence[httpx.AsyncClient]) -> float:
    """The Argon2 runs of every server so far, from their /metrics."""
    total = 0.0
    for client in clients:
        found = PASSWORD_CHECKS.search((await client.get("/metrics")).text)
        assert found, "no zhendi_password_checks_total in /metrics"
        total += float(found.group(1))
    return total


@pytest.mark.slow
async def test_two_servers_sharing_redis_check_a_burst_at_most_the_limit(
    pg_url: str, tmp_path: Path
) -> None:
    """The burst split between two ``zhendi serve`` processes counts in one
    Redis window: at most the limit of its guesses are checked in all (14 to
    32 of the 50 were when the check came before the count), and the right
    password sent while it is being answered is refused. (Which guesses are
    checked is the order they reach Redis in, not the order they were sent.)"""
    chosen = redis_settings()
    prefix = str(chosen["redis_key_prefix"])
    env = {"ZHENDI_REDIS_URL": REDIS_URL, "ZHENDI_REDIS_KEY_PREFIX": prefix}
    try:
        with servers(pg_url, 2, tmp_path, env) as pair:
            async with running(make_settings(pg_url)) as local:
                await local.create_staff_row(StaffRole.super_admin, username="pair-admin")
                clients = [
                    httpx.AsyncClient(base_url=url, timeout=60, limits=BURST_CONNECTIONS)
                    for url in pair.urls
                ]
                try:
                    before = await password_checks(clients)
                    await open_connections(clients, BURST // 2 + 1)
                    guesses = [
                        asyncio.create_task(
                            login(clients[n % 2], "pair-admin", f"not the password {n}")
                        )
                        for n in range(BURST)
                    ]
                    await first_refusal(guesses)
                    last = await login(clients[0], "pair-admin", STAFF_PASSWORD)
                    answers = await asyncio.gather(*guesses)
                    checked = await password_checks(clients) - before
                finally:
                    for client in clients:
                        await client.aclose()
    finally:
        forget_redis_keys(prefix)

    assert checked <= USERNAME_LIMIT, f"{checked} password checks"
    assert len([answer for answer in answers if answer.status_code != 429]) <= USERNAME_LIMIT
    assert_problem(last, 429, "rate_limited")


# --- device cookies ---------------------------------------------------------------


async def test_a_trusted_device_signs_in_while_strangers_have_throttled_the_username(
    api: Api,
) -> None:
    await api.create_staff_row(username="trusted-admin")
    device, device_token = await trusted_device(api, "trusted-admin")
    await throttle(api, "trusted-admin")

    assert (await login(device, "trusted-admin", STAFF_PASSWORD)).status_code == 200
    # A client without a cookie jar sends the device token in a header.
    headers = {"Zhendi-Device-Token": device_token}
    assert (await login(new_client(api), "trusted-admin", STAFF_PASSWORD, headers)).status_code == (
        200
    )
    # A client that never signed in is a stranger.
    assert_problem(
        await login(new_client(api), "trusted-admin", STAFF_PASSWORD), 429, "rate_limited"
    )


async def test_the_device_cookie_is_narrow_and_http_only(api: Api) -> None:
    await api.create_staff_row(username="cookie-admin")
    signed_in = await login(new_client(api), "cookie-admin", STAFF_PASSWORD)
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("zhendi_device=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/api/v1/auth/token"):
        assert attribute.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()  # development serves plain http


def test_the_device_cookie_is_secure_in_production() -> None:
    from app.identity import devices  # noqa: PLC0415 (new with device cookies)

    response = Response()
    settings = cast(Settings, SimpleNamespace(env="production"))
    devices.remember(response, settings, tokens.IssuedToken("token", 3600), path=TOKEN, staff_id=1)
    assert "secure" in response.headers["set-cookie"].lower()


async def test_a_forged_or_another_staff_members_device_cookie_counts_as_none(
    api: Api,
) -> None:
    await api.create_staff_row(username="victim-admin")
    await api.create_staff_row(username="other-admin")
    _, others_token = await trusted_device(api, "other-admin")
    _, victims_token = await trusted_device(api, "victim-admin")
    await throttle(api, "victim-admin")
    access_token = (await login(new_client(api), "other-admin", STAFF_PASSWORD)).json()[
        "access_token"
    ]
    header, payload, signature = victims_token.split(".")
    tampered_signature = f"{header}.{payload}.{signature[::-1]}"
    other_key = Settings.model_validate(
        {**api.app.state.settings.model_dump(), "jwt_secret": secrets.token_urlsafe(48)}
    )
    signed_elsewhere = tokens.issue_device(other_key, 1, "forged-device").access_token
    for presented in (
        others_token,
        tampered_signature,
        signed_elsewhere,
        access_token,
        "not-a-token",
    ):
        refused = await login(
            new_client(api), "victim-admin", STAFF_PASSWORD, {"Zhendi-Device-Token": presented}
        )
        assert_problem(refused, 429, "rate_limited")


async def test_a_device_that_used_up_its_budget_is_locked_alone(api: Api) -> None:
    await api.create_staff_row(username="typo-admin")
    clumsy, _ = await trusted_device(api, "typo-admin")
    other, _ = await trusted_device(api, "typo-admin")
    typos = [
        (await login(clumsy, "typo-admin", f"typo-{n}")).status_code for n in range(DEVICE_LIMIT)
    ]
    assert typos == [401] * DEVICE_LIMIT
    assert_problem(await login(clumsy, "typo-admin", STAFF_PASSWORD), 429, "rate_limited")
    # Another device, and a stranger's budget, are untouched.
    assert (await login(other, "typo-admin", STAFF_PASSWORD)).status_code == 200
    assert (await login(new_client(api), "typo-admin", STAFF_PASSWORD)).status_code == 200


async def test_a_success_forgives_the_devices_typos(api: Api) -> None:
    await api.create_staff_row(username="forgiven-admin")
    device, _ = await trusted_device(api, "forgiven-admin")
    for _ in range(3):
        for n in range(DEVICE_LIMIT - 1):
            assert (await login(device, "forgiven-admin", f"typo-{n}")).status_code == 401
        assert (await login(device, "forgiven-admin", STAFF_PASSWORD)).status_code == 200


async def test_a_trusted_device_is_not_blocked_by_its_address(database_url: str) -> None:
    """Failures from one address (a street's shared exit) lock out strangers
    behind it, not a device that signed in before."""
    async with running(
        make_settings(database_url, rate_limit_login_per_ip="5 per 15 minutes")
    ) as api:
        await api.create_staff_row(username="nat-admin")
        device, _ = await trusted_device(api, "nat-admin")  # one of the address's five
        stranger = new_client(api)
        answers = [
            (await login(stranger, f"someone-{n}", "wrong-password")).status_code for n in range(5)
        ]
        assert answers == [401] * 4 + [429]
        assert_problem(
            await login(new_client(api), "nat-admin", STAFF_PASSWORD), 429, "rate_limited"
        )
        assert (await login(device, "nat-admin", STAFF_PASSWORD)).status_code == 200


async def test_signing_out_everywhere_revokes_the_device_cookies(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.create_staff_row(username="leaving-admin")
    earlier = utcnow() - timedelta(seconds=5)
    monkeypatch.setattr("app.core.tokens.utcnow", lambda: earlier)  # signed in a while ago
    device, _ = await trusted_device(api, "leaving-admin")
    access_token = (await login(device, "leaving-admin", STAFF_PASSWORD)).json()["access_token"]
    monkeypatch.undo()
    signed_out = await api.client.post("/api/v1/auth/sign-out", headers=bearer(access_token))
    assert signed_out.status_code == 204
    await throttle(api, "leaving-admin")
    assert_problem(await login(device, "leaving-admin", STAFF_PASSWORD), 429, "rate_limited")


async def test_deactivation_revokes_the_device_cookies(api: Api) -> None:
    staff_id = await api.create_staff_row(username="deactivated-admin")
    device, _ = await trusted_device(api, "deactivated-admin")
    await throttle(api, "deactivated-admin")
    async with api.database.writer.begin() as session:
        await session.execute(update(Staff).where(Staff.id == staff_id).values(is_active=False))
    # A stranger's answer (429), not a trusted device's wrong password (401).
    assert_problem(await login(device, "deactivated-admin", STAFF_PASSWORD), 429, "rate_limited")


async def console_login(browser: httpx.AsyncClient, form: dict[str, str]) -> httpx.Response:
    """Post the console's login form as a browser does: with the form's CSRF token."""
    found = CONSOLE_CSRF.search((await browser.get(CONSOLE_LOGIN)).text)
    assert found is not None
    return await browser.post(CONSOLE_LOGIN, data={**form, "csrf": found.group(1)})


async def test_the_consoles_login_form_trusts_a_device_too(api: Api) -> None:
    await api.create_staff_row(username="console-admin")
    browser = new_client(api)
    form = {"username": "console-admin", "password": STAFF_PASSWORD}
    signed_in = await console_login(browser, form)
    assert signed_in.status_code == 303, signed_in.text
    device_cookies = [
        cookie for cookie in signed_in.headers.get_list("set-cookie") if "zhendi_device=" in cookie
    ]
    assert len(device_cookies) == 1
    for attribute in ("HttpOnly", "SameSite=strict", f"Path={CONSOLE_LOGIN}"):
        assert attribute.lower() in device_cookies[0].lower(), device_cookies[0]

    stranger = new_client(api)
    for n in range(USERNAME_LIMIT):
        wrong = {"username": "console-admin", "password": f"guess-{n}"}
        assert (await console_login(stranger, wrong)).status_code == 401
    assert (await console_login(new_client(api), form)).status_code == 429
    again = await console_login(browser, form)
    assert (again.status_code, again.headers["location"]) == (303, "/console/today")


async def test_a_shared_browser_stays_a_trusted_device_of_each_staff_member(api: Api) -> None:
    """A center's shared computer: a colleague signing in on it does not make
    it a stranger to the staff member who signed in before."""
    await api.create_staff_row(username="desk-one")
    await api.create_staff_row(username="desk-two")
    desk = new_client(api)
    for username in ("desk-one", "desk-two"):
        assert (await login(desk, username, STAFF_PASSWORD)).status_code == 200
    tokens_kept = str(desk.cookies.get("zhendi_device")).split("~")
    assert len(tokens_kept) == 2
    for username in ("desk-one", "desk-two"):
        await throttle(api, username)
    for username in ("desk-one", "desk-two", "desk-one"):
        assert (await login(desk, username, STAFF_PASSWORD)).status_code == 200
    assert len(str(desk.cookies.get("zhendi_device")).split("~")) == 2


@pytest.mark.parametrize(
    "setting",
    [
        {"rate_limit_login_per_device": "often"},
        {"rate_limit_login_per_device": "5 per fortnight"},
        {"staff_device_days": 0},
        {"staff_device_days": 401},
    ],
)
def test_the_device_settings_are_checked(setting: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(setting)


def test_the_device_defaults() -> None:
    settings = Settings()
    assert settings.rate_limit_login_per_device == "5 per 15 minutes; 20 per day"
    assert settings.staff_device_days == 90
