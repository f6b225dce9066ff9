"""Helpers of the master-key rotation tests: every kind of sealed secret, written
through the owners' own functions, and read back the way the platform reads them."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from wallet.admin import exchange_accounts
from wallet.admin.models import ExchangeAccount
from wallet.assets import ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody.kms import KeyManager
from wallet.custody.models import CustodyKey
from wallet.custody.vault import SeedVault
from wallet.db.base import utcnow
from wallet.db.models import Merchant, User
from wallet.db.models.settlement import MerchantBankAccount
from wallet.db.models.users import MerchantStatus, Role
from wallet.db.session import transaction
from wallet.merchants import sealed, webhooks
from wallet.merchants.models import WebhookEndpoint
from wallet.payouts.razorpayx import Contact, FundAccount
from wallet.settlement.imps import register_bank_account, sealing_context

VENUES = ("binance", "inr")
FAMILIES = (ChainFamily.EVM, ChainFamily.SOLANA, ChainFamily.UTXO)
SEALED_TABLES = ("webhook_endpoints", "exchange_accounts", "merchant_bank_accounts")


class RecordingGateway:
    """RazorpayX contact and fund-account creation (a collaborator of registration only)."""

    def create_contact(
        self,
        name: str,
        *,
        contact_type: str = "vendor",
        reference_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> Contact:
        return Contact(f"cont_{uuid.uuid4().hex[:14]}", name, reference_id)

    def create_fund_account_bank(
        self, contact_id: str, *, name: str, ifsc: str, account_number: str
    ) -> FundAccount:
        return FundAccount(f"fa_{uuid.uuid4().hex[:14]}", contact_id, "bank_account", None)


@dataclass
class Plaintexts:
    """What was sealed, by row, to compare after rotation."""

    webhook: dict[str, str] = field(default_factory=dict)  # public_id -> secret
    exchange: dict[str, tuple[str, str]] = field(default_factory=dict)  # venue -> (key, secret)
    bank: dict[int, str] = field(default_factory=dict)  # merchant_id -> account number
    seeds: dict[ChainFamily, bytes] = field(default_factory=dict)

    @property
    def sealed_values(self) -> int:
        return len(self.webhook) + 2 * len(self.exchange) + len(self.bank)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def key_texts(*keys: bytes) -> list[str]:
    """Every printable form of the keys that must never appear in output."""
    forms = []
    for key in keys:
        forms += [b64(key), base64.urlsafe_b64encode(key).decode().rstrip("="), key.hex()]
    return forms


def clear_sealed(factory: sessionmaker[Session]) -> None:
    """Empty the sealed tables (a schema shared by this module's tests)."""
    with transaction(factory) as s:
        for model in (WebhookEndpoint, ExchangeAccount, MerchantBankAccount, CustodyKey):
            s.execute(delete(model))


def _merchant(session: Session, n: int) -> int:
    user = User(
        email=f"m{uuid.uuid4().hex[:10]}@example.com", password_hash="x", role=Role.MERCHANT
    )
    session.add(user)
    session.flush()
    merchant = Merchant(
        user_id=user.id,
        display_name=f"Shop {n}",
        upi_vpa=f"shop{n}@okaxis",
        status=MerchantStatus.ACTIVE,
    )
    session.add(merchant)
    session.flush()
    return merchant.id


def seal_everything(
    factory: sessionmaker[Session], kms: KeyManager, *, merchants: int = 3
) -> Plaintexts:
    """Seeds, two webhook endpoints and a bank account per merchant, both venues' keys."""
    out = Plaintexts()
    vault = SeedVault(kms, NetworkKind.SANDBOX)
    with transaction(factory) as s:
        for family in FAMILIES:
            vault.create_seed(s, family)
            out.seeds[family] = vault.seed(s, family).reveal()
        for n in range(merchants):
            merchant_id = _merchant(s, n)
            for _ in range(2):
                new = webhooks.create_endpoint(
                    s, kms, merchant_id, "https://hooks.example.com/taskforce",
                    allow_private=False, actor=f"merchant:{merchant_id}", now=utcnow(),
                )  # fmt: skip
                out.webhook[new.endpoint.public_id] = new.secret
            number = f"5010001234{n:04d}"
            register_bank_account(
                s, kms, RecordingGateway(), merchant_id,
                holder_name="Ravi Kumar", ifsc="HDFC0001234", account_number=number,
            )  # fmt: skip
            out.bank[merchant_id] = number
        for venue in VENUES:
            key, secret = f"{venue}-key-{uuid.uuid4().hex}", f"{venue}-secret-{uuid.uuid4().hex}"
            exchange_accounts.set_credentials(
                s, kms, venue, key, secret, venues=VENUES, actor="admin:1", now=utcnow()
            )
            out.exchange[venue] = (key, secret)
    return out


def key_ids(factory: sessionmaker[Session]) -> dict[str, set[str]]:
    """The master-key ids each table's values name."""
    with factory() as s:
        ids: dict[str, set[str]] = {
            "custody_keys": set(s.scalars(select(CustodyKey.master_key_id)))
        }
        ids["webhook_endpoints"] = {
            sealed.key_id_of(v) for v in s.scalars(select(WebhookEndpoint.secret_sealed))
        }
        ids["exchange_accounts"] = {
            sealed.key_id_of(v)
            for a in s.scalars(select(ExchangeAccount))
            for v in (a.api_key_sealed, a.api_secret_sealed)
            if v is not None
        }
        ids["merchant_bank_accounts"] = {
            sealed.key_id_of(v)
            for v in s.scalars(select(MerchantBankAccount.account_number_sealed))
        }
    return ids


def payloads(factory: sessionmaker[Session]) -> dict[str, tuple[str, ...]]:
    """Each sealed value's payload parts (nonce, ciphertext) and the seeds' ciphertexts."""
    out: dict[str, tuple[str, ...]] = {}
    with factory() as s:
        for e in s.scalars(select(WebhookEndpoint)):
            out[f"we:{e.public_id}"] = tuple(e.secret_sealed.split(".")[4:])
        for a in s.scalars(select(ExchangeAccount)):
            assert a.api_key_sealed is not None and a.api_secret_sealed is not None
            out[f"ex:{a.venue}:key"] = tuple(a.api_key_sealed.split(".")[4:])
            out[f"ex:{a.venue}:secret"] = tuple(a.api_secret_sealed.split(".")[4:])
        for b in s.scalars(select(MerchantBankAccount)):
            out[f"bank:{b.merchant_id}"] = tuple(b.account_number_sealed.split(".")[4:])
        for k in s.scalars(select(CustodyKey)):
            out[f"seed:{k.family}"] = (k.seed_nonce.hex(), k.seed_ciphertext.hex())
    return out


def read_everything(factory: sessionmaker[Session], kms: KeyManager) -> Plaintexts:
    """Every secret opened the way the platform opens it."""
    out = Plaintexts()
    vault = SeedVault(kms, NetworkKind.SANDBOX)
    with factory() as s:
        for family in FAMILIES:
            out.seeds[family] = vault.seed(s, family).reveal()
        for e in s.scalars(select(WebhookEndpoint)):
            out.webhook[e.public_id] = webhooks.endpoint_secret(kms, e).reveal().decode()
        for venue in VENUES:
            key, secret = exchange_accounts.credentials(s, kms, venue)
            out.exchange[venue] = (key.reveal().decode(), secret.reveal().decode())
        for b in s.scalars(select(MerchantBankAccount)):
            number = sealed.unseal(kms, b.account_number_sealed, sealing_context(b.merchant_id))
            out.bank[b.merchant_id] = number.reveal().decode()
    return out


def open_each_kind(factory: sessionmaker[Session], kms: KeyManager) -> dict[str, Exception]:
    """Try to open one secret of each kind; what each attempt raised (none: opened)."""
    refusals: dict[str, Exception] = {}
    with factory() as s:
        endpoint = s.scalars(select(WebhookEndpoint)).first()
        bank = s.scalars(select(MerchantBankAccount)).first()
        assert endpoint is not None and bank is not None
        attempts = {
            "seed": lambda: SeedVault(kms, NetworkKind.SANDBOX).seed(s, ChainFamily.EVM),
            "webhook": lambda: webhooks.endpoint_secret(kms, endpoint),
            "exchange": lambda: exchange_accounts.credentials(s, kms, VENUES[0]),
            "bank": lambda: sealed.unseal(
                kms, bank.account_number_sealed, sealing_context(bank.merchant_id)
            ),
        }
        for kind, attempt in attempts.items():
            try:
                attempt()
            except Exception as exc:
                refusals[kind] = exc
    return refusals
