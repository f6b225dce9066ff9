"""Builders shared by the settlement, pipeline, reconciliation and e2e tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import wallet.alerts.models
import wallet.db.all_models
import wallet.db.models
import wallet.rates.models
import wallet.settlement.models  # noqa: F401 - registers every table we create
from tests.rates.builders import asset_rate, book, books
from wallet.assets import get_asset
from wallet.db.base import Base
from wallet.db.models.payments import PaymentSource
from wallet.db.models.users import User
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.ledger import post_entry, user_wallet
from wallet.payments.intake import create_payment, create_quote
from wallet.quotes import QuoteCalculation, QuoteConfig, QuoteRequest, make_quote
from wallet.risk import RiskConfig

VPA = "ravi.kumar@okaxis"


def sqlite_factory(path: Path) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return engine, make_session_factory(engine)


@contextmanager
def fresh_pg_schema(admin_url: str) -> Iterator[str]:
    """A new schema migrated to head, dropped afterwards (one per test module)."""
    from wallet.db.migrate import upgrade

    schema = f"s_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in admin_url else "?"
    url = f"{admin_url}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


PRICES_USDT = {"SOL": 150, "ETH": 3000, "BTC": 90000}


def sol_calculator(now: datetime, asset: str = "SOL") -> Any:
    """Quotes ``asset`` along ``asset``→USDT@binance→INR@inr against fixed books at ``now``.

    The prices are the sandbox venues' seeds, so the sale realises about the quote.
    """
    price = PRICES_USDT[asset]
    market = books(
        book("binance", asset, "USDT", [(str(price), "5000")], at=now),
        book("inr", "USDT", "INR", [("88.00", "10000000")], at=now),
    )

    def calculate(request: QuoteRequest) -> QuoteCalculation:
        return make_quote(
            request,
            rates={asset: asset_rate(asset, str(price * 88), at=now)},
            books=market,
            now=now,
            config=QuoteConfig(),
        )

    return calculate


def new_user(session: Session, email: str | None = None) -> int:
    # Fully verified (KYC tier 2): these tests pay amounts above the tier-0 risk limits.
    user = User(
        email=email or f"u{uuid.uuid4().hex[:10]}@example.com", password_hash="x", kyc_tier=2
    )
    session.add(user)
    session.flush()
    return user.id


def fund(session: Session, user_id: int, asset: str, minor: int) -> None:
    """A confirmed deposit to the payer's platform balance."""
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
) -> str:
    """A funded payer paying ``inr_paise`` to ``vpa`` in ``asset``: the payment id (confirmed)."""
    now = now or datetime.now(UTC)
    with transaction(factory) as session:
        uid = user_id or new_user(session)
        fund(session, uid, asset, 10 * 10 ** get_asset(asset).decimals)
        quote = create_quote(
            session,
            uid,
            asset=asset,
            calculate=sol_calculator(now, asset),
            payee_vpa=vpa,
            amount_paise=inr_paise,
            payee_name=name,
        )
        # Settlement tests pay one vendor from many fresh payers: the fan-in AML rule
        # would (rightly) hold them for review, which is not what these tests are about.
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
