"""Amount parsing, formatting and rounding properties."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.errors import AssetMismatch, InvalidAmount, UnknownAsset
from wallet.money import (
    Amount,
    Rounding,
    allocate,
    divide,
    format_minor,
    parse_minor,
    scale_ratio,
)


@given(st.integers(min_value=-(10**40), max_value=10**40), st.integers(min_value=0, max_value=18))
def test_format_then_parse_round_trips(minor: int, decimals: int) -> None:
    assert parse_minor(format_minor(minor, decimals), decimals) == minor


@given(st.integers(min_value=0, max_value=10**30), st.lists(st.integers(0, 1000), min_size=1))
def test_allocation_parts_sum_to_the_whole(total: int, weights: list[int]) -> None:
    if sum(weights) == 0:
        with pytest.raises(InvalidAmount):
            allocate(total, weights)
        return
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(p >= 0 for p in parts)


@given(st.integers(-(10**30), 10**30), st.integers(1, 10**12))
def test_rounding_brackets_the_exact_quotient(n: int, d: int) -> None:
    down, up = divide(n, d, Rounding.DOWN), divide(n, d, Rounding.UP)
    assert down * d <= n <= up * d
    assert up - down == (0 if n % d == 0 else 1)


@pytest.mark.parametrize("bad", [1.5, 0.1, float("nan"), True, "1e5", "inf", "1,000", " ", "--1"])
def test_floats_and_junk_are_refused(bad: object) -> None:
    with pytest.raises(InvalidAmount):
        if isinstance(bad, str):
            parse_minor(bad, 2)
        else:
            Amount("INR", bad)  # type: ignore[arg-type]


def test_parse_refuses_excess_precision_unless_rounding_is_named() -> None:
    assert Amount.parse("INR", "250.50").minor == 25050
    with pytest.raises(InvalidAmount):
        Amount.parse("INR", "0.001")
    assert Amount.parse("INR", "0.001", Rounding.UP).minor == 1
    assert Amount.parse("INR", "0.009", Rounding.DOWN).minor == 0


def test_wei_beyond_64_bits_is_exact() -> None:
    amount = Amount.parse("ETH", "123456789012.123456789012345678")
    assert amount.minor == 123456789012123456789012345678
    assert amount.format() == "123456789012.123456789012345678"


def test_amounts_of_different_assets_do_not_mix() -> None:
    with pytest.raises(AssetMismatch):
        _ = Amount("INR", 1) + Amount("ETH", 1)
    with pytest.raises(UnknownAsset):
        Amount.parse("NOPE", "1")


def test_scale_requires_exact_ratio_and_rounds_as_told() -> None:
    assert scale_ratio(10, Fraction(1, 3), Rounding.UP) == 4
    assert scale_ratio(10, Fraction(1, 3), Rounding.DOWN) == 3
    with pytest.raises(InvalidAmount):
        scale_ratio(10, 0.5, Rounding.UP)  # type: ignore[arg-type]
    assert Amount("INR", 10).scale(Fraction(1, 3), Rounding.UP) == Amount("INR", 4)


def test_format_trims_on_request() -> None:
    assert Amount("SOL", 500_000_000).format(trim=True) == "0.5"
    assert Amount("INR", 25000).format() == "250.00"
    assert str(Amount("INR", -5)) == "-0.05 INR"
