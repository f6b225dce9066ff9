"""Who uses the platform: users with a role, merchants, and their addresses."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from wallet.db.base import Base, UTCDateTime, utcnow
from wallet.db.models._types import IdType, enum_type


class Role(enum.StrEnum):
    PAYER = "payer"
    MERCHANT = "merchant"
    ADMIN = "admin"


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # no new payments or withdrawals; balances stay


class MerchantStatus(enum.StrEnum):
    PENDING = "pending"  # signed up, KYC not finished
    ACTIVE = "active"
    SUSPENDED = "suspended"


class User(Base):
    """A person with a login. ``kyc_tier`` 0 means unverified."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower"),
        CheckConstraint("kyc_tier >= 0", name="kyc_tier_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_type(Role, "user_role"), default=Role.PAYER)
    kyc_tier: Mapped[int] = mapped_column(default=0)
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus, "user_status"), default=UserStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @validates("email")
    def _lower_email(self, _key: str, value: str) -> str:
        # One account per mailbox: Alice@x and alice@x are the same person.
        return value.strip().lower()


class Merchant(Base):
    """A vendor who signed up: gets dashboards, dynamic QRs and webhooks."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    upi_vpa: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[MerchantStatus] = mapped_column(
        enum_type(MerchantStatus, "merchant_status"), default=MerchantStatus.PENDING
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AddressPurpose(enum.StrEnum):
    CUSTODIAL = "custodial"  # a payer's platform wallet
    DEPOSIT = "deposit"  # a unique address for one external payment
    ESCROW = "escrow"
    HOT = "hot"


class WalletAddress(Base):
    """An address we derived (from a public key) on one chain.

    ``user_id`` is empty for platform addresses (escrow, hot). The unique
    ``(chain, derivation_index)`` stops two concurrent derivations from
    handing the same address to two payments.
    """

    __tablename__ = "wallet_addresses"
    __table_args__ = (
        UniqueConstraint("chain", "address"),
        UniqueConstraint("chain", "purpose", "derivation_index"),
        CheckConstraint("derivation_index >= 0", name="derivation_index_non_negative"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    chain: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[AddressPurpose] = mapped_column(enum_type(AddressPurpose, "address_purpose"))
    address: Mapped[str] = mapped_column(String(128))
    derivation_index: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
