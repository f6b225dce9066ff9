"""What a scanned code asks the payer to pay: UPI URIs, BharatQR, our links.

Three inputs reach the scan screen and ``POST /api/v1/quotes``:

- a UPI intent URI, ``upi://pay?pa=…&pn=…&am=…&cu=…&tn=…&tr=…&mc=…``
  (NPCI's UPI linking specification) → :func:`parse_upi_uri`;
- a BharatQR / NPCI "BR code" payload, the EMVCo merchant-presented TLV
  string starting ``000201`` → :func:`parse_bharat_qr`. Supported: the
  UPI merchant-account template in any tag 26–51 whose GUI (sub-tag 00) is
  ``upi.npci.org`` or NPCI's AID ``A000000677010111`` (VPA in sub-tag 01),
  or, failing a known GUI, the first sub-field that is a valid VPA; name
  (59), amount (54), currency (53, must be 356 = INR), MCC (52) and the
  additional-data template (62: 05 reference label → ``tr``, 08 purpose →
  ``tn``). The CRC (63) is verified when present. Card-only BharatQRs
  (Visa/Mastercard/RuPay PANs, no VPA) are refused with
  ``upi_missing_payee``.
- our merchants' dynamic-QR links, ``http(s)://<host>/m/<link-id>`` →
  :func:`parse_merchant_link` (only the id; the link's amount and payee come
  from our database).

Every refusal is a :class:`UpiError` with a stable ``code``. Money is paise
(integer); the amount text must be a plain decimal with at most two places.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from wallet.errors import WalletError

MAX_INPUT_LENGTH = 2048  # far above any real QR payload; bounds parsing work
MAX_VPA_LENGTH = 255
MAX_NAME_LENGTH = 100
MAX_NOTE_LENGTH = 100
MAX_REFERENCE_LENGTH = 100
MAX_PARAMS = 32
DEFAULT_MAX_PAISE = 10_000_000  # ₹1,00,000, the default per-payment cap

# Local part: letters, digits, dot, hyphen, underscore (NPCI's VPA alphabet),
# starting with a letter or digit. Handle: the PSP's name, e.g. "okaxis".
_VPA_RE = re.compile(
    r"(?P<local>[A-Za-z0-9][A-Za-z0-9._\-]{0,199})@(?P<handle>[A-Za-z][A-Za-z0-9]{1,63})"
)
_AMOUNT_RE = re.compile(r"(?P<rupees>\d{1,10})(?:\.(?P<paise>\d{1,2}))?")
_MCC_RE = re.compile(r"\d{4}")
_LINK_ID_RE = re.compile(r"[A-Za-z0-9_\-]{6,64}")
_LINK_RE = re.compile(
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?)"
    r"/m/(?P<id>[^/?#]+)/?(?:[?#].*)?",
    re.IGNORECASE | re.DOTALL,
)
_EMV_PREFIX = "000201"
_UPI_GUIDS = frozenset({"upi.npci.org", "a000000677010111"})
_INR_NUMERIC = "356"


class UpiError(WalletError):
    """A scanned or pasted payment code that we refuse to act on."""

    code = "upi_invalid_uri"


@dataclass(frozen=True, slots=True)
class UpiPaymentRequest:
    """A payee and (optionally) an amount, as a UPI code states them.

    ``amount_paise`` is ``None`` for a static QR: the payer types the amount.
    ``vpa`` is lower-cased (VPAs are case-insensitive).
    """

    vpa: str
    payee_name: str | None = None
    amount_paise: int | None = None
    currency: str = "INR"
    note: str | None = None
    reference: str | None = None
    merchant_code: str | None = None
    source: str = "upi_uri"  # upi_uri | bharat_qr


@dataclass(frozen=True, slots=True)
class MerchantLinkRef:
    """One of our merchants' dynamic-QR links; resolve ``link_id`` in the DB."""

    link_id: str
    host: str


# --- shared field checks -----------------------------------------------------


def _reject_unsafe_text(value: str, field: str) -> None:
    # Control characters and format characters (bidi overrides such as
    # U+202E can make "evil@upi" display as a trusted name) are refused.
    for char in value:
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}:
            raise UpiError(f"{field} contains a control character", code="upi_invalid_uri")


def validate_vpa(value: str) -> str:
    """The canonical (lower-case) VPA, or ``upi_invalid_vpa``."""
    if not isinstance(value, str):
        raise UpiError("the payee VPA must be text", code="upi_invalid_vpa")
    vpa = value.strip()
    if not vpa:
        raise UpiError("the code names no payee VPA", code="upi_missing_payee")
    if len(vpa) > MAX_VPA_LENGTH or _VPA_RE.fullmatch(vpa) is None:
        raise UpiError("the payee VPA is not of the form name@bank", code="upi_invalid_vpa")
    return vpa.lower()


def parse_amount_paise(text: str, *, max_paise: int = DEFAULT_MAX_PAISE) -> int:
    """Paise from a rupee decimal string such as ``"250"`` or ``"99.5"``.

    At most two decimal places, strictly positive, at most ``max_paise``.
    """
    if not isinstance(text, str):
        raise UpiError("the amount must be a decimal string", code="upi_invalid_amount")
    match = _AMOUNT_RE.fullmatch(text.strip())
    if match is None:
        raise UpiError(
            "the amount must be rupees with at most two decimals", code="upi_invalid_amount"
        )
    paise = int(match.group("rupees")) * 100 + int((match.group("paise") or "0").ljust(2, "0"))
    if paise <= 0:
        raise UpiError("the amount must be more than zero", code="upi_invalid_amount")
    if paise > max_paise:
        raise UpiError("the amount is above the per-payment limit", code="upi_amount_too_large")
    return paise


def _text_field(value: str | None, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    _reject_unsafe_text(value, field)
    value = value.strip()
    if len(value) > max_length:
        raise UpiError(f"{field} is longer than {max_length} characters", code="upi_invalid_field")
    return value or None


def _currency(value: str | None) -> str:
    if value is None or value.strip() == "":
        return "INR"
    if value.strip().upper() != "INR":
        raise UpiError("UPI payments are in rupees (cu=INR)", code="upi_unsupported_currency")
    return "INR"


def _merchant_code(value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    if _MCC_RE.fullmatch(value.strip()) is None:
        raise UpiError("the merchant code must be 4 digits", code="upi_invalid_field")
    return value.strip()


def _check_input(text: object) -> str:
    if not isinstance(text, str):
        raise UpiError("a payment code is text")
    if len(text) > MAX_INPUT_LENGTH:
        raise UpiError("the payment code is too long", code="upi_input_too_long")
    text = text.strip()
    _reject_unsafe_text(text, "the payment code")
    if not text:
        raise UpiError("the payment code is empty")
    return text


# --- upi://pay ---------------------------------------------------------------


def _decode(component: str) -> str:
    # Percent-decoding to bytes, then strict UTF-8: overlong or broken
    # sequences are refused rather than replaced with U+FFFD.
    raw = unquote_to_bytes(component.replace("+", " "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UpiError("the payment code is not valid UTF-8") from None


def _query_params(query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    parts = [p for p in query.split("&") if p]
    if len(parts) > MAX_PARAMS:
        raise UpiError("the payment code has too many parameters")
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep:
            raise UpiError(f"parameter {name[:20]!r} has no value")
        key = _decode(name).strip().lower()
        _reject_unsafe_text(key, "a parameter name")
        if key in params:
            # A second pa= is the classic QR-swap trick: apps disagree on
            # which one wins, so the payer could see one payee and pay another.
            raise UpiError(f"parameter {key[:20]!r} appears twice", code="upi_duplicate_parameter")
        decoded = _decode(value)
        _reject_unsafe_text(decoded, key[:20])
        params[key] = decoded
    return params


def parse_upi_uri(text: str, *, max_paise: int = DEFAULT_MAX_PAISE) -> UpiPaymentRequest:
    """Parse a ``upi://pay?…`` intent URI (NPCI UPI linking specification)."""
    text = _check_input(text)
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() != "upi":
        raise UpiError("not a UPI payment link (upi://pay?…)")
    if not rest.lower().startswith("//pay"):
        raise UpiError("only upi://pay links are supported")
    path, _, query = rest[len("//pay") :].partition("?")
    if path not in ("", "/"):
        raise UpiError("only upi://pay links are supported")
    query = query.split("#", 1)[0]
    params = _query_params(query)
    if "pa" not in params or not params["pa"].strip():
        raise UpiError("the code names no payee (pa)", code="upi_missing_payee")
    amount_text = params.get("am", "").strip()
    return UpiPaymentRequest(
        vpa=validate_vpa(params["pa"]),
        payee_name=_text_field(params.get("pn"), "payee name", MAX_NAME_LENGTH),
        amount_paise=parse_amount_paise(amount_text, max_paise=max_paise) if amount_text else None,
        currency=_currency(params.get("cu")),
        note=_text_field(params.get("tn"), "note", MAX_NOTE_LENGTH),
        reference=_text_field(params.get("tr"), "reference", MAX_REFERENCE_LENGTH),
        merchant_code=_merchant_code(params.get("mc")),
        source="upi_uri",
    )


# --- BharatQR (EMVCo merchant-presented mode) ----------------------------------


def _tlv(payload: str) -> list[tuple[str, str]]:
    fields: list[tuple[str, str]] = []
    pos = 0
    while pos < len(payload):
        head = payload[pos : pos + 4]
        if len(head) < 4 or not head.isdigit():
            raise UpiError("the BharatQR payload is malformed", code="upi_invalid_bharat_qr")
        length = int(head[2:])
        value = payload[pos + 4 : pos + 4 + length]
        if len(value) != length:
            raise UpiError("the BharatQR payload is truncated", code="upi_invalid_bharat_qr")
        fields.append((head[:2], value))
        pos += 4 + length
    return fields


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the EMVCo tag 63 checksum."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _upi_vpa_from_template(value: str) -> str | None:
    sub = dict(_tlv(value))
    guid = sub.get("00", "").strip().lower()
    if guid in _UPI_GUIDS and sub.get("01"):
        return sub["01"]
    for key, candidate in sub.items():
        if key != "00" and _VPA_RE.fullmatch(candidate.strip()):
            return candidate
    return None


def parse_bharat_qr(text: str, *, max_paise: int = DEFAULT_MAX_PAISE) -> UpiPaymentRequest:
    """The UPI payee in a BharatQR/EMVCo payload (see the module docstring)."""
    text = _check_input(text)
    if not text.startswith(_EMV_PREFIX):
        raise UpiError("not a BharatQR payload", code="upi_invalid_bharat_qr")
    fields = _tlv(text)
    tags = [tag for tag, _ in fields]
    if len(set(tags)) != len(tags):
        raise UpiError("a BharatQR tag appears twice", code="upi_duplicate_parameter")
    data = dict(fields)
    if "63" in data:
        if tags[-1] != "63" or not text.endswith("63" + "04" + data["63"]):
            raise UpiError("the BharatQR checksum is misplaced", code="upi_invalid_bharat_qr")
        expected = crc16_ccitt(text[: -len(data["63"])].encode("utf-8"))
        if data["63"].upper() != f"{expected:04X}":
            raise UpiError("the BharatQR checksum does not match", code="upi_invalid_bharat_qr")
    vpa: str | None = None
    for tag, value in fields:
        if 26 <= int(tag) <= 51:
            vpa = _upi_vpa_from_template(value)
            if vpa is not None:
                break
    if vpa is None:
        raise UpiError("this BharatQR carries no UPI VPA", code="upi_missing_payee")
    currency = data.get("53")
    if currency is not None and currency != _INR_NUMERIC:
        raise UpiError("UPI payments are in rupees (INR)", code="upi_unsupported_currency")
    extra = dict(_tlv(data["62"])) if "62" in data else {}
    amount_text = data.get("54", "").strip()
    return UpiPaymentRequest(
        vpa=validate_vpa(vpa),
        payee_name=_text_field(data.get("59"), "payee name", MAX_NAME_LENGTH),
        amount_paise=parse_amount_paise(amount_text, max_paise=max_paise) if amount_text else None,
        currency="INR",
        note=_text_field(extra.get("08"), "note", MAX_NOTE_LENGTH),
        reference=_text_field(extra.get("05"), "reference", MAX_REFERENCE_LENGTH),
        merchant_code=_merchant_code(data.get("52")),
        source="bharat_qr",
    )


# --- our merchant links ----------------------------------------------------------


def parse_merchant_link(
    text: str, *, allowed_hosts: frozenset[str] | None = None
) -> MerchantLinkRef:
    """The link id of ``http(s)://<host>/m/<link-id>``.

    With ``allowed_hosts`` (lower-case ``host[:port]``), links to any other
    host are refused: a look-alike domain must not resolve to our merchant.
    """
    text = _check_input(text)
    match = _LINK_RE.fullmatch(text)
    if match is None:
        raise UpiError("not a merchant payment link", code="upi_invalid_merchant_link")
    host = match.group("host").lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        raise UpiError("this link is not from TaskForce Wallet", code="upi_invalid_merchant_link")
    link_id = match.group("id")
    if _LINK_ID_RE.fullmatch(link_id) is None:
        raise UpiError("the link id is malformed", code="upi_invalid_merchant_link")
    return MerchantLinkRef(link_id=link_id, host=host)


def parse_payment_code(
    text: str,
    *,
    max_paise: int = DEFAULT_MAX_PAISE,
    allowed_hosts: frozenset[str] | None = None,
) -> UpiPaymentRequest | MerchantLinkRef:
    """Whatever the scanner read: a UPI URI, a BharatQR payload or our link."""
    text = _check_input(text)
    lowered = text[:8].lower()
    if lowered.startswith("upi:"):
        return parse_upi_uri(text, max_paise=max_paise)
    if text.startswith(_EMV_PREFIX):
        return parse_bharat_qr(text, max_paise=max_paise)
    if lowered.startswith(("http://", "https://")):
        return parse_merchant_link(text, allowed_hosts=allowed_hosts)
    raise UpiError("this code is not a UPI payment code")
