"""Custody and chain errors: each carries a stable ``code`` and never a secret.

Messages name what was refused (asset, amount, address, key id) but never
key material; the signer's refusals are ``http_status`` 403 because they are
policy decisions, not malformed input.
"""

from __future__ import annotations

from wallet.errors import WalletError


class CustodyError(WalletError):
    code = "custody_error"


class KeyUnavailable(CustodyError):
    """No seed or data key for this family, or the master key cannot unwrap it."""

    code = "custody_key_unavailable"
    http_status = 500


class DecryptionFailed(CustodyError):
    """A ciphertext failed authentication: wrong key, wrong purpose or tampering."""

    code = "custody_decryption_failed"
    http_status = 500


class SignerRefused(CustodyError):
    """The signer's own policy refused to sign (cap, allowlist, mismatch)."""

    code = "signer_refused"
    http_status = 403


class PerTransactionCapExceeded(SignerRefused):
    code = "signer_per_tx_cap_exceeded"


class DailyCapExceeded(SignerRefused):
    code = "signer_daily_cap_exceeded"


class DestinationNotAllowed(SignerRefused):
    code = "signer_destination_not_allowed"


class PayloadMismatch(SignerRefused):
    """What we were asked to sign is not what the intent says it is."""

    code = "signer_payload_mismatch"


class InvalidAddress(CustodyError):
    code = "invalid_address"


class DerivationError(CustodyError):
    code = "derivation_error"


class ChainError(CustodyError):
    """A chain node refused or failed a call (message from the node, no secrets)."""

    code = "chain_error"
    http_status = 502


class BroadcastConflict(CustodyError):
    """An idempotency key was reused for a different transfer."""

    code = "broadcast_key_reused"
    http_status = 422


class InsufficientOnChainFunds(CustodyError):
    code = "insufficient_onchain_funds"
    http_status = 409


class WithdrawalRefused(CustodyError):
    code = "withdrawal_refused"


def is_refusal(exc: CustodyError) -> bool:
    """Whether an error before signing refuses a transfer for good.

    The signer's policy refusals are final except the daily cap, which
    resets at midnight UTC; everything else (node, keys, hot funds) is a
    delay worth retrying. Withdrawals and sweeps both decide by this.
    """
    if isinstance(exc, DailyCapExceeded):
        return False
    return isinstance(exc, SignerRefused | InvalidAddress | BroadcastConflict | WithdrawalRefused)
