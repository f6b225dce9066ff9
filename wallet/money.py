"""Money as integers in minor units.

An :class:`Amount` is an asset symbol plus an integer count of the asset's
smallest unit (paise, wei, lamports, satoshi, token base units). Floats are
refused everywhere; ``Decimal`` appears only when parsing or formatting text.
Every conversion names its rounding so that the direction of each lost
fraction is a decision, not an accident: quotes round in the platform's
favour (the payer pays the ceiling), payouts round down (the vendor gets the
floor), and the residue is posted to a rounding account by the caller.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from wallet.errors import AssetMismatch, InvalidAmount

_DECIMAL_RE = re.compile(r"^(?P<sign>-)?(?P<int>\d+)(?:\.(?P<frac>\d+))?$")


class Rounding(enum.Enum):
    """How to resolve a fraction of a minor unit."""

    UP = "up"  # towards +infinity: what the payer owes us
    DOWN = "down"  # towards -infinity: what we pay out
    HALF_EVEN = "half_even"  # display and statistics only
    EXACT = "exact"  # refuse to round: raise if a fraction remains


def _check_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{what} must be an integer number of minor units, got {value!r}")
    return value


def divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """Integer division of exact integers with an explicit rounding rule."""
    _check_int(numerator, "numerator")
    _check_int(denominator, "denominator")
    if denominator == 0:
        raise InvalidAmount("division by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    q, r = divmod(numerator, denominator)  # floor division
    if r == 0:
        return q
    if rounding is Rounding.DOWN:
        return q
    if rounding is Rounding.UP:
        return q + 1
    if rounding is Rounding.HALF_EVEN:
        twice = 2 * r
        if twice > denominator or (twice == denominator and q % 2 == 1):
            return q + 1
        return q
    raise InvalidAmount(f"{numerator}/{denominator} is not a whole number of minor units")


def scale_ratio(minor: int, ratio: Fraction, rounding: Rounding) -> int:
    """``minor * ratio`` rounded to an integer; ``ratio`` is an exact Fraction."""
    if not isinstance(ratio, Fraction):
        raise InvalidAmount("ratios must be exact Fractions, never floats")
    return divide(_check_int(minor, "minor") * ratio.numerator, ratio.denominator, rounding)


def parse_minor(text: str, decimals: int, rounding: Rounding = Rounding.EXACT) -> int:
    """Parse a decimal string such as ``"12.50"`` into minor units.

    Only plain decimal notation is accepted (no exponents, no ``inf``/``nan``,
    no thousands separators). More fractional digits than ``decimals`` are
    an error unless a rounding rule is given.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        raise InvalidAmount(f"amounts are decimal strings, got {type(text).__name__}")
    match = _DECIMAL_RE.match(text.strip())
    if match is None:
        raise InvalidAmount(f"{text!r} is not a decimal amount")
    frac = match.group("frac") or ""
    digits = int(match.group("int") + frac)
    value = divide(digits * 10**decimals, 10 ** len(frac), rounding)
    return -value if match.group("sign") else value


def format_minor(minor: int, decimals: int, *, trim: bool = False) -> str:
    """Render minor units as a decimal string with exactly ``decimals`` places.

    ``trim`` drops trailing zeros (``"0.5"`` rather than ``"0.500000"``) while
    keeping at least the integer part.
    """
    _check_int(minor, "minor")
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**decimals)
    if decimals == 0:
        return f"{sign}{whole}"
    frac_text = str(frac).rjust(decimals, "0")
    if trim:
        frac_text = frac_text.rstrip("0")
        if not frac_text:
            return f"{sign}{whole}"
    return f"{sign}{whole}.{frac_text}"


def to_decimal(minor: int, decimals: int) -> Decimal:
    """Exact Decimal for display layers that want one."""
    try:
        return Decimal(format_minor(minor, decimals))
    except InvalidOperation as exc:  # pragma: no cover - format_minor is always valid
        raise InvalidAmount(str(exc)) from exc


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` minor units by integer ``weights`` so the parts sum exactly.

    Largest-remainder method: each part gets its floor share, then the
    leftover units go to the largest remainders (earliest first on ties).
    """
    _check_int(total, "total")
    if not weights or any(_check_int(w, "weight") < 0 for w in weights) or sum(weights) == 0:
        raise InvalidAmount("weights must be non-negative integers with a positive sum")
    denom = sum(weights)
    floors = [total * w // denom for w in weights]
    remainders = [total * w % denom for w in weights]
    leftover = total - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


@dataclass(frozen=True, slots=True)
class Amount:
    """An integer number of minor units of one asset."""

    asset: str
    minor: int

    def __post_init__(self) -> None:
        _check_int(self.minor, "minor")
        if not isinstance(self.asset, str) or not self.asset:
            raise InvalidAmount("an amount needs an asset symbol")

    @classmethod
    def parse(cls, asset: str, text: str, rounding: Rounding = Rounding.EXACT) -> Amount:
        """Parse a decimal string in the asset's display unit."""
        from wallet.assets import get_asset

        return cls(asset, parse_minor(text, get_asset(asset).decimals, rounding))

    @classmethod
    def zero(cls, asset: str) -> Amount:
        return cls(asset, 0)

    @property
    def decimals(self) -> int:
        from wallet.assets import get_asset

        return get_asset(self.asset).decimals

    def format(self, *, trim: bool = False) -> str:
        """Decimal string in the display unit, e.g. ``"250.00"`` for 25000 paise."""
        return format_minor(self.minor, self.decimals, trim=trim)

    def _same(self, other: Amount) -> None:
        if not isinstance(other, Amount):
            raise InvalidAmount(f"cannot combine an Amount with {type(other).__name__}")
        if other.asset != self.asset:
            raise AssetMismatch(f"cannot combine {self.asset} with {other.asset}")

    def __add__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.asset, self.minor + other.minor)

    def __sub__(self, other: Amount) -> Amount:
        self._same(other)
        return Amount(self.asset, self.minor - other.minor)

    def __neg__(self) -> Amount:
        return Amount(self.asset, -self.minor)

    def __lt__(self, other: Amount) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Amount) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Amount) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Amount) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __mul__(self, other: object) -> Amount:
        if isinstance(other, bool) or not isinstance(other, int):
            raise InvalidAmount("amounts multiply only by integers; use scale() for ratios")
        return Amount(self.asset, self.minor * other)

    def scale(self, ratio: Fraction, rounding: Rounding) -> Amount:
        return Amount(self.asset, scale_ratio(self.minor, ratio, rounding))

    def split(self, weights: list[int]) -> list[Amount]:
        return [Amount(self.asset, part) for part in allocate(self.minor, weights)]

    def is_zero(self) -> bool:
        return self.minor == 0

    def __str__(self) -> str:
        return f"{self.format()} {self.asset}"
