"""Compliance: sanctions screening, Section 194S TDS and GST invoices.

- :mod:`wallet.compliance.sanctions`: the list (CSV format documented
  there), ``refresh_sanctions_list`` for the Dagster asset, screening.
- :mod:`wallet.compliance.tds`: ``tds_for`` (quotes), ``record_tds``
  (payments), ``monthly_tds_report``.
- :mod:`wallet.compliance.gst`: ``issue_fee_invoice``, ``invoice_data``,
  ``render_invoice_html``.

Rates and thresholds live in :class:`~wallet.compliance.config.TaxConfig`.
"""
