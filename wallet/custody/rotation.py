"""Master-key rotation over every secret at rest: re-wrap data keys, never the payloads.

Each secret is an envelope (:mod:`wallet.custody.kms`): the payload is
encrypted under its own data key, and only that data key is wrapped by the
master key whose public id is stored beside it. Rotating the master key
unwraps each data key with the retired key and wraps it under the current
one, bound to the same context; payload ciphertexts never change. What is
sealed:

- ``custody_keys``: the per-family seeds (:func:`wallet.custody.vault.rotate_master_key`);
- ``webhook_endpoints.secret_sealed``, ``exchange_accounts.api_key_sealed``
  and ``api_secret_sealed``, ``merchant_bank_accounts.account_number_sealed``:
  :mod:`wallet.merchants.sealed` strings, re-wrapped by
  :func:`wallet.merchants.sealed.rewrap` with the context their owner seals
  them with.

Crash-safe and re-runnable: each batch of rows commits on its own, and a
value already under the current key is skipped (selected in SQL by its
key-id prefix), so a re-run after a crash finishes the rest and a finished
rotation re-runs as a no-op. Rows are locked (``FOR UPDATE``) while
re-wrapped, so a concurrent re-seal (a merchant rotating a webhook secret)
is never overwritten. Errors and logs name tables, row ids and key ids,
never key material.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from wallet.admin import exchange_accounts
from wallet.admin.models import ExchangeAccount
from wallet.audit import record
from wallet.custody.kms import KeyManager
from wallet.custody.models import CustodyKey
from wallet.custody.vault import rotate_master_key
from wallet.db.models.settlement import MerchantBankAccount
from wallet.db.session import transaction
from wallet.errors import WalletError
from wallet.merchants import sealed, webhooks
from wallet.merchants.models import WebhookEndpoint
from wallet.settlement.imps import sealing_context

log = logging.getLogger(__name__)

CUSTODY_TABLE = "custody_keys"
DEFAULT_BATCH = 200
PREFIX_CHARS = 256  # enough of a sealed string to hold "v1.<key id>."


@dataclass(frozen=True, slots=True)
class SealedField:
    """One sealed column and the context its owner seals it with."""

    column: str
    context: Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class SealedTable:
    name: str
    model: type[Any]
    fields: tuple[SealedField, ...]


# The owners' own context functions, so the binding cannot drift from theirs.
SEALED_TABLES: tuple[SealedTable, ...] = (
    SealedTable(
        "webhook_endpoints",
        WebhookEndpoint,
        (SealedField("secret_sealed", lambda row: webhooks._context(row.public_id)),),
    ),
    SealedTable(
        "exchange_accounts",
        ExchangeAccount,
        (
            SealedField(
                "api_key_sealed", lambda row: exchange_accounts._context(row.venue, "api_key")
            ),
            SealedField(
                "api_secret_sealed",
                lambda row: exchange_accounts._context(row.venue, "api_secret"),
            ),
        ),
    ),
    SealedTable(
        "merchant_bank_accounts",
        MerchantBankAccount,
        (SealedField("account_number_sealed", lambda row: sealing_context(row.merchant_id)),),
    ),
)

TABLES: tuple[str, ...] = (CUSTODY_TABLE, *(t.name for t in SEALED_TABLES))


@dataclass(frozen=True)
class RotationReport:
    """What a rotation re-wrapped: values per table, and the key ids they were under."""

    key_id: str
    counts: dict[str, int]
    from_key_ids: tuple[str, ...] = field(default=())

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _column(table: SealedTable, sealed_field: SealedField) -> InstrumentedAttribute[Any]:
    column: InstrumentedAttribute[Any] = getattr(table.model, sealed_field.column)
    return column


def _stale(column: InstrumentedAttribute[Any], key_id: str) -> ColumnElement[bool]:
    """SQL: the column holds a sealed value whose data key is not under ``key_id``."""
    current = f"{sealed.VERSION}.{key_id}."
    # substr, not LIKE: exact and case-sensitive on SQLite and PostgreSQL alike.
    return and_(column.is_not(None), func.substr(column, 1, len(current)) != current)


def rotate_all(
    factory: sessionmaker[Session],
    kms: KeyManager,
    *,
    batch_size: int = DEFAULT_BATCH,
    actor: str | None = None,
    after_batch: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-wrap every sealed value not yet under ``kms.key_id``; counts per table.

    ``kms`` must still unwrap the retired keys (``LocalKeyManager(new,
    previous=[old])``, i.e. :func:`wallet.devkeys.platform_kms`). Commits
    every ``batch_size`` rows; ``after_batch(table, rows)`` runs after each
    commit (progress). With ``actor``, an audit row records the counts and
    key ids. A value whose key is not configured raises
    :class:`~wallet.custody.errors.KeyUnavailable` naming the table and row;
    everything committed before it stays done.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    from_ids: set[str] = set()
    counts: dict[str, int] = {}
    with transaction(factory) as session:
        from_ids.update(
            session.scalars(
                select(CustodyKey.master_key_id)
                .where(CustodyKey.master_key_id != kms.key_id)
                .distinct()
            )
        )
        try:
            counts[CUSTODY_TABLE] = rotate_master_key(session, kms)
        except WalletError as exc:
            raise type(exc)(f"{CUSTODY_TABLE}: {exc.message}", code=exc.code) from None
    if after_batch is not None and counts[CUSTODY_TABLE]:
        after_batch(CUSTODY_TABLE, counts[CUSTODY_TABLE])
    for table in SEALED_TABLES:
        counts[table.name] = _rotate_table(factory, kms, table, batch_size, from_ids, after_batch)
    report = RotationReport(kms.key_id, counts, tuple(sorted(from_ids)))
    if actor is not None:
        with transaction(factory) as session:
            record(
                session,
                actor=actor,
                action="master_key.rotated",
                subject_type="master_key",
                subject_id=report.key_id,
                data={
                    "key_id": report.key_id,
                    "from_key_ids": list(report.from_key_ids),
                    "counts": report.counts,
                    "total": report.total,
                },
            )
    log.info("master key rotation to %s re-wrapped %d values", report.key_id, report.total)
    return report


def _rotate_table(
    factory: sessionmaker[Session],
    kms: KeyManager,
    table: SealedTable,
    batch_size: int,
    from_ids: set[str],
    after_batch: Callable[[str, int], None] | None,
) -> int:
    total = 0
    last_id = 0  # ids are positive; paging by id guarantees progress
    stale = or_(*(_stale(_column(table, f), kms.key_id) for f in table.fields))
    while True:
        with transaction(factory) as session:
            rows = session.scalars(
                select(table.model)
                .where(stale, table.model.id > last_id)
                .order_by(table.model.id)
                .limit(batch_size)
                .with_for_update()
            ).all()
            rewrapped = sum(_rewrap_row(kms, table, row, from_ids) for row in rows)
        if not rows:
            return total
        total += rewrapped
        last_id = rows[-1].id
        log.info("re-wrapped %d values in %s under %s", rewrapped, table.name, kms.key_id)
        if after_batch is not None:
            after_batch(table.name, len(rows))
        if len(rows) < batch_size:
            return total


def _rewrap_row(kms: KeyManager, table: SealedTable, row: Any, from_ids: set[str]) -> int:
    done = 0
    for sealed_field in table.fields:
        value = getattr(row, sealed_field.column)
        if value is None:
            continue
        try:
            key_id = sealed.key_id_of(value)
            if key_id == kms.key_id:
                continue
            new = sealed.rewrap(kms, value, sealed_field.context(row))
        except WalletError as exc:  # messages name key ids, never key material
            raise type(exc)(
                f"{table.name} row {row.id} ({sealed_field.column}): {exc.message}", code=exc.code
            ) from None
        setattr(row, sealed_field.column, new)
        from_ids.add(key_id)
        done += 1
    return done


def remaining(session: Session, key_id: str) -> dict[str, dict[str, int]]:
    """Sealed values not under ``key_id``: per table, how many under each other key id.

    Empty tables are present with ``{}``; when every table is empty the
    retired keys can be dropped from the configuration.
    """
    report: dict[str, dict[str, int]] = {}
    custody = session.execute(
        select(CustodyKey.master_key_id, func.count())
        .where(CustodyKey.master_key_id != key_id)
        .group_by(CustodyKey.master_key_id)
    ).all()
    report[CUSTODY_TABLE] = {kid: int(n) for kid, n in custody}
    for table in SEALED_TABLES:
        by_key: Counter[str] = Counter()
        for sealed_field in table.fields:
            column = _column(table, sealed_field)
            prefixes = session.scalars(
                select(func.substr(column, 1, PREFIX_CHARS)).where(_stale(column, key_id))
            )
            for prefix in prefixes:
                parts = prefix.split(".")
                by_key[parts[1] if len(parts) > 2 else "malformed"] += 1
        report[table.name] = dict(by_key)
    return report
