"""Refusals of the merchants module, each with a stable public ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class MerchantError(WalletError):
    code = "merchant_error"


class NotAMerchant(MerchantError):
    code = "not_a_merchant"
    http_status = 403


class MerchantNotFound(MerchantError):
    """The object does not exist for this merchant (another's is "not found" too)."""

    code = "not_found"
    http_status = 404


class InvalidInput(MerchantError):
    code = "validation_error"


class VpaRejected(MerchantError):
    """RazorpayX says the VPA cannot receive payouts."""

    code = "vpa_rejected"


class VpaCheckUnavailable(MerchantError):
    """RazorpayX could not be asked right now; nothing changed."""

    code = "vpa_check_unavailable"
    http_status = 503


class LinkUnavailable(MerchantError):
    """A payment link that is used, expired, cancelled or unknown."""

    code = "link_unavailable"
    http_status = 410


class ScopeMissing(MerchantError):
    code = "insufficient_scope"
    http_status = 403
