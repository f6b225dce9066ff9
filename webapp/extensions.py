"""Per-app resources: settings, the database engine and a session per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from wallet.config import Settings
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.devkeys import session_secret
from wallet.rates.cache import RateCache

MAX_REQUEST_BYTES = 1024 * 1024  # no API body or form needs more
_REQUEST_TX = "request_transaction"
_PENDING_EFFECTS = "after_commit_effects"  # one list per open unit of work


def register_extensions(app: Flask, settings: Settings) -> None:
    app.extensions["settings"] = settings
    pool = (
        {}
        if settings.resolved_database_url.startswith("sqlite")
        else {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_pool_size,
        }
    )
    engine = make_engine(settings.resolved_database_url, **pool)
    app.extensions["engine"] = engine
    app.extensions["sessions"] = make_session_factory(engine)
    app.secret_key = session_secret(settings)
    production = settings.environment == "production"
    # Flask ships defaults for these keys, so they are set, not setdefault'ed;
    # create_app applies explicit overrides afterwards. "__Host-" cookies
    # must be Secure, host-only and Path=/: a subdomain or a plain-http page
    # cannot plant a session cookie for us.
    app.config.update(
        SESSION_COOKIE_NAME="__Host-tfw" if production else "tfw_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        SESSION_COOKIE_PATH="/",
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.teardown_appcontext(_close_session)


def settings() -> Settings:
    value: Settings = current_app.extensions["settings"]
    return value


def session_factory() -> sessionmaker[Session]:
    factory: sessionmaker[Session] = current_app.extensions["sessions"]
    return factory


def db() -> Session:
    """The request's database session, opened on first use."""
    if "db" not in g:
        g.db = session_factory()()
    session: Session = g.db
    return session


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A separate transaction committed on exit (rolled back on error).

    Inside :func:`request_transaction` it is that transaction instead: the
    block's writes are flushed, not committed, and an error rolls back
    everything the request wrote so far.
    """
    joined: RequestTransaction | None = g.get(_REQUEST_TX)
    if joined is None:
        effects: list[Callable[[], object]] = []
        pending = g.setdefault(_PENDING_EFFECTS, [])
        pending.append(effects)
        try:
            with transaction(session_factory()) as session:
                yield session
        finally:
            pending.pop()
        for effect in effects:
            effect()
        return
    try:
        yield joined.session
        joined.session.flush()
    except BaseException:
        joined.rollback()
        raise


class RequestTransaction:
    """The request's one transaction (see :func:`request_transaction`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._effects: list[Callable[[], object]] = []

    def defer(self, effect: Callable[[], object]) -> None:
        self._effects.append(effect)

    def commit(self) -> None:
        """Commit, then run the effects the committed work asked for."""
        self.session.commit()
        effects, self._effects = self._effects, []
        for effect in effects:
            effect()

    def rollback(self) -> None:
        """Roll back; the effects of the work rolled back are dropped with it."""
        self.session.rollback()
        self._effects.clear()


@contextmanager
def request_transaction() -> Iterator[RequestTransaction]:
    """One transaction for the rest of the request, which the caller commits.

    Every :func:`unit_of_work` inside joins it, and :func:`after_commit`
    effects wait for its ``commit()``. What is not committed when the block
    ends is rolled back. Used where something must commit together with
    the request's work: an idempotent request's stored response.
    """
    if g.get(_REQUEST_TX) is not None:
        raise RuntimeError("a request transaction is already open")
    with session_factory()() as session:
        tx = RequestTransaction(session)
        setattr(g, _REQUEST_TX, tx)
        try:
            yield tx
        finally:
            g.pop(_REQUEST_TX, None)
            tx.rollback()


def after_commit(effect: Callable[[], object]) -> None:
    """Run ``effect`` once the work so far is committed (never, if it rolls back).

    Inside a :func:`unit_of_work`, when it commits; inside a
    :func:`request_transaction`, when that commits; otherwise at once.
    """
    joined: RequestTransaction | None = g.get(_REQUEST_TX)
    pending: list[list[Callable[[], object]]] = g.get(_PENDING_EFFECTS) or []
    if joined is not None:
        joined.defer(effect)
    elif pending:
        pending[-1].append(effect)
    else:
        effect()


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db", None)
    if session is not None:
        session.close()


def rate_cache() -> RateCache:
    """This app's rates cache (the one the rates asset writes), built on first use."""
    from wallet.rates.cache import make_rate_cache
    from wallet.rates.config import RatesConfig

    cache: RateCache | None = current_app.extensions.get("rate_cache")
    if cache is None:
        cache = make_rate_cache(RatesConfig.from_settings(settings()), session_factory())
        current_app.extensions["rate_cache"] = cache
    return cache
