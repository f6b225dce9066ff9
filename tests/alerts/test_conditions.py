"""Every alert fires when its condition is induced, fires once per incident, and resolves.

Conditions are induced for real where the platform meets the world: sandbox
stand-ins on loopback (a stopped node, frozen prices, an emptied float), a
real Dagster instance (a failing run, two daemons), and the database through
the domain layer (stuck payments, pauses, silent webhooks). Each test drives
a :class:`Monitor` with ``quiet_seconds=0`` and a clock it moves by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.alerts.test_monitor import Clock, Inbox
from tests.observability.support import advance, backdate_events, settings_for, sqlite_db
from tests.settlement.helpers import custodial_payment
from wallet.alerts import conditions
from wallet.alerts.monitor import Check, Monitor
from wallet.db.session import transaction
from wallet.observability import probes, signals
from wallet.payments.states import PaymentStatus as S

pytestmark = pytest.mark.slow


@pytest.fixture
def factory(tmp_path: Path) -> sessionmaker[Session]:
    return sqlite_db(tmp_path)[1]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def monitor(factory: sessionmaker[Session], inbox: Inbox, clock: Clock) -> Monitor:
    return Monitor.in_database(factory, [inbox], quiet_seconds=0, clock=clock)


def assert_lifecycle(monitor: Monitor, inbox: Inbox, firing: Check | None, clear: Check | None,
                     key: str) -> None:  # fmt: skip
    """Fires once, stays quiet while it persists, resolves once when clear."""
    assert monitor.evaluate(firing).opened == [key]
    assert monitor.evaluate(firing).repeated == [key]
    assert monitor.evaluate(clear).resolved == [key]
    assert [e for e in inbox.got if e[1] == key] == [("fired", key), ("resolved", key)]


# -- a failing run (Dagster's own execution, on a real instance) ------------------


def test_failed_run(monitor: Monitor, inbox: Inbox) -> None:
    import dagster as dg

    from tests.alerts.dagster_jobs import settlement

    instance = dg.DagsterInstance.ephemeral()

    def run(fail: bool) -> Check:
        settlement.execute_in_process(
            run_config={"ops": {"pay_vendor": {"config": {"fail": fail}}}},
            instance=instance,
            raise_on_error=False,
        )
        records = instance.get_run_records()
        return conditions.failed_runs(conditions.RunOutcome.from_record(r) for r in records)

    failing = run(fail=True)
    assert [a.data["job"] for a in failing.firing] == ["settlement"]
    assert monitor.evaluate(failing).opened == ["run_failed:settlement"]
    assert monitor.evaluate(run(fail=True)).repeated == ["run_failed:settlement"]
    assert monitor.evaluate(run(fail=False)).resolved == ["run_failed:settlement"]
    assert inbox.got == [("fired", "run_failed:settlement"), ("resolved", "run_failed:settlement")]


# -- payments stuck beyond the SLA ------------------------------------------------


def test_payments_stuck(factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox) -> None:
    now = datetime.now(UTC)
    fresh = custodial_payment(factory)
    old = custodial_payment(factory)
    backdate_events(factory, old, now - timedelta(minutes=20))

    def check() -> Check:
        with factory() as session:
            return conditions.payments_stuck(session, now, sla_seconds=900)

    firing = check()
    assert firing.firing[0].data["count"] == 1
    assert firing.firing[0].data["payments"][0]["payment_id"] == old
    assert monitor.evaluate(firing).opened == ["payments_stuck"]
    assert monitor.evaluate(check()).repeated == ["payments_stuck"]
    advance(factory, old, S.SETTLING, S.PAID_OUT)  # the payout went out: an outcome
    assert monitor.evaluate(check()).resolved == ["payments_stuck"]
    assert inbox.got == [("fired", "payments_stuck"), ("resolved", "payments_stuck")]
    assert fresh


# -- rates: frozen prices go stale; a jumping venue is an anomaly ------------------


@pytest.fixture(scope="module")
def venues(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sandbox.exchange.testing import start_exchange, stop_exchange

    tmp = tmp_path_factory.mktemp("venues")
    started = []
    try:
        infos = {}
        for venue in ("binance", "inr"):
            process, info = start_exchange(tmp, venue, tick_seconds=0)
            started.append(process)
            infos[venue] = info
        yield infos
    finally:
        for process in started:
            stop_exchange(process)


def _refresh(venues: dict[str, Any], factory: sessionmaker[Session], clock: Clock) -> Any:
    from wallet.rates.cache import DatabaseRateCache
    from wallet.rates.clients import build_rate_clients
    from wallet.rates.config import RatesConfig
    from wallet.rates.history import MemoryRateHistory
    from wallet.rates.refresh import refresh_rates

    clients = build_rate_clients(
        venues["binance"]["settings"]["exchange_url"],
        venues["inr"]["settings"]["inr_exchange_url"],
        clock=clock,
    )
    try:
        config = RatesConfig(assets=("BTC", "ETH"))
        cache = DatabaseRateCache(factory, clock=clock)
        return refresh_rates(clients.sources, cache, MemoryRateHistory(), clock(), config=config)
    finally:
        clients.close()


def _ages(factory: sessionmaker[Session], clock: Clock) -> dict[str, int | None]:
    from wallet.rates.cache import DatabaseRateCache

    return signals.rates_age_seconds(DatabaseRateCache(factory, clock=clock), ("BTC", "ETH"),
                                     clock())  # fmt: skip


def test_stale_rates(
    venues: dict[str, Any], factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox,
    clock: Clock,
) -> None:  # fmt: skip
    clock.now = datetime.now(UTC)
    assert monitor.evaluate(conditions.stale_rates(_ages(factory, clock), 60)).opened == [
        "rate_stale:BTC",
        "rate_stale:ETH",
    ]  # fmt: skip  (no rate at all yet)
    _refresh(venues, factory, clock)
    assert monitor.evaluate(conditions.stale_rates(_ages(factory, clock), 60)).resolved
    inbox.got.clear()
    clock.tick(61)  # the price froze: no sync for 61 s
    stale = conditions.stale_rates(_ages(factory, clock), 60)
    assert {a.data["age_seconds"] for a in stale.firing} == {61}
    assert monitor.evaluate(stale).opened == ["rate_stale:BTC", "rate_stale:ETH"]
    assert monitor.evaluate(stale).repeated == ["rate_stale:BTC", "rate_stale:ETH"]
    _refresh(venues, factory, clock)
    fresh = conditions.stale_rates(_ages(factory, clock), 60)
    assert sorted(monitor.evaluate(fresh).resolved) == ["rate_stale:BTC", "rate_stale:ETH"]
    assert inbox.got == [("fired", "rate_stale:group"), ("resolved", "rate_stale:group")]


def test_rate_anomaly(
    venues: dict[str, Any], factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox,
    clock: Clock,
) -> None:  # fmt: skip
    admin = venues["binance"]["url"] + "/__sandbox/price"
    clock.now = datetime.now(UTC)
    baseline = _refresh(venues, factory, clock)
    assert conditions.rate_anomalies(baseline).firing == ()
    original = httpx.get(venues["binance"]["url"] + "/api/v3/ticker/price",
                         params={"symbol": "BTCUSDT"}, trust_env=False).json()["price"]  # fmt: skip
    httpx.post(admin, json={"symbol": "BTCUSDT", "price": str(float(original) * 1.5)},
               trust_env=False).raise_for_status()  # fmt: skip
    try:
        clock.tick(5)
        jumped = conditions.rate_anomalies(_refresh(venues, factory, clock))
        keys = [a.key for a in jumped.firing]
        assert "rate_anomaly:binance:BTC" in keys
        assert monitor.evaluate(jumped).opened == keys
    finally:
        httpx.post(admin, json={"symbol": "BTCUSDT", "price": original},
                   trust_env=False).raise_for_status()  # fmt: skip
    for _ in range(3):  # the jump back is excluded once too; then the venues agree again
        clock.tick(5)
        calm = conditions.rate_anomalies(_refresh(venues, factory, clock))
        monitor.evaluate(calm)
    assert calm.firing == ()
    fired = [k for e, k in inbox.got if e == "fired"]
    resolved = [k for e, k in inbox.got if e == "resolved"]
    assert fired.count("rate_anomaly:binance:BTC") == 1
    assert "rate_anomaly:binance:BTC" in resolved


# -- paused assets ---------------------------------------------------------------


def test_paused_asset(factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox) -> None:
    from wallet.rates.breakers import SqlPauseStore

    store = SqlPauseStore(factory)
    now = datetime.now(UTC)
    store.open("PEPE", "moved 31.00% in 5 min", now)

    def check() -> Check:
        with factory() as session:
            return conditions.paused_assets(signals.open_pauses(session))

    firing = check()
    store.close("PEPE", now + timedelta(minutes=6))
    assert_lifecycle(monitor, inbox, firing, check(), "asset_paused:PEPE")


# -- an emptied float (the RazorpayX stand-in's balance) ---------------------------


def test_low_float(tmp_path: Path, monitor: Monitor, inbox: Inbox) -> None:
    from pydantic import SecretStr

    from sandbox.razorpayx.testing import start_razorpayx, stop_razorpayx

    process, info = start_razorpayx(tmp_path, extra_args=["--balance-paise", "150"])
    try:
        creds = info["settings"]
        settings = settings_for(
            tmp_path, "sqlite://", razorpayx_url=info["url"],
            razorpayx_key_id=SecretStr(creds["razorpayx_key_id"]),
            razorpayx_key_secret=SecretStr(creds["razorpayx_key_secret"]),
            razorpayx_account_number=creds["razorpayx_account_number"],
        )  # fmt: skip

        def check() -> Check | None:
            balance = probes.payout_gateway(settings, 2.0).value
            return conditions.float_low(balance, min_paise=5_000_000)

        firing = check()
        assert firing is not None and firing.firing[0].data["balance_paise"] == 150
        assert monitor.evaluate(firing).opened == ["float_low:razorpayx"]
        assert monitor.evaluate(check()).repeated == ["float_low:razorpayx"]
        httpx.post(info["url"] + "/__sandbox/topup", json={"amount": 10_000_000},
                   trust_env=False).raise_for_status()  # fmt: skip
        assert monitor.evaluate(check()).resolved == ["float_low:razorpayx"]
    finally:
        stop_razorpayx(process)
    # With the gateway gone the balance is unknown: nothing fires, nothing resolves.
    assert check() is None
    assert inbox.got == [("fired", "float_low:razorpayx"), ("resolved", "float_low:razorpayx")]


# -- chain lag: a scanner behind, then a stopped node ------------------------------


def test_chain_lag_and_a_stopped_node(
    tmp_path: Path, factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox
) -> None:
    from sandbox.utxo.testing import start_utxo, stop_utxo
    from wallet.chains.models import ScanCursor

    process, info = start_utxo(tmp_path, "bitcoin")
    url = info["settings"]["btc_rpc_url"]
    limits = {"bitcoin": 2}

    def check() -> Check:
        head = probes.chain_head("bitcoin", url, 2.0).value
        with factory() as session:
            cursors = signals.scan_cursors(session)
        return conditions.chain_lag({"bitcoin": head}, cursors, limits)

    try:
        head = probes.chain_head("bitcoin", url, 2.0).value
        assert head is not None and head > 3
        with transaction(factory) as session:
            session.add(ScanCursor(name="bitcoin", height=head - 3, block_hash="00" * 32))
        behind = check()
        assert behind.firing[0].data["lag_blocks"] == 3
        assert monitor.evaluate(behind).opened == ["chain_lag:bitcoin"]
        assert monitor.evaluate(check()).repeated == ["chain_lag:bitcoin"]
        with transaction(factory) as session:
            session.get_one(ScanCursor, "bitcoin").height = head
        assert monitor.evaluate(check()).resolved == ["chain_lag:bitcoin"]
    finally:
        stop_utxo(process)
    down = check()
    assert down.firing[0].data["reachable"] is False
    assert monitor.evaluate(down).opened == ["chain_lag:bitcoin"]
    assert monitor.evaluate(check()).repeated == ["chain_lag:bitcoin"]
    assert inbox.got == [("fired", "chain_lag:bitcoin"), ("resolved", "chain_lag:bitcoin"),
                         ("fired", "chain_lag:bitcoin")]  # fmt: skip


# -- reconciliation breaks ---------------------------------------------------------


def test_reconciliation_breaks(monitor: Monitor, inbox: Inbox) -> None:
    firing = conditions.reconciliation_breaks({"payouts": 2, "chain": 0})
    assert [a.key for a in firing.firing] == ["reconciliation_break:payouts"]
    clear = conditions.reconciliation_breaks({"payouts": 0, "chain": 0})
    assert_lifecycle(monitor, inbox, firing, clear, "reconciliation_break:payouts")


# -- webhooks failing or disabled at RazorpayX -------------------------------------


def test_webhook_failing(factory: sessionmaker[Session], monitor: Monitor, inbox: Inbox) -> None:
    from wallet.db.models.settlement import Payout, PayoutStatus
    from wallet.settlement.models import PayoutWebhookEvent

    now = datetime.now(UTC)
    payment = custodial_payment(factory)
    with transaction(factory) as session:
        session.add(
            Payout(
                idempotency_key=str(uuid.uuid4()), payment_id=payment, amount_paise=50_000,
                vpa="ravi.kumar@okaxis", provider_payout_id="pout_silent",
                status=PayoutStatus.PROCESSED, updated_at=now - timedelta(minutes=30),
            )
        )  # fmt: skip

    def check() -> Check:
        with factory() as session:
            return conditions.webhook_failing(session, now, silence_seconds=900)

    firing = check()
    assert firing.firing[0].data["silent_payouts"] == 1
    assert monitor.evaluate(firing).opened == ["webhook_failing:razorpayx"]
    assert monitor.evaluate(check()).repeated == ["webhook_failing:razorpayx"]
    with transaction(factory) as session:  # deliveries resume (webhook re-enabled)
        event = PayoutWebhookEvent(
            event_id="evt_1", event="payout.processed", provider_payout_id="pout_other"
        )
        session.add(event)
    assert monitor.evaluate(check()).resolved == ["webhook_failing:razorpayx"]
    assert inbox.got == [("fired", "webhook_failing:razorpayx"),
                         ("resolved", "webhook_failing:razorpayx")]  # fmt: skip


# -- two Dagster daemons against one instance --------------------------------------


def test_multiple_daemons(monitor: Monitor, inbox: Inbox) -> None:
    import dagster as dg
    from dagster._daemon.types import DaemonHeartbeat

    from wallet.health import InstanceHeartbeats

    instance = dg.DagsterInstance.ephemeral()
    source = InstanceHeartbeats(instance)
    history: list[conditions.BeatSample] = []
    t = 1_700_000_000.0

    def poll(daemon_id: str, at: float) -> Check:
        nonlocal history
        instance.add_daemon_heartbeat(DaemonHeartbeat(at, "SENSOR", daemon_id, errors=[]))
        cursor = conditions.beats_cursor(history)  # a sensor keeps this in its cursor
        history = conditions.merge_beats(
            conditions.beats_from_cursor(cursor), source.daemon_heartbeats(), at, 120
        )
        return conditions.multiple_daemons(history)

    assert poll("daemon-a", t).firing == ()
    two = poll("daemon-b", t + 30)  # a second daemon overwrote the first one's heartbeat
    assert two.firing[0].data["daemon_ids"] == ["daemon-a", "daemon-b"]
    assert monitor.evaluate(two).opened == ["dagster_multiple_daemons:SENSOR"]
    assert monitor.evaluate(poll("daemon-a", t + 60)).repeated == [
        "dagster_multiple_daemons:SENSOR"
    ]
    # daemon-b was stopped: after the window only daemon-a is seen.
    clear = poll("daemon-a", t + 60 + 121)
    assert monitor.evaluate(clear).resolved == ["dagster_multiple_daemons:SENSOR"]
    assert [e for e, _ in inbox.got] == ["fired", "resolved"]
