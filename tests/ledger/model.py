"""A pure-Python model of the ledger: what every operation should do.

It knows the account universe of the stateful test by heart (no parsing of
codes through the code under test) and predicts, for each operation, the
exact error class or the new state.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from wallet.errors import (
    AssetMismatch,
    EntryConflict,
    HoldConflict,
    HoldNotFound,
    HoldNotPending,
    InsufficientFunds,
    InvalidAccount,
    InvalidPosting,
    UnbalancedEntry,
    UnknownAsset,
    WalletError,
)


@dataclass(frozen=True)
class Acct:
    asset: str
    sign: int  # +1 debit-normal, -1 credit-normal
    guarded: bool  # never below zero


ACCOUNTS: dict[str, Acct] = {
    "user:1:wallet:ETH": Acct("ETH", -1, True),
    "user:2:wallet:ETH": Acct("ETH", -1, True),
    "escrow:ethereum:ETH": Acct("ETH", 1, False),
    "revenue:fees:ETH": Acct("ETH", -1, False),
    "merchant:1:payable": Acct("INR", -1, True),
    "user:1:wallet:INR": Acct("INR", -1, True),
    "float:INR": Acct("INR", 1, False),
}
BAD_CODES: dict[str, type[WalletError]] = {
    "bogus:1": InvalidAccount,
    "user:0:wallet:ETH": InvalidAccount,
    "escrow:mars:ETH": InvalidAccount,
    "user:1:wallet:XYZ": UnknownAsset,
}
KNOWN_ASSETS = {"ETH", "INR"}

Leg = tuple[str, str, int]


class Refused(Exception):
    def __init__(self, error: type[WalletError]) -> None:
        self.error = error


@dataclass
class Hold:
    code: str
    amount: int
    status: str = "pending"
    legs: list[Leg] = field(default_factory=list)


@dataclass
class LedgerModel:
    raw: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    existing: set[str] = field(default_factory=set)
    entries: dict[tuple[str, str], list[Leg]] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)

    def normal(self, code: str) -> int:
        return ACCOUNTS[code].sign * self.raw[code]

    def available(self, code: str) -> int:
        return self.normal(code) - self.held[code]

    # -- validation, in the order wallet.ledger applies it ------------------

    @staticmethod
    def check_account(code: str, asset: str) -> None:
        if code in BAD_CODES:
            raise Refused(BAD_CODES[code])
        if asset not in KNOWN_ASSETS:
            raise Refused(UnknownAsset)
        if ACCOUNTS[code].asset != asset:
            raise Refused(AssetMismatch)

    def check_legs(self, legs: list[Leg]) -> None:
        if len(legs) < 2 or any(amount == 0 for _c, _a, amount in legs):
            raise Refused(InvalidPosting)
        for code, asset, _amount in legs:
            self.check_account(code, asset)
        totals: dict[str, int] = defaultdict(int)
        for _code, asset, amount in legs:
            totals[asset] += amount
        if any(totals.values()):
            raise Refused(UnbalancedEntry)

    def check_overdraft(self, legs: list[Leg], released: dict[str, int]) -> None:
        deltas: dict[str, int] = defaultdict(int)
        for code, _asset, amount in legs:
            deltas[code] += amount
        for code, delta in deltas.items():
            change = ACCOUNTS[code].sign * delta
            after = self.available(code) + released.get(code, 0) + change
            if ACCOUNTS[code].guarded and change < 0 and after < 0:
                raise Refused(InsufficientFunds)

    def apply(self, legs: list[Leg]) -> None:
        for code, _asset, amount in legs:
            self.raw[code] += amount
            self.existing.add(code)

    # -- operations: return None or raise Refused ---------------------------

    def post(self, kind: str, ref: str, legs: list[Leg]) -> str:
        """'new' or 'replay'."""
        self.check_legs(legs)
        if (kind, ref) in self.entries:
            if sorted(self.entries[(kind, ref)]) != sorted(legs):
                raise Refused(EntryConflict)
            return "replay"
        self.check_overdraft(legs, {})
        self.entries[(kind, ref)] = list(legs)
        self.apply(legs)
        return "new"

    def place_hold(self, code: str, asset: str, amount: int, ref: str) -> str:
        if amount <= 0:
            raise Refused(InvalidPosting)
        self.check_account(code, asset)
        if ref in self.holds:
            hold = self.holds[ref]
            if (hold.code, hold.amount) != (code, amount):
                raise Refused(HoldConflict)
            return "replay"
        if ACCOUNTS[code].guarded and self.available(code) < amount:
            raise Refused(InsufficientFunds)
        self.holds[ref] = Hold(code, amount)
        self.held[code] += amount
        self.existing.add(code)
        return "new"

    def post_hold(self, ref: str, dests: list[tuple[str, int]]) -> str:
        if not dests or any(amount <= 0 for _c, amount in dests):
            raise Refused(InvalidPosting)
        if ref not in self.holds:
            raise Refused(HoldNotFound)
        hold = self.holds[ref]
        if any(code == hold.code for code, _a in dests):
            raise Refused(InvalidPosting)
        asset = ACCOUNTS[hold.code].asset
        sign = ACCOUNTS[hold.code].sign
        total = sum(amount for _c, amount in dests)
        legs = [(hold.code, asset, -sign * total)] + [(c, asset, sign * a) for c, a in dests]
        for code, leg_asset, _amount in legs:
            self.check_account(code, leg_asset)
        if hold.status == "posted":
            if sorted(hold.legs) != sorted(legs):
                raise Refused(HoldNotPending)
            return "replay"
        if hold.status != "pending":
            raise Refused(HoldNotPending)
        if total > hold.amount:
            raise Refused(InvalidPosting)
        self.check_overdraft(legs, {hold.code: hold.amount})
        self.held[hold.code] -= hold.amount
        hold.status = "posted"
        hold.legs = legs
        self.entries[("hold.post", ref)] = legs
        self.apply(legs)
        return "new"

    def void_hold(self, ref: str) -> str:
        if ref not in self.holds:
            raise Refused(HoldNotFound)
        hold = self.holds[ref]
        if hold.status == "voided":
            return "replay"
        if hold.status != "pending":
            raise Refused(HoldNotPending)
        hold.status = "voided"
        self.held[hold.code] -= hold.amount
        return "new"
