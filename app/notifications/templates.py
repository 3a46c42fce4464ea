"""``ZHENDI_WECHAT_TEMPLATES``: which subscribe-message template tells each kind,
and how its fields are filled (README: Notifications).

A field's value is a text with ``{placeholder}`` fields (``"{space_name}"``,
``"{date} {time_range}"``) or just a placeholder's name (``"space_name"``).
WeChat refuses a message whose values break its field's rules (a ``thing``
over 20 characters, a ``time`` that is not a time…); the values are cut to
fit here, so a message never fails for its length.
"""

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass

from app.core.config import Settings, WechatTemplate
from app.models import NotificationKind
from app.notifications.texts import PLACEHOLDERS

# WeChat's field types (the key without its number), and the longest value each takes.
LIMITS = {
    "thing": 20,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "character_string": 32,
    "time": 32,
    "date": 32,
    "amount": 11,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
}
KEY = re.compile(r"^(?P<type>[a-z_]+?)(?P<number>\d+)$")
# What a time or date field may be filled with: WeChat checks their format.
TIME_PLACEHOLDERS = frozenset({"start", "end", "date"})
# Mini-program pages a kind opens when none is configured.
DEFAULT_PAGES = {
    "booking": "pages/reservation/detail?id={reservation_id}",
    "organization": "pages/organization/detail",
    "mine": "pages/mine/index",
}
STAFF_KINDS = frozenset(
    {
        NotificationKind.approval_requested,
        NotificationKind.keypad_locked_repeatedly,
        NotificationKind.organization_registered,
    }
)
USER_KINDS = frozenset(NotificationKind) - STAFF_KINDS
EMPTY = "-"  # WeChat refuses an empty value


class TemplateSettingsError(ValueError):
    """ZHENDI_WECHAT_TEMPLATES does not say something WeChat could send."""


@dataclass(frozen=True)
class Message:
    template_id: str
    page: str
    data: dict[str, dict[str, str]]


def check(settings: Settings) -> None:
    """Refuse to start on a templates setting that could not be sent."""
    problems = []
    for kind, template in settings.wechat_templates.items():
        if kind not in USER_KINDS:
            known = ", ".join(sorted(USER_KINDS))
            problems.append(f"{kind!r} is not a kind sent to users (one of {known})")
            continue
        problems += [f"{kind}: {problem}" for problem in _template_problems(template)]
    if problems:
        raise TemplateSettingsError("ZHENDI_WECHAT_TEMPLATES: " + "; ".join(problems))


def _template_problems(template: WechatTemplate) -> list[str]:
    problems = []
    if not template.data:
        problems.append("data names no field")
    for key, value in template.data.items():
        match = KEY.match(key)
        if match is None or match["type"] not in LIMITS:
            problems.append(f"{key!r} is not a WeChat field (thing1, time2, …)")
            continue
        names = _placeholders(value)
        unknown = names - PLACEHOLDERS
        if unknown:
            problems.append(f"{key}: unknown placeholder {', '.join(sorted(unknown))}")
        elif match["type"] in ("time", "date") and not names <= TIME_PLACEHOLDERS:
            problems.append(f"{key}: a {match['type']} field takes start, end or date")
    if template.page is not None and _placeholders(template.page) - PLACEHOLDERS:
        problems.append("page: unknown placeholder")
    return problems


IDENTIFIER = re.compile(r"^[a-z_]+$")


def _placeholders(text: str) -> set[str]:
    """The placeholders ``text`` names; a bare lower-case word is taken for one
    (a misspelt placeholder, not text to send as it is)."""
    if IDENTIFIER.match(text):
        return {text}
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {text}


def _fill(text: str, values: Mapping[str, str]) -> str:
    filled = {name: values.get(name, "") for name in PLACEHOLDERS}
    if text in PLACEHOLDERS:
        return filled[text]
    return text.format(**filled)


def fit(key: str, value: str) -> str:
    """``value`` cut to what WeChat takes in field ``key``."""
    match = KEY.match(key)
    kind = match["type"] if match else "thing"
    value = " ".join(value.split())
    if kind in ("number", "amount"):
        value = "".join(c for c in value if c.isdigit() or c in ".¥$")
    elif kind == "letter":
        value = "".join(c for c in value if c.isascii() and c.isalpha())
    elif kind in ("character_string", "phone_number", "symbol"):
        value = "".join(c for c in value if c.isascii() and c.isprintable())
    elif kind == "name" and value.isascii():
        return value[:20].strip() or EMPTY
    value = value.strip()
    limit = LIMITS.get(kind, 20)
    if len(value) > limit:
        value = value[: limit - 1] + "…" if kind in ("thing", "name") else value[:limit]
    return value or EMPTY


def _page_of(values: Mapping[str, str]) -> str:
    """A booking's page, else an organization's, else the resident's own."""
    if values.get("reservation_id"):
        return "booking"
    return "organization" if values.get("organization_name") else "mine"


def message(
    templates: Mapping[str, WechatTemplate], kind: NotificationKind, values: Mapping[str, str]
) -> Message | None:
    """The subscribe message for a notification, or None: the inbox only."""
    template = templates.get(kind.value)
    if template is None:
        return None
    default_page = DEFAULT_PAGES[_page_of(values)]
    page = _fill(template.page or default_page, values)
    data = {key: {"value": fit(key, _fill(text, values))} for key, text in template.data.items()}
    return Message(template.template_id, page, data)
