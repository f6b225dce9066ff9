"""Every table of the platform, importable from one place.

Importing this package registers all tables on ``Base.metadata`` (Alembic
and ``create_all`` rely on it). Modules are split by domain; the state
machine's statuses come from :mod:`wallet.payments.states`.
"""

from wallet.db.models.chain import ChainObservation, Credit
from wallet.db.models.ledger import (
    AccountType,
    HoldStatus,
    JournalEntry,
    LedgerAccount,
    LedgerBalance,
    LedgerHold,
    Posting,
)
from wallet.db.models.ops import (
    AuditLog,
    IdempotencyKey,
    OutboxMessage,
    OutboxStatus,
    WorkerHeartbeat,
)
from wallet.db.models.payments import Payment, PaymentEvent, PaymentSource, Quote, QuoteStatus
from wallet.db.models.settlement import (
    AttemptState,
    ExchangeOrder,
    OrderSide,
    OrderStatus,
    Payout,
    PayoutStatus,
    Settlement,
    SettlementAttempt,
    SettlementStatus,
)
from wallet.db.models.users import (
    AddressPurpose,
    Merchant,
    MerchantStatus,
    Role,
    User,
    UserStatus,
    WalletAddress,
)
from wallet.payments.states import PaymentStatus

__all__ = [
    "AccountType",
    "AddressPurpose",
    "AttemptState",
    "AuditLog",
    "ChainObservation",
    "Credit",
    "ExchangeOrder",
    "HoldStatus",
    "IdempotencyKey",
    "JournalEntry",
    "LedgerAccount",
    "LedgerBalance",
    "LedgerHold",
    "Merchant",
    "MerchantStatus",
    "OrderSide",
    "OrderStatus",
    "OutboxMessage",
    "OutboxStatus",
    "Payment",
    "PaymentEvent",
    "PaymentSource",
    "PaymentStatus",
    "Payout",
    "PayoutStatus",
    "Posting",
    "Quote",
    "QuoteStatus",
    "Role",
    "Settlement",
    "SettlementAttempt",
    "SettlementStatus",
    "User",
    "UserStatus",
    "WalletAddress",
    "WorkerHeartbeat",
]
