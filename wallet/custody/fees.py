"""Network fees we pay, booked as balanced ledger entries.

Every transaction we sign burns native coin (gas, miner fee, Solana
signature fee and rent of accounts it creates). Once it has landed —
confirmed, or reverted, which still pays gas — the fee actually paid
(:meth:`~wallet.chains.base.ChainAdapter.fee_paid`, not the signed cap) is
booked ``expense:network_fees:<NATIVE>`` Dr / ``hot:<chain>:<NATIVE>`` Cr,
one entry per broadcast key (kind ``network_fee``), so a retried booking
is a no-op and Σ fee entries ties out against the chain (G5).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from wallet.assets import Chain
from wallet.db.models.ledger import JournalEntry
from wallet.ledger import post_entry

NETWORK_FEE_KIND = "network_fee"

NATIVE: dict[Chain, str] = {
    Chain.ETHEREUM: "ETH",
    Chain.SOLANA: "SOL",
    Chain.BITCOIN: "BTC",
    Chain.DOGECOIN: "DOGE",
}


def native_asset(chain: Chain | str) -> str:
    """The coin that pays fees on ``chain``."""
    return NATIVE[Chain(chain)]


def book_network_fee(
    session: Session, chain: Chain | str, broadcast_key: str, fee_minor: int, *, memo: str
) -> JournalEntry | None:
    """Book what broadcast ``broadcast_key`` paid the network; None when it paid nothing."""
    if fee_minor <= 0:
        return None
    native = native_asset(chain)
    return post_entry(
        session,
        [
            (f"expense:network_fees:{native}", native, fee_minor),
            (f"hot:{Chain(chain).value}:{native}", native, -fee_minor),
        ],
        kind=NETWORK_FEE_KIND,
        ref=broadcast_key,
        memo=memo,
    )
