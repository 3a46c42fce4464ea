"""Checking a name and ID number against an authority, behind one small interface.

The default provider, ``format_only``, accepts every number that passes the
GB 11643 checks and records that only the format was checked. A provider
that asks a real authority (the public security system's identity check, a
bank's four-element check, WeChat's own real-name data) implements the same
``RealNameVerifier`` and is chosen with ``ZHENDI_REAL_NAME_PROVIDER``.
"""

from typing import Protocol

from app.core.config import Settings
from app.identity.id_numbers import IdNumber


class RealNameVerifier(Protocol):
    name: str

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        """Does ``id_number`` belong to a person called ``name``?"""
        ...


class FormatOnly:
    name = "format_only"

    async def matches(self, name: str, id_number: IdNumber) -> bool:
        return True  # the number already passed its format and check-digit rules


def build_verifier(settings: Settings) -> RealNameVerifier:
    match settings.real_name_provider:
        case "format_only":
            return FormatOnly()
