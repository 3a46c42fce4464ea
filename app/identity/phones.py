"""A resident's phone number, kept like other personal data.

The number arrives from WeChat's ``getPhoneNumber`` (app/identity/wechat.py)
and is stored only as AES-GCM ciphertext, a masked form (``138****5678``) and
two keyed hashes: of the whole number and of its last four digits. Staff find
a booker by either, never by a plaintext column.
"""

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement

from app.core.crypto import PiiCipher, Sealed
from app.models import User

PURPOSE = "phone"
TAIL_PURPOSE = "phone_tail"
TAIL_DIGITS = 4
# Mainland mobile numbers as WeChat's purePhoneNumber gives them; numbers of
# other countries carry their ``+<country code>`` in front.
_PHONE = re.compile(r"^(?:1\d{10}|\+[1-9]\d{6,16})$")


def is_phone(value: str) -> bool:
    return bool(_PHONE.fullmatch(value))


def mask(phone: str) -> str:
    """``138****5678``: the first three and the last four digits."""
    return f"{phone[:3]}{'*' * (len(phone) - 7)}{phone[-TAIL_DIGITS:]}"


def sealed_fields(cipher: PiiCipher, phone: str) -> dict[str, object]:
    sealed = cipher.seal(PURPOSE, phone)
    return {
        "phone_sealed": sealed.ciphertext,
        "phone_key_version": sealed.key_version,
        "phone_masked": mask(phone),
        "phone_index": cipher.blind_index(PURPOSE, phone),
        "phone_tail_index": cipher.blind_index(TAIL_PURPOSE, phone[-TAIL_DIGITS:]),
    }


def bind(cipher: PiiCipher, user: User, phone: str) -> None:
    for name, value in sealed_fields(cipher, phone).items():
        setattr(user, name, value)


def clear(user: User) -> None:
    user.phone_sealed = None
    user.phone_key_version = None
    user.phone_masked = None
    user.phone_index = None
    user.phone_tail_index = None


def reveal(cipher: PiiCipher, user: User) -> str | None:
    """The whole number, for its owner's export only."""
    if user.phone_sealed is None or user.phone_key_version is None:
        return None
    return cipher.open(PURPOSE, Sealed(user.phone_sealed, user.phone_key_version))


@dataclass(frozen=True)
class PhoneSearch:
    """Users whose number ends in four digits, or is a whole number: the two
    forms the keyed hashes can answer."""

    tail: bool
    index: str

    @classmethod
    def of(cls, cipher: PiiCipher, digits: str) -> "PhoneSearch":
        if len(digits) == TAIL_DIGITS:
            return cls(tail=True, index=cipher.blind_index(TAIL_PURPOSE, digits))
        return cls(tail=False, index=cipher.blind_index(PURPOSE, digits))

    def clause(self) -> ColumnElement[bool]:
        column = User.phone_tail_index if self.tail else User.phone_index
        return column == self.index
