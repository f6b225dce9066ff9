"""Demo accounts for `make run`: a payer, a merchant (a street vendor) and an admin.

Idempotent: running it again finds the accounts it made. Passwords are demo
values printed by `taskforce run`; they exist only in dev, never production.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from wallet.config import Settings
from wallet.db.models import Merchant, MerchantStatus, Role, User
from wallet.db.session import make_engine, make_session_factory, transaction
from wallet.errors import ConfigurationError


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    role: Role


DEMO_PAYER = DemoAccount("payer@demo.taskforce", "demo-payer-pass-2026", Role.PAYER)
DEMO_MERCHANT = DemoAccount("chaiwala@demo.taskforce", "demo-vendor-pass-2026", Role.MERCHANT)
DEMO_ADMIN = DemoAccount("admin@demo.taskforce", "demo-admin-pass-2026", Role.ADMIN)
DEMO_VENDOR_VPA = "ramu.chai@okaxis"
DEMO_VENDOR_NAME = "Ramu Chai Stall"


def demo_upi_uri(amount_rupees: str = "250.00") -> str:
    """The demo vendor's UPI QR payload, as printed on the stall's sticker."""
    name = DEMO_VENDOR_NAME.replace(" ", "%20")
    return f"upi://pay?pa={DEMO_VENDOR_VPA}&pn={name}&am={amount_rupees}&cu=INR"


def seed_demo(settings: Settings) -> list[str]:
    """Create the demo accounts if missing; return lines describing them."""
    from wallet.accounts.service import create_user

    if settings.environment == "production":
        raise ConfigurationError("demo accounts are never created in production")
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as session:
            users: dict[str, User] = {}
            for account in (DEMO_PAYER, DEMO_MERCHANT, DEMO_ADMIN):
                user = session.scalar(select(User).where(User.email == account.email))
                if user is None:
                    user = create_user(session, account.email, account.password, account.role)
                users[account.email] = user
            merchant_user = users[DEMO_MERCHANT.email]
            if session.scalar(select(Merchant).where(Merchant.user_id == merchant_user.id)) is None:
                session.add(
                    Merchant(
                        user_id=merchant_user.id,
                        display_name=DEMO_VENDOR_NAME,
                        upi_vpa=DEMO_VENDOR_VPA,
                        status=MerchantStatus.ACTIVE,
                    )
                )
    finally:
        engine.dispose()
    return [
        f"demo payer     {DEMO_PAYER.email} / {DEMO_PAYER.password}",
        f"demo merchant  {DEMO_MERCHANT.email} / {DEMO_MERCHANT.password}",
        f"demo admin     {DEMO_ADMIN.email} / {DEMO_ADMIN.password}",
        f"demo vendor QR {demo_upi_uri()}",
    ]
