"""The web tier's view of custody: deposit addresses and payment links.

A thin adapter over :class:`wallet.custody.service.CustodyService`, built
from public keys only: the web tier derives addresses from the xpubs the
custody vault stores and never decrypts a seed. Links follow EIP-681 (ETH
and ERC-20), Solana Pay transfer requests (SOL and SPL) and BIP21 (BTC, DOGE).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy.orm import Session

from wallet.assets import Chain, get_asset
from wallet.chains.networks import NetworkKind, network_kind
from wallet.custody.service import CustodyService
from wallet.db.models.payments import Payment
from webapp.extensions import settings, unit_of_work

# Where a payer can look a transaction up (mainnet only; the sandbox has no explorer).
EXPLORERS: dict[Chain, str] = {
    Chain.ETHEREUM: "https://etherscan.io/tx/{txid}",
    Chain.SOLANA: "https://solscan.io/tx/{txid}",
    Chain.BITCOIN: "https://mempool.space/tx/{txid}",
    Chain.DOGECOIN: "https://blockchair.com/dogecoin/transaction/{txid}",
}


def kind() -> NetworkKind:
    return network_kind(settings())


def service() -> CustodyService:
    """This app's custody facade (public keys only), built on first use."""
    found: CustodyService | None = current_app.extensions.get("custody")
    if found is None:
        found = CustodyService.from_settings(settings())
        current_app.extensions["custody"] = found
    return found


def payment_uri(asset: str, address: str, amount_minor: int | None = None) -> str:
    """The wallet link that pays ``amount_minor`` of ``asset`` to ``address``."""
    return service().payment_uri(asset, address, amount_minor)


@dataclass(frozen=True)
class DepositAddress:
    asset: str
    chain: str
    address: str
    uri: str


def deposit_address(user_id: int, asset: str) -> DepositAddress:
    """The payer's own custodial address for ``asset``'s chain (created on first ask)."""
    with unit_of_work() as db:
        address, uri = service().deposit_address(db, user_id, asset)
    return DepositAddress(asset, get_asset(asset).chain.value, address, uri)


def assign_deposit(session: Session, payment: Payment) -> str:
    """A fresh address for one external payment (``create_payment``'s allocator)."""
    address, _uri, _reference = service().external_payment_target(session, payment)
    return address


def explorer_url(chain: str, txid: str) -> str | None:
    if kind() is not NetworkKind.MAINNET:
        return None
    template = EXPLORERS.get(Chain(chain))
    return template.format(txid=txid) if template else None
