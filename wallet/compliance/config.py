"""Tax knobs: Section 194S TDS and GST on the platform fee.

Rates are basis points, thresholds paise. :meth:`TaxConfig.from_settings`
reads each field under the same name from ``Settings`` when present (the
existing ``tds_bps`` among them) and takes the defaults below otherwise.
The defaults follow the law as of FY 2025-26 — re-check them each budget:

- 194S: 1 % of the consideration for a transfer of a virtual digital asset;
  20 % when the transferor has not given a PAN (section 206AA). No
  deduction while the consideration paid to that resident in the financial
  year stays at or below ₹50,000 if the *payer of the consideration* is a
  "specified person" (an individual/HUF without large business income),
  ₹10,000 otherwise. The platform buys the crypto and is a company, so
  ``tds_deductor_is_specified_person`` is ``False``: ₹10,000 applies.
- GST: 18 % on the platform's fee (a financial service). The supplier's
  details below are placeholders to be replaced by the registered ones.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from wallet.errors import ConfigurationError


@dataclass(frozen=True)
class TaxConfig:
    """TDS and GST parameters (see the module docstring for the law behind them)."""

    tds_bps: int = 100
    tds_no_pan_bps: int = 2_000
    tds_threshold_specified_paise: int = 5_000_000  # ₹50,000
    tds_threshold_other_paise: int = 1_000_000  # ₹10,000
    tds_deductor_is_specified_person: bool = False

    gst_bps: int = 1_800
    gst_fee_inclusive: bool = True  # the fee shown in the quote already contains the GST
    gst_invoice_series: str = "TFW"
    gst_supplier_name: str = "TaskForce Wallet Private Limited"
    gst_supplier_gstin: str = "29AAAAA0000A1Z5"  # placeholder, not a real registration
    gst_supplier_address: str = "Bengaluru, Karnataka, India"
    gst_supplier_state_code: str = "29"
    gst_sac_code: str = "997159"  # other financial services n.e.c.: confirm with the advisor

    def __post_init__(self) -> None:
        for name in ("tds_bps", "tds_no_pan_bps", "gst_bps"):
            if not 0 <= getattr(self, name) <= 10_000:
                raise ConfigurationError(f"{name} must be within 0..10000 basis points")
        if not 1 <= len(self.gst_invoice_series) <= 3 or "/" in self.gst_invoice_series:
            # <series>/<yyyy>/<6 digits> must fit rule 46's 16 characters.
            raise ConfigurationError("gst_invoice_series must be 1 to 3 characters, no '/'")

    @property
    def tds_threshold_paise(self) -> int:
        """The annual threshold that applies to the platform as the payer."""
        if self.tds_deductor_is_specified_person:
            return self.tds_threshold_specified_paise
        return self.tds_threshold_other_paise

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> TaxConfig:
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name in overrides:
                values[f.name] = overrides[f.name]
                continue
            value = getattr(settings, f.name, None)
            if value is not None:
                values[f.name] = value
        return cls(**values)
