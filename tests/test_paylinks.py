"""Payment links against the examples in ERC-681, the Solana Pay spec and BIP21."""

from __future__ import annotations

import pytest

from wallet.paylinks import (
    PaylinkError,
    bip21,
    eip681_erc20,
    eip681_native,
    parse_bip21,
    parse_eip681,
    parse_eip681_number,
    parse_solana_pay,
    solana_pay,
)

MVINES = "mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
LUKE = "175tWpb8K1S7NmH4Zx6rewF9WQrcZv245W"


# --- ERC-681 ------------------------------------------------------------------------


def test_erc681_spec_native_example_value_is_exact() -> None:
    # The spec's example address, lower-cased: as printed its mixed case is not EIP-55.
    req = parse_eip681("ethereum:0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359?value=2.014e18")
    assert req.amount == 2_014_000_000_000_000_000 and req.function is None
    assert req.recipient == "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
    with pytest.raises(PaylinkError) as info:
        parse_eip681("ethereum:0xfb6916095ca1df60bb79Ce92ce3ea74c37c5d359?value=2.014e18")
    assert info.value.code == "paylink_bad_address"


def test_erc681_spec_erc20_example() -> None:
    req = parse_eip681(
        "ethereum:0x89205a3a3b2a69de6dbf7f01ed13b2108b2c43e7/transfer"
        "?address=0x8e23ee67d1332ad560396262c48ffbb01f93d052&uint256=1"
    )
    assert req.function == "transfer" and req.amount == 1
    assert req.token == "0x89205A3A3b2A69De6Dbf7f01ED13B2108B2c43e7"
    assert req.recipient.lower() == "0x8e23ee67d1332ad560396262c48ffbb01f93d052"


def test_erc681_generate_round_trips() -> None:
    to = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
    token = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    native = eip681_native(to, 1, 10**18 + 1)
    assert native == f"ethereum:{to}@1?value=1000000000000000001"
    assert parse_eip681(native).amount == 10**18 + 1
    link = eip681_erc20(token, 31337, to, 12_345_678)
    assert link == f"ethereum:{token}@31337/transfer?address={to}&uint256=12345678"
    parsed = parse_eip681(link)
    assert (parsed.chain_id, parsed.token, parsed.recipient, parsed.amount) == (
        31337, token, to, 12_345_678,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "value"),
    [("2.014e18", 2014 * 10**15), ("1e0", 1), ("15", 15), ("0.5e1", 5), ("1E3", 1000)],
)
def test_erc681_numbers_are_exact(text: str, value: int) -> None:
    assert parse_eip681_number(text) == value


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("bitcoin:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "paylink_bad_scheme"),
        ("ethereum:0x1234?value=1", "paylink_bad_address"),
        ("ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359?value=1.5", "paylink_bad_amount"),
        ("ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359?value=abc", "paylink_bad_amount"),
        ("ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359?value=-1", "paylink_bad_amount"),
        ("ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359@x?value=1", "paylink_bad_chain"),
        (
            "ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359?value=1&value=2",
            "paylink_duplicate_parameter",
        ),
        (
            "ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359/approve?address=0x0",
            "paylink_unsupported_function",
        ),
        ("ethereum:0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359?value", "paylink_malformed"),
    ],
)
def test_erc681_malformed_links_have_stable_codes(uri: str, code: str) -> None:
    with pytest.raises(PaylinkError) as info:
        parse_eip681(uri)
    assert info.value.code == code


# --- Solana Pay ---------------------------------------------------------------------


def test_solana_pay_spec_examples() -> None:
    plain = parse_solana_pay(f"solana:{MVINES}")
    assert plain.recipient == MVINES and plain.amount is None
    sol = parse_solana_pay(
        f"solana:{MVINES}?amount=1&label=Michael&message=Thanks%20for%20all%20the%20fish"
        "&memo=OrderId12345"
    )
    assert sol.amount_minor == 10**9
    assert (sol.label, sol.message, sol.memo) == (
        "Michael", "Thanks for all the fish", "OrderId12345",
    )  # fmt: skip
    usdc = parse_solana_pay(f"solana:{MVINES}?amount=0.01&spl-token={USDC_MINT}", decimals=6)
    assert (usdc.spl_token, usdc.amount, usdc.amount_minor) == (USDC_MINT, "0.01", 10_000)


def test_solana_pay_generate_with_reference_round_trips() -> None:
    ref = "82ZJ7nbGpixjeDCmEhUcmwXYfvurzAgGdtSMuHnUgyny"
    link = solana_pay(
        MVINES, amount_minor=2_500_000, decimals=6, spl_token=USDC_MINT, references=(ref,),
        label="Tea stall", message="Order #12",
    )  # fmt: skip
    assert link == (
        f"solana:{MVINES}?amount=2.5&spl-token={USDC_MINT}&reference={ref}"
        "&label=Tea%20stall&message=Order%20%2312"
    )
    parsed = parse_solana_pay(link, decimals=6)
    assert parsed.references == (ref,) and parsed.amount_minor == 2_500_000


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        (f"solana:{MVINES}?amount=1e3", "paylink_bad_amount"),  # no scientific notation
        (f"solana:{MVINES}?amount=.5", "paylink_bad_amount"),  # leading 0 required
        (f"solana:{MVINES}?amount=0.0000000001", "paylink_bad_amount"),  # > 9 decimals of SOL
        (f"solana:{MVINES}?amount=1&amount=2", "paylink_duplicate_parameter"),
        ("solana:notbase58!", "paylink_bad_address"),
        (f"solana:{MVINES}?reference=abc", "paylink_bad_address"),
        ("solana:https%3A%2F%2Fexample.com%2Fpay", "paylink_unsupported"),
        (f"ethereum:{MVINES}", "paylink_bad_scheme"),
    ],
)
def test_solana_pay_malformed_links(uri: str, code: str) -> None:
    with pytest.raises(PaylinkError) as info:
        parse_solana_pay(uri)
    assert info.value.code == code


# --- BIP21 --------------------------------------------------------------------------


def test_bip21_spec_examples() -> None:
    assert parse_bip21(f"bitcoin:{LUKE}").address == LUKE
    assert parse_bip21(f"bitcoin:{LUKE}?label=Luke-Jr").label == "Luke-Jr"
    assert parse_bip21(f"bitcoin:{LUKE}?amount=20.3&label=Luke-Jr").amount_minor == 2_030_000_000
    donation = parse_bip21(
        f"bitcoin:{LUKE}?amount=50&label=Luke-Jr&message=Donation%20for%20project%20xyz"
    )
    assert (donation.amount_minor, donation.message) == (5_000_000_000, "Donation for project xyz")
    ignored = parse_bip21(
        f"bitcoin:{LUKE}?somethingyoudontunderstand=50&somethingelseyoudontget=999"
    )
    assert ignored.params == {"somethingyoudontunderstand": "50", "somethingelseyoudontget": "999"}
    with pytest.raises(PaylinkError) as info:
        parse_bip21(
            f"bitcoin:{LUKE}?req-somethingyoudontunderstand=50&req-somethingelseyoudontget=999"
        )
    assert info.value.code == "paylink_unsupported_required"


def test_bip21_generate_btc_and_doge() -> None:
    link = bip21(LUKE, amount_minor=123_456_789, label="Luke-Jr", message="for tea")
    assert link == f"bitcoin:{LUKE}?amount=1.23456789&label=Luke-Jr&message=for%20tea"
    assert parse_bip21(link).amount_minor == 123_456_789
    doge = bip21("nUTdzLjfYFUTnTbbWwVuCdk8dJ7vwf68xd", scheme="dogecoin", amount_minor=5 * 10**8)
    assert doge == "dogecoin:nUTdzLjfYFUTnTbbWwVuCdk8dJ7vwf68xd?amount=5"
    assert parse_bip21(doge, scheme="dogecoin").amount_minor == 5 * 10**8
    assert parse_bip21(f"BITCOIN:{LUKE}?amount=1").amount_minor == 10**8  # QR upper case


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        (f"bitcoin:{LUKE}?amount=1,5", "paylink_bad_amount"),
        (f"bitcoin:{LUKE}?amount=0.000000001", "paylink_bad_amount"),
        (f"bitcoin:{LUKE}?amount=1e3", "paylink_bad_amount"),
        (f"bitcoin:{LUKE}?amount=-1", "paylink_bad_amount"),
        ("bitcoin:?amount=1", "paylink_bad_address"),
        (f"litecoin:{LUKE}", "paylink_bad_scheme"),
        (f"bitcoin:{LUKE}?amount", "paylink_malformed"),
    ],
)
def test_bip21_malformed_links(uri: str, code: str) -> None:
    with pytest.raises(PaylinkError) as info:
        parse_bip21(uri)
    assert info.value.code == code
