"""The custody facade the rest of the platform calls: addresses, payment targets, chain ticks.

- :meth:`CustodyService.deposit_address` — a user's own custodial address
  on an asset's chain (allocated once per user and chain; Solana from the
  signer's pool) and a payment link for it.
- :meth:`CustodyService.external_payment_target` — where an *external*
  payment is paid: a fresh deposit address per payment (Solana too, from
  the pool, see :mod:`wallet.custody.addresses` for why), a link carrying
  the exact amount, and on Solana a Solana Pay ``reference`` derived from
  the payment id (an extra match key for wallets that keep it).
- :func:`scan_chain` — one tick of a chain: scan from the cursor to the
  head, record observations, apply the credit rules. With no new block it
  costs one cursor read and two RPC calls (the cursor's hash and the
  head), so a Dagster sensor can call it every tick.
- :func:`sweep_chain` — one tick of sweeps and cold moves (signer side).
- :func:`build_signer` — the signer from settings: the platform KMS's vault
  (:func:`platform_vault`) and a :class:`~wallet.custody.signer.SignerPolicy`
  from custody's config (:func:`signer_policy`).

The web tier builds the service from public keys only (:func:`public_keys`
refuses to decrypt anything); only signer-side workers (sweeps, the
withdrawal worker) build the signer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from wallet.assets import REGISTRY, Chain, contract_for, get_asset
from wallet.chains.base import ChainAdapter
from wallet.chains.models import ScanCursor
from wallet.chains.networks import NetworkKind, network, network_kind
from wallet.chains.scanner import scan_step
from wallet.chains.watchlist import Watchlist
from wallet.custody.addresses import PublicKeys, assign_address
from wallet.custody.config import CustodyConfig
from wallet.custody.deposits import ConfirmationPolicy, process_deposits
from wallet.custody.errors import KeyUnavailable
from wallet.custody.kms import WrappedKey
from wallet.custody.secret import SecretBytes
from wallet.custody.signer import Signer, SignerPolicy
from wallet.custody.sweeps import SweepReport, run_sweeps
from wallet.custody.vault import SeedVault
from wallet.db.models.payments import Payment, PaymentSource
from wallet.db.models.users import AddressPurpose
from wallet.db.session import transaction
from wallet.errors import WalletError
from wallet.paylinks import bip21, eip681_erc20, eip681_native, solana_pay

LABEL = "TaskForce Wallet"
REFERENCE_CONTEXT = b"taskforce/solana-pay/reference/v1:"


class _PublicOnly:
    """A key manager that wraps and unwraps nothing: public derivation only."""

    key_id = "public-only"

    def wrap(self, data_key: SecretBytes, context: bytes) -> WrappedKey:
        raise KeyUnavailable("this custody view holds no master key")

    def unwrap(self, wrapped: WrappedKey, context: bytes) -> SecretBytes:
        raise KeyUnavailable("this custody view holds no master key")


def public_keys(kind: NetworkKind) -> PublicKeys:
    """Address derivation from the stored xpubs, unable to decrypt any seed."""
    return PublicKeys(SeedVault(_PublicOnly(), kind))


def chain_tokens(chain: Chain, overrides: Mapping[str, str]) -> dict[str, str]:
    """Symbol → contract/mint of every registry token on ``chain`` (settings override)."""
    out = {}
    for symbol, spec in REGISTRY.items():
        if spec.chain is chain and not spec.is_native:
            contract = contract_for(symbol, overrides)
            if contract is not None:
                out[symbol] = contract
    return out


def solana_reference(payment_id: str) -> str:
    """A Solana Pay ``reference`` key derived from the payment id: stable, unique, public."""
    from bip_utils import Base58Encoder

    digest = hashlib.sha256(REFERENCE_CONTEXT + payment_id.encode()).digest()
    return str(Base58Encoder.Encode(digest))


class CustodyService:
    """Deposit addresses and payment targets, from public keys only."""

    def __init__(
        self, keys: PublicKeys, kind: NetworkKind, token_contracts: Mapping[str, str]
    ) -> None:
        self.keys = keys
        self.kind = kind
        self.token_contracts = dict(token_contracts)

    @classmethod
    def from_settings(cls, settings: Any, keys: PublicKeys | None = None) -> CustodyService:
        kind = network_kind(settings)
        return cls(keys or public_keys(kind), kind, settings.token_contracts)

    def payment_uri(
        self,
        asset: str,
        address: str,
        amount_minor: int | None = None,
        reference: str | None = None,
    ) -> str:
        """EIP-681, Solana Pay or BIP21 link paying ``amount_minor`` of ``asset`` to ``address``."""
        info = get_asset(asset)
        token = contract_for(asset, self.token_contracts)
        if info.chain is Chain.ETHEREUM:
            chain_id = network(Chain.ETHEREUM, self.kind).evm_chain_id or 1
            if token is None:
                return eip681_native(address, chain_id, amount_minor or 0)
            return eip681_erc20(token, chain_id, address, amount_minor or 0)
        if info.chain is Chain.SOLANA:
            return solana_pay(
                address,
                amount_minor=amount_minor,
                decimals=info.decimals,
                spl_token=token,
                references=(reference,) if reference else (),
                label=LABEL,
            )
        if info.chain in (Chain.BITCOIN, Chain.DOGECOIN):
            scheme = "dogecoin" if info.chain is Chain.DOGECOIN else "bitcoin"
            return bip21(address, scheme=scheme, amount_minor=amount_minor, label=LABEL)
        raise KeyUnavailable(f"{asset} has no on-chain address")

    def deposit_address(self, session: Session, user_id: int, asset: str) -> tuple[str, str]:
        """(address, link) of the user's custodial address for ``asset``; allocated once."""
        chain = get_asset(asset).chain
        if chain is Chain.FIAT:
            raise KeyUnavailable(f"{asset} has no deposit address")
        row = assign_address(session, self.keys, chain, user_id, AddressPurpose.CUSTODIAL)
        return row.address, self.payment_uri(asset, row.address)

    def external_payment_target(
        self, session: Session, payment: Payment
    ) -> tuple[str, str, str | None]:
        """(address, link with the amount, Solana Pay reference or None) for one payment.

        A fresh deposit address per payment, stored on the payment; asking
        again returns the same target.
        """
        if payment.source is not PaymentSource.EXTERNAL:
            raise WalletError(
                "only external payments are paid to a deposit address", code="not_external"
            )
        chain = get_asset(payment.asset).chain
        if chain is Chain.FIAT:
            raise KeyUnavailable(f"{payment.asset} has no deposit address")
        if payment.deposit_address is None:
            row = assign_address(session, self.keys, chain, payment.user_id, AddressPurpose.DEPOSIT)
            payment.deposit_address = row.address
            session.flush()
        reference = solana_reference(payment.id) if chain is Chain.SOLANA else None
        uri = self.payment_uri(
            payment.asset, payment.deposit_address, payment.amount_minor, reference
        )
        return payment.deposit_address, uri, reference


# -- chain ticks -------------------------------------------------------------------


def build_adapter(chain: Chain, settings: Any) -> ChainAdapter:
    """The adapter for ``chain`` from settings (the sandbox's endpoints in dev)."""
    kind = network_kind(settings)
    tokens = chain_tokens(chain, settings.token_contracts)
    if chain is Chain.ETHEREUM:
        from wallet.chains.evm import EvmAdapter

        chain_id = network(chain, kind).evm_chain_id or 1
        return EvmAdapter(settings.eth_rpc_url, tokens, chain_id=chain_id)
    if chain is Chain.SOLANA:
        from wallet.chains.solana import SolanaAdapter

        return SolanaAdapter(settings.sol_rpc_url, tokens)
    if chain in (Chain.BITCOIN, Chain.DOGECOIN):
        from wallet.chains.utxo import UtxoAdapter

        url = settings.btc_rpc_url if chain is Chain.BITCOIN else settings.doge_rpc_url
        return UtxoAdapter(url, network(chain, kind))
    raise KeyUnavailable(f"no adapter for {chain}")


def confirmation_policy(settings: Any) -> ConfirmationPolicy:
    """Per-asset confirmation overrides from ``settings.custody_confirmations`` (if any)."""
    return ConfirmationPolicy(dict(getattr(settings, "custody_confirmations", None) or {}))


def signer_policy(settings: Any, config: CustodyConfig | None = None) -> SignerPolicy:
    """The signer's own limits from settings: caps, token allowlist, cold addresses, chain id."""
    cfg = config or CustodyConfig.from_settings(settings)
    tokens: dict[str, str] = {}
    for chain in Chain:
        if chain is not Chain.FIAT:
            tokens.update(chain_tokens(chain, settings.token_contracts))
    return SignerPolicy(
        per_tx_cap=dict(cfg.signer_per_tx_cap),
        daily_cap=cfg.signer_daily_caps(),
        allowlist={chain: frozenset({address}) for chain, address in cfg.cold_addresses.items()},
        token_contracts=tokens,
        evm_chain_id=network(Chain.ETHEREUM, network_kind(settings)).evm_chain_id or 1,
    )


def platform_vault(settings: Any) -> SeedVault:
    """The seed vault under the platform KMS (:func:`wallet.devkeys.platform_kms`): signer side."""
    from wallet.devkeys import platform_kms

    return SeedVault(platform_kms(settings), network_kind(settings))


def build_signer(settings: Any, vault: SeedVault | None = None) -> Signer:
    """The signer over ``vault`` (default :func:`platform_vault`) with :func:`signer_policy`."""
    return Signer(vault or platform_vault(settings), signer_policy(settings))


@dataclass(frozen=True)
class ScanResult:
    """What one :func:`scan_chain` tick changed (credit ids, block range, counts)."""

    chain: str
    start: int
    end: int  # start - 1: no new block
    observed: int
    reorg_depth: int
    credited: list[int] = field(default_factory=list)
    reversed: list[int] = field(default_factory=list)
    reinstated: list[int] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    pending: int = 0
    confirm_height: int | None = None  # when the first pending deposit can be credited

    @property
    def changed(self) -> bool:
        """Whether payments may have to move on (a run worth launching)."""
        return bool(
            self.observed
            or self.reorg_depth
            or self.credited
            or self.reversed
            or self.reinstated
            or self.refused
        )


def scan_chain(
    factory: sessionmaker[Session],
    chain: Chain | str,
    settings: Any,
    *,
    adapter: ChainAdapter | None = None,
    policy: ConfirmationPolicy | None = None,
    max_blocks: int = 500,
    watchlist: Watchlist | None = None,
) -> ScanResult:
    """One tick: scan from the cursor (or today's head, first time) and apply the credit rules.

    Takes a session factory rather than a session: chain RPC calls must
    not run inside a database transaction, and each write commits on its
    own so a crash mid-tick loses nothing already recorded.
    """
    chain = Chain(chain)
    own = adapter is None
    active = adapter or build_adapter(chain, settings)
    try:
        with transaction(factory) as session:
            has_cursor = session.get(ScanCursor, chain.value) is not None
        start = 0 if has_cursor else active.head().height
        report = scan_step(
            factory,
            active,
            name=chain.value,
            start_height=start,
            max_blocks=max_blocks,
            watchlist=watchlist,
        )
        result = ScanResult(
            chain.value, report.start, report.end, report.observed, report.reorg_depth
        )
        if report.end < report.start and not report.reorg_depth:
            return result
        deposits = process_deposits(factory, active, policy or confirmation_policy(settings))
        return ScanResult(
            chain=chain.value,
            start=report.start,
            end=report.end,
            observed=report.observed,
            reorg_depth=report.reorg_depth,
            credited=[c.id for c in deposits.credited],
            reversed=deposits.reversed,
            reinstated=deposits.reinstated,
            refused=deposits.refused,
            pending=deposits.pending,
            confirm_height=deposits.confirm_height,
        )
    finally:
        if own:
            active.close()


def sweep_chain(
    factory: sessionmaker[Session],
    chain: Chain | str,
    settings: Any,
    signer: Signer,
    *,
    adapter: ChainAdapter | None = None,
    config: CustodyConfig | None = None,
) -> SweepReport:
    """One sweep tick for ``chain`` (signer side): plan and advance sweeps and cold moves."""
    chain = Chain(chain)
    own = adapter is None
    active = adapter or build_adapter(chain, settings)
    try:
        return run_sweeps(factory, active, signer, config or CustodyConfig.from_settings(settings))
    finally:
        if own:
            active.close()
