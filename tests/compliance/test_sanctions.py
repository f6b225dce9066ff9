"""Sanctions list: loading, idempotent refresh, normalisation, and blocking."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_payment, make_user
from wallet.compliance.errors import SanctionsListInvalid
from wallet.compliance.models import SanctionsEntry
from wallet.compliance.sanctions import (
    SAMPLE_PATH,
    refresh_sanctions_list,
    screen_address,
    screen_vpa,
)
from wallet.db.session import transaction
from wallet.risk import RiskDecisionKind, assess_payment, assess_withdrawal, list_cases
from wallet.risk.limits import Period, usage
from wallet.risk.models import PaymentRisk

EVM_CHECKSUMMED = "0xD07494fD78611D2D06d519b7c924fEa93bca157c"  # listed for ethereum
EVM_ANY_CHAIN = "0x808F1E6d7539C00Ee708924366a05Db376e3084B"  # listed with a blank chain
BTC_BECH32 = "bc1qn5e3397kgedq3wax8tue5756cwhsln6vc8k2jt"
SOL = "8iXJfAqmGfC4CLQ2qdyZQxj97vVdjjw3h9GKm4th9M5S"
HEADER = "type,chain,value,source,listed_at,note\n"


def _load(factory: sessionmaker[Session], path: Path = SAMPLE_PATH) -> object:
    with transaction(factory) as s:
        return refresh_sanctions_list(s, path, now=NOW)


def test_refresh_is_idempotent_and_reports_changes(
    sqlite_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    first = _load(sqlite_factory)
    assert (first.added, first.removed, first.unchanged, first.active) == (7, 0, 0, 7)  # type: ignore[attr-defined]
    again = _load(sqlite_factory)
    assert (again.added, again.removed, again.updated, again.unchanged) == (0, 0, 0, 7)  # type: ignore[attr-defined]

    lines = SAMPLE_PATH.read_text().splitlines(keepends=True)
    edited = [line for line in lines if "mule.sample" not in line]
    edited.append("vpa,,new.sample@fakebank,SAMPLE (fake),,\n")
    path = tmp_path / "list.csv"
    path.write_text("".join(edited))
    changed = _load(sqlite_factory, path)
    assert (changed.added, changed.removed, changed.unchanged) == (1, 1, 6)  # type: ignore[attr-defined]
    with sqlite_factory() as s:
        assert screen_vpa(s, "mule.sample@fakebank") == []
        assert screen_vpa(s, "NEW.sample@FakeBank")
        # Delisted rows stay, marked removed.
        assert s.scalar(select(func.count()).select_from(SanctionsEntry)) == 8
    back = _load(sqlite_factory)
    assert (back.added, back.removed) == (1, 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("kind,chain,value\n", "header"),
        (HEADER + "wallet,ethereum,0xabc,OFAC,,\n", "line 2: type"),
        (HEADER + "address,ethereum,0x1234,OFAC,,\n", "line 2: not an Ethereum address"),
        (HEADER + "address,tron,TXYZ,OFAC,,\n", "line 2: chain"),
        (HEADER + "vpa,,not-a-vpa,FIU,,\n", "line 2: not a VPA"),
        (HEADER + "vpa,ethereum,a@b,FIU,,\n", "line 2: a VPA has no chain"),
        (HEADER + "vpa,,a@bank,,2024-01-01,\n", "line 2: source"),
        (HEADER + "vpa,,a@bank,FIU,01/02/2024,\n", "line 2: listed_at"),
        (HEADER + "vpa,,a@bank,FIU\n", "line 2: expected 6 columns"),
        (HEADER, "empty"),
    ],
)
def test_a_bad_file_loads_nothing(
    sqlite_factory: sessionmaker[Session], tmp_path: Path, body: str, message: str
) -> None:
    _load(sqlite_factory)
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(SanctionsListInvalid, match=message) as err:
        _load(sqlite_factory, path)
    assert err.value.code == "sanctions_list_invalid"
    with sqlite_factory() as s:
        active = s.scalar(
            select(func.count())
            .select_from(SanctionsEntry)
            .where(SanctionsEntry.removed_at.is_(None))
        )
        assert active == 7


def test_matching_normalises_each_chain(sqlite_factory: sessionmaker[Session]) -> None:
    _load(sqlite_factory)
    with sqlite_factory() as s:
        # EVM: checksummed, lower-case and upper-case hex are one address.
        assert screen_address(s, "ethereum", EVM_CHECKSUMMED.lower())
        assert screen_address(s, "ethereum", "0x" + EVM_CHECKSUMMED[2:].upper())
        assert screen_address(s, "ethereum", EVM_ANY_CHAIN.lower())  # blank chain: any chain
        assert screen_address(s, "solana", EVM_CHECKSUMMED) == []  # listed for ethereum only
        # bech32 is single-case: upper-case is the same address.
        assert screen_address(s, "bitcoin", BTC_BECH32.upper())
        # base58 is case-sensitive: a case change is a different key.
        assert screen_address(s, "solana", SOL)
        assert screen_address(s, "solana", SOL.swapcase()) == []
        assert screen_address(s, "ethereum", "0x" + "12" * 20) == []


def test_sanctioned_vpa_holds_the_payment_with_a_case_and_reserves_nothing(
    sqlite_factory: sessionmaker[Session],
) -> None:
    _load(sqlite_factory)
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        vpa = "Sanctioned.Sample@FakeBank"
        payment = make_payment(s, user, vpa=vpa.lower(), inr_paise=1_000_00)
        decision = assess_payment(s, user, vpa, 1_000_00, "USDT", None, NOW, payment_id=payment.id)
        assert decision.decision is RiskDecisionKind.HOLD_FOR_REVIEW
        assert decision.reasons == ("sanctions_hit",)
        assert decision.score == 100
        assert decision.reservation_ref is None
        [case] = list_cases(s)
        assert (case.kind, case.subject) == ("sanctions_hit", "vpa:sanctioned.sample@fakebank")
        assert case.payment_ids == [payment.id]
        row = s.scalar(select(PaymentRisk).where(PaymentRisk.payment_id == payment.id))
        assert row is not None and row.reasons == ["sanctions_hit"]
        assert usage(s, "user", str(user.id), Period.DAY, NOW) == (0, 0)


def test_sanctioned_counterparty_address_is_caught_in_lower_case(
    sqlite_factory: sessionmaker[Session],
) -> None:
    _load(sqlite_factory)
    with transaction(sqlite_factory) as s:
        user = make_user(s, tier=1)
        decision = assess_payment(
            s,
            user,
            "shop@okbank",
            1_000_00,
            "ETH",
            None,
            NOW,
            counterparty_addresses=[("ethereum", EVM_CHECKSUMMED.lower())],
        )
        assert decision.reasons == ("sanctions_hit",)
        out = assess_withdrawal(
            s,
            user,
            "ethereum",
            EVM_ANY_CHAIN.lower(),
            "ETH",
            10**18,
            1_000_00,
            None,
            NOW,
            key="w-1",
        )
        assert out.decision is RiskDecisionKind.HOLD_FOR_REVIEW
        assert out.reasons == ("sanctions_hit",)
        clean = assess_payment(s, user, "shop@okbank", 1_000_00, "ETH", None, NOW)
        assert clean.approved
