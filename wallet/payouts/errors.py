"""Payout errors; each ``code`` is stable and safe to show or store."""

from __future__ import annotations

from wallet.errors import WalletError


class PayoutError(WalletError):
    """Base of every RazorpayX/payout failure."""

    code = "payout_error"
    http_status = 502

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        provider_code: str | None = None,
        reason: str | None = None,
        field: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.provider_code = provider_code  # e.g. BAD_REQUEST_ERROR
        self.reason = reason  # Razorpay's error.reason
        self.field = field  # Razorpay's error.field
        self.status = status  # HTTP status, when there was a response


class PayoutInvalidRequest(PayoutError):
    """We sent something RazorpayX (or our own pre-checks) rejects; do not retry as is."""

    code = "payout_invalid_request"
    http_status = 400


class PayoutAuthError(PayoutError):
    """The key id / key secret were refused."""

    code = "payout_auth_failed"
    http_status = 500


class PayoutIdempotencyConflict(PayoutError):
    """The idempotency key was already used with a different body (or was refused)."""

    code = "payout_idempotency_conflict"
    http_status = 409


class PayoutInsufficientBalance(PayoutError):
    """The float cannot cover the payout and it was not allowed to queue."""

    code = "payout_insufficient_balance"


class PayoutInvalidVpa(PayoutError):
    """The beneficiary VPA does not exist or cannot receive money."""

    code = "payout_invalid_vpa"
    http_status = 400


class PayoutNotFound(PayoutError):
    """No payout, contact or fund account has that id."""

    code = "payout_not_found"
    http_status = 404


class PayoutOutcomeUnknown(PayoutError):
    """Retries ran out without an answer: the payout may or may not exist.

    Resolve it by retrying later with the SAME idempotency key and body (or
    by looking it up); never with a new key while it might be in flight.
    """

    code = "payout_outcome_unknown"
    http_status = 503

    def __init__(self, message: str, *, idempotency_key: str | None = None) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key


class WebhookSignatureInvalid(PayoutError):
    """The ``X-Razorpay-Signature`` does not match the raw body."""

    code = "webhook_signature_invalid"
    http_status = 400


class WebhookPayloadInvalid(PayoutError):
    """A correctly signed body that is not a webhook event we understand."""

    code = "webhook_payload_invalid"
    http_status = 400
