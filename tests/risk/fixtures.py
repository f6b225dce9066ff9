"""Database fixtures and builders for the risk and compliance tests.

SQLite: the real migration chain up to ``0006_risk``, applied once per
test session to a template file that each test copies. PostgreSQL: a
sibling of the session schema (``pg_schema_url``) migrated to
``0006_risk``, so other tests' data never meets ours.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

import wallet.compliance.models  # registers the tables
import wallet.risk.models  # noqa: F401
from wallet.db.migrate import upgrade
from wallet.db.models import (
    AddressPurpose,
    Credit,
    Payment,
    PaymentSource,
    Quote,
    Role,
    User,
    WalletAddress,
)
from wallet.db.session import make_engine, make_session_factory, normalise_url

REVISION = "heads"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 17:30 IST, FY 2026-27


@pytest.fixture(scope="session")
def risk_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("risk_template") / "template.db"
    upgrade(f"sqlite:///{path}", REVISION)
    return path


@pytest.fixture
def sqlite_factory(risk_sqlite_template: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    db = tmp_path / "risk.db"
    shutil.copy(risk_sqlite_template, db)
    engine = make_engine(f"sqlite:///{db}")
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def risk_pg_url(pg_schema_url: str) -> Iterator[str]:
    """A schema of our own next to the session's, migrated to 0006_risk."""
    match = re.search(r"search_path%3D(\w+)", pg_schema_url)
    assert match, pg_schema_url
    # Unique: tests/risk and tests/compliance each get an instance of this fixture.
    schema = f"{match.group(1)}_risk_{uuid.uuid4().hex[:6]}"
    url = pg_schema_url.replace(match.group(0), f"search_path%3D{schema}")
    admin = create_engine(normalise_url(pg_schema_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    upgrade(url, REVISION)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def pg_factory(risk_pg_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(risk_pg_url, pool_size=10, max_overflow=45)
    yield make_session_factory(engine)
    engine.dispose()


def make_user(
    session: Session, *, tier: int = 0, role: Role = Role.PAYER, email: str | None = None
) -> User:
    user = User(
        email=email or f"{uuid.uuid4().hex[:12]}@example.test",
        password_hash="x",
        role=role,
        kyc_tier=tier,
    )
    session.add(user)
    session.flush()
    return user


def make_payment(
    session: Session,
    user: User,
    *,
    vpa: str = "shop@okbank",
    inr_paise: int = 10_000,
    asset: str = "USDT",
    amount_minor: int = 1_000_000,
    at: datetime = NOW,
) -> Payment:
    """A payment row (and its quote) as the payer service would have written it."""
    quote = Quote(
        id=str(uuid.uuid4()),
        user_id=user.id,
        asset=asset,
        amount_minor=amount_minor,
        amount_inr_paise=inr_paise,
        rate="1",
        payee_vpa=vpa,
        expires_at=at + timedelta(seconds=90),
        created_at=at,
    )
    payment = Payment(
        id=str(uuid.uuid4()),
        user_id=user.id,
        quote_id=quote.id,
        payee_vpa=vpa,
        asset=asset,
        amount_minor=amount_minor,
        amount_inr_paise=inr_paise,
        source=PaymentSource.CUSTODIAL,
        created_at=at,
    )
    session.add(quote)
    session.flush()
    session.add(payment)
    session.flush()
    return payment


def make_deposit(
    session: Session, user: User, *, asset: str, amount_minor: int, at: datetime, chain: str
) -> Credit:
    """An external deposit credited to the user's custodial address."""
    address = session.query(WalletAddress).filter_by(user_id=user.id, chain=chain).first()
    if address is None:
        address = WalletAddress(
            user_id=user.id,
            chain=chain,
            purpose=AddressPurpose.CUSTODIAL,
            address="0x" + uuid.uuid4().hex + uuid.uuid4().hex[:8],
            derivation_index=abs(hash(uuid.uuid4())) % 10**9,
        )
        session.add(address)
        session.flush()
    credit = Credit(
        chain=chain,
        txid="0x" + uuid.uuid4().hex,
        idx=0,
        asset=asset,
        address=address.address,
        amount_minor=amount_minor,
        created_at=at,
    )
    session.add(credit)
    session.flush()
    return credit
