"""Refusals of the risk engine and KYC, each with a stable public ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class RiskError(WalletError):
    code = "risk_error"


class LimitExceeded(RiskError):
    """A reservation would take a velocity or amount limit past its ceiling.

    ``reason`` is the stable code of the first limit that refused, e.g.
    ``limit_user_day_amount`` (see :mod:`wallet.risk.limits`).
    """

    code = "limit_exceeded"
    http_status = 429

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ReservationNotFound(RiskError):
    code = "reservation_not_found"
    http_status = 404


class KycError(RiskError):
    code = "kyc_error"


class InvalidPan(KycError):
    code = "invalid_pan"


class InvalidKycDetails(KycError):
    code = "invalid_kyc_details"


class PanInUse(KycError):
    """One PAN, one account: limits would be meaningless otherwise."""

    code = "pan_in_use"
    http_status = 409


class KycApprovalRefused(KycError):
    """Not an admin, approving oneself, an unknown tier, or nothing submitted."""

    code = "kyc_approval_refused"
    http_status = 403


class CaseNotFound(RiskError):
    code = "review_case_not_found"
    http_status = 404


class CaseAlreadyResolved(RiskError):
    code = "review_case_resolved"
    http_status = 409


class ReviewRefused(RiskError):
    """Not an admin, or a review action without a stated reason."""

    code = "review_refused"
    http_status = 403
