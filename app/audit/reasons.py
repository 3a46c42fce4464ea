"""What the system writes as a reason (of an audit event, or a booking's
``status_reason``), and how each answer tells it in its own language.

The stored value is a stable key (older rows hold the same words), so a row
written for a Chinese reader reads in English too; a reason a person typed is
their own words and is told as written.
"""

import re

from app.core.errors import Lang, Text, answer_language

DOOR_UNLOCKED = "door unlocked"  # a right code at the keypad checked the booking in
BY_STAFF = "staff"  # checked in by staff
BY_QR_CODE = "QR code"  # checked in by scanning the space's code
WITHDRAWN = "withdrawn"  # the waitlist entry was withdrawn: its held place goes
OFFER_LAPSED = "offer lapsed"  # a held place nobody accepted in time
ACCOUNT_ERASED = "account erased"  # the holder's account was erased


def series(series_id: int) -> str:
    return f"series {series_id}"


def waitlist_entry(entry_id: int) -> str:
    return f"waitlist entry {entry_id}"


SAID: dict[str, Text] = {
    DOOR_UNLOCKED: Text("门禁验码开门，自动签到", "door unlocked"),
    BY_STAFF: Text("工作人员签到", "checked in by staff"),
    BY_QR_CODE: Text("扫码签到", "checked in with the QR code"),
    WITHDRAWN: Text("候补已撤回", "waitlist entry withdrawn"),
    OFFER_LAPSED: Text("候补名额逾期未确认", "offer lapsed"),
    ACCOUNT_ERASED: Text("账号已注销", "account erased"),
}
NUMBERED: tuple[tuple[re.Pattern[str], Text], ...] = (
    (re.compile(r"series (\d+)"), Text("重复预约（系列 {number}）", "series {number}")),
    (
        re.compile(r"waitlist entry (\d+)"),
        Text("为候补保留（候补 {number}）", "held for waitlist entry {number}"),
    ),
)


def told(reason: str | None, lang: Lang | None = None) -> str | None:
    """``reason`` in ``lang`` (by default the current answer's) if the system
    wrote it, else as written."""
    if reason is None:
        return None
    lang = lang or answer_language()
    if reason in SAID:
        return SAID[reason].render(lang)
    for pattern, text in NUMBERED:
        if found := pattern.fullmatch(reason):
            return text.render(lang, {"number": found.group(1)})
    return reason
