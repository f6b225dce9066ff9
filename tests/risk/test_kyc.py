"""KYC: PAN format, tier 1 on submission, tier 2 only by another admin."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.risk.fixtures import NOW, make_user
from wallet.audit import trail
from wallet.db.models import Role
from wallet.db.session import transaction
from wallet.risk import RiskConfig, approve_kyc, assess_payment, submit_kyc, validate_pan
from wallet.risk.errors import (
    InvalidKycDetails,
    InvalidPan,
    KycApprovalRefused,
    PanInUse,
)
from wallet.risk.kyc import reject_kyc
from wallet.risk.models import KycProfile, KycStatus

DOB = date(1990, 5, 17)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("ABCPE1234F", "ABCPE1234F"),  # individual
        (" abcpe1234f ", "ABCPE1234F"),  # case and spaces normalised
        ("AAACT1234Q", "AAACT1234Q"),  # company
        ("AAAHK0001Z", "AAAHK0001Z"),  # HUF
        ("AAAFL9999A", "AAAFL9999A"),  # firm / LLP
        ("AAATR0000A", "AAATR0000A"),  # trust
        ("AAAGA1111B", "AAAGA1111B"),  # government
    ],
)
def test_valid_pans(raw: str, canonical: str) -> None:
    assert validate_pan(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "ABCDE1234F",  # D is not a holder type
        "ABCXE1234F",  # nor X
        "ABCPE1234",  # too short
        "ABCPE12345",  # ends in a digit
        "ABCPE1234FG",  # too long
        "1BCPE1234F",  # starts with a digit
        "ABCP 1234F",
        "",
        12345,
        None,
    ],
)
def test_invalid_pans(raw: object) -> None:
    with pytest.raises(InvalidPan) as err:
        validate_pan(raw)
    assert err.value.code == "invalid_pan"


def test_submission_grants_tier_one_and_audits_a_masked_pan(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        user = make_user(s)
        profile = submit_kyc(
            s, user, pan="abcpe1234f", full_name="  Asha   Rao ", date_of_birth=DOB, now=NOW
        )
        assert (profile.pan, profile.full_name, profile.status) == (
            "ABCPE1234F",
            "Asha Rao",
            KycStatus.SUBMITTED,
        )
        assert user.kyc_tier == 1
        [row] = trail(s, "user", user.id)
        assert row.action == "kyc.submit"
        assert row.data["pan"] == "ABCPE****F"
        assert "1234" not in str(row.data)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"pan": "ABCDE1234F"}, InvalidPan),
        ({"full_name": "R2D2"}, InvalidKycDetails),
        ({"full_name": " "}, InvalidKycDetails),
        ({"date_of_birth": date(2010, 1, 1)}, InvalidKycDetails),  # a minor
        ({"date_of_birth": date(2030, 1, 1)}, InvalidKycDetails),
    ],
)
def test_bad_details_change_nothing(
    sqlite_factory: sessionmaker[Session], kwargs: dict[str, object], error: type[Exception]
) -> None:
    args: dict[str, object] = {"pan": "ABCPE1234F", "full_name": "Asha Rao", "date_of_birth": DOB}
    args.update(kwargs)
    with transaction(sqlite_factory) as s:
        user = make_user(s)
        with pytest.raises(error):
            submit_kyc(s, user, now=NOW, **args)  # type: ignore[arg-type]
        assert user.kyc_tier == 0
        assert s.get(KycProfile, user.id) is None


def test_one_pan_one_account(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        a, b = make_user(s), make_user(s)
        submit_kyc(s, a, pan="ABCPE1234F", full_name="Asha Rao", date_of_birth=DOB, now=NOW)
        with pytest.raises(PanInUse):
            submit_kyc(s, b, pan="abcpe1234f", full_name="Asha Rao", date_of_birth=DOB, now=NOW)
        assert b.kyc_tier == 0


def test_admin_approves_tier_two_which_unlocks_larger_payments(
    sqlite_factory: sessionmaker[Session],
) -> None:
    with transaction(sqlite_factory) as s:
        admin = make_user(s, role=Role.ADMIN)
        user = make_user(s)
        submit_kyc(s, user, pan="ABCPE1234F", full_name="Asha Rao", date_of_birth=DOB, now=NOW)
        big = 50_000_00  # ₹50,000: over tier 1's per-payment ceiling
        assert assess_payment(s, user, "shop@okbank", big, "USDT", None, NOW).reasons == (
            "limit_tier_per_payment",
        )
        approve_kyc(s, admin, user, 2, now=NOW, note="documents checked")
        assert user.kyc_tier == 2
        profile = s.get(KycProfile, user.id)
        assert profile is not None and profile.status is KycStatus.APPROVED
        assert profile.reviewed_by == admin.id
        audit = [r for r in trail(s, "user", user.id) if r.action == "kyc.approve"]
        assert [(r.actor, r.data["tier_from"], r.data["tier_to"]) for r in audit] == [
            (f"admin:{admin.id}", 1, 2)
        ]
        assert assess_payment(
            s, user, "shop@okbank", big, "USDT", None, NOW, config=RiskConfig()
        ).approved
        # New identity details undo the review.
        submit_kyc(s, user, pan="ABCPE1234F", full_name="Asha R Rao", date_of_birth=DOB, now=NOW)
        assert user.kyc_tier == 1


def test_an_admin_cannot_approve_their_own_kyc(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        admin = make_user(s, role=Role.ADMIN)
        submit_kyc(s, admin, pan="ABCPE1234F", full_name="Asha Rao", date_of_birth=DOB, now=NOW)
        with pytest.raises(KycApprovalRefused) as err:
            approve_kyc(s, admin, admin, 2, now=NOW)
        assert err.value.code == "kyc_self_approval"
        assert admin.kyc_tier == 1
        assert not [r for r in trail(s, "user", admin.id) if r.action == "kyc.approve"]


def test_approval_refusals(sqlite_factory: sessionmaker[Session]) -> None:
    with transaction(sqlite_factory) as s:
        admin = make_user(s, role=Role.ADMIN)
        payer = make_user(s)
        other = make_user(s)
        with pytest.raises(KycApprovalRefused):  # nothing submitted
            approve_kyc(s, admin, payer, 2, now=NOW)
        submit_kyc(s, payer, pan="ABCPE1234F", full_name="Asha Rao", date_of_birth=DOB, now=NOW)
        with pytest.raises(KycApprovalRefused):  # not an admin
            approve_kyc(s, other, payer, 2, now=NOW)
        with pytest.raises(KycApprovalRefused):  # no such tier
            approve_kyc(s, admin, payer, 3, now=NOW)
        assert payer.kyc_tier == 1
        reject_kyc(s, admin, payer, now=NOW, reason="blurred document")
        assert payer.kyc_tier == 1
        profile = s.get(KycProfile, payer.id)
        assert profile is not None and profile.status is KycStatus.REJECTED
