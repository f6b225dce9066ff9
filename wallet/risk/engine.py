"""The risk engine: approve, hold for review, or decline a payment or withdrawal.

Called before a quote is honoured (the payer confirms) and before a
withdrawal is signed, inside the caller's transaction. In order:

1. A frozen user is declined (``user_frozen``).
2. Sanctions screening of the payee VPA and any known counterparty
   addresses: a hit holds the payment for review (``sanctions_hit``, score
   100) and raises a case. Nothing is reserved: no funds may move.
3. The KYC tier's per-payment ceiling (``limit_tier_per_payment``).
4. Velocity and amount limits, reserved atomically
   (:mod:`wallet.risk.limits`); a refusal declines with the limit's code
   (e.g. ``limit_user_day_amount``) and reserves nothing. Intake takes
   this step itself, last before it commits (``limits_last``).
5. AML patterns (:mod:`wallet.risk.aml`): each adds points and raises a
   case; a score at or above ``hold_score`` holds the payment. (Their
   reads run before step 4's reservation, which locks shared counter rows
   until the caller commits; their cases are raised only after it, or,
   with ``limits_last``, before it.)

Hard refusals (1–4) carry score 100. The decision, score and reasons are
stored once per payment in ``payment_risk``; assessing the same payment
again returns the stored decision and reserves nothing more. A held or
approved payment keeps its reservation; release it with
:func:`wallet.risk.limits.release_reservation` (ref
:func:`payment_ref`) if the payment fails before funds move.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.audit import entry, row_values
from wallet.compliance.sanctions import SanctionsHit, normalise_vpa, screen_counterparties
from wallet.db.base import utcnow
from wallet.db.models import Payment, User, UserStatus
from wallet.risk.aml import AmlFlag, check_fan_in, check_rapid_spend, check_structuring
from wallet.risk.cases import raise_case
from wallet.risk.config import RiskConfig
from wallet.risk.errors import LimitExceeded
from wallet.risk.limits import LimitRule, Period, check_amount, reserve_limits
from wallet.risk.models import PaymentRisk, RiskDecisionKind

MAX_SCORE = 100


@dataclass(frozen=True)
class RiskDecision:
    """The outcome: ``reasons`` are stable codes, most serious first."""

    decision: RiskDecisionKind
    score: int
    reasons: tuple[str, ...] = ()
    reservation_ref: str | None = None
    case_ids: tuple[int, ...] = field(default=())

    @property
    def approved(self) -> bool:
        return self.decision is RiskDecisionKind.APPROVE


def payment_ref(payment_id: str) -> str:
    """The limit reservation ref of a payment."""
    return f"payment:{payment_id}"


def withdrawal_ref(key: str) -> str:
    """The limit reservation ref of a withdrawal (its idempotency key)."""
    return f"withdrawal:{key}"


def _device_key(device_id: str) -> str:
    # Device ids come from clients: store a fixed-size digest, not the raw value.
    return hashlib.sha256(device_id.encode()).hexdigest()[:32]


def _rule(
    scope: str, key: str, period: Period, count: int | None, paise: int | None
) -> list[LimitRule]:
    if count is None and paise is None:
        return []
    return [LimitRule(scope, key, period, count, paise)]


def _common_rules(config: RiskConfig, user: User, device_id: str | None) -> list[LimitRule]:
    uid = str(user.id)
    rules = [
        *_rule("user", uid, Period.DAY, config.user_daily_count, config.tier_daily(user.kyc_tier)),
        *_rule("user", uid, Period.HOUR, config.user_hourly_count, config.user_hourly_paise),
        *_rule("global", "*", Period.HOUR, None, config.global_hourly_paise),
        *_rule("global", "*", Period.DAY, config.global_daily_count, config.global_daily_paise),
    ]
    if device_id:
        dev = _device_key(device_id)
        rules += _rule("device", dev, Period.HOUR, config.device_hourly_count, None)
        rules += _rule(
            "device", dev, Period.DAY, config.device_daily_count, config.device_daily_paise
        )
    return rules


def payment_rules(
    config: RiskConfig, user: User, payee_vpa: str, device_id: str | None
) -> list[LimitRule]:
    """Every limit a payment by ``user`` to ``payee_vpa`` counts against."""
    vpa = normalise_vpa(payee_vpa)
    return [
        *_common_rules(config, user, device_id),
        *_rule("payee", vpa, Period.HOUR, config.payee_hourly_count, None),
        *_rule("payee", vpa, Period.DAY, config.payee_daily_count, config.payee_daily_paise),
    ]


def withdrawal_rules(config: RiskConfig, user: User, device_id: str | None) -> list[LimitRule]:
    """Every limit a withdrawal counts against (the user's limits are shared with payments)."""
    return [
        *_common_rules(config, user, device_id),
        *_rule(
            "withdrawal",
            str(user.id),
            Period.DAY,
            config.withdrawal_daily_count,
            config.withdrawal_daily_paise,
        ),
    ]


def _hit_subject(hit: SanctionsHit) -> str:
    if hit.kind == "vpa":
        return f"vpa:{hit.value}"
    return f"address:{hit.chain or '*'}:{hit.value}"


def _sanctions_decision(
    session: Session, hits: Sequence[SanctionsHit], payment_id: str | None, now: datetime
) -> RiskDecision:
    cases = []
    for hit in hits:
        case = raise_case(
            session,
            kind="sanctions_hit",
            subject=_hit_subject(hit),
            payment_id=payment_id,
            details={"entry_id": hit.entry_id, "source": hit.source},
            now=now,
        )
        cases.append(case.id)
    return RiskDecision(
        RiskDecisionKind.HOLD_FOR_REVIEW, MAX_SCORE, ("sanctions_hit",), None, tuple(cases)
    )


def _decline(reason: str) -> RiskDecision:
    return RiskDecision(RiskDecisionKind.DECLINE, MAX_SCORE, (reason,))


def _score(
    session: Session,
    flags: Sequence[AmlFlag | None],
    config: RiskConfig,
    payment_id: str | None,
    reservation_ref: str,
    now: datetime,
) -> RiskDecision:
    found = [f for f in flags if f is not None]
    cases = tuple(
        raise_case(
            session,
            kind=f.kind,
            subject=f.subject,
            payment_id=payment_id,
            details=f.details,
            now=now,
        ).id
        for f in found
    )
    score = min(MAX_SCORE, sum(f.points for f in found))
    kind = (
        RiskDecisionKind.HOLD_FOR_REVIEW if score >= config.hold_score else RiskDecisionKind.APPROVE
    )
    return RiskDecision(kind, score, tuple(f.kind for f in found), reservation_ref, cases)


def _stored(session: Session, payment_id: str) -> RiskDecision | None:
    row = session.scalar(select(PaymentRisk).where(PaymentRisk.payment_id == payment_id))
    if row is None:
        return None
    held = row.decision is not RiskDecisionKind.DECLINE and "sanctions_hit" not in row.reasons
    return RiskDecision(
        row.decision,
        row.score,
        tuple(row.reasons),
        payment_ref(payment_id) if held else None,
    )


def _record(
    session: Session,
    decision: RiskDecision,
    *,
    subject_type: str,
    subject_id: str,
    user: User,
    amount_paise: int,
    now: datetime,
    audit_rows: list[dict[str, Any]] | None = None,
) -> None:
    if subject_type == "payment":
        session.add(
            PaymentRisk(
                payment_id=subject_id,
                score=decision.score,
                decision=decision.decision,
                reasons=list(decision.reasons),
                assessed_at=now,
            )
        )
    # Not flushed here: the rows go out with the caller's next writes; a caller
    # that gathers its audit rows (intake) takes this one into its INSERT.
    action = f"risk.{subject_type}.{decision.decision.value}"
    data = {
        "user_id": user.id,
        "amount_paise": amount_paise,
        "score": decision.score,
        "reasons": list(decision.reasons),
    }
    about = {"actor": "system:risk", "action": action, "subject_type": subject_type}
    if audit_rows is not None:
        audit_rows.append(row_values(**about, subject_id=subject_id, data=data, at=utcnow()))
    else:
        session.add(entry(**about, subject_id=subject_id, data=data))


def assess_payment(
    session: Session,
    user: User,
    payee_vpa: str,
    amount_inr_paise: int,
    asset: str,
    device_id: str | None,
    now: datetime,
    *,
    payment_id: str | None = None,
    amount_minor: int | None = None,
    counterparty_addresses: Sequence[tuple[str, str]] = (),
    config: RiskConfig | None = None,
    new_payment: bool = False,
    limits_last: bool = False,
    audit_rows: list[dict[str, Any]] | None = None,
) -> RiskDecision:
    """Decide whether ``user`` may pay ``amount_inr_paise`` to ``payee_vpa`` in ``asset``.

    ``payment_id`` (when the payment row exists) keys the reservation and
    the stored decision; without it the reservation gets a fresh ref
    (returned in the decision). ``amount_minor`` is the crypto amount, for
    the deposit-then-spend check; it defaults to the payment row's.
    ``counterparty_addresses`` are ``(chain, address)`` pairs known to be
    on the other side (e.g. the payer's source address). ``new_payment``:
    the payment row was inserted in this transaction, so no decision can be
    stored for it yet (skips that read). Invalid amounts raise
    ``invalid_amount`` and change nothing.

    ``limits_last``: step 4 is left to the caller, who takes the limits
    with :func:`reserve_payment_limits` as the last write before it
    commits and rolls everything back if they refuse. The reservation
    locks the shared (``global``) counter rows until that commit, so every
    payment in flight queues on them; taken last, they are held for one
    statement and the commit rather than for the rest of the payment.
    The decision returned assumes the limits pass.

    ``audit_rows``: the decision's audit row is appended there (as
    :func:`wallet.audit.row_values`) for the caller to insert with its own,
    instead of being added to the session.
    """
    amount = check_amount(amount_inr_paise)
    cfg = config or RiskConfig()
    vpa = normalise_vpa(payee_vpa)
    if payment_id is not None:
        stored = None if new_payment else _stored(session, payment_id)
        if stored is not None:
            return stored
        if amount_minor is None:
            amount_minor = session.scalar(
                select(Payment.amount_minor).where(Payment.id == payment_id)
            )
    ref = payment_ref(payment_id) if payment_id else f"assessment:{uuid.uuid4()}"
    decision = _assess(
        session,
        user,
        cfg,
        now,
        hits=lambda: screen_counterparties(session, vpas=[vpa], addresses=counterparty_addresses),
        rules=lambda: payment_rules(cfg, user, vpa, device_id),
        flags=lambda: [
            check_structuring(session, user, amount, now, cfg, exclude_payment_id=payment_id),
            check_rapid_spend(session, user, asset, amount_minor, now, cfg),
            check_fan_in(session, user, vpa, now, cfg, exclude_payment_id=payment_id),
        ],
        amount=amount,
        ref=ref,
        subject_id=payment_id,
        reserve=not limits_last,
    )
    _record(
        session,
        decision,
        subject_type="payment" if payment_id else "payment_request",
        subject_id=payment_id or ref,
        user=user,
        amount_paise=amount,
        now=now,
        audit_rows=audit_rows,
    )
    return decision


def assess_withdrawal(
    session: Session,
    user: User,
    chain: str,
    to_address: str,
    asset: str,
    amount_minor: int,
    amount_inr_paise: int,
    device_id: str | None,
    now: datetime,
    *,
    key: str,
    config: RiskConfig | None = None,
) -> RiskDecision:
    """Decide whether ``user`` may send ``amount_minor`` of ``asset`` to ``to_address``.

    ``amount_inr_paise`` is its value at the current rate (the limits are
    in INR). ``key`` is the withdrawal's idempotency key: the reservation
    ref is :func:`withdrawal_ref` of it, so a retry reserves once.
    """
    amount = check_amount(amount_inr_paise)
    cfg = config or RiskConfig()
    ref = withdrawal_ref(key)
    decision = _assess(
        session,
        user,
        cfg,
        now,
        hits=lambda: screen_counterparties(session, addresses=[(chain, to_address)]),
        rules=lambda: withdrawal_rules(cfg, user, device_id),
        flags=lambda: [check_rapid_spend(session, user, asset, amount_minor, now, cfg)],
        amount=amount,
        ref=ref,
        subject_id=None,
    )
    _record(
        session,
        decision,
        subject_type="withdrawal",
        # audit_log.subject_id holds 64 characters; longer keys are digested.
        subject_id=key if len(key) <= 64 else hashlib.sha256(key.encode()).hexdigest(),
        user=user,
        amount_paise=amount,
        now=now,
    )
    return decision


def _assess(
    session: Session,
    user: User,
    cfg: RiskConfig,
    now: datetime,
    *,
    hits: Callable[[], list[SanctionsHit]],
    rules: Callable[[], list[LimitRule]],
    flags: Callable[[], list[AmlFlag | None]],
    amount: int,
    ref: str,
    subject_id: str | None,
    reserve: bool = True,
) -> RiskDecision:
    """Steps 1–5 of the module docstring, shared by payments and withdrawals
    (step 4 only if ``reserve``)."""
    if user.status is not UserStatus.ACTIVE:
        return _decline("user_frozen")
    found = hits()
    if found:
        return _sanctions_decision(session, found, subject_id, now)
    if amount > cfg.tier_per_payment(user.kyc_tier):
        return _decline("limit_tier_per_payment")
    # The AML reads first: the reservation locks shared counter rows (the global
    # limits) until the caller commits, so as little as possible runs after it.
    found_flags = flags()
    if reserve:
        refused = _reserve(session, ref, user, rules(), amount, now)
        if refused is not None:
            return refused
    return _score(session, found_flags, cfg, subject_id, ref, now)


def _reserve(
    session: Session, ref: str, user: User, rules: list[LimitRule], amount: int, now: datetime
) -> RiskDecision | None:
    """Step 4: None once reserved, or the decline naming the refusing limit."""
    try:
        reserve_limits(session, ref=ref, user_id=user.id, rules=rules, amount_paise=amount, now=now)
    except LimitExceeded as exc:
        return _decline(exc.reason)
    return None


def reserve_payment_limits(
    session: Session,
    user: User,
    payee_vpa: str,
    amount_inr_paise: int,
    device_id: str | None,
    now: datetime,
    *,
    payment_id: str,
    config: RiskConfig | None = None,
) -> RiskDecision | None:
    """Step 4 for a payment assessed with ``limits_last`` (see :func:`assess_payment`).

    None once reserved (under :func:`payment_ref`); otherwise the decline
    naming the refusing limit, with no counter changed, and the caller
    must roll back the decision it recorded with everything else.
    """
    cfg = config or RiskConfig()
    rules = payment_rules(cfg, user, payee_vpa, device_id)
    amount = check_amount(amount_inr_paise)
    return _reserve(session, payment_ref(payment_id), user, rules, amount, now)
