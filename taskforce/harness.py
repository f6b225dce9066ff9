"""Drive the platform end to end on loopback: the real ``dagster dev`` plus payment builders.

Shared by the Dagster end-to-end tests (``tests/e2e``), the settlement
suites (``tests/settlement``) and the benchmarks that push many payments
through the daemon (``bench/vendor_paid.py``, ``bench/settlement.py``).

- :func:`dagster_env` / :func:`dagster_dev` / :func:`wait_for`: ``dagster dev``
  (webserver + daemon) for ``workspace.yaml`` in a temporary ``DAGSTER_HOME``,
  pointed at an app database and the RazorpayX and exchange stand-ins
  (started with :mod:`sandbox.testing`), on a free port, stopped with its
  whole process group afterwards.
- :func:`custodial_payment` and friends: funded payers and confirmed
  custodial payments written through the product's own intake functions,
  priced by :func:`fixed_calculator` against fixed books at the sandbox
  venues' seed prices (so the sale realises about the quote).
- :func:`deps_for`: settlement wired to the stand-ins with real HTTP clients.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from sandbox.manager import free_port

ROOT = Path(__file__).resolve().parents[1]
VPA = "ravi.kumar@okaxis"
# USDT per unit at the sandbox venues' seeds (sandbox/exchange/venues.py); USDT→INR at 88.
PRICES_USDT = {"SOL": "150", "ETH": "3000", "BTC": "90000", "USDC": "1.0000"}
USDT_INR = "88.00"


# -- dagster dev ------------------------------------------------------------------------


def dagster_env(
    tmp: Path,
    db_url: str,
    rzp: dict[str, Any],
    venues: dict[str, Any],
    *,
    sell_window_seconds: int = 1,
) -> dict[str, str]:
    """The environment of a ``dagster dev`` under ``tmp`` for this database and stand-ins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "TASKFORCE_"))}
    env.update(
        DAGSTER_HOME=str(tmp / "dagster"),
        DATABASE_URL=db_url,
        VAR_DIR=str(tmp / "var"),
        SANDBOX_ENDPOINTS_FILE=str(tmp / "no-endpoints.json"),
        RAZORPAYX_URL=rzp["url"],
        EXCHANGE_URL=venues["binance"]["url"],
        INR_EXCHANGE_URL=venues["inr"]["url"],
        COINBASE_URL="",
        SETTLEMENT_SELL_WINDOW_SECONDS=str(sell_window_seconds),
    )
    return env


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    proc: subprocess.Popen[bytes],
    *,
    every: float = 1.0,
) -> None:
    """Poll ``predicate`` until true; AssertionError on timeout or if ``proc`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"dagster exited early while waiting for {what}")
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def webserver_up(port: int) -> bool:
    """The Dagster webserver answers ``/server_info``."""
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/server_info", timeout=2).is_success
    return False


@contextlib.contextmanager
def dagster_dev(
    tmp: Path, env: dict[str, str], *, instance_yaml: str | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Real ``dagster dev`` (webserver + daemon) on a free port; its process group is
    stopped afterwards, whatever happens. The log is ``tmp/dagster.log``."""
    from taskforce.dagster_instance import render_instance_yaml
    from wallet.config import Settings

    home = Path(env["DAGSTER_HOME"])
    home.mkdir()
    if instance_yaml is None:
        instance_yaml = render_instance_yaml(Settings(_env_file=None))  # type: ignore[call-arg]
    (home / "dagster.yaml").write_text(instance_yaml)
    port = free_port()
    with (tmp / "dagster.log").open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-p", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc, port
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


# -- payments ---------------------------------------------------------------------------


def fixed_calculator(now: datetime, asset: str = "SOL") -> Any:
    """Quotes ``asset`` along ``asset``→USDT@binance→INR@inr (USDT: →INR@inr) at ``now``.

    Fixed books at the sandbox venues' seed prices, so the sale realises
    about the quote.
    """
    from wallet.quotes import QuoteCalculation, QuoteConfig, QuoteRequest, make_quote
    from wallet.rates.books import Level, Market, OrderBook, market_asset, parse_decimal
    from wallet.rates.routes import book_key
    from wallet.rates.types import AssetRate, rate_from_inr_price

    base = market_asset(asset)

    def book(venue: str, b: str, q: str, price: str, qty: str) -> OrderBook:
        level = Level(parse_decimal(price), parse_decimal(qty))
        return OrderBook(Market(venue, f"{b}{q}", b, q), (level,), (), now)

    legs = [book("inr", "USDT", "INR", USDT_INR, "100000000")]
    usdt = Fraction(1)
    if base != "USDT":
        usdt = Fraction(PRICES_USDT[base])
        legs.append(book("binance", base, "USDT", PRICES_USDT[base], "1000000"))
    market = {book_key(b.market): b for b in legs}
    inr = usdt * Fraction(USDT_INR)
    rate = AssetRate(asset, rate_from_inr_price(asset, inr), now, ("harness",), now)

    def calculate(request: QuoteRequest) -> QuoteCalculation:
        return make_quote(request, rates={asset: rate}, books=market, now=now, config=QuoteConfig())

    return calculate


def new_user(session: Session, email: str | None = None) -> int:
    """A fully verified payer (KYC tier 2: amounts above the tier-0 risk limits)."""
    from wallet.db.models.users import User

    user = User(
        email=email or f"u{uuid.uuid4().hex[:10]}@example.com",
        password_hash="x",  # noqa: S106 - never logs in
        kyc_tier=2,
    )
    session.add(user)
    session.flush()
    return user.id


def fund(session: Session, user_id: int, asset: str, minor: int) -> None:
    """A confirmed deposit to the payer's platform balance."""
    from wallet.assets import get_asset
    from wallet.ledger import post_entry, user_wallet

    hot = f"hot:{get_asset(asset).chain.value}:{asset}"
    post_entry(
        session,
        [(hot, asset, minor), (user_wallet(user_id, asset), asset, -minor)],
        kind="test.deposit",
        ref=uuid.uuid4().hex,
    )


def custodial_payment(
    factory: sessionmaker[Session],
    *,
    inr_paise: int = 50_000,
    vpa: str = VPA,
    name: str | None = "Ravi Kumar",
    user_id: int | None = None,
    now: datetime | None = None,
    asset: str = "SOL",
    session: Session | None = None,
) -> str:
    """A funded payer paying ``inr_paise`` to ``vpa`` in ``asset``: the payment id (confirmed).

    In its own transaction, or in ``session``'s when given (the caller commits).
    """
    from wallet.assets import get_asset
    from wallet.db.models.payments import PaymentSource
    from wallet.db.session import transaction
    from wallet.payments.intake import create_payment, create_quote
    from wallet.risk import RiskConfig

    if session is None:
        with transaction(factory) as own:
            return custodial_payment(
                factory, inr_paise=inr_paise, vpa=vpa, name=name, user_id=user_id,
                now=now, asset=asset, session=own,
            )  # fmt: skip
    now = now or datetime.now(UTC)
    uid = user_id or new_user(session)
    fund(session, uid, asset, 10 * 10 ** get_asset(asset).decimals)
    quote = create_quote(
        session,
        uid,
        asset=asset,
        calculate=fixed_calculator(now, asset),
        payee_vpa=vpa,
        amount_paise=inr_paise,
        payee_name=name,
    )
    # Many fresh payers paying one vendor would (rightly) trip the fan-in AML rule
    # and be held for review, which is not what these callers are about.
    no_fan_in = RiskConfig(fan_in_min_payers=10**9)
    payment = create_payment(
        session, uid, quote.id, PaymentSource.CUSTODIAL, now=now, risk_config=no_fan_in
    )
    return payment.id


def deps_for(
    factory: sessionmaker[Session],
    rzp: dict[str, Any],
    venues: dict[str, dict[str, Any]],
    alerts: Any = None,
    **config: Any,
) -> Any:
    """Settlement wired to the stand-ins (real HTTP clients, as in production)."""
    from wallet.alerts import Alerter, MemoryIncidents
    from wallet.exchanges.binance import BinanceClient
    from wallet.payouts.razorpayx import RazorpayXClient
    from wallet.settlement.config import SettlementConfig
    from wallet.settlement.service import SettlementDeps

    creds = rzp["credentials"]
    payouts = RazorpayXClient(
        rzp["url"], creds["key_id"], creds["key_secret"], creds["account_number"], backoff_s=0.05
    )
    exchanges = {
        name: BinanceClient(
            info["url"],
            info["credentials"]["api_key"],
            info["credentials"]["api_secret"],
            venue=name,
            rate_limit=False,
        )
        for name, info in venues.items()
    }
    config.setdefault("sell_window_seconds", 1)
    config.setdefault("payout_wait_seconds", 15.0)
    return SettlementDeps(
        factory=factory,
        payouts=payouts,
        exchanges=exchanges,
        alerts=alerts or Alerter(MemoryIncidents()),
        config=SettlementConfig(**config),
    )


def evm_custody(factory: sessionmaker[Session], token_contracts: dict[str, str]) -> Any:
    """A sandbox EVM custody service over a fresh seed (deposit addresses per payment)."""
    from wallet.assets import ChainFamily
    from wallet.chains.networks import NetworkKind
    from wallet.custody.addresses import PublicKeys
    from wallet.custody.kms import LocalKeyManager
    from wallet.custody.service import CustodyService
    from wallet.custody.vault import SeedVault
    from wallet.db.session import transaction

    vault = SeedVault(LocalKeyManager(os.urandom(32)), NetworkKind.SANDBOX)
    with transaction(factory) as session:
        vault.create_seed(session, ChainFamily.EVM)
    return CustodyService(PublicKeys(vault), NetworkKind.SANDBOX, token_contracts)


def external_payment(
    factory: sessionmaker[Session],
    custody: Any,
    *,
    asset: str = "ETH",
    inr_paise: int = 50_000,
    vpa: str = VPA,
    name: str | None = "Ravi Kumar",
    now: datetime | None = None,
) -> tuple[str, str, int, int]:
    """An external payment awaiting its deposit: (payment id, address, amount, payer id)."""
    from wallet.db.models.payments import PaymentSource
    from wallet.db.session import transaction
    from wallet.payments.intake import create_payment, create_quote

    now = now or datetime.now(UTC)
    with transaction(factory) as session:
        payer = new_user(session)
        quote = create_quote(
            session, payer, asset=asset, calculate=fixed_calculator(now, asset),
            payee_vpa=vpa, amount_paise=inr_paise, payee_name=name,
        )  # fmt: skip
        payment = create_payment(
            session, payer, quote.id, PaymentSource.EXTERNAL, now=now,
            assign_deposit=lambda s, p: custody.external_payment_target(s, p)[0],
        )  # fmt: skip
        assert payment.deposit_address is not None  # noqa: S101 - narrowing
        return payment.id, payment.deposit_address, payment.amount_minor, payer
