"""UPI URI, BharatQR and merchant-link parsing: the table of what we accept."""

from __future__ import annotations

import pytest

from wallet.upi import (
    MerchantLinkRef,
    UpiError,
    UpiPaymentRequest,
    crc16_ccitt,
    parse_bharat_qr,
    parse_merchant_link,
    parse_payment_code,
    parse_upi_uri,
)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "upi://pay?pa=chai.wala@okaxis&pn=Ramu%20Chai&am=25.50&cu=INR&tn=2%20chai"
            "&tr=ORD-17&mc=5812",
            UpiPaymentRequest(
                vpa="chai.wala@okaxis",
                payee_name="Ramu Chai",
                amount_paise=2550,
                note="2 chai",
                reference="ORD-17",
                merchant_code="5812",
            ),
        ),
        ("upi://pay?pa=vendor@ybl", UpiPaymentRequest(vpa="vendor@ybl")),
        # Scheme/host and keys are case-insensitive; the VPA is lower-cased.
        (
            "UPI://PAY?PA=Vendor@YBL&PN=Sharma+Stores&AM=100",
            UpiPaymentRequest(vpa="vendor@ybl", payee_name="Sharma Stores", amount_paise=10000),
        ),
        ("upi://pay?pa=a@ib&am=0.5", UpiPaymentRequest(vpa="a@ib", amount_paise=50)),
        ("upi://pay?pa=a@ib&am=", UpiPaymentRequest(vpa="a@ib", amount_paise=None)),
        ("upi://pay/?pa=a@ib&cu=inr", UpiPaymentRequest(vpa="a@ib")),
        # Hindi payee names survive percent-decoding.
        (
            "upi://pay?pa=dukaan@sbi&pn=%E0%A4%B6%E0%A4%B0%E0%A5%8D%E0%A4%AE%E0%A4%BE",
            UpiPaymentRequest(vpa="dukaan@sbi", payee_name="शर्मा"),
        ),
        # Unknown parameters (mode, url, sign…) are ignored.
        ("upi://pay?pa=a@ib&mode=02&orgid=000000", UpiPaymentRequest(vpa="a@ib")),
        ("  upi://pay?pa=a@ib\n", UpiPaymentRequest(vpa="a@ib")),
    ],
)
def test_valid_upi_uris(uri: str, expected: UpiPaymentRequest) -> None:
    assert parse_upi_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("upi://pay?pn=NoPayee&am=10", "upi_missing_payee"),
        ("upi://pay?pa=&pn=x", "upi_missing_payee"),
        ("upi://pay?pa=no-at-sign", "upi_invalid_vpa"),
        ("upi://pay?pa=two@at@signs", "upi_invalid_vpa"),
        ("upi://pay?pa=@handle", "upi_invalid_vpa"),
        ("upi://pay?pa=name@", "upi_invalid_vpa"),
        ("upi://pay?pa=name@1bank", "upi_invalid_vpa"),
        ("upi://pay?pa=na%20me@bank", "upi_invalid_vpa"),
        ("upi://pay?pa=" + "a" * 250 + "@bank", "upi_invalid_vpa"),
        ("upi://pay?pa=a@ib&cu=USD", "upi_unsupported_currency"),
        ("upi://pay?pa=a@ib&am=10.005", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=-5", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=0", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=0.00", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=1e3", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=NaN", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=1,000", "upi_invalid_amount"),
        ("upi://pay?pa=a@ib&am=100001", "upi_amount_too_large"),
        ("upi://pay?pa=a@ib&mc=12ab", "upi_invalid_field"),
        ("upi://pay?pa=a@ib&pn=" + "x" * 101, "upi_invalid_field"),
        # The QR-swap trick: two payees, apps disagree on which one wins.
        ("upi://pay?pa=honest@ib&pa=thief@ib", "upi_duplicate_parameter"),
        ("upi://pay?pa=honest@ib&PA=thief@ib", "upi_duplicate_parameter"),
        # Malicious and malformed strings.
        ("javascript:alert(1)//upi://pay?pa=a@ib", "upi_invalid_uri"),
        ("http://evil.example/upi://pay?pa=a@ib", "upi_invalid_merchant_link"),
        ("upi://mandate?pa=a@ib", "upi_invalid_uri"),
        ("upi://payx?pa=a@ib", "upi_invalid_uri"),
        ("upi://pay?pa=a@ib&pn=Shop%00Name", "upi_invalid_uri"),
        ("upi://pay?pa=a@ib&pn=Shop%0d%0aSet-Cookie:x", "upi_invalid_uri"),
        ("upi://pay?pa=a@ib&pn=%E2%80%AEevil", "upi_invalid_uri"),  # RTL override
        ("upi://pay?pa=a@ib&pn=%ff%fe", "upi_invalid_uri"),  # not UTF-8
        ("upi://pay?pa=a@ib&pn", "upi_invalid_uri"),
        ("upi://pay?pa=a@ib\x07", "upi_invalid_uri"),
        ("upi://pay?pa=a@ib&tn=" + "x" * 2100, "upi_input_too_long"),
        ("upi://pay?" + "&".join(f"x{i}=1" for i in range(40)) + "&pa=a@ib", "upi_invalid_uri"),
        ("", "upi_invalid_uri"),
        ("bitcoin:bc1qxyz", "upi_invalid_uri"),
    ],
)
def test_refused_codes(uri: str, code: str) -> None:
    with pytest.raises(UpiError) as info:
        parse_payment_code(uri)
    assert info.value.code == code


def test_markup_in_names_is_kept_as_text_for_escaping() -> None:
    # Angle brackets are legal in a name; the templates escape them. What
    # matters is that the value is returned verbatim, not interpreted.
    req = parse_upi_uri("upi://pay?pa=a@ib&pn=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert req.payee_name == "<script>alert(1)</script>"


def test_custom_amount_cap() -> None:
    assert parse_upi_uri("upi://pay?pa=a@ib&am=50", max_paise=5000).amount_paise == 5000
    with pytest.raises(UpiError) as info:
        parse_upi_uri("upi://pay?pa=a@ib&am=50.01", max_paise=5000)
    assert info.value.code == "upi_amount_too_large"


def test_non_string_input_refused() -> None:
    with pytest.raises(UpiError):
        parse_payment_code(b"upi://pay?pa=a@ib")  # type: ignore[arg-type]


# --- BharatQR ---------------------------------------------------------------


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def _bharat_qr(*fields: tuple[str, str], crc: bool = True) -> str:
    body = "".join(_tlv(t, v) for t, v in fields)
    if not crc:
        return body
    body += "6304"
    return body + f"{crc16_ccitt(body.encode()):04X}"


def test_crc_matches_the_standard_check_value() -> None:
    # CRC-16/CCITT-FALSE check value for "123456789" (catalogue of CRCs).
    assert crc16_ccitt(b"123456789") == 0x29B1


def test_bharat_qr_with_upi_template() -> None:
    payload = _bharat_qr(
        ("00", "01"),
        ("01", "12"),
        ("04", "4111111111111111"),  # a card field that must be ignored
        ("26", _tlv("00", "upi.npci.org") + _tlv("01", "Kirana@HDFCBANK")),
        ("52", "5411"),
        ("53", "356"),
        ("54", "120.00"),
        ("58", "IN"),
        ("59", "Gupta Kirana"),
        ("60", "Pune"),
        ("62", _tlv("05", "INV-9") + _tlv("08", "groceries")),
    )
    req = parse_payment_code(payload)
    assert req == UpiPaymentRequest(
        vpa="kirana@hdfcbank",
        payee_name="Gupta Kirana",
        amount_paise=12000,
        note="groceries",
        reference="INV-9",
        merchant_code="5411",
        source="bharat_qr",
    )


def test_bharat_qr_with_npci_aid_in_another_tag_and_no_crc() -> None:
    payload = _bharat_qr(
        ("00", "01"),
        ("28", _tlv("00", "A000000677010111") + _tlv("01", "shop@icici")),
        ("59", "Shop"),
        crc=False,
    )
    req = parse_bharat_qr(payload)
    assert req.vpa == "shop@icici"
    assert req.amount_paise is None


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (
            _bharat_qr(("00", "01"), ("04", "4111111111111111"), ("59", "Card only")),
            "upi_missing_payee",
        ),
        (
            _bharat_qr(
                ("00", "01"), ("26", _tlv("00", "upi.npci.org") + _tlv("01", "x@y")), ("53", "840")
            ),
            "upi_unsupported_currency",
        ),
        (
            _bharat_qr(("00", "01"), ("26", _tlv("00", "upi.npci.org") + _tlv("01", "bad vpa"))),
            "upi_invalid_vpa",
        ),
        (
            _bharat_qr(("00", "01"), ("26", _tlv("01", "a@ib")), ("26", _tlv("01", "b@ib"))),
            "upi_duplicate_parameter",
        ),
        ("000201" + "2699abc", "upi_invalid_bharat_qr"),  # truncated value
        ("000201" + "26", "upi_invalid_bharat_qr"),
    ],
)
def test_bharat_qr_refusals(payload: str, code: str) -> None:
    with pytest.raises(UpiError) as info:
        parse_payment_code(payload)
    assert info.value.code == code


def test_bharat_qr_tampered_amount_fails_crc() -> None:
    payload = _bharat_qr(("00", "01"), ("26", _tlv("01", "a@ib")), ("54", "10.00"), ("59", "Shop"))
    tampered = payload.replace("540510.00", "540590.00")
    assert tampered != payload
    assert parse_bharat_qr(payload).amount_paise == 1000
    with pytest.raises(UpiError) as info:
        parse_bharat_qr(tampered)
    assert info.value.code == "upi_invalid_bharat_qr"


# --- merchant links ---------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (
            "https://pay.taskforce.example/m/lnk_AbC123",
            MerchantLinkRef("lnk_AbC123", "pay.taskforce.example"),
        ),
        ("http://127.0.0.1:5000/m/abcdef/", MerchantLinkRef("abcdef", "127.0.0.1:5000")),
        ("HTTPS://Pay.Example/m/abcdef?utm=qr", MerchantLinkRef("abcdef", "pay.example")),
    ],
)
def test_merchant_links(link: str, expected: MerchantLinkRef) -> None:
    assert parse_payment_code(link) == expected


@pytest.mark.parametrize(
    "link",
    [
        "https://pay.example/x/abcdef",
        "https://pay.example/m/abc",  # too short an id
        "https://pay.example/m/abc%2f..%2fdef",
        "https://user@pay.example/m/abcdef",
        "ftp://pay.example/m/abcdef",
        "https://pay.example/m/abcdef/extra",
    ],
)
def test_bad_merchant_links(link: str) -> None:
    with pytest.raises(UpiError):
        parse_payment_code(link)


def test_merchant_link_host_allowlist() -> None:
    hosts = frozenset({"pay.example"})
    assert (
        parse_merchant_link("https://pay.example/m/abcdef", allowed_hosts=hosts).link_id == "abcdef"
    )
    with pytest.raises(UpiError) as info:
        parse_merchant_link("https://pay.example.evil.test/m/abcdef", allowed_hosts=hosts)
    assert info.value.code == "upi_invalid_merchant_link"
