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
    from webapp.errors import register_errorhandlers
    from webapp.extensions import register_extensions

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(overrides)
    register_extensions(app, settings)
    register_errorhandlers(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from webapp.health import bp as health_bp

    app.register_blueprint(health_bp)
