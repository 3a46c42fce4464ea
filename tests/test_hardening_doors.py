"""Doors, second hardening pass: production always has a way to open a door
from the app, talks to its brokers over TLS, signs open commands with a key
no database copy gives away; a keypad's lockout lasts at most an hour, and
staff hear of a keypad that keeps locking out."""

import asyncio
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError
from sqlalchemy import select

from app.access import keypad, verify
from app.access.locks import command_signature
from app.core.clock import SHANGHAI
from app.core.config import InsecureSettingsError, Settings
from app.models import Base, StaffRole
from tests.conftest import make_settings, require_service, running
from tests.factories import Api, Headers, door, verified_resident
from tests.test_cli import ZHENDI
from tests.test_doors import (
    DENIED,
    Clock,
    book_now,
    retry_after,
    study_room,
    try_code,
)
from tests.test_errors import assert_problem
from tests.test_production import production_env
from tests.test_settings import GOOD_PRODUCTION
from tests.test_unlock import MQTT_HOST, MQTT_PORT, unlock

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

# --- production opens doors from the app, over TLS --------------------------------------


@pytest.mark.parametrize("adapter", [None, "none", "log"])
def test_production_refuses_a_lock_adapter_that_opens_no_door(adapter: str | None) -> None:
    """Without an app unlock, five wrong codes from a stranger leave a holder
    with 429 at the keypad and 503 from the app."""
    with pytest.raises(InsecureSettingsError, match="ZHENDI_LOCK_ADAPTER") as refused:
        Settings.model_validate({**GOOD_PRODUCTION, "lock_adapter": adapter})
    assert "\n" not in str(refused.value)


def test_zhendi_says_in_one_line_why_production_will_not_start(tmp_path: Path) -> None:
    env = production_env()
    del env["ZHENDI_LOCK_ADAPTER"]
    result = subprocess.run(
        [ZHENDI, "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "ZHENDI_LOCK_ADAPTER=(unset)" in line
    assert "set it to mqtt" in line
    assert not (tmp_path / "zhendi.db").exists()


@pytest.mark.parametrize("secret", [None, "", "short-but-random", "a" * 48, "0123" * 12])
def test_production_wants_a_random_lock_command_secret(secret: str | None) -> None:
    with pytest.raises(InsecureSettingsError, match="ZHENDI_LOCK_COMMAND_SECRET"):
        Settings.model_validate({**GOOD_PRODUCTION, "lock_command_secret": secret})


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"mqtt_url": "mqtt://broker.example.com:1883"}, "ZHENDI_MQTT_URL"),
        ({"mqtt_url": "mqtt://10.0.0.5"}, "ZHENDI_MQTT_URL"),
        ({"mqtt_url": "mqtt://user:pass@192.168.1.20:1883"}, "ZHENDI_MQTT_URL"),
        ({"redis_url": "redis://cache.example.com:6379/0"}, "ZHENDI_REDIS_URL"),
        ({"redis_url": "redis://:password@10.0.0.7:6379"}, "ZHENDI_REDIS_URL"),
        ({"redis_url": "async+redis://10.0.0.7:6379"}, "ZHENDI_REDIS_URL"),
    ],
)
def test_production_refuses_plain_brokers_off_this_machine(
    change: dict[str, str], complaint: str
) -> None:
    """A broker's password, an open command and the rate-limit counters cross
    the network only encrypted."""
    with pytest.raises(InsecureSettingsError, match=complaint):
        Settings.model_validate({**GOOD_PRODUCTION, **change})


@pytest.mark.parametrize(
    "change",
    [
        {"mqtt_url": "mqtts://broker.example.com:8883"},
        {"mqtt_url": "mqtt://127.0.0.1:1883"},
        {"mqtt_url": "mqtt://localhost"},
        {"mqtt_url": "mqtt://[::1]:1883"},
        {"redis_url": "rediss://:password@cache.example.com:6380/0"},
        {"redis_url": "redis://127.0.0.1:6379/0"},
        {"redis_url": "redis://localhost"},
        {"redis_url": "redis+unix:///run/redis/redis.sock"},
    ],
)
def test_production_accepts_tls_or_loopback_brokers(change: dict[str, str]) -> None:
    Settings.model_validate({**GOOD_PRODUCTION, **change})


def test_the_mqtt_url_is_an_mqtt_url() -> None:
    with pytest.raises(ValidationError, match="ZHENDI_MQTT_URL"):
        Settings(mqtt_url="tcp://broker.example.com:1883")


# --- and speaks TLS where the URL says so ------------------------------------------------


@dataclass
class TlsProxy:
    """A TLS front for a local broker, as a TLS-terminating proxy or a broker's
    own TLS listener would be: it counts the TLS sessions it accepted."""

    ca_file: Path
    port: int = 0
    sessions: int = 0


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA: the file a client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "zhendi test broker")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "broker.pem", directory / "broker.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@asynccontextmanager
async def tls_in_front_of(upstream_port: int, directory: Path) -> AsyncIterator[TlsProxy]:
    cert_file, key_file = self_signed_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    proxy = TlsProxy(ca_file=cert_file)

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with suppress(OSError, ssl.SSLError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy.sessions += 1  # called once the TLS handshake has succeeded
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    proxy.port = server.sockets[0].getsockname()[1]
    async with server:
        yield proxy


@pytest.mark.real_clock  # OpenSSL checks the test certificate's dates
async def test_mqtts_publishes_the_open_command_over_tls(database_url: str, tmp_path: Path) -> None:
    require_service("Mosquitto (MQTT)", MQTT_HOST, MQTT_PORT)
    prefix = f"zhendi-test/{secrets.token_hex(6)}/doors"
    async with tls_in_front_of(MQTT_PORT, tmp_path) as proxy:
        url = f"mqtts://127.0.0.1:{proxy.port}"
        base = {"lock_adapter": "mqtt"}
        settings = make_settings(
            database_url, **base, mqtt_url=url, mqtt_ca_file=proxy.ca_file, mqtt_topic_prefix=prefix
        )
        async with running(settings) as api:
            door_id, holder, reservation_id = await a_holder_at_a_door(api)
            async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as subscriber:
                await subscriber.subscribe(f"{prefix}/{door_id}/command", qos=1)
                opened = await unlock(api, holder, reservation_id, door_id)
                assert opened.status_code == 200, opened.text
                message = await asyncio.wait_for(anext(aiter(subscriber.messages)), timeout=5)
            assert isinstance(message.payload, bytes)
            assert json.loads(message.payload)["reservation_id"] == reservation_id
        assert proxy.sessions == 1
        # A broker whose certificate nobody vouches for is not told anything.
        untrusted = make_settings(database_url, **base, mqtt_url=url, mqtt_timeout_seconds=2)
        async with running(untrusted) as api:
            door_id, holder, reservation_id = await a_holder_at_a_door(api)
            refused = await unlock(api, holder, reservation_id, door_id)
            assert_problem(refused, 503, "lock_unreachable")
        assert proxy.sessions == 1


async def a_holder_at_a_door(api: Api) -> tuple[int, Headers, int]:
    room = await study_room(api)
    created = await api.client.post(
        "/api/v1/admin/doors", json={"space_id": room, "name": "正门"}, headers=await api.staff()
    )
    assert created.status_code == 201, created.text
    holder = await verified_resident(api)
    reservation: dict[str, Any] = await book_now(api, holder, room)
    return created.json()["id"], holder, reservation["id"]


@pytest.mark.real_clock  # OpenSSL checks the test certificate's dates
async def test_rediss_counts_the_rate_limits_over_tls(database_url: str, tmp_path: Path) -> None:
    require_service("Redis", REDIS_HOST, REDIS_PORT)
    async with tls_in_front_of(REDIS_PORT, tmp_path) as proxy:
        settings = make_settings(
            database_url,
            redis_url=f"rediss://127.0.0.1:{proxy.port}/0?ssl_ca_certs={proxy.ca_file}",
            redis_key_prefix=f"zhendi-test-{secrets.token_hex(6)}",
            rate_limit_unlock_per_user="2 per minute",
        )
        async with running(settings) as api:
            door_id, holder, reservation_id = await a_holder_at_a_door(api)
            for _ in range(2):
                assert (await unlock(api, holder, reservation_id, door_id)).status_code == 200
            # Counted in Redis, through TLS: an unreachable Redis lets requests pass.
            assert_problem(await unlock(api, holder, reservation_id, door_id), 429, "rate_limited")
        assert proxy.sessions >= 1


# --- an open command is signed with a key that is not in the database ---------------------


async def published_command(
    api: Api, prefix: str, door_id: int, holder: Headers, reservation_id: int
) -> dict[str, Any]:
    """Unlock from the app and read the command the door hears."""
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as subscriber:
        await subscriber.subscribe(f"{prefix}/{door_id}/command", qos=1)
        opened = await unlock(api, holder, reservation_id, door_id)
        assert opened.status_code == 200, opened.text
        message = await asyncio.wait_for(anext(aiter(subscriber.messages)), timeout=5)
    assert isinstance(message.payload, bytes)
    command: dict[str, Any] = json.loads(message.payload)
    return command


def lock_accepts(command: dict[str, Any], command_key: str) -> bool:
    """What the lock does with the command key it was given."""
    expected = command_signature(command, bytes.fromhex(command_key))
    return hmac.compare_digest(expected, command["signature"])


async def database_dump(api: Api) -> list[str | bytes]:
    """Every text and binary value in every table: what a stolen backup holds."""
    values: list[str | bytes] = []
    async with api.database.reader() as session:
        for table in Base.metadata.sorted_tables:
            for row in await session.execute(select(table)):
                for value in row:
                    if isinstance(value, str | bytes):
                        values.append(value)
                    elif isinstance(value, dict | list):
                        values.append(json.dumps(value, ensure_ascii=False))
    return values


def keys_one_could_try(values: list[str | bytes]) -> list[bytes]:
    keys = []
    for value in values:
        raw = value.encode() if isinstance(value, str) else value
        keys += [raw, hashlib.sha256(raw).digest(), hashlib.sha256(raw).hexdigest().encode()]
        if isinstance(value, str) and re.fullmatch(r"(?:[0-9a-f]{2})+", value):
            keys.append(bytes.fromhex(value))
    return keys


async def test_a_copy_of_the_database_cannot_sign_an_open_command(database_url: str) -> None:
    """Open commands were signed with the device key's hash, which the database
    stores: anyone with a backup could open any door through the broker. Now
    the lock checks them with a command key derived from a secret that is not
    in the database, given to it once at registration."""
    require_service("Mosquitto (MQTT)", MQTT_HOST, MQTT_PORT)
    prefix = f"zhendi-test/{secrets.token_hex(6)}/doors"
    base: dict[str, Any] = {
        "lock_adapter": "mqtt",
        "mqtt_url": f"mqtt://{MQTT_HOST}:{MQTT_PORT}",
        "mqtt_topic_prefix": prefix,
    }
    settings = make_settings(database_url, **base, lock_command_secret=secrets.token_urlsafe(48))
    async with running(settings, clean_up=False) as api:
        room = await study_room(api)
        staff = await api.staff()
        created = await api.client.post(
            "/api/v1/admin/doors", json={"space_id": room, "name": "正门"}, headers=staff
        )
        assert created.status_code == 201, created.text
        door_id, command_key = created.json()["id"], created.json()["command_key"]
        holder = await verified_resident(api)
        reservation_id = (await book_now(api, holder, room))["id"]
        command = await published_command(api, prefix, door_id, holder, reservation_id)
        assert lock_accepts(command, command_key)

        dump = await database_dump(api)
        assert not any(command_key in v for v in dump if isinstance(v, str))
        assert not any(bytes.fromhex(command_key) in v for v in dump if isinstance(v, bytes))
        forgeries = {command_signature(command, key) for key in keys_one_could_try(dump)}
        assert command["signature"] not in forgeries

        # Rotating the device key gives the lock a new command key; the old one is dead.
        rotated = await api.client.post(f"/api/v1/admin/doors/{door_id}/rotate-key", headers=staff)
        new_key = rotated.json()["command_key"]
        assert new_key != command_key
        after = await published_command(api, prefix, door_id, holder, reservation_id)
        assert lock_accepts(after, new_key)
        assert not lock_accepts(after, command_key)

    # The same database under another secret: the signature follows the secret.
    other = make_settings(database_url, **base, lock_command_secret=secrets.token_urlsafe(48))
    async with running(other) as api:
        elsewhere = await published_command(api, prefix, door_id, holder, reservation_id)
        assert not lock_accepts(elsewhere, new_key)


# --- a lockout lasts at most an hour ------------------------------------------------------


def tireless_guesser(days: int) -> list[datetime]:
    """When a guesser who types a wrong code the moment each lockout ends gets
    one counted, over ``days`` (the README's model)."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    now, locked_until = start, start
    failures: list[datetime] = []
    while now < start + timedelta(days=days):
        now = max(now, locked_until)
        window = [at for at in failures if at > now - keypad.FAILURE_WINDOW]
        failures.append(now)
        lockout = keypad.lockout_after(len(window) + 1)
        if lockout is not None:
            locked_until = now + lockout
    return failures


def most_within(failures: list[datetime], span: timedelta) -> int:
    return max(sum(1 for at in failures if first <= at < first + span) for first in failures)


def test_a_tireless_guesser_gets_at_most_fourteen_wrong_codes_in_a_codes_lifetime() -> None:
    """The README's figure for a code of 阅心书斋 (8-hour bookings, live from
    check-in, 15 minutes before, and answered "not yet" for 30 minutes before
    that): what a guesser gets within any 8 h 45 min."""
    failures = tireless_guesser(days=3)
    lifetime = timedelta(hours=8, minutes=45)
    assert most_within(failures, lifetime) == keypad.MOST_FAILURES_PER_CODE_LIFETIME == 14
    assert most_within(failures, timedelta(hours=4, minutes=45)) == 10  # a meeting room's
    assert most_within(failures, keypad.FAILURE_WINDOW) == keypad.MOST_FAILURES_PER_DAY


def codes_a_guess_could_use(slot: int, shortest: int, capacity: int, opens: int = 15) -> int:
    """The most codes of one space a right guess could open the door with, now
    or by coming back when told (``not_yet``): bookings live at an instant
    ``t`` or whose window opens within ``verify.EARLY`` of it. Bookings of the
    shortest length, on the slot grid, as many as capacity allows at every
    instant (earliest first, which is optimal for equal lengths); the worst
    ``t`` over a slot, minute by minute."""
    early = int(verify.EARLY / timedelta(minutes=1))
    most = 0
    for t in range(slot):
        starts = range(-shortest - slot, t + opens + early + slot, slot)
        useful = [s for s in starts if s - opens - early <= t < s + shortest]
        taken: list[int] = []
        for start in useful:  # each start as many times as seats allow
            while capacity > max(
                sum(1 for other in taken if other <= minute < other + shortest)
                for minute in range(start, start + shortest)
            ):
                taken.append(start)
        most = max(most, len(taken))
    return most


def test_a_right_guess_finds_at_most_twenty_usable_codes_at_the_study_room() -> None:
    """The README's L: 阅心书斋 (10 seats, bookings of an hour at least, half-hour
    slots) and a meeting room (one at a time, half-hour bookings)."""
    assert codes_a_guess_could_use(slot=30, shortest=60, capacity=10) == 20
    assert codes_a_guess_could_use(slot=30, shortest=30, capacity=1) == 3


async def test_a_stranger_who_keeps_typing_shuts_the_keypad_an_hour_at_a_time(
    doors_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight wrong codes each time the keypad reopens used to double the lockout
    to a day (2 h at the fourth reopening, 16 h at the seventh). Now no lockout
    is longer than an hour, so the keypad is open again an hour after the
    stranger leaves."""
    api = doors_api
    clock = Clock(monkeypatch)
    door_id, device = await door(api, await study_room(api))
    waits = []
    for _ in range(12):
        answers = [await try_code(api, door_id, device, "00000000") for _ in range(8)]
        wait = retry_after(answers[-1])  # the first counted, the rest refused unread
        waits.append(wait)
        clock.advance(seconds=wait + 1)
    assert [round(wait / 60) for wait in waits] == [15, 30] + [60] * 10
    assert (await try_code(api, door_id, device, "00000000")).json() == DENIED


# --- staff hear of a keypad that keeps locking out ---------------------------------------

ALERT = "keypad_locked_repeatedly"
WRONG = "00000000"  # no booking has it: no booking exists in these tests


class LockClock:
    """The lock's question at a chosen instant, moved by hand: the Shanghai
    day a lockout counts in does not depend on when the test runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: datetime) -> None:
        self.now = start
        monkeypatch.setattr("app.access.router.utcnow", lambda: self.now)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def lock_out(api: Api, door_id: int, device: Headers, clock: LockClock) -> None:
    """Type wrong codes until the keypad refuses them, then wait the lockout out."""
    while (answer := await try_code(api, door_id, device, WRONG)).status_code != 429:
        assert answer.json() == DENIED
    clock.advance(seconds=retry_after(answer) + 1)


async def keypad_alerts(api: Api, headers: Headers) -> list[dict[str, Any]]:
    page = await api.client.get("/api/v1/admin/notifications", headers=headers)
    assert page.status_code == 200, page.text
    return [item for item in page.json()["items"] if item["kind"] == ALERT]


async def watched_door(api: Api) -> tuple[int, Headers, list[Headers], list[Headers]]:
    """阅心书斋's door in 闵行区, the staff who cover it and two who do not."""
    center = await api.center(district="闵行区")
    other_center = await api.center(district="闵行区")
    room = await study_room(api, center_id=center["id"], name="阅心书斋")
    created = await api.client.post(
        "/api/v1/admin/doors",
        json={"space_id": room, "name": "东侧正门"},
        headers=await api.staff(),
    )
    assert created.status_code == 201, created.text
    device = {"Authorization": f"Device {created.json()['device_key']}"}
    covering = [
        await api.staff(),
        await api.staff(StaffRole.district_admin, district="闵行区"),
        await api.staff(StaffRole.center_admin, center_ids=[center["id"]]),
    ]
    elsewhere = [
        await api.staff(StaffRole.district_admin, district="普陀区"),
        await api.staff(StaffRole.center_admin, center_ids=[other_center["id"]]),
    ]
    return created.json()["id"], device, covering, elsewhere


async def test_staff_in_scope_hear_once_a_day_of_a_keypad_that_keeps_locking_out(
    doors_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = doors_api
    clock = LockClock(monkeypatch, datetime(2030, 3, 5, 9, 0, tzinfo=SHANGHAI))
    door_id, device, covering, elsewhere = await watched_door(api)
    for _ in range(3):  # 09:00, 09:15, 09:45: typos, or a guesser; nobody is told yet
        await lock_out(api, door_id, device, clock)
    assert [await keypad_alerts(api, staff) for staff in covering] == [[], [], []]

    await lock_out(api, door_id, device, clock)  # the fourth, at 10:45
    for staff in covering:
        [alert] = await keypad_alerts(api, staff)
        assert alert["title"] == "门禁键盘多次锁定"
        assert "阅心书斋" in alert["body"]
        assert "东侧正门" in alert["body"]
        assert "2030年3月5日" in alert["body"]
        assert "4次" in alert["body"]
    for staff in elsewhere:
        assert await keypad_alerts(api, staff) == []

    for _ in range(3):  # once a day, not at every further lockout
        await lock_out(api, door_id, device, clock)
    assert [len(await keypad_alerts(api, staff)) for staff in covering] == [1, 1, 1]

    clock.now = datetime(2030, 3, 6, 9, 0, tzinfo=SHANGHAI)  # the next Shanghai day
    for _ in range(3):
        await lock_out(api, door_id, device, clock)
    assert len(await keypad_alerts(api, covering[0])) == 1
    await lock_out(api, door_id, device, clock)
    latest, _ = await keypad_alerts(api, covering[0])
    assert "2030年3月6日" in latest["body"]


async def test_racing_attempts_from_two_servers_tell_staff_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fourth lockout is made by one attempt however many race for it,
    through separate servers (each with its own connections): the keypad's
    compare-and-swap lets one wrong code through, and the notification is
    written with it."""
    clock = LockClock(monkeypatch, datetime(2030, 3, 5, 9, 0, tzinfo=SHANGHAI))
    settings = make_settings(database_url)
    async with running(settings, clean_up=False) as first, running(settings) as second:
        door_id, device, covering, _ = await watched_door(first)
        for _ in range(3):
            await lock_out(first, door_id, device, clock)
        answers = await asyncio.gather(
            *(try_code(server, door_id, device, WRONG) for server in (first, second) * 8)
        )
        assert sorted(answer.status_code for answer in answers) == [200] + [429] * 15
        for staff in covering:
            assert len(await keypad_alerts(second, staff)) == 1
