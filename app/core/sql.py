"""Hand-written SQL with named parameters, for the hot paths' bare drivers.

``sqlite3`` takes ``:name`` parameters as they are; asyncpg wants ``$1``,
``$2``… in order. ``Statement`` numbers a statement's names once, when the
module is imported, and orders a call's values by them, so the hot paths'
SQL reads with names on both engines.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Statement:
    """A statement for asyncpg: ``:name`` parameters renumbered ``$n``."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> "Statement":
        names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in names:
                names.append(name)
            return f"${names.index(name) + 1}"

        return cls(_NAME.sub(number, text), tuple(names))

    def args(self, values: Mapping[str, object]) -> list[object]:
        return [values[name] for name in self.names]
