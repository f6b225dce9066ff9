"""The REST API under ``/api/v1`` (JSON in, JSON out) and its docs.

Importing this package registers every route module on :data:`bp`; the
OpenAPI document is built from the routes' own metadata
(:mod:`webapp.api.spec`), served at ``/api/v1/openapi.json`` and rendered
at ``/api/docs``.
"""

from webapp.api import (  # noqa: F401
    auth_routes,
    codes_routes,
    deposits_routes,
    merchant_routes,
    meta_routes,
    payments_routes,
    quotes_routes,
    wallet_routes,
    withdrawals_routes,
)
from webapp.api.blueprint import bp, docs_bp

__all__ = ["bp", "docs_bp"]
