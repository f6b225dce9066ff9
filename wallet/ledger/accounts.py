"""Account codes: what an account is follows from its name.

Grammar (``<ASSET>`` is a registry symbol, ``<chain>`` a :class:`Chain`)::

    user:<id>:wallet:<ASSET>        liability  a payer's custodial balance   never negative
    merchant:<id>:payable           liability  INR we owe a merchant          never negative
    escrow:<chain>:<ASSET>          asset      crypto received for payments
    hot:<chain>:<ASSET>             asset      our spendable hot wallet
    cold:<chain>:<ASSET>            asset      our cold storage
    exchange:<venue>:<ASSET>        asset      inventory held on a venue
    float:INR                       asset      the INR float payouts draw on
    payout_clearing:INR             liability  payouts sent, not yet final
    revenue:fees:<ASSET>            revenue    platform fees
    revenue:fx:<ASSET>              revenue    realised sale proceeds vs quotes (gain or loss)
    expense:payout_fees:INR         expense    payout gateway fees and their tax
    expense:network_fees:<ASSET>    expense    gas and miner fees we paid
    rounding:<ASSET>                revenue    residue of rounding (may be negative)
    suspense:<ASSET>                liability  money we cannot attribute yet
    external:<name>[:<name>…]:<ASSET> equity   the world's side (trading, deposits)

Asset and expense accounts are debit-normal (``normal_sign`` +1); the rest
are credit-normal (−1). Only user and merchant accounts are refused an
overdraft: every other account may go negative (an ``external`` account
is the world's mirror image of our books, so it usually is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from wallet.assets import Chain, get_asset
from wallet.db.models.ledger import AccountType
from wallet.errors import AssetMismatch, InvalidAccount

_NAME = r"[a-z0-9][a-z0-9_.\-]{0,63}"
_ASSET = r"[A-Z0-9][A-Z0-9\-]{0,31}"
_ID = r"[1-9][0-9]{0,18}"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What a code says about its account."""

    code: str
    type: AccountType
    asset: str
    may_go_negative: bool

    @property
    def normal_sign(self) -> int:
        """+1 if a debit (positive amount) increases the balance, else −1."""
        return 1 if self.type in (AccountType.ASSET, AccountType.EXPENSE) else -1


_RULES: tuple[tuple[re.Pattern[str], AccountType, str | None, bool], ...] = (
    # (pattern, type, fixed asset or None = the <asset> group, may go negative)
    (re.compile(rf"user:{_ID}:wallet:(?P<asset>{_ASSET})"), AccountType.LIABILITY, None, False),
    (re.compile(rf"merchant:{_ID}:payable"), AccountType.LIABILITY, "INR", False),
    (re.compile(rf"escrow:(?P<chain>{_NAME}):(?P<asset>{_ASSET})"), AccountType.ASSET, None, True),
    (re.compile(rf"hot:(?P<chain>{_NAME}):(?P<asset>{_ASSET})"), AccountType.ASSET, None, True),
    (re.compile(rf"cold:(?P<chain>{_NAME}):(?P<asset>{_ASSET})"), AccountType.ASSET, None, True),
    (re.compile(rf"exchange:{_NAME}:(?P<asset>{_ASSET})"), AccountType.ASSET, None, True),
    (re.compile(r"float:INR"), AccountType.ASSET, "INR", True),
    (re.compile(r"payout_clearing:INR"), AccountType.LIABILITY, "INR", True),
    (re.compile(rf"revenue:fees:(?P<asset>{_ASSET})"), AccountType.REVENUE, None, True),
    (re.compile(rf"revenue:fx:(?P<asset>{_ASSET})"), AccountType.REVENUE, None, True),
    (re.compile(r"expense:payout_fees:INR"), AccountType.EXPENSE, "INR", True),
    (re.compile(rf"expense:network_fees:(?P<asset>{_ASSET})"), AccountType.EXPENSE, None, True),
    (re.compile(rf"rounding:(?P<asset>{_ASSET})"), AccountType.REVENUE, None, True),
    (re.compile(rf"suspense:(?P<asset>{_ASSET})"), AccountType.LIABILITY, None, True),
    (
        re.compile(rf"external(?::{_NAME})+:(?P<asset>{_ASSET})"),
        AccountType.EQUITY,
        None,
        True,
    ),
)

_CHAINS = frozenset(c.value for c in Chain if c is not Chain.FIAT)


def parse_account(code: str) -> AccountSpec:
    """The spec of ``code``; :class:`InvalidAccount` if it fits no rule.

    Raises :class:`~wallet.errors.UnknownAsset` for an asset outside the
    registry.
    """
    if not isinstance(code, str):
        raise InvalidAccount(f"account codes are strings, got {type(code).__name__}")
    return _parse(code)


@lru_cache(maxsize=16384)
def _parse(code: str) -> AccountSpec:
    """Memoised: a code always means the same account (refusals are not cached)."""
    for pattern, type_, fixed_asset, may_go_negative in _RULES:
        match = pattern.fullmatch(code)
        if match is None:
            continue
        groups = match.groupdict()
        chain = groups.get("chain")
        if chain is not None and chain not in _CHAINS:
            raise InvalidAccount(f"unknown chain {chain!r} in account {code!r}")
        asset = fixed_asset or groups["asset"]
        get_asset(asset)
        return AccountSpec(code, type_, asset, may_go_negative)
    raise InvalidAccount(f"{code!r} is not a ledger account code")


def account_for(code: str, asset: str) -> AccountSpec:
    """Parse ``code`` and check that it holds ``asset``."""
    spec = parse_account(code)
    get_asset(asset)
    if spec.asset != asset:
        raise AssetMismatch(f"account {code!r} holds {spec.asset}, not {asset}")
    return spec


def user_wallet(user_id: int, asset: str) -> str:
    return f"user:{user_id}:wallet:{asset}"


def merchant_payable(merchant_id: int) -> str:
    return f"merchant:{merchant_id}:payable"
