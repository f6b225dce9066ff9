"""Small helpers for ledger tests on a shared database."""

from __future__ import annotations

import itertools
import uuid

from sqlalchemy.orm import Session, sessionmaker

from wallet.db.session import transaction
from wallet.ledger import post_entry

_ids = itertools.count(1)


def fresh_user_id() -> int:
    """A user id no other test in this session uses (the PG schema is shared)."""
    return int(uuid.uuid4().int % 10**12) * 1000 + next(_ids) % 1000 + 1


def deposit(factory: sessionmaker[Session], user_id: int, asset: str, amount: int) -> None:
    """Credit a payer's custodial wallet from escrow, as a chain deposit would."""
    with transaction(factory) as session:
        post_entry(
            session,
            [
                (f"escrow:ethereum:{asset}", asset, amount),
                (f"user:{user_id}:wallet:{asset}", asset, -amount),
            ],
            kind="deposit",
            ref=uuid.uuid4().hex,
        )


def spend_legs(user_id: int, asset: str, amount: int) -> list[tuple[str, str, int]]:
    """The payer gives ``amount`` to fee revenue (debit the wallet, credit revenue)."""
    return [
        (f"user:{user_id}:wallet:{asset}", asset, amount),
        (f"revenue:fees:{asset}", asset, -amount),
    ]
