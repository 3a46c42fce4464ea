"""Resident ID numbers (居民身份证号码, GB 11643-1999).

18 characters: a 6-digit region code, the birth date YYYYMMDD, a 3-digit
sequence number, and a check character computed with ISO 7064 MOD 11-2
(digits, or an upper-case ``X`` for 10). The check catches every single
wrong digit and every swap of two adjacent ones.
"""

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = [pow(2, 17 - position, 11) for position in range(17)]
_CHECK_CHARACTERS = "10X98765432"
_SHAPE = re.compile(r"\d{17}[\dX]")
EARLIEST_BIRTH_YEAR = 1900

# Province-level prefixes (the first two digits of the region code).
PROVINCES = frozenset(
    {
        11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
        41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
        71, 81, 82,
    }
)  # fmt: skip


class InvalidIdNumber(ValueError):
    pass


@dataclass(frozen=True)
class IdNumber:
    value: str
    birth_date: date

    @property
    def masked(self) -> str:
        """``3101**********123X``: the province and city, and the last four."""
        return f"{self.value[:4]}{'*' * 10}{self.value[-4:]}"

    def age_on(self, day: date) -> int:
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_character(first_seventeen: str) -> str:
    total = sum(
        int(digit) * weight for digit, weight in zip(first_seventeen, _WEIGHTS, strict=True)
    )
    return _CHECK_CHARACTERS[total % 11]


def parse(value: str, today: date) -> IdNumber:
    """Validate ``value``; the error says which rule failed, never the number."""
    if not _SHAPE.fullmatch(value):
        raise InvalidIdNumber("must be 17 digits followed by a digit or an upper-case X")
    if int(value[:2]) not in PROVINCES:
        raise InvalidIdNumber("unknown region code")
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("the birth date is not a real date") from None
    if not EARLIEST_BIRTH_YEAR <= born.year or born > today:
        raise InvalidIdNumber("the birth date is out of range")
    if check_character(value[:17]) != value[17]:
        raise InvalidIdNumber("the check character does not match")
    return IdNumber(value=value, birth_date=born)


def mask_name(name: str) -> str:
    """``陈*``, ``欧***``: the first character, then a star for each of the rest."""
    return name[0] + "*" * (len(name) - 1)
