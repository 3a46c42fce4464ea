"""Telling a door to open, for an unlock from the booking owner's app.

A lock asks us about codes (``POST /doors/{id}/verify``); for an app unlock we
have to tell the lock instead. ``LockAdapter`` is that one call. The
reference adapter publishes an open command over MQTT, the protocol smart
locks and their gateways commonly speak, to ``<prefix>/<door_id>/command``
with QoS 1. The command is JSON:

``{"command": "open", "door_id", "reservation_id", "nonce", "issued_at",
"expires_at", "signature"}``

``signature`` is HMAC-SHA256 over the other fields (JSON, keys sorted, no
spaces) keyed with the door's command key. That key is derived from
``ZHENDI_LOCK_COMMAND_SECRET``, which is never in the database, and given to
the lock once, with its device key, when the door is registered or its key
rotated: the lock can check that a command came from this service, and
someone who can publish to the broker, or who holds a copy of the database,
cannot make one. The lock ignores a command past ``expires_at`` or with a
nonce it has seen.
"""

import hashlib
import hmac
import json
import logging
import secrets
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

import aiomqtt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.clock import utcnow
from app.core.config import Settings
from app.core.errors import AppError, Text

logger = logging.getLogger("zhendi.locks")
COMMAND_LIFETIME = timedelta(seconds=30)
COMMAND_KEY_LABEL = b"zhendi door command key v1"


class LockUnreachable(AppError):
    status = 503
    code = "lock_unreachable"
    title = Text("暂时无法远程开门", "The door cannot be reached")
    detail = Text(
        "门禁暂时无法接收开门指令，请稍后再试或使用门禁密码",
        "The door did not get the command; try again shortly or type your code",
    )

    def __init__(self) -> None:
        super().__init__()
        self.headers["Retry-After"] = "5"


class RemoteUnlockUnavailable(AppError):
    status = 503
    code = "remote_unlock_unavailable"
    title = Text("该门禁不支持远程开门", "No remote unlock here")
    detail = Text("请使用门禁密码开门", "Type your door code at the lock")


@dataclass(frozen=True)
class DoorRef:
    id: int
    key_hash: str  # the hash of its current device key


@dataclass(frozen=True)
class CommandKeys:
    """Each door's command key: HKDF-SHA256 of the server's lock command secret
    for the door and its current device key, so rotating the device key gives
    the lock a new command key too. Only the secret is secret: everything else
    that goes in is in the database, and without the secret it yields nothing.
    """

    secret: bytes

    def for_door(self, door: DoorRef) -> bytes:
        info = b"%s:%d:%s" % (COMMAND_KEY_LABEL, door.id, door.key_hash.encode())
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self.secret)

    def shown(self, door: DoorRef) -> str:
        """What the lock is given: 64 hex characters, the key's 32 bytes."""
        return self.for_door(door).hex()


class LockAdapter(Protocol):
    async def open(self, door: DoorRef, reservation_id: int) -> None:
        """Tell ``door`` to open now, or raise ``LockUnreachable``."""
        ...


def open_command(door: DoorRef, reservation_id: int, command_key: bytes) -> bytes:
    now = utcnow()
    fields: dict[str, object] = {
        "command": "open",
        "door_id": door.id,
        "reservation_id": reservation_id,
        "nonce": secrets.token_hex(12),
        "issued_at": now.isoformat(),
        "expires_at": (now + COMMAND_LIFETIME).isoformat(),
    }
    fields["signature"] = command_signature(fields, command_key)
    return json.dumps(fields, separators=(",", ":")).encode()


def command_signature(fields: dict[str, object], command_key: bytes) -> str:
    """What the lock computes to check a command (``command_key``: the bytes
    of the hex key it was given)."""
    unsigned = {name: value for name, value in fields.items() if name != "signature"}
    message = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(command_key, message, hashlib.sha256).hexdigest()


class MqttLocks:
    """Publishes the open command to the door's topic on the configured broker.

    One short connection per command: unlocks come at human pace, and a
    connection that is not kept open cannot go stale between them.
    """

    def __init__(self, settings: Settings) -> None:
        url = urlsplit(settings.mqtt_url)
        self._host = url.hostname or "127.0.0.1"
        self._tls = url.scheme == "mqtts"
        self._ca_file = settings.mqtt_ca_file
        self._port = url.port or (8883 if self._tls else 1883)
        self._username = url.username
        self._password = url.password
        self._prefix = settings.mqtt_topic_prefix.rstrip("/")
        self._timeout = settings.mqtt_timeout_seconds
        self._keys = CommandKeys(settings.lock_command_key)

    def _tls_context(self) -> ssl.SSLContext | None:
        """mqtts://: the broker's certificate checked against the system's CAs,
        or the one named by ``ZHENDI_MQTT_CA_FILE``, and its host name."""
        return ssl.create_default_context(cafile=self._ca_file) if self._tls else None

    def topic(self, door_id: int) -> str:
        return f"{self._prefix}/{door_id}/command"

    async def open(self, door: DoorRef, reservation_id: int) -> None:
        try:
            async with aiomqtt.Client(
                self._host,
                self._port,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
                tls_context=self._tls_context(),
            ) as client:
                await client.publish(
                    self.topic(door.id),
                    open_command(door, reservation_id, self._keys.for_door(door)),
                    qos=1,
                    timeout=self._timeout,
                )
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            logger.warning(
                "open command for door %s not delivered: %s", door.id, type(exc).__name__
            )
            raise LockUnreachable() from None


class LoggedLocks:
    """Development: nothing opens, the command is logged."""

    async def open(self, door: DoorRef, reservation_id: int) -> None:
        logger.info("door %s: open (reservation %s)", door.id, reservation_id)


class NoRemoteUnlock:
    async def open(self, door: DoorRef, reservation_id: int) -> None:
        raise RemoteUnlockUnavailable()


def build_locks(settings: Settings) -> LockAdapter:
    match settings.effective_lock_adapter:
        case "mqtt":
            return MqttLocks(settings)
        case "log":
            return LoggedLocks()
        case "none":
            return NoRemoteUnlock()
