"""Dagster resources: thin ``ConfigurableResource`` wrappers over ``wallet/`` clients.

Every field may stay empty: the value then comes from
:func:`wallet.config.load_settings` at run time (in dev that includes the
sandbox's endpoints file, ``var/sandbox/endpoints.json``). Secrets are set
through ``dg.EnvVar`` in :mod:`pipelines.definitions` when the environment
provides them, so they are read at run time and hidden in the UI.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from wallet.alerts import (
    Alerter,
    AlertSink,
    Channel,
    LogChannel,
    SqlIncidents,
    WebhookChannel,
)
from wallet.config import Settings, load_settings
from wallet.exchanges.base import ExchangeClient
from wallet.payouts.razorpayx import RazorpayXClient
from wallet.settlement.config import SettlementConfig
from wallet.settlement.service import SettlementDeps


@functools.lru_cache(maxsize=1)
def _settings() -> Settings:
    return load_settings()


@functools.lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    # One engine per URL per process: sensors evaluate in the long-lived code server.
    from wallet.db.session import make_engine

    return make_engine(url)


def _or_setting(value: str, name: str) -> str:
    if value:
        return value
    raw = getattr(_settings(), name)
    return str(raw.get_secret_value() if hasattr(raw, "get_secret_value") else raw)


class WalletDatabase(dg.ConfigurableResource):
    """The app database (PostgreSQL or SQLite)."""

    database_url: str = ""

    def url(self) -> str:
        return self.database_url or _settings().resolved_database_url

    def factory(self) -> sessionmaker[Session]:
        from wallet.db.session import make_session_factory

        return make_session_factory(_engine(self.url()))


class RazorpayXResource(dg.ConfigurableResource):
    """RazorpayX Payouts (key secret and webhook secret are secrets)."""

    url: str = ""
    key_id: str = ""
    key_secret: str = ""
    account_number: str = ""

    def client(self) -> RazorpayXClient:
        return RazorpayXClient(
            _or_setting(self.url, "razorpayx_url"),
            _or_setting(self.key_id, "razorpayx_key_id"),
            _or_setting(self.key_secret, "razorpayx_key_secret"),
            _or_setting(self.account_number, "razorpayx_account_number"),
        )


class ExchangeResource(dg.ConfigurableResource):
    """The primary Binance-style venue and the INR venue (the failover)."""

    binance_url: str = ""
    binance_api_key: str = ""
    binance_api_secret: str = ""
    inr_url: str = ""
    inr_api_key: str = ""
    inr_api_secret: str = ""

    def clients(
        self,
        db: WalletDatabase | None = None,
        alerts: AlertSink | None = None,
        *,
        include_disabled: bool = False,
    ) -> dict[str, ExchangeClient]:
        """The venues' clients; with ``db``, the admin panel's keys and switches apply."""
        from wallet.exchanges.factory import binance_from_settings
        from wallet.exchanges.registry import venue_clients

        settings = _settings().model_copy(
            update={
                "exchange_url": _or_setting(self.binance_url, "exchange_url"),
                "exchange_api_key": SecretStr(
                    _or_setting(self.binance_api_key, "exchange_api_key")
                ),
                "exchange_api_secret": SecretStr(
                    _or_setting(self.binance_api_secret, "exchange_api_secret")
                ),
                "inr_exchange_url": _or_setting(self.inr_url, "inr_exchange_url"),
                "inr_exchange_api_key": SecretStr(
                    _or_setting(self.inr_api_key, "inr_exchange_api_key")
                ),
                "inr_exchange_api_secret": SecretStr(
                    _or_setting(self.inr_api_secret, "inr_exchange_api_secret")
                ),
            }
        )
        if db is None:
            return {v: binance_from_settings(settings, v) for v in ("binance", "inr")}
        from wallet.devkeys import platform_kms

        return venue_clients(
            db.factory(),
            settings,
            platform_kms(settings),
            include_disabled=include_disabled,
            alerts=alerts,
        )


class RatesResource(dg.ConfigurableResource):
    """Where rates come from: the two Binance-style venues and Coinbase's tickers."""

    exchange_url: str = ""
    inr_exchange_url: str = ""
    coinbase_url: str = ""
    use_coinbase: bool = True

    def urls(self) -> tuple[str, str, str | None]:
        coinbase = _or_setting(self.coinbase_url, "coinbase_url") if self.use_coinbase else ""
        return (
            _or_setting(self.exchange_url, "exchange_url"),
            _or_setting(self.inr_exchange_url, "inr_exchange_url"),
            coinbase or None,
        )


class AlertsResource(dg.ConfigurableResource):
    """Alert channels: the log always, a webhook when ``webhook_url`` is set."""

    webhook_url: str = ""
    webhook_secret: str = ""

    def sink(self, db: WalletDatabase) -> Alerter:
        channels: list[Channel] = [LogChannel()]
        if self.webhook_url:
            channels.append(WebhookChannel(self.webhook_url, secret=self.webhook_secret or None))
        return Alerter(SqlIncidents(db.factory()), channels)


class ReportsResource(dg.ConfigurableResource):
    """Where report files go (default: ``<var_dir>/reports``)."""

    directory: str = ""

    def path(self) -> Path:
        return Path(self.directory) if self.directory else _settings().var_dir / "reports"


class SettlementResource(dg.ConfigurableResource):
    """Settlement knobs; zero means "the settings' value"."""

    max_payout_attempts: int = 0
    payout_wait_seconds: float = 0.0
    sell_window_seconds: int = 0
    float_min_paise: int = 0
    payment_sla_seconds: int = 0
    unsold_sla_seconds: int = 0

    def config(self) -> SettlementConfig:
        overrides: dict[str, Any] = {
            k: v for k, v in self.model_dump().items() if isinstance(v, int | float) and v
        }
        return SettlementConfig.from_settings(_settings(), **overrides)


def settlement_deps(
    db: WalletDatabase,
    razorpayx: RazorpayXResource,
    exchanges: ExchangeResource,
    alerts: AlertsResource,
    settlement: SettlementResource,
) -> SettlementDeps:
    """Wire the framework-free settlement to the configured outside world."""
    sink = alerts.sink(db)
    return SettlementDeps(
        factory=db.factory(),
        payouts=razorpayx.client(),
        exchanges=exchanges.clients(db, sink),
        alerts=sink,
        config=settlement.config(),
    )


def _secret(name: str) -> Any:
    """``dg.EnvVar(name)`` when the environment sets it, else empty (settings fallback)."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def _number(name: str) -> Any:
    """``dg.EnvVar.int(name)`` when set, else 0 ("use the settings' value")."""
    return dg.EnvVar.int(name) if os.environ.get(name) else 0


def resources(
    secret: Callable[[str], Any] = _secret, number: Callable[[str], Any] = _number
) -> dict[str, Any]:
    """The code location's resources; ``secret``/``number`` read the environment.

    Outside Dagster (the settlement worker) pass readers that return plain
    values: ``dg.EnvVar`` is resolved only by Dagster itself.
    """
    return {
        "db": WalletDatabase(database_url=secret("DATABASE_URL")),
        "razorpayx": RazorpayXResource(
            key_id=secret("RAZORPAYX_KEY_ID"), key_secret=secret("RAZORPAYX_KEY_SECRET")
        ),
        "exchanges": ExchangeResource(
            binance_api_key=secret("EXCHANGE_API_KEY"),
            binance_api_secret=secret("EXCHANGE_API_SECRET"),
            inr_api_key=secret("INR_EXCHANGE_API_KEY"),
            inr_api_secret=secret("INR_EXCHANGE_API_SECRET"),
        ),
        "alerts": AlertsResource(
            webhook_url=secret("ALERT_WEBHOOK_URL"), webhook_secret=secret("ALERT_WEBHOOK_SECRET")
        ),
        "settlement": SettlementResource(
            sell_window_seconds=number("SETTLEMENT_SELL_WINDOW_SECONDS"),
            max_payout_attempts=number("SETTLEMENT_MAX_PAYOUT_ATTEMPTS"),
            float_min_paise=number("SETTLEMENT_FLOAT_MIN_PAISE"),
            payment_sla_seconds=number("SETTLEMENT_PAYMENT_SLA_SECONDS"),
        ),
        "reports": ReportsResource(),
        "rates": RatesResource(),
    }
