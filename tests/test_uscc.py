"""Unified social credit codes (GB 32100-2015): known codes and properties."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.organizations.uscc import (
    ALPHABET,
    TYPES_BY_AUTHORITY,
    InvalidUscc,
    check_character,
    validate,
)


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # the example usually quoted with the standard
    ],
)
def test_valid_codes_pass(code: str) -> None:
    assert validate(code) == code


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "18 characters"),
        ("91350100M000100I43", "18 characters"),  # I is not in the alphabet
        ("91350100m000100Y43", "18 characters"),  # lower case
        ("95350100M000100Y4" + check_character("95350100M000100Y4"), "type"),  # 工商 has no type 5
        ("Z1350100M000100Y4" + "3", "18 characters"),
        ("913501A0M000100Y4" + check_character("913501A0M000100Y4"), "region"),
    ],
)
def test_invalid_codes_are_refused(code: str, why: str) -> None:
    with pytest.raises(InvalidUscc, match=why):
        validate(code)


@st.composite
def valid_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(TYPES_BY_AUTHORITY)))
    kind = draw(st.sampled_from(TYPES_BY_AUTHORITY[authority]))
    region = f"{draw(st.integers(0, 999999)):06d}"
    organization = "".join(draw(st.lists(st.sampled_from(ALPHABET), min_size=9, max_size=9)))
    body = f"{authority}{kind}{region}{organization}"
    return body + check_character(body)


@given(valid_codes())
def test_every_well_formed_code_passes(code: str) -> None:
    assert validate(code) == code


@given(valid_codes(), st.integers(0, 17), st.sampled_from(ALPHABET))
def test_every_single_character_change_is_caught(code: str, position: int, char: str) -> None:
    changed = code[:position] + char + code[position + 1 :]
    if changed == code:
        return
    with pytest.raises(InvalidUscc):
        validate(changed)
