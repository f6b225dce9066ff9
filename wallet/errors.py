"""Typed error hierarchy: every domain error carries a stable ``code``.

The web tier maps these to ``{"error": {"code", "message"}}`` responses; the
codes are part of the public API and never change meaning.
"""

from __future__ import annotations


class WalletError(Exception):
    """Base of every expected, user-facing domain error."""

    code = "wallet_error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidAmount(WalletError):
    code = "invalid_amount"


class UnknownAsset(WalletError):
    code = "unknown_asset"


class AssetMismatch(WalletError):
    code = "asset_mismatch"


class ConfigurationError(WalletError):
    code = "configuration_error"
    http_status = 500


# --- Ledger (wallet.ledger) -------------------------------------------------


class LedgerError(WalletError):
    """Base of ledger refusals; a refused operation changes nothing."""

    code = "ledger_error"


class InvalidPosting(LedgerError):
    code = "invalid_posting"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"


class InvalidAccount(LedgerError):
    code = "invalid_account"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    http_status = 409


class EntryConflict(LedgerError):
    """The (kind, ref) of an entry was reused with different postings."""

    code = "ledger_entry_conflict"
    http_status = 409


class HoldNotFound(LedgerError):
    code = "hold_not_found"
    http_status = 404


class HoldNotPending(LedgerError):
    """The hold was already resolved the other way (posted vs voided)."""

    code = "hold_not_pending"
    http_status = 409


class HoldConflict(LedgerError):
    """A hold ref was reused for a different account or amount."""

    code = "hold_conflict"
    http_status = 409


class InvariantViolation(LedgerError):
    """``check_invariants`` found a broken ledger: page an operator."""

    code = "ledger_invariant_violated"
    http_status = 500


# --- Payments (wallet.payments) ---------------------------------------------


class PaymentNotFound(WalletError):
    code = "payment_not_found"
    http_status = 404


class IllegalTransition(WalletError):
    """A payment state change that the transition table does not allow."""

    code = "illegal_transition"
    http_status = 409

    def __init__(
        self, message: str, *, current: str | None = None, requested: str | None = None
    ) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested


# --- Idempotency keys (wallet.idempotency) ----------------------------------


class IdempotencyKeyReused(WalletError):
    """The same Idempotency-Key came back with a different request."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyInFlight(WalletError):
    """The first request with this Idempotency-Key has not finished yet."""

    code = "idempotency_in_flight"
    http_status = 409
