"""Withdrawal requests: the web tier's half of "send my coins elsewhere".

A request validates the destination for the asset's chain (checksums
included), places a ledger hold on the payer's balance (so the coins
cannot also pay a vendor) and records a :class:`Withdrawal` in ``held``,
all in one transaction. Signing and broadcasting belong to custody: its
withdrawal worker picks ``held`` rows, signs within the signer's caps,
broadcasts, and posts or voids the hold (``withdrawal:<key>``).

``key`` is derived from the caller and their ``Idempotency-Key`` (or is
random without one), so a retried request holds once.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select

from wallet.assets import Chain, get_asset
from wallet.chains.addresses import validate_address
from wallet.chains.networks import network
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.db.models.users import User, UserStatus
from wallet.errors import InvalidAmount, WalletError
from wallet.ledger import place_hold, user_wallet
from wallet.money import parse_minor
from wallet.payments.intake import AccountFrozen
from webapp.extensions import unit_of_work
from webapp.pay.custody import kind


class WithdrawalConflict(WalletError):
    code = "withdrawal_conflict"
    http_status = 409


def hold_ref(key: str) -> str:
    """The ledger hold reserving a withdrawal's coins (custody posts or voids it)."""
    return f"withdrawal:{key}"


def withdrawal_key(user_id: int, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"wd_{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{user_id}\x00{idempotency_key}".encode()).hexdigest()
    return f"wd_{digest[:40]}"


def parse_amount(asset: str, amount: str) -> int:
    """Minor units of a positive decimal amount with at most the asset's decimals."""
    info = get_asset(asset)
    minor = parse_minor(amount, info.decimals)
    if minor <= 0:
        raise InvalidAmount("the amount must be more than zero")
    return minor


def request_withdrawal(
    user_id: int, asset: str, address: str, amount_minor: int, key: str
) -> Withdrawal:
    """Hold ``amount_minor`` and record the withdrawal (the same ``key`` returns the first)."""
    info = get_asset(asset)
    if info.chain is Chain.FIAT:
        raise InvalidAmount(f"{asset} cannot be withdrawn on chain", code="unknown_asset")
    to = validate_address(network(info.chain, kind()), address)
    with unit_of_work() as db:
        existing = db.scalars(select(Withdrawal).where(Withdrawal.key == key)).one_or_none()
        if existing is not None:
            same = (existing.user_id, existing.asset, existing.to_address, existing.amount_minor)
            if same != (user_id, info.symbol, to, amount_minor):
                raise WithdrawalConflict("this request key was used for another withdrawal")
            db.expunge(existing)
            return existing
        user = db.get(User, user_id)
        if user is None or user.status is UserStatus.FROZEN:
            raise AccountFrozen("this account is frozen: no withdrawals")
        # First, so an unaffordable withdrawal leaves nothing behind.
        place_hold(
            db, user_wallet(user_id, info.symbol), info.symbol, amount_minor, ref=hold_ref(key)
        )
        row = Withdrawal(
            key=key,
            user_id=user_id,
            chain=info.chain.value,
            asset=info.symbol,
            to_address=to,
            amount_minor=amount_minor,
            status=WithdrawalStatus.HELD,
        )
        db.add(row)
        db.flush()
        db.expunge(row)
    return row


def get_withdrawal(user_id: int, withdrawal_id: int) -> Withdrawal | None:
    with unit_of_work() as db:
        row = db.get(Withdrawal, withdrawal_id)
        if row is None or row.user_id != user_id:
            return None
        db.expunge(row)
    return row
