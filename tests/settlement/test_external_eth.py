"""External ETH payments end to end on the Ethereum stand-in (anvil, one block per tx).

quote → external payment with its own deposit address → the payer sends ETH
with web3 from a funded anvil account → chain sensor ticks (scan_chain +
advance_payments, through the real sensor with ``build_sensor_context``) →
confirmed → settlement against the RazorpayX and exchange stand-ins →
completed, with one payout and balanced books in which the deposit is
counted once (no custody credit to the payer's wallet).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

import pipelines.resources
from pipelines.resources import WalletDatabase
from sandbox.ethereum.testing import start_ethereum, stop_ethereum
from sensors.chains import chain_sensor
from tests.settlement.helpers import VPA, deps_for, new_user, sol_calculator, sqlite_factory
from wallet.alerts.core import Alerter, LogChannel, SqlIncidents
from wallet.alerts.models import AlertIncident, IncidentStatus
from wallet.assets import Chain, ChainFamily
from wallet.chains.evm import EvmAdapter
from wallet.chains.networks import NetworkKind
from wallet.chains.settled_reorgs import alert_settled_deposits_gone
from wallet.chains.watcher import run_watcher
from wallet.custody.addresses import PublicKeys
from wallet.custody.kms import LocalKeyManager
from wallet.custody.service import CustodyService
from wallet.custody.vault import SeedVault
from wallet.db.models import Payment
from wallet.db.models.chain import Credit
from wallet.db.models.payments import PaymentEvent, PaymentSource
from wallet.db.session import transaction
from wallet.ledger import check_invariants, get_balance, user_wallet
from wallet.observability.heartbeats import SETTLEMENT_LOOP, WATCHER_LOOP, last_beats
from wallet.payments.intake import create_payment, create_quote
from wallet.payments.states import PaymentStatus
from wallet.settlement.service import settle_pass
from wallet.settlement.worker import run_worker

CONFS = 3
S = PaymentStatus


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    proc, info = start_ethereum(tmp_path_factory.mktemp("eth"), block_time=0)
    try:
        yield info
    finally:
        stop_ethereum(proc)


@dataclass
class World:
    factory: sessionmaker[Session]
    url: str
    eth: dict[str, Any]
    service: CustodyService
    w3: Web3
    sensor: dg.SensorDefinition

    def tick(self) -> dg.SensorResult | dg.SkipReason:
        context = dg.build_sensor_context(resources={"db": WalletDatabase(database_url=self.url)})
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult | dg.SkipReason)
        return result

    def mine(self, blocks: int) -> None:
        self._admin("/__sandbox/mine", {"blocks": blocks})

    def reorg(self, depth: int) -> None:
        self._admin("/__sandbox/reorg", {"depth": depth})

    def _admin(self, path: str, body: dict[str, Any]) -> None:
        reply = httpx.post(f"{self.eth['url']}{path}", json=body, timeout=30, trust_env=False)
        assert reply.status_code == 200, reply.text

    def pay(self, address: str, wei: int) -> str:
        """The payer's own wallet (a funded anvil account) sends ``wei`` to ``address``."""
        sender = self.w3.eth.accounts[1]
        txid = self.w3.eth.send_transaction({"from": sender, "to": address, "value": wei})
        receipt = self.w3.eth.wait_for_transaction_receipt(txid, timeout=30)
        assert receipt["status"] == 1
        return str(txid.to_0x_hex())

    def path(self, session: Session, pid: str) -> list[PaymentStatus]:
        """The statuses ``pid`` went through, in order."""
        return list(
            session.scalars(
                select(PaymentEvent.to_status)
                .where(PaymentEvent.payment_id == pid)
                .order_by(PaymentEvent.version)
            )
        )

    def settled_payment(self, rzp: dict[str, Any], venues: dict[str, Any]) -> str:
        """An external payment paid, confirmed by a sensor tick and settled to completed."""
        pid, address, wei, _payer = self.external_payment()
        self.pay(address, wei)
        self.mine(CONFS - 1)
        self.tick()
        assert settle_pass(deps_for(self.factory, rzp, venues), [pid]).statuses == {
            pid: "completed"
        }
        return pid

    def status(self, pid: str) -> PaymentStatus:
        with self.factory() as s:
            return s.get_one(Payment, pid).status

    def external_payment(self, inr_paise: int = 50_000) -> tuple[str, str, int, int]:
        """(payment id, deposit address, amount in wei, payer id) of a new external ETH payment."""
        now = datetime.now(UTC)
        with transaction(self.factory) as session:
            uid = new_user(session)
            quote = create_quote(
                session, uid, asset="ETH", calculate=sol_calculator(now, "ETH"),
                payee_vpa=VPA, amount_paise=inr_paise, payee_name="Ravi Kumar",
            )  # fmt: skip
            payment = create_payment(
                session, uid, quote.id, PaymentSource.EXTERNAL, now=now,
                assign_deposit=lambda s, p: self.service.external_payment_target(s, p)[0],
            )  # fmt: skip
            assert payment.status is S.AWAITING_FUNDS and payment.deposit_address
            return payment.id, payment.deposit_address, payment.amount_minor, uid


@pytest.fixture
def world(eth: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    path = tmp_path / "w.db"
    engine, factory = sqlite_factory(path)
    vault = SeedVault(LocalKeyManager(os.urandom(32)), NetworkKind.SANDBOX)
    with transaction(factory) as s:
        vault.create_seed(s, ChainFamily.EVM)
    tokens = dict(eth["settings"]["token_contracts"])
    service = CustodyService(PublicKeys(vault), NetworkKind.SANDBOX, tokens)
    settings = SimpleNamespace(custody_confirmations={"ETH": CONFS, "USDC": CONFS})
    monkeypatch.setattr(pipelines.resources, "_settings", lambda: settings)
    sensor = chain_sensor(
        "ethereum", lambda: EvmAdapter(eth["url"], tokens, chain_id=31337), interval_s=5
    )
    w = World(
        factory, f"sqlite:///{path}", eth, service, Web3(Web3.HTTPProvider(eth["url"])), sensor
    )
    w.tick()  # the cursor starts at today's head
    yield w
    engine.dispose()


def test_external_eth_payment_goes_from_quote_to_completed(
    world: World, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    pid, address, wei, payer = world.external_payment()
    world.pay(address, wei)

    world.tick()
    assert world.status(pid) is S.DETECTED  # first sight, 1 confirmation of 3
    world.tick()  # no new block: nothing moves
    assert world.status(pid) is S.DETECTED
    world.mine(CONFS - 1)
    confirming = world.tick()
    assert world.status(pid) is S.CONFIRMED
    # The confirming tick asks for the settlement run itself: no wait for the payments sensor.
    assert isinstance(confirming, dg.SensorResult)
    [request] = confirming.run_requests
    assert request.job_name == "settlement_job" and request.run_key.startswith("settle:")
    assert request.run_config["ops"]["settlements"]["config"]["payment_ids"] == [pid]
    world.mine(1)
    later = world.tick()  # a later tick changes nothing and asks for nothing
    assert world.status(pid) is S.CONFIRMED
    assert not isinstance(later, dg.SensorResult) or later.run_requests == []

    deps = deps_for(world.factory, rzp, venues)
    report = settle_pass(deps, request.run_config["ops"]["settlements"]["config"]["payment_ids"])
    assert report.statuses == {pid: "completed"}
    [payout] = deps.payouts.find_payouts(pid)
    assert payout.status.value == "processed" and payout.amount_paise == 50_000
    with world.factory() as s:
        path = world.path(s, pid)
        assert path == [
            S.QUOTE_ISSUED, S.AWAITING_FUNDS, S.DETECTED, S.CONFIRMED,
            S.SETTLING, S.PAID_OUT, S.COMPLETED,
        ]  # fmt: skip
        # Counted once: the payment's escrow holds the deposit; no custody credit to the payer.
        assert s.scalar(select(func.count(Credit.id))) == 0
        assert get_balance(s, "escrow:ethereum:ETH").balance == wei
        assert get_balance(s, user_wallet(payer, "ETH")).balance == 0
        assert get_balance(s, "hot:ethereum:ETH").balance == 0
        assert get_balance(s, "float:INR").balance == -50_000
        check_invariants(s)


def test_a_settled_payment_whose_deposit_is_reorged_out_raises_a_critical_alert(
    world: World, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    pid = world.settled_payment(rzp, venues)
    tokens = dict(world.eth["settings"]["token_contracts"])
    adapter = EvmAdapter(world.eth["url"], tokens, chain_id=31337)
    alerts = Alerter(SqlIncidents(world.factory), [LogChannel()])
    try:
        assert alert_settled_deposits_gone(world.factory, adapter, alerts) == []  # still there

        world.reorg(CONFS + 1)  # the payer's block and those on it replaced: the transfer is gone
        after = world.tick()
        assert isinstance(after, dg.SensorResult)
        assert [r.job_name for r in after.run_requests] == ["confirmations_job"]
        assert world.status(pid) is S.COMPLETED  # the vendor was paid: nothing moves back
        assert alert_settled_deposits_gone(world.factory, adapter, alerts) == [pid]
        assert alert_settled_deposits_gone(world.factory, adapter, alerts) == [pid]  # a rerun
    finally:
        adapter.close()
    with world.factory() as s:
        [incident] = s.scalars(select(AlertIncident)).all()
        assert incident.key == f"settled_deposit_reorged:{pid}" and incident.severity == "critical"
        assert incident.status is IncidentStatus.OPEN and incident.count == 2  # deduped, not resent
        check_invariants(s)


def test_overpayment_surplus_goes_to_the_payers_wallet(world: World) -> None:
    pid, address, wei, payer = world.external_payment()
    world.pay(address, wei + 12345)
    world.mine(CONFS - 1)
    world.tick()
    world.tick()
    assert world.status(pid) is S.CONFIRMED
    with world.factory() as s:
        path = world.path(s, pid)
        assert path[-3:] == [S.DETECTED, S.OVERPAID, S.CONFIRMED]
        assert get_balance(s, user_wallet(payer, "ETH")).balance == 12345
        assert get_balance(s, "escrow:ethereum:ETH").balance == 12345  # the rest at collect
        assert s.scalar(select(func.count(Credit.id))) == 0
        check_invariants(s)


def test_underpayment_waits_and_a_top_up_confirms(world: World) -> None:
    pid, address, wei, payer = world.external_payment()
    world.pay(address, wei - 1000)
    world.mine(CONFS)
    world.tick()
    assert world.status(pid) is S.UNDERPAID
    with world.factory() as s:
        assert get_balance(s, user_wallet(payer, "ETH")).balance == 0  # nothing booked
        assert get_balance(s, "escrow:ethereum:ETH").balance == 0
    world.pay(address, 1000)
    world.tick()
    assert world.status(pid) is S.UNDERPAID  # the top-up is not confirmed yet
    world.mine(CONFS)
    world.tick()
    assert world.status(pid) is S.CONFIRMED
    with world.factory() as s:
        assert s.scalar(select(func.count(Credit.id))) == 0
        check_invariants(s)


def test_reorged_out_before_confirmation_goes_back_and_confirms_once(world: World) -> None:
    pid, address, wei, _payer = world.external_payment()
    world.pay(address, wei)
    world.tick()
    assert world.status(pid) is S.DETECTED
    world.reorg(2)  # the payer's block is replaced by an empty one: the transfer is gone
    world.tick()
    assert world.status(pid) is S.REORGED
    world.tick()
    assert world.status(pid) is S.REORGED

    world.pay(address, wei)  # the payer sends again
    world.mine(CONFS - 1)
    world.tick()
    world.tick()
    assert world.status(pid) is S.CONFIRMED
    with world.factory() as s:
        path = world.path(s, pid)
        assert path[2:] == [S.DETECTED, S.REORGED, S.DETECTED, S.CONFIRMED]
        check_invariants(s)


def test_a_payment_flagged_for_review_is_held_when_its_funds_confirm(world: World) -> None:
    from wallet.risk.models import PaymentRisk, RiskDecisionKind

    pid, address, wei, _payer = world.external_payment()
    with world.factory() as s, s.begin():
        risk = s.scalar(select(PaymentRisk).where(PaymentRisk.payment_id == pid))
        assert risk is not None  # assessed when the payment was created
        risk.decision = RiskDecisionKind.HOLD_FOR_REVIEW
        risk.reasons = ["aml_structuring"]
    world.pay(address, wei)
    world.mine(CONFS - 1)
    ticks = [world.tick(), world.tick()]
    # Funds confirmed, but the flag sends it to review: no settlement run is asked for.
    assert world.status(pid) is S.HELD_FOR_REVIEW
    assert [r for t in ticks if isinstance(t, dg.SensorResult) for r in t.run_requests] == []
    with world.factory() as s:
        check_invariants(s)


# -- expiry of unfunded external payments (G4) -------------------------------------


def _expiry_deadline(world: World, pid: str) -> datetime:
    """Quote expiry + the default grace (ETH quote TTL + 15 min for slow wallets)."""
    from wallet.chains.confirmations import SLOW_WALLET_GRACE
    from wallet.db.models.payments import Quote
    from wallet.quotes.config import QuoteConfig

    with world.factory() as s:
        quote = s.get_one(Quote, s.get_one(Payment, pid).quote_id)
        ttl = QuoteConfig().ttl_seconds(Chain.ETHEREUM)
        return quote.expires_at + timedelta(seconds=ttl) + SLOW_WALLET_GRACE


def _set_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> None:
    import wallet.chains.confirmations as confirmations

    monkeypatch.setattr(confirmations, "utcnow", lambda: at)


def _expire(world: World, monkeypatch: pytest.MonkeyPatch, pid: str) -> None:
    _set_clock(monkeypatch, _expiry_deadline(world, pid))
    world.mine(1)  # the sensor moves payments only on ticks that saw a new block
    world.tick()
    assert world.status(pid) is S.EXPIRED


def test_unfunded_external_payment_expires_once_after_the_grace_window(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet.risk.engine import payment_ref
    from wallet.risk.models import LimitReservation, ReservationStatus

    pid, _address, _wei, _payer = world.external_payment()
    deadline = _expiry_deadline(world, pid)

    _set_clock(monkeypatch, deadline - timedelta(seconds=1))  # quote expired, grace not over
    world.mine(1)
    world.tick()
    assert world.status(pid) is S.AWAITING_FUNDS

    _expire(world, monkeypatch, pid)
    for _ in range(2):  # repeated ticks (and an at-least-once re-run) change nothing
        world.mine(1)
        world.tick()
    import wallet.chains.confirmations as confirmations

    again = confirmations.advance_payments(
        world.factory, "ethereum", settings=SimpleNamespace(custody_confirmations={"ETH": CONFS}),
        adapter=EvmAdapter(world.eth["url"], {}, chain_id=31337),
    )  # fmt: skip
    assert again.moved == {}
    assert world.status(pid) is S.EXPIRED
    with world.factory() as s:
        path = world.path(s, pid)
        assert path == [S.QUOTE_ISSUED, S.AWAITING_FUNDS, S.EXPIRED]
        reservation = s.scalar(
            select(LimitReservation).where(LimitReservation.ref == payment_ref(pid))
        )
        assert reservation is not None and reservation.status is ReservationStatus.RELEASED
        check_invariants(s)


def test_funds_after_expiry_are_credited_to_the_payers_wallet(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, address, wei, payer = world.external_payment()
    _expire(world, monkeypatch, pid)

    world.pay(address, wei)  # the payer's slow wallet sends anyway
    world.tick()
    with world.factory() as s:  # one confirmation of three: nothing credited yet
        assert get_balance(s, user_wallet(payer, "ETH")).balance == 0
    world.mine(CONFS - 1)
    world.tick()
    world.tick()
    assert world.status(pid) is S.EXPIRED  # the payment stays dead: never paid out
    with world.factory() as s:
        [credit] = s.scalars(select(Credit)).all()
        assert credit.address == address and credit.amount_minor == wei
        assert get_balance(s, user_wallet(payer, "ETH")).balance == wei
        assert get_balance(s, "hot:ethereum:ETH").balance == wei
        assert get_balance(s, "escrow:ethereum:ETH").balance == 0
        check_invariants(s)


def test_still_underpaid_at_the_deadline_is_refunded_to_the_payers_wallet(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wallet.risk.engine import payment_ref
    from wallet.risk.models import LimitReservation, ReservationStatus

    pid, address, wei, payer = world.external_payment()
    world.pay(address, wei - 1000)
    world.mine(CONFS)
    world.tick()
    assert world.status(pid) is S.UNDERPAID
    _set_clock(monkeypatch, _expiry_deadline(world, pid) - timedelta(seconds=1))
    world.mine(1)
    world.tick()
    assert world.status(pid) is S.UNDERPAID  # still time for a top-up

    _set_clock(monkeypatch, _expiry_deadline(world, pid))
    world.mine(1)
    world.tick()  # gives up ...
    world.mine(1)
    world.tick()  # ... and the next scan credits what arrived, once
    world.tick()
    assert world.status(pid) is S.REFUNDED
    world.pay(address, 1000)  # a top-up after the deadline is the payer's deposit too
    world.mine(CONFS)
    world.tick()
    with world.factory() as s:
        credits = sorted(c.amount_minor for c in s.scalars(select(Credit)))
        assert credits == [1000, wei - 1000]
        assert get_balance(s, user_wallet(payer, "ETH")).balance == wei
        assert get_balance(s, "escrow:ethereum:ETH").balance == 0  # never the payment's
        reservation = s.scalar(
            select(LimitReservation).where(LimitReservation.ref == payment_ref(pid))
        )
        assert reservation is not None and reservation.status is ReservationStatus.RELEASED
        check_invariants(s)


def test_funds_inside_the_grace_window_still_pay_the_payment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, address, wei, payer = world.external_payment()
    _set_clock(monkeypatch, _expiry_deadline(world, pid) - timedelta(seconds=1))
    world.pay(address, wei)
    world.tick()
    assert world.status(pid) is S.DETECTED
    _set_clock(monkeypatch, _expiry_deadline(world, pid) + timedelta(hours=1))
    world.mine(CONFS - 1)
    world.tick()
    assert world.status(pid) is S.CONFIRMED  # seen before the deadline: never expires
    with world.factory() as s:
        assert s.scalar(select(func.count(Credit.id))) == 0  # the payment's, not a deposit
        assert get_balance(s, user_wallet(payer, "ETH")).balance == 0
        check_invariants(s)


def _watch(world: World, stop: threading.Event, alerts: Alerter | None = None) -> threading.Thread:
    """The warm chain watcher on ethereum alone, in a thread, as the settle worker runs it."""
    tokens = dict(world.eth["settings"]["token_contracts"])
    thread = threading.Thread(
        target=run_watcher,
        args=(
            world.factory,
            {"ethereum": lambda: EvmAdapter(world.eth["url"], tokens, chain_id=31337)},
            pipelines.resources._settings(),
            stop,
        ),
        kwargs={"alerts": alerts, "watch_s": 0.05},
    )
    thread.start()
    return thread


def _until(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_the_warm_watcher_and_worker_pay_an_external_payment_with_no_sensor_tick(
    world: World, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    pid, address, wei, _payer = world.external_payment()
    deps = deps_for(world.factory, rzp, venues)
    stop = threading.Event()
    watcher = _watch(world, stop)
    worker = threading.Thread(target=run_worker, args=(lambda: deps, stop), kwargs={"poll_s": 0.05})
    worker.start()
    try:
        world.pay(address, wei)
        _until(lambda: world.status(pid) is S.DETECTED, "the watcher saw the transfer")
        world.mine(CONFS - 1)
        _until(lambda: world.status(pid) is S.COMPLETED, "confirmed, paid and sold by the worker")
    finally:
        stop.set()
        watcher.join(30)
        worker.join(30)
    assert not watcher.is_alive() and not worker.is_alive()
    with world.factory() as s:
        assert {SETTLEMENT_LOOP, WATCHER_LOOP} <= set(last_beats(s))  # both loops beat
    [payout] = deps.payouts.find_payouts(pid)
    assert payout.status.value == "processed" and payout.amount_paise == 50_000
    # The safety-net sensor ticking afterwards finds the blocks scanned and asks for nothing.
    later = world.tick()
    assert not isinstance(later, dg.SensorResult) or later.run_requests == []
    with world.factory() as s:
        path = world.path(s, pid)
        assert path[2:] == [S.DETECTED, S.CONFIRMED, S.SETTLING, S.PAID_OUT, S.COMPLETED]
        check_invariants(s)


def test_the_watcher_alerts_on_a_reorg_that_removes_a_settled_deposit(
    world: World, rzp: dict[str, Any], venues: dict[str, Any]
) -> None:
    pid = world.settled_payment(rzp, venues)
    stop = threading.Event()
    watcher = _watch(world, stop, Alerter(SqlIncidents(world.factory), [LogChannel()]))
    try:
        world.reorg(CONFS + 1)  # the payer's block replaced: the transfer is gone

        def alerted() -> bool:
            with world.factory() as s:
                return s.scalar(select(func.count(AlertIncident.id))) == 1

        _until(alerted, "the settled-deposit alert")
    finally:
        stop.set()
        watcher.join(30)
    assert world.status(pid) is S.COMPLETED  # the vendor was paid: nothing moves back
    with world.factory() as s:
        [incident] = s.scalars(select(AlertIncident)).all()
        assert incident.key == f"settled_deposit_reorged:{pid}" and incident.severity == "critical"
