"""GB 11643 resident ID numbers: published vectors and properties."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.identity.id_numbers import (
    PROVINCES,
    InvalidIdNumber,
    check_character,
    mask_name,
    parse,
)

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231002X",  # the standard's own example
        "110101199003075517",
    ],
)
def test_published_and_hand_checked_numbers_pass(number: str) -> None:
    assert parse(number, TODAY).value == number


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("11010519491231002x", "upper-case X"),
        ("110105194912310021", "check character"),
        ("1101051949123100", "17 digits"),
        ("11010519491231002XX", "17 digits"),
        ("99010519491231002X", "region"),
        ("110105194902300021", "real date"),
        ("110105203001010010", "out of range"),
        ("440524188001010014", "out of range"),  # a well-known sample, born in 1880
        ("11010519491231002Ｘ", "17 digits"),
    ],
)
def test_invalid_numbers_are_refused(number: str, why: str) -> None:
    with pytest.raises(InvalidIdNumber, match=why):
        parse(number, TODAY)


def test_masks_show_only_the_ends() -> None:
    number = parse("11010519491231002X", TODAY)
    assert number.masked == "1101**********002X"
    assert "1949" not in number.masked
    assert mask_name("陈晓明") == "陈**"
    assert mask_name("陈明") == "陈*"


def test_age() -> None:
    number = parse("11010519491231002X", TODAY)
    assert number.age_on(date(2026, 12, 30)) == 76
    assert number.age_on(date(2026, 12, 31)) == 77


@st.composite
def valid_numbers(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from(sorted(PROVINCES)))
    region = f"{province:02d}{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    sequence = draw(st.integers(0, 999))
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


@given(valid_numbers())
def test_every_well_formed_number_passes(number: str) -> None:
    assert parse(number, TODAY).value == number


@given(valid_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_every_single_character_change_is_caught(
    number: str, position: int, replacement: str
) -> None:
    changed = number[:position] + replacement + number[position + 1 :]
    if changed == number:
        return
    with pytest.raises(InvalidIdNumber):
        parse(changed, TODAY)
