"""Refusals of the compliance module, each with a stable public ``code``."""

from __future__ import annotations

from wallet.errors import WalletError


class ComplianceError(WalletError):
    code = "compliance_error"


class SanctionsListInvalid(ComplianceError):
    """The sanctions file is malformed; nothing was loaded from it."""

    code = "sanctions_list_invalid"
    http_status = 422


class InvoiceError(ComplianceError):
    code = "invoice_error"
