"""Settlement's exchange clients follow the admin panel: its stored keys and venue switches."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.settlement.helpers import custodial_payment, deps_for, sqlite_factory
from wallet.admin import exchange_accounts
from wallet.alerts import Alerter, MemoryIncidents
from wallet.config import Settings
from wallet.custody.kms import KeyManager
from wallet.db.models import ExchangeOrder
from wallet.db.session import transaction
from wallet.exchanges.binance import BinanceClient
from wallet.exchanges.errors import ExchangeAuthError
from wallet.exchanges.registry import NO_VENUE_ALERT, Venue, venue_clients
from wallet.merchants.sealed import key_manager
from wallet.settlement.models import SellBatch
from wallet.settlement.service import settle_pass

NOW = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    from sandbox.exchange.testing import start_exchange, stop_exchange

    base = tmp_path_factory.mktemp("ex")
    started = {name: start_exchange(base, venue=name) for name in ("binance", "inr")}
    yield {name: info for name, (_p, info) in started.items()}
    for process, _info in started.values():
        stop_exchange(process)


@pytest.fixture(scope="module")
def rzp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx

    process, info = start_razorpayx(
        tmp_path_factory.mktemp("rzp"), extra_args=["--process-delay", "0.2"]
    )
    yield info
    stop_razorpayx(process)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine, made = sqlite_factory(tmp_path / "wallet.db")
    yield made
    engine.dispose()


@pytest.fixture
def kms() -> KeyManager:
    return key_manager(os.urandom(32))


def _settings(venues: dict[str, dict[str, Any]], *, wrong_keys: bool = False) -> Settings:
    """Settings pointing at the stand-ins, with their real keys or deliberately wrong ones."""

    def cred(venue: str, part: str) -> SecretStr:
        real = venues[venue]["credentials"][part]
        return SecretStr(f"settings-wrong-{part}-000" if wrong_keys else real)

    return Settings(
        exchange_url=venues["binance"]["url"],
        exchange_api_key=cred("binance", "api_key"),
        exchange_api_secret=cred("binance", "api_secret"),
        inr_exchange_url=venues["inr"]["url"],
        inr_exchange_api_key=cred("inr", "api_key"),
        inr_exchange_api_secret=cred("inr", "api_secret"),
    )


def _store(
    factory: sessionmaker[Session], kms: KeyManager, venue: str, key: str, secret: str
) -> None:
    with transaction(factory) as session:
        exchange_accounts.set_credentials(
            session, kms, venue, key, secret, venues=("binance", "inr"), actor="admin:1", now=NOW
        )


def _enable(factory: sessionmaker[Session], venue: str, enabled: bool) -> None:
    with transaction(factory) as session:
        exchange_accounts.set_enabled(session, venue, enabled, actor="admin:1")


def _build(settings: Settings, venue: Venue, creds: tuple[str, str] | None) -> BinanceClient:
    url = settings.exchange_url if venue == "binance" else settings.inr_exchange_url
    key, secret = creds or (
        (settings.exchange_api_key, settings.exchange_api_secret)
        if venue == "binance"
        else (settings.inr_exchange_api_key, settings.inr_exchange_api_secret)
    )
    key = key if isinstance(key, str) else key.get_secret_value()
    secret = secret if isinstance(secret, str) else secret.get_secret_value()
    return BinanceClient(url, key, secret, venue=venue, rate_limit=False)


def test_stored_keys_are_used_over_the_settings(
    factory: sessionmaker[Session], kms: KeyManager, venues: dict[str, dict[str, Any]]
) -> None:
    real = venues["binance"]["credentials"]
    _store(factory, kms, "binance", real["api_key"], real["api_secret"])
    clients = venue_clients(factory, _settings(venues, wrong_keys=True), kms, build=_build)
    assert "USDT" in clients["binance"].balances()  # the stored (right) keys signed it
    with pytest.raises(ExchangeAuthError) as refused:  # inr has no stored keys: settings' wrong
        clients["inr"].balances()
    assert refused.value.venue_code in (-2014, -2015)


def test_a_wrong_stored_key_is_refused_clearly(
    factory: sessionmaker[Session], kms: KeyManager, venues: dict[str, dict[str, Any]]
) -> None:
    wrong_secret = "stored-wrong-secret-0001"
    _store(factory, kms, "binance", "stored-wrong-key-0001", wrong_secret)
    clients = venue_clients(factory, _settings(venues), kms, build=_build)
    with pytest.raises(ExchangeAuthError) as refused:
        clients["binance"].balances()
    assert refused.value.venue_code in (-2014, -2015)
    assert wrong_secret not in str(refused.value)
    assert clients["inr"].balances()  # the other venue keeps its own (settings) keys


def test_disabling_the_primary_venue_sells_on_the_inr_venue(
    factory: sessionmaker[Session],
    kms: KeyManager,
    venues: dict[str, dict[str, Any]],
    rzp: dict[str, Any],
) -> None:
    real = venues["binance"]["credentials"]
    _store(factory, kms, "binance", real["api_key"], real["api_secret"])
    _enable(factory, "binance", False)
    incidents = MemoryIncidents()
    alerts = Alerter(incidents)
    clients = venue_clients(factory, _settings(venues), kms, alerts=alerts, build=_build)
    assert set(clients) == {"inr"}
    deps = dataclasses.replace(deps_for(factory, rzp, venues, alerts), exchanges=clients)
    pid = custodial_payment(factory, asset="ETH", inr_paise=300_000)
    report = settle_pass(deps, [pid])
    assert report.statuses == {pid: "completed"}
    with factory() as s:
        orders = s.scalars(select(ExchangeOrder)).all()
        assert [(o.venue, o.symbol) for o in orders] == [("inr", "ETHINR")]
        assert s.scalars(select(SellBatch)).one().route["failover_from"]
    assert NO_VENUE_ALERT not in incidents.open_alerts
    # Reconciliation still reaches the switched-off venue (it never sells there).
    both = venue_clients(factory, _settings(venues), kms, include_disabled=True, build=_build)
    assert set(both) == {"binance", "inr"}


def test_no_venue_enabled_the_sale_waits_and_an_alert_is_raised(
    factory: sessionmaker[Session],
    kms: KeyManager,
    venues: dict[str, dict[str, Any]],
    rzp: dict[str, Any],
) -> None:
    for venue in ("binance", "inr"):
        creds = venues[venue]["credentials"]
        _store(factory, kms, venue, creds["api_key"], creds["api_secret"])
        _enable(factory, venue, False)
    incidents = MemoryIncidents()
    alerts = Alerter(incidents)
    clients = venue_clients(factory, _settings(venues), kms, alerts=alerts, build=_build)
    assert clients == {}
    assert NO_VENUE_ALERT in incidents.open_alerts
    deps = dataclasses.replace(deps_for(factory, rzp, venues, alerts), exchanges=clients)
    pid = custodial_payment(factory)
    report = settle_pass(deps, [pid])
    assert report.statuses == {pid: "paid_out"} and report.batches_booked == []
    with factory() as s:
        assert s.scalars(select(ExchangeOrder)).all() == []
        assert s.scalars(select(SellBatch.status)).one() == "pending"
    _enable(factory, "inr", True)
    venue_clients(factory, _settings(venues), kms, alerts=alerts, build=_build)
    assert NO_VENUE_ALERT not in incidents.open_alerts
