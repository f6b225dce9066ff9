"""Risk: limits, KYC tiers, AML flags and the review queue.

Entry points: :func:`assess_payment` before a quote is honoured,
:func:`assess_withdrawal` before a withdrawal is signed,
:func:`reserve_limits` / :func:`release_reservation` for the counters,
:func:`submit_kyc` / :func:`approve_kyc` for tiers, and the review queue
in :mod:`wallet.risk.cases`. Knobs live in :class:`RiskConfig`.
"""

from wallet.risk.cases import list_cases, raise_case, resolve_case
from wallet.risk.config import RiskConfig
from wallet.risk.engine import (
    RiskDecision,
    assess_payment,
    assess_withdrawal,
    payment_ref,
    reserve_payment_limits,
    withdrawal_ref,
)
from wallet.risk.kyc import approve_kyc, reject_kyc, submit_kyc, validate_pan
from wallet.risk.limits import LimitRule, Period, Reservation, release_reservation, reserve_limits
from wallet.risk.models import RiskDecisionKind

__all__ = [
    "LimitRule",
    "Period",
    "Reservation",
    "RiskConfig",
    "RiskDecision",
    "RiskDecisionKind",
    "approve_kyc",
    "assess_payment",
    "assess_withdrawal",
    "list_cases",
    "payment_ref",
    "raise_case",
    "reject_kyc",
    "release_reservation",
    "reserve_limits",
    "reserve_payment_limits",
    "resolve_case",
    "submit_kyc",
    "validate_pan",
    "withdrawal_ref",
]
