"""Shared plumbing of the admin views."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue

from wallet.admin.config import AdminConfig
from wallet.db.models.users import Role, User
from webapp.extensions import settings
from webapp.security import role_required, signed_in

bp = Blueprint("admin", __name__, url_prefix="/admin")

F = TypeVar("F", bound=Callable[..., ResponseReturnValue])

admin_required: Callable[[F], F] = role_required(Role.ADMIN)


def config() -> AdminConfig:
    return AdminConfig.from_settings(settings())


def admin() -> User:
    user, _row = signed_in()
    return user


def dagster_url() -> str:
    """Where the Dagster UI answers (its GraphQL API is ``<url>/graphql``).

    ``DAGSTER_URL`` in the app config wins, then ``settings.dagster_graphql_url``
    (the observability setting), then the local ``dagster dev`` port.
    """
    configured: Any = current_app.config.get("DAGSTER_URL") or getattr(
        settings(), "dagster_graphql_url", None
    )
    if configured:
        url = str(configured).rstrip("/")
        return url.removesuffix("/graphql")
    return f"http://{settings().web_host}:{settings().dagster_port}"
