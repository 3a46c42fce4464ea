"""Telling staff that a keypad keeps locking out: someone may be guessing.

A wrong code that starts a keypad's fourth lockout of a Shanghai day
(``Verdict.alerts_staff``) writes, in the statement (PostgreSQL) or
transaction (SQLite) that counts it, an inbox notification to every staff
member whose scope covers the space, naming the door it was typed at. The
keypad's compare-and-swap lets one attempt only make that lockout, so staff
hear of a keypad once a day however many attempts race (README: Guessing a
door code).
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

import orjson

from app.models import NotificationKind, WebhookEvent
from app.notifications import outbox
from app.notifications.texts import render
from app.webhooks import outbox as webhooks

KIND = NotificationKind.keypad_locked_repeatedly
# What the notification names: the door, its space and center.
NAMES = """
SELECT d.name, s.name, c.id, c.name, c.address, c.district
FROM doors d JOIN spaces s ON s.id = d.space_id JOIN centers c ON c.id = s.center_id
WHERE d.id = :door
"""


class Names(NamedTuple):
    """A row of ``NAMES``."""

    door: str
    space: str
    center_id: int
    center: str
    center_address: str
    district: str


def tell_staff(*, fields: str, source: str = "") -> str:
    """The staff notifications' INSERT … SELECT (``:center``, ``:district``,
    ``:told_*``, ``:now``), about no reservation."""
    return outbox.tell_staff(reservation_id="NULL", fields=fields, source=source)


def locked_out(
    names: Names, *, door_id: int, space_id: int, locked_until: datetime | None
) -> dict[str, object]:
    """The ``door.locked_out`` webhook's parameters (app/webhooks/outbox.py),
    for every lockout a wrong code starts, written in the same statement."""
    data = {
        "door_id": door_id,
        "door_name": names.door,
        "space_id": space_id,
        "center_id": names.center_id,
        "locked_until": locked_until.isoformat() if locked_until else None,
    }
    return {
        "center": names.center_id,
        "district": names.district,
        "hook_event": WebhookEvent.door_locked_out.value,
        "hook_data": webhooks.as_json(data),
    }


@dataclass(frozen=True)
class KeypadAlert:
    center_id: int
    district: str
    title: str
    body: str
    fields: str  # JSON

    @classmethod
    def of(cls, names: Names, day: date, lockouts: int) -> "KeypadAlert":
        values = {
            "door_name": names.door,
            "space_name": names.space,
            "center_name": names.center,
            "center_address": names.center_address,
            "date": f"{day.year}年{day.month}月{day.day}日",
            "lockouts": str(lockouts),
        }
        title, body = render(KIND, values)
        fields = orjson.dumps(values).decode()
        return cls(names.center_id, names.district, title, body[:400], fields)

    def values(self) -> dict[str, object]:
        """The statement's parameters for the notifications."""
        return {
            "center": self.center_id,
            "district": self.district,
            "told_kind": KIND.value,
            "told_title": self.title,
            "told_body": self.body,
            "told_fields": self.fields,
        }
