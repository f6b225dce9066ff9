"""The REST API under ``/api/v1`` (JSON in, JSON out) and its docs.

Importing this package registers every route module on :data:`bp`; the
OpenAPI document is built from the routes' own metadata
(:mod:`webapp.api.spec`), served at ``/api/v1/openapi.json`` and rendered
at ``/api/docs``.
"""

from webapp.api import auth_routes, codes_routes, meta_routes, wallet_routes  # noqa: F401
from webapp.api.blueprint import bp, docs_bp

__all__ = ["bp", "docs_bp"]
