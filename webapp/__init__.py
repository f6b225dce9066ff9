"""The Flask app: payer PWA, merchant dashboard, admin panel and REST API.

``create_app(settings)`` is the only entry point; nothing is configured at
import time. Blueprints validate input, call ``wallet/`` and render HTML or
JSON; slow or risky work goes to the background through the payments table.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from wallet.config import Settings, load_settings


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the app for ``settings`` (read from the environment when omitted)."""
    from wallet.observability.logs import ensure_logging
    from wallet.observability.sentry import ensure_sentry
    from webapp.converters import register_converters
    from webapp.errors import register_errorhandlers
    from webapp.extensions import register_extensions
    from webapp.headers import register_security_headers
    from webapp.ratelimit import register_rate_limits
    from webapp.security import register_security

    settings = settings or load_settings()
    ensure_logging(settings)
    ensure_sentry(settings, "web")
    app = Flask(__name__)
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client addresses key rate limits and login throttling: trust only our proxies.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    register_extensions(app, settings)
    app.config.update(overrides)  # after the defaults above, so tests can change them
    register_errorhandlers(app)
    register_security(app)
    register_security_headers(app)
    register_converters(app)
    _register_blueprints(app)
    register_rate_limits(app, settings)  # wraps the views marked @limited
    return app


def _register_blueprints(app: Flask) -> None:
    from webapp.admin import bp as admin_bp
    from webapp.api import bp as api_bp
    from webapp.api import docs_bp as api_docs_bp
    from webapp.auth import bp as auth_bp
    from webapp.health import bp as health_bp
    from webapp.merchant import bp as merchant_bp
    from webapp.merchant import links_bp as merchant_links_bp
    from webapp.ops import bp as ops_bp
    from webapp.pay import register_pay
    from webapp.pwa import bp as pwa_bp
    from webapp.webhooks import bp as webhooks_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(pwa_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(api_docs_bp)
    app.register_blueprint(merchant_bp)
    app.register_blueprint(merchant_links_bp)
    app.register_blueprint(admin_bp)
    # Quote, confirm, payment status, history, receive, withdraw, languages, Web Push.
    register_pay(app)
