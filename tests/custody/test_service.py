"""The custody facade: deposit addresses once per user and chain, a unique payment target
per external payment (Solana from the pool, with a reference), and links that carry the
amount. Public keys only: the service cannot decrypt a seed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from tests.chains.helpers import Custody, make_custody
from wallet.assets import Chain, ChainFamily
from wallet.chains.networks import NetworkKind
from wallet.custody.addresses import fill_solana_pool
from wallet.custody.errors import KeyUnavailable
from wallet.custody.service import CustodyService, public_keys, solana_reference
from wallet.db.base import utcnow
from wallet.db.models.payments import Payment, PaymentSource, Quote
from wallet.db.session import transaction
from wallet.errors import WalletError
from wallet.paylinks import parse_bip21, parse_eip681, parse_solana_pay

USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"


@pytest.fixture
def world(tmp_path: Path) -> Custody:
    world = make_custody(tmp_path / "s.db", {})
    with transaction(world.factory) as s:
        fill_solana_pool(s, world.vault, 6)
    return world


@pytest.fixture
def service() -> CustodyService:
    return CustodyService(public_keys(NetworkKind.SANDBOX), NetworkKind.SANDBOX, {"USDC": USDC})


def payment(world: Custody, user_id: int, asset: str, amount: int, source: PaymentSource) -> str:
    with transaction(world.factory) as s:
        quote = Quote(
            id=str(uuid.uuid4()), user_id=user_id, asset=asset, amount_minor=amount,
            amount_inr_paise=10_000, rate="1", payee_vpa="chai@upi",
            expires_at=utcnow() + timedelta(minutes=1),
        )  # fmt: skip
        s.add(quote)
        s.flush()
        row = Payment(
            id=str(uuid.uuid4()), user_id=user_id, quote_id=quote.id, payee_vpa="chai@upi",
            asset=asset, amount_minor=amount, amount_inr_paise=10_000, source=source,
        )  # fmt: skip
        s.add(row)
        return row.id


def target(world: Custody, service: CustodyService, payment_id: str) -> tuple[str, str, str | None]:
    with transaction(world.factory) as s:
        return service.external_payment_target(s, s.get_one(Payment, payment_id))


def test_deposit_address_is_allocated_once_per_user_and_chain(
    world: Custody, service: CustodyService
) -> None:
    uid, other = world.user("a@example.com"), world.user("b@example.com")
    with transaction(world.factory) as s:
        eth, eth_uri = service.deposit_address(s, uid, "ETH")
        usdc, usdc_uri = service.deposit_address(s, uid, "USDC")
        sol, _ = service.deposit_address(s, uid, "SOL")
        bonk, _ = service.deposit_address(s, uid, "BONK")
        btc, btc_uri = service.deposit_address(s, uid, "BTC")
        theirs, _ = service.deposit_address(s, other, "ETH")
    with transaction(world.factory) as s:
        assert service.deposit_address(s, uid, "ETH")[0] == eth
        assert service.deposit_address(s, uid, "SOL")[0] == sol
    assert usdc == eth and bonk == sol and theirs != eth  # one address per user and chain
    assert parse_eip681(eth_uri).recipient == eth
    assert parse_eip681(usdc_uri).token == USDC and parse_eip681(usdc_uri).recipient == eth
    assert parse_bip21(btc_uri).address == btc and btc.startswith("bcrt1")
    with transaction(world.factory) as s, pytest.raises(KeyUnavailable):
        service.deposit_address(s, uid, "INR")


def test_external_payment_targets_are_unique_per_payment_and_carry_the_amount(
    world: Custody, service: CustodyService
) -> None:
    uid = world.user("payer@example.com")
    p1 = payment(world, uid, "SOL", 1_250_000_000, PaymentSource.EXTERNAL)
    p2 = payment(world, uid, "SOL", 2_000_000, PaymentSource.EXTERNAL)
    p3 = payment(world, uid, "USDC", 7_500_000, PaymentSource.EXTERNAL)
    first = target(world, service, p1)
    assert target(world, service, p1) == first  # asking again changes nothing
    second = target(world, service, p2)
    usdc_address, usdc_uri, usdc_ref = target(world, service, p3)

    assert first[0] != second[0] and first[2] != second[2]
    request = parse_solana_pay(first[1], decimals=9)
    assert request.recipient == first[0] and request.amount_minor == 1_250_000_000
    assert request.references == (solana_reference(p1),) == (first[2],)
    eip = parse_eip681(usdc_uri)
    assert (eip.recipient, eip.amount, usdc_ref) == (usdc_address, 7_500_000, None)
    with transaction(world.factory) as s:
        assert s.get_one(Payment, p1).deposit_address == first[0]
        own, _ = service.deposit_address(s, uid, "SOL")
    assert own not in (first[0], second[0])  # the custodial address is another one

    custodial = payment(world, uid, "SOL", 5, PaymentSource.CUSTODIAL)
    with pytest.raises(WalletError) as info:
        target(world, service, custodial)
    assert info.value.code == "not_external"


def test_the_service_cannot_decrypt_seeds(world: Custody) -> None:
    keys = public_keys(NetworkKind.SANDBOX)
    with transaction(world.factory) as s:
        assert keys.address(s, Chain.ETHEREUM, 16).startswith("0x")
        with pytest.raises(KeyUnavailable):
            keys._vault.seed(s, ChainFamily.EVM)
