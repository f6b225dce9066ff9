"""The payer's flow: scan → quote → confirm → live status, plus wallet pages.

- :mod:`~webapp.pay.service`: the flow around ``wallet/`` (shared with the API).
- :mod:`~webapp.pay.pricing`: rates cache, order books, quote calculator.
- :mod:`~webapp.pay.custody`: deposit addresses and payment links (public keys only).
- :mod:`~webapp.pay.withdrawals`: withdrawal requests (hold + queue for the signer).
- :mod:`~webapp.pay.settle_now`: best-effort settlement request for custodial payments.
- :mod:`~webapp.pay.views`: the PWA pages (server-rendered, external scripts only).
"""

from __future__ import annotations

from flask import Flask


def register_pay(app: Flask) -> None:
    """Register the payer pages, languages and Web Push on ``app``."""
    from webapp.i18n import register_i18n
    from webapp.pay.views import bp
    from webapp.push import bp as push_bp

    register_i18n(app)
    app.register_blueprint(bp)
    app.register_blueprint(push_bp)
