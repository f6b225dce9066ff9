"""Sensors evaluated with build_sensor_context: run requests, cursors, no duplicates."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

import sensors.payments
from pipelines.resources import (
    AlertsResource,
    RazorpayXResource,
    SettlementResource,
    WalletDatabase,
)
from sensors.chains import chain_sensor
from sensors.health import float_low_sensor, stuck_payments_sensor
from sensors.payments import payments_sensor
from tests.pipelines.fake_chain import FakeChain
from tests.settlement.helpers import custodial_payment
from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.db.base import utcnow
from wallet.db.models import ChainObservation, Payment, WalletAddress
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction
from wallet.observability.heartbeats import pulse_file


def _run(
    sensor: Any, cursor: str | None, instance: dg.DagsterInstance | None = None, **resources: Any
) -> Any:
    if instance is None:  # the net looks up live runs in it
        with dg.DagsterInstance.ephemeral() as ephemeral:
            return _run(sensor, cursor, ephemeral, **resources)
    context = dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance)
    return sensor(context)


def _ids(request: dg.RunRequest) -> list[str]:
    return sensors.payments.run_payment_ids(request.run_config)


def _two_requested(
    app_db: tuple[str, sessionmaker[Session]],
    monkeypatch: pytest.MonkeyPatch,
    sensor: dg.SensorDefinition = payments_sensor,
) -> tuple[WalletDatabase, sessionmaker[Session], list[str], str]:
    """Two confirmed payments the sensor has already asked for: db, factory, ids, cursor."""
    monkeypatch.setattr(sensors.payments, "HANDOFF_GRACE_S", 0.0)
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    ids = [custodial_payment(factory), custodial_payment(factory)]
    cursor = _run(sensor, None, db=db, settlement=SettlementResource()).cursor
    return db, factory, ids, cursor


def test_payments_sensor_requests_each_confirmed_payment_once(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors.payments, "HANDOFF_GRACE_S", 0.0)
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    first = [custodial_payment(factory), custodial_payment(factory)]

    result = _run(payments_sensor, None, db=db, settlement=SettlementResource())
    [request] = result.run_requests
    assert request.run_key.startswith("settle:")
    assert sorted(request.run_config["ops"]["settlements"]["config"]["payment_ids"]) == sorted(
        first
    )
    cursor = json.loads(result.cursor)
    assert cursor["id"] in first and cursor["updated_at"]

    # A duplicate tick from the old cursor asks for the same run key (Dagster dedupes it) ...
    again = _run(payments_sensor, None, db=db, settlement=SettlementResource())
    assert [r.run_key for r in again.run_requests] == [request.run_key]
    # ... and from the new cursor there is nothing to do until a new payment confirms.
    idle = _run(payments_sensor, result.cursor, db=db, settlement=SettlementResource())
    assert isinstance(idle, dg.SkipReason)
    third = custodial_payment(factory)
    later = _run(payments_sensor, result.cursor, db=db, settlement=SettlementResource())
    assert later.run_requests[0].run_config["ops"]["settlements"]["config"]["payment_ids"] == [
        third
    ]


def test_a_backlog_is_asked_for_in_one_tick_as_one_run_per_run_slot(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an outage every confirmed payment is requested at once, in few runs."""
    monkeypatch.setattr(sensors.payments, "HANDOFF_GRACE_S", 0.0)
    url, factory = app_db
    backlog = [custodial_payment(factory) for _ in range(90)]  # more than one old tick's 50

    db = WalletDatabase(database_url=url)
    result = _run(payments_sensor, None, db=db, settlement=SettlementResource())
    runs = [
        r.run_config["ops"]["settlements"]["config"]["payment_ids"] for r in result.run_requests
    ]
    assert [len(ids) for ids in runs] == [23, 23, 23, 21]
    assert sorted(pid for ids in runs for pid in ids) == sorted(backlog)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [
        (1, [1]),
        (20, [20]),
        (50, [20, 20, 10]),  # never runs of fewer than BATCH while more wait
        (1000, [250, 250, 250, 250]),
        (1300, [250] * 5 + [50]),  # never more than MAX_BATCH in one run
    ],
)
def test_run_chunks_fill_the_run_slots_between_the_batch_bounds(n: int, sizes: list[int]) -> None:
    from sensors.payments import run_chunks

    ids = [f"pay_{i:05d}" for i in range(n)]
    chunks = run_chunks(ids)
    assert [len(c) for c in chunks] == sizes
    assert [pid for c in chunks for pid in c] == ids  # each once, in order
    assert run_chunks(list(ids)) == chunks  # a repeated tick asks for the same runs


def test_the_run_slots_the_sensor_fills_are_the_instances_concurrent_runs() -> None:
    import yaml

    from taskforce.dagster_instance import render_instance_yaml
    from wallet.config import Settings

    instance = yaml.safe_load(render_instance_yaml(Settings()))
    assert instance["run_queue"]["max_concurrent_runs"] == sensors.payments.RUN_SLOTS


def test_payments_sensor_leaves_a_just_confirmed_payment_to_its_confirmer(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    """Pay-now or the chains sensor submits it; the sensor backs it up after the grace."""
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    pid = custodial_payment(factory)
    fresh = _run(payments_sensor, None, db=db, settlement=SettlementResource())
    assert isinstance(fresh, dg.SkipReason)
    with transaction(factory) as s:
        s.execute(
            update(Payment)
            .where(Payment.id == pid)
            .values(updated_at=utcnow() - timedelta(seconds=sensors.payments.HANDOFF_GRACE_S + 1))
        )
    late = _run(payments_sensor, None, db=db, settlement=SettlementResource())
    [request] = late.run_requests
    assert request.run_key.startswith("settle:") and request.job_name == "settlement_job"
    assert request.run_config["ops"]["settlements"]["config"]["payment_ids"] == [pid]


def test_payments_sensor_safety_net_retries_overdue_payments_once_per_bucket(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sensors.payments, "HANDOFF_GRACE_S", 0.0)
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    pid = custodial_payment(factory)
    cursor = _run(payments_sensor, None, db=db, settlement=SettlementResource()).cursor
    with transaction(factory) as s:
        s.execute(
            update(Payment)
            .where(Payment.id == pid)
            .values(updated_at=utcnow() - timedelta(minutes=5))
        )
    first = _run(payments_sensor, cursor, db=db, settlement=SettlementResource())
    second = _run(payments_sensor, cursor, db=db, settlement=SettlementResource())
    [retry] = first.run_requests
    assert retry.run_key.startswith("retry:")
    assert [r.run_key for r in second.run_requests] == [retry.run_key]


def test_the_safety_net_leaves_a_payment_to_the_live_run_that_carries_it(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a backlog a payment waits its turn in a queued run; a net run would race it."""
    from pipelines.definitions import defs
    from sensors.payments import settle_request

    db, factory, [carried, orphan], cursor = _two_requested(app_db, monkeypatch)
    with transaction(factory) as s:
        s.execute(update(Payment).values(updated_at=utcnow() - timedelta(minutes=5)))

    def _net(instance: dg.DagsterInstance) -> list[dg.RunRequest]:
        tick = _run(payments_sensor, cursor, instance, db=db, settlement=SettlementResource())
        return list(tick.run_requests)

    with dg.DagsterInstance.ephemeral() as instance:
        run = instance.create_run_for_job(
            defs.resolve_job_def("settlement_job"),
            run_config=settle_request([carried], "settle:x").run_config,
            status=dg.DagsterRunStatus.STARTED,
        )
        [retry] = _net(instance)
        assert _ids(retry) == [orphan]

        instance.report_run_failed(run)  # died: what it carried is the net's again
        [retry] = _net(instance)
        assert sorted(_ids(retry)) == sorted([carried, orphan])


def test_without_the_worker_an_unsold_payment_is_asked_for_once_a_new_window_opens(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paid out after its window sold: the next window sells it, not a minute later."""
    from wallet.payments.states import PaymentStatus

    db, factory, [before, after], cursor = _two_requested(app_db, monkeypatch)
    window = SettlementResource().config().sell_window_seconds
    now = utcnow()
    opened = now - timedelta(seconds=now.timestamp() % window)
    monkeypatch.setattr(sensors.payments, "utcnow", lambda: opened + timedelta(seconds=2))
    with transaction(factory) as s:
        for pid, at in ((before, opened - timedelta(seconds=1)), (after, opened)):
            s.execute(
                update(Payment)
                .where(Payment.id == pid)
                .values(status=PaymentStatus.PAID_OUT, updated_at=at)
            )
    [retry] = _run(payments_sensor, cursor, db=db, settlement=SettlementResource()).run_requests
    assert _ids(retry) == [before]


def test_beside_the_warm_worker_unsold_payments_are_asked_for_again_only_much_later(
    app_db: tuple[str, sessionmaker[Session]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker sells each window; Dagster's net must not start a run a minute for dust."""
    from sensors.payments import SAFETY_NET_SELL_AFTER_S, payments_sensor_every
    from wallet.payments.states import PaymentStatus

    net = payments_sensor_every(15, sell_retry_after_s=SAFETY_NET_SELL_AFTER_S)
    db, factory, [unsold, unpaid], cursor = _two_requested(app_db, monkeypatch, net)

    def age(pid: str, seconds: float, status: PaymentStatus | None = None) -> None:
        values: dict[str, Any] = {"updated_at": utcnow() - timedelta(seconds=seconds)}
        if status is not None:
            values["status"] = status
        with transaction(factory) as s:
            s.execute(update(Payment).where(Payment.id == pid).values(**values))

    age(unsold, 300, PaymentStatus.PAID_OUT)  # the vendor paid 5 min ago; dust, unsold
    age(unpaid, 300)  # still confirmed 5 min on: the worker missed it
    [retry] = _run(net, cursor, db=db, settlement=SettlementResource()).run_requests
    assert retry.run_config["ops"]["settlements"]["config"]["payment_ids"] == [unpaid]
    age(unsold, SAFETY_NET_SELL_AFTER_S + 60, PaymentStatus.PAID_OUT)
    [retry] = _run(net, cursor, db=db, settlement=SettlementResource()).run_requests
    assert sorted(retry.run_config["ops"]["settlements"]["config"]["payment_ids"]) == sorted(
        [unsold, unpaid]
    )
    # Without the worker, Dagster sells too: an unsold payment is due after a minute.
    age(unsold, 300, PaymentStatus.PAID_OUT)
    [retry] = _run(payments_sensor, cursor, db=db, settlement=SettlementResource()).run_requests
    assert unsold in retry.run_config["ops"]["settlements"]["config"]["payment_ids"]


def test_chain_sensor_scans_in_the_tick_and_rewinds_on_a_reorg(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = app_db
    db = WalletDatabase(database_url=url)
    chain = FakeChain(height=5)
    with transaction(factory) as s:
        s.add(
            WalletAddress(
                chain="ethereum",
                purpose=AddressPurpose.DEPOSIT,
                address="0xabc",
                derivation_index=0,
            )
        )
    sensor = chain_sensor("ethereum", lambda: chain)

    # The first tick starts at today's head: nothing to do but remember it.
    first = _run(sensor, None, db=db)
    assert first.cursor == f"5:{chain.hash(5)}" and first.run_requests == []

    chain.extend(8)
    chain.pay(height=7, address="0xabc", txid="0xt1", amount=10**18)
    second = _run(sensor, first.cursor, db=db)
    assert second.cursor == f"8:{chain.hash(8)}"
    assert second.run_requests == []  # the tick did the run's work: no process start
    [event] = second.asset_events
    assert event.metadata["observed"].value == 1

    for _ in range(2):  # duplicate ticks: nothing new, nothing written twice
        assert isinstance(_run(sensor, second.cursor, db=db), dg.SkipReason)
    with factory() as s:
        assert len(s.scalars(select(ChainObservation)).all()) == 1

    chain.reorg(from_height=7, new_tip=9)  # blocks 7-8 replaced, one more on top
    chain.pay(height=8, address="0xabc", txid="0xt2", amount=5)
    after = _run(sensor, second.cursor, db=db)
    assert after.cursor == f"9:{chain.hash(9)}"
    assert [r.run_key for r in after.run_requests] == ["ethereum:7-9:reorg"]
    assert after.asset_events[0].metadata["reorg_depth"].value >= 1
    with factory() as s:
        assert {o.txid for o in s.scalars(select(ChainObservation))} == {"0xt1", "0xt2"}


def test_float_low_sensor_alerts_once_and_resolves_after_topup(
    app_db: tuple[str, sessionmaker[Session]], rzp: dict[str, Any]
) -> None:
    url, factory = app_db
    creds = rzp["credentials"]
    resources = {
        "db": WalletDatabase(database_url=url),
        "alerts": AlertsResource(),
        "razorpayx": RazorpayXResource(
            url=rzp["url"],
            key_id=creds["key_id"],
            key_secret=creds["key_secret"],
            account_number=creds["account_number"],
        ),
    }
    balance = httpx.get(rzp["url"] + "/__sandbox/balance", trust_env=False).json()["balance"]
    above = SettlementResource(float_min_paise=balance + 1)
    for _ in range(2):
        _run(float_low_sensor, None, settlement=above, **resources)
    with factory() as s:
        incident = s.scalars(select(AlertIncident)).one()
        assert (incident.key, incident.count, incident.status) == (
            "float_low:razorpayx",
            2,
            IncidentStatus.OPEN,
        )
    _run(float_low_sensor, None, settlement=SettlementResource(float_min_paise=1), **resources)
    with factory() as s:
        assert s.scalars(select(AlertIncident.status)).one() is IncidentStatus.RESOLVED


def test_stuck_payments_sensor_raises_an_incident_per_payment_and_clears_it(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    url, factory = app_db
    resources = {"db": WalletDatabase(database_url=url), "alerts": AlertsResource()}
    pid = custodial_payment(factory)
    strict = SettlementResource(payment_sla_seconds=60)
    _run(stuck_payments_sensor, None, settlement=strict, **resources)
    with factory() as s:
        assert s.scalars(select(AlertIncident)).all() == []
        s.execute(
            update(Payment)
            .where(Payment.id == pid)
            .values(updated_at=utcnow() - timedelta(minutes=5))
        )
        s.commit()
    _run(stuck_payments_sensor, None, settlement=strict, **resources)
    _run(stuck_payments_sensor, None, settlement=strict, **resources)
    with factory() as s:
        incident = s.scalars(select(AlertIncident)).one()
        assert incident.key == f"payment_stuck:{pid}" and incident.count == 2
    lenient = SettlementResource(payment_sla_seconds=3600)
    _run(stuck_payments_sensor, None, settlement=lenient, **resources)
    with factory() as s:
        assert s.scalars(select(AlertIncident.status)).one() is IncidentStatus.RESOLVED


def test_a_paid_out_payment_waiting_to_be_sold_is_late_only_after_the_unsold_sla(
    app_db: tuple[str, sessionmaker[Session]],
) -> None:
    """The vendor is paid; dust below a venue's minimum waits for volume without a page."""
    from wallet.payments.states import PaymentStatus

    url, factory = app_db
    resources = {"db": WalletDatabase(database_url=url), "alerts": AlertsResource()}
    pid = custodial_payment(factory)
    sla = SettlementResource(payment_sla_seconds=60, unsold_sla_seconds=7200)

    def unsold_for(minutes: int) -> list[AlertIncident]:
        with factory() as s:
            s.execute(
                update(Payment)
                .where(Payment.id == pid)
                .values(
                    status=PaymentStatus.PAID_OUT, updated_at=utcnow() - timedelta(minutes=minutes)
                )
            )
            s.commit()
        _run(stuck_payments_sensor, None, settlement=sla, **resources)
        with factory() as s:
            return list(s.scalars(select(AlertIncident)))

    assert unsold_for(30) == []  # past the payment SLA, inside the unsold one
    [incident] = unsold_for(180)
    assert incident.key == f"payment_stuck:{pid}"


def test_rates_sensor_refreshes_in_the_tick_and_reports_a_materialisation(
    app_db: tuple[str, sessionmaker[Session]], venues: dict[str, Any]
) -> None:
    from pipelines.resources import RatesResource
    from sensors.rates import rates_sensor
    from wallet.rates.cache import DatabaseRateCache

    url, factory = app_db
    rates = RatesResource(
        exchange_url=venues["binance"]["url"],
        inr_exchange_url=venues["inr"]["url"],
        use_coinbase=False,
    )
    result = _run(
        rates_sensor,
        None,
        db=WalletDatabase(database_url=url),
        alerts=AlertsResource(),
        rates=rates,
    )
    assert result.run_requests == []  # no run, no process start
    [event] = result.asset_events
    assert event.asset_key == dg.AssetKey("exchange_rates")
    assert "| SOL |" in event.metadata["rates"].value
    cached = DatabaseRateCache(factory, prefix="taskforce:rates").get_rate("SOL")
    assert cached is not None and (utcnow() - cached.observed_at).total_seconds() < 60


def test_order_books_sensor_refreshes_the_book_cache_and_alerts_when_no_venue_answers(
    app_db: tuple[str, sessionmaker[Session]], venues: dict[str, Any]
) -> None:
    from pipelines.resources import RatesResource
    from sandbox.testing import free_port
    from sensors.rates import order_books_sensor
    from wallet.rates.book_cache import BookCache, DatabaseBookStore, fresh_books

    url, factory = app_db
    db = WalletDatabase(database_url=url)
    rates = RatesResource(
        exchange_url=venues["binance"]["url"], inr_exchange_url=venues["inr"]["url"]
    )
    result = _run(order_books_sensor, None, db=db, alerts=AlertsResource(), rates=rates)
    assert isinstance(result, dg.SkipReason) and "stored" in (result.skip_message or "")
    store = DatabaseBookStore(factory, prefix="taskforce:rates", ttl_seconds=120)
    books = fresh_books(BookCache(store), utcnow(), 30)
    assert ("binance", "SOLUSDT") in books and ("inr", "USDTINR") in books

    dead = f"http://127.0.0.1:{free_port()}"
    down = RatesResource(exchange_url=dead, inr_exchange_url=dead)
    result = _run(order_books_sensor, None, db=db, alerts=AlertsResource(), rates=down)
    assert "no venue answered" in (result.skip_message or "")
    with factory() as s:
        incident = s.scalars(select(AlertIncident)).one()
        assert incident.key == "order_books_unavailable"
        assert incident.status is IncidentStatus.OPEN
    assert fresh_books(BookCache(store), utcnow(), 30) == books  # the old snapshot stays
    _run(order_books_sensor, None, db=db, alerts=AlertsResource(), rates=rates)
    with factory() as s:
        assert s.scalars(select(AlertIncident.status)).one() is IncidentStatus.RESOLVED


def test_the_warm_workers_book_loop_keeps_the_books_fresh_and_beats(
    app_db: tuple[str, sessionmaker[Session]],
    venues: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``taskforce settle-worker``'s third loop, wired as the process wires it."""
    import pipelines.resources
    from taskforce import settle_worker
    from tests.observability.support import settings_for
    from wallet.observability.heartbeats import BOOKS_LOOP, last_beats
    from wallet.rates.book_cache import BookCache, DatabaseBookStore, fresh_books
    from wallet.rates.errors import StaleRate

    url, factory = app_db
    settings = settings_for(
        tmp_path,
        url,
        exchange_url=venues["binance"]["url"],
        inr_exchange_url=venues["inr"]["url"],
        worker_pulse_dir=tmp_path / "pulse",
    )
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    settle_worker._resources.cache_clear()  # built once per process: from this env
    store = DatabaseBookStore(factory, prefix="taskforce:rates", ttl_seconds=120)

    def kept() -> bool:
        with factory() as s:
            beaten = BOOKS_LOOP in last_beats(s)
        try:
            books = fresh_books(BookCache(store), utcnow(), 30)
        except StaleRate:
            return False
        return beaten and ("binance", "SOLUSDT") in books

    stop = threading.Event()
    loop = threading.Thread(target=settle_worker.keep_books, args=(stop, settings))
    loop.start()
    try:
        deadline = time.monotonic() + 60
        while not kept():
            assert time.monotonic() < deadline, "no books stored, or no beat"
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(30)
        settle_worker._resources.cache_clear()
    assert not loop.is_alive()
    assert pulse_file(tmp_path / "pulse", BOOKS_LOOP).exists()


@pytest.mark.parametrize("warm", [False, True])
def test_with_the_warm_worker_its_loops_sensors_tick_as_its_safety_net(warm: bool) -> None:
    from pipelines.definitions import build_defs
    from sensors import chains, payments, rates

    defs = build_defs(warm_worker=warm)
    every = {
        s.name: s.minimum_interval_seconds
        for s in defs.sensors or []
        if s.name in ("chains_sensor", "payments_sensor", "order_books_sensor")
    }
    if warm:
        assert every == {
            "chains_sensor": chains.SAFETY_NET_INTERVAL_S,
            "payments_sensor": payments.SAFETY_NET_INTERVAL_S,
            "order_books_sensor": rates.BOOKS_SAFETY_NET_INTERVAL_S,
        }
        assert chains.SAFETY_NET_INTERVAL_S > chains.CHAINS_INTERVAL_S
        # The net alone still refreshes the books inside quotes' 30-s age limit.
        assert rates.BOOKS_INTERVAL_S < rates.BOOKS_SAFETY_NET_INTERVAL_S < 30
    else:
        assert every == {
            "chains_sensor": chains.CHAINS_INTERVAL_S,
            "payments_sensor": 5,
            "order_books_sensor": rates.BOOKS_INTERVAL_S,
        }
