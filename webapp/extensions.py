"""Per-app resources: settings, the database engine and a session per request."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from wallet.config import Settings
from wallet.db.session import make_engine, make_session_factory
from wallet.devkeys import session_secret


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["settings"] = settings
    engine = make_engine(settings.resolved_database_url)
    app.extensions["engine"] = engine
    app.extensions["sessions"] = make_session_factory(engine)
    app.secret_key = session_secret(settings)
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_SECURE", settings.environment == "production")
    app.teardown_appcontext(_close_session)


def settings() -> Settings:
    value: Settings = current_app.extensions["settings"]
    return value


def db() -> Session:
    """The request's database session, opened on first use."""
    if "db" not in g:
        factory: sessionmaker[Session] = current_app.extensions["sessions"]
        g.db = factory()
    session: Session = g.db
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db", None)
    if session is not None:
        session.close()
