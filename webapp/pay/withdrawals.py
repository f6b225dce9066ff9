"""Withdrawal requests: the web tier's half of "send my coins elsewhere".

A request validates the destination for the asset's chain (checksums
included), places a ledger hold on the payer's balance (so the coins
cannot also pay a vendor) and records a :class:`Withdrawal` in ``held``
(or ``held_for_review`` when the risk engine wants an admin to look
first), all in one transaction. Signing and broadcasting belong to custody: its
withdrawal worker picks ``held`` rows, signs within the signer's caps,
broadcasts, and posts or voids the hold (``withdrawal:<key>``).

``key`` is derived from the caller and their ``Idempotency-Key`` (or is
random without one), so a retried request holds once.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.assets import Chain, get_asset
from wallet.chains.addresses import validate_address
from wallet.chains.networks import network
from wallet.custody.models import Withdrawal, WithdrawalStatus
from wallet.custody.withdrawal_review import park_withdrawal
from wallet.db.base import utcnow
from wallet.db.models.users import User, UserStatus
from wallet.errors import InsufficientFunds, InvalidAmount, WalletError
from wallet.ledger import place_hold, user_wallet
from wallet.money import Rounding, parse_minor, scale_ratio
from wallet.payments.intake import AccountFrozen
from wallet.rates.cache import fresh_rate
from wallet.risk import RiskDecisionKind, assess_withdrawal, release_reservation, withdrawal_ref
from webapp.extensions import rate_cache, unit_of_work
from webapp.pay.custody import kind
from webapp.pay.pricing import quote_config
from webapp.pay.service import risk_config


class WithdrawalConflict(WalletError):
    code = "withdrawal_conflict"
    http_status = 409


class WithdrawalDeclined(WalletError):
    """The risk engine refused; ``code`` is its reason (``limit_…``, ``sanctions_hit``, …)."""

    code = "withdrawal_declined"
    http_status = 403


def inr_value(asset: str, amount_minor: int) -> int:
    """Paise ``amount_minor`` of ``asset`` is worth at the cached rate (rounded up).

    The risk limits are in INR. No fresh rate refuses with ``stale_rate``:
    without a value the limits cannot be checked, so fail closed.
    """
    config = quote_config()
    rate = fresh_rate(rate_cache(), asset, utcnow(), config.rates.rate_max_age_seconds)
    return max(1, scale_ratio(amount_minor, rate.rate, Rounding.UP))


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
    user_id: int,
    asset: str,
    address: str,
    amount_minor: int,
    key: str,
    device_id: str | None = None,
) -> Withdrawal:
    """Hold ``amount_minor`` and record the withdrawal (the same ``key`` returns the first).

    Risk first (:func:`wallet.risk.assess_withdrawal`, before anything can
    be signed; ``device_id`` counts it against the device's limits): a
    decline refuses with its reason as code and keeps nothing; a hold for
    review (sanctions hit, AML) parks the withdrawal ``held_for_review``
    with its coins held (:func:`wallet.custody.withdrawal_review.park_withdrawal`)
    until an admin sends or rejects it. If the coins cannot be held, the
    review case and audit record are still committed before refusing.
    """
    info = get_asset(asset)
    if info.chain is Chain.FIAT:
        raise InvalidAmount(f"{asset} cannot be withdrawn on chain", code="unknown_asset")
    to = validate_address(network(info.chain, kind()), address)
    inr_paise = inr_value(info.symbol, amount_minor)  # before the transaction: may read Redis
    refused: WalletError | None = None
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
        now = utcnow()
        decision = assess_withdrawal(
            db,
            user,
            info.chain.value,
            to,
            info.symbol,
            amount_minor,
            inr_paise,
            device_id,
            now,
            key=key,
            config=risk_config(),
        )
        if decision.decision is RiskDecisionKind.DECLINE:
            raise WithdrawalDeclined(
                f"this withdrawal was declined ({decision.reasons[0]})", code=decision.reasons[0]
            )
        if decision.decision is not RiskDecisionKind.HOLD_FOR_REVIEW:
            row = _hold_and_record(
                db, user_id, info.symbol, info.chain.value, to, amount_minor, key, inr_paise
            )
        else:
            try:
                with db.begin_nested():
                    row = park_withdrawal(
                        db,
                        key=key,
                        user_id=user_id,
                        chain=info.chain.value,
                        asset=info.symbol,
                        to_address=to,
                        amount_minor=amount_minor,
                        amount_inr_paise=inr_paise,
                        reasons=decision.reasons,
                        case_ids=decision.case_ids,
                    )
                db.expunge(row)
            except InsufficientFunds as exc:
                # Keep the review case; nothing is held, so give the limits back.
                if decision.reservation_ref is not None:
                    release_reservation(db, withdrawal_ref(key), now=now)
                refused = exc
    if refused is not None:
        raise refused
    return row


def _hold_and_record(
    db: Session,
    user_id: int,
    symbol: str,
    chain: str,
    to: str,
    amount_minor: int,
    key: str,
    inr_paise: int,
) -> Withdrawal:
    """Hold the coins and record the withdrawal ``held`` for the custody worker to sign.

    Its INR value is kept (``detail``): the worker picks the confirmation
    depth of its risk tier from it before posting.
    """
    # The hold first, so an unaffordable withdrawal leaves nothing behind.
    place_hold(db, user_wallet(user_id, symbol), symbol, amount_minor, ref=hold_ref(key))
    row = Withdrawal(
        key=key,
        user_id=user_id,
        chain=chain,
        asset=symbol,
        to_address=to,
        amount_minor=amount_minor,
        status=WithdrawalStatus.HELD,
        detail={"amount_inr_paise": str(inr_paise)},
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


def list_withdrawals(user_id: int, limit: int = 20) -> list[Withdrawal]:
    """The caller's latest withdrawals, newest first (the history page)."""
    with unit_of_work() as db:
        rows = list(
            db.scalars(
                select(Withdrawal)
                .where(Withdrawal.user_id == user_id)
                .order_by(Withdrawal.created_at.desc(), Withdrawal.id.desc())
                .limit(limit)
            )
        )
        db.expunge_all()
    return rows


# What the payer reads for each state (never the review reasons: those are for admins).
STATUS_TEXT: dict[WithdrawalStatus, str] = {
    WithdrawalStatus.HELD: "queued to send",
    WithdrawalStatus.HELD_FOR_REVIEW: "under review",
    WithdrawalStatus.BROADCAST: "sent, waiting for confirmations",
    WithdrawalStatus.POSTED: "completed",
    WithdrawalStatus.FAILED: "failed; the coins are back on your balance",
    WithdrawalStatus.REJECTED: "not sent after review; the coins are back on your balance",
}
