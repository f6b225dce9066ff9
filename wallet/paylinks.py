"""Payment links: EIP-681 (Ethereum), Solana Pay transfer requests, BIP21 (BTC, DOGE).

Generation and parsing, with exact amounts (integers in minor units;
decimal strings only on the wire) and a stable error code for every
malformed link (:class:`PaylinkError`). Specifications followed:

- ERC-681 "URL Format for Transaction Requests": ``ethereum:[pay-]<target>
  [@<chain_id>][/<function>][?<params>]``. Native: ``?value=<wei>``;
  ERC-20: ``<token>/transfer?address=<to>&uint256=<amount>``. Numbers may
  use scientific notation (``2.014e18``); they are parsed exactly and must
  be whole.
- Solana Pay "Specification: Transfer Request": ``solana:<recipient>
  ?amount=<decimal>&spl-token=<mint>&reference=<key>…&label=&message=&memo=``.
  Amounts are user units, no scientific notation, a leading 0 before a
  point, no more decimals than the mint has. ``reference`` may repeat.
- BIP21 "URI Scheme": ``bitcoin:<address>?amount=<BTC>&label=&message=``;
  unknown ``req-`` parameters make the link invalid; other unknown
  parameters are ignored. ``dogecoin:`` the same, in DOGE.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from wallet.errors import WalletError
from wallet.money import format_minor, parse_minor


class PaylinkError(WalletError):
    """A payment link we cannot accept; ``code`` says which rule it broke."""

    code = "paylink_malformed"


def _fail(code: str, message: str) -> PaylinkError:
    return PaylinkError(message, code=code)


_EVM_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ENS = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}")
_EIP681_NUMBER = re.compile(r"(?P<sign>[+-])?(?P<int>\d*)(?:\.(?P<frac>\d+))?(?:[eE](?P<exp>\d*))?")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_BASE58 = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


def _split_query(query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in query.split("&") if query else []:
        if not part:
            raise _fail("paylink_malformed", "empty parameter in the query")
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise _fail("paylink_malformed", f"parameter {part!r} is not key=value")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def _single(pairs: list[tuple[str, str]], key: str) -> str | None:
    values = [v for k, v in pairs if k == key]
    if len(values) > 1:
        raise _fail("paylink_duplicate_parameter", f"{key!r} may appear only once")
    return values[0] if values else None


def _scheme(uri: str, scheme: str) -> str:
    if not isinstance(uri, str) or len(uri) > 2048:
        raise _fail("paylink_malformed", "a payment link is a string of at most 2048 characters")
    head, sep, rest = uri.partition(":")
    if not sep or head.lower() != scheme:
        raise _fail("paylink_bad_scheme", f"expected a {scheme}: link")
    return rest


def _checked_evm_address(text: str) -> str:
    from eth_utils import is_checksum_address, to_checksum_address

    if not _EVM_ADDRESS.fullmatch(text):
        raise _fail("paylink_bad_address", f"{text!r} is not an Ethereum address")
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise _fail("paylink_bad_address", f"{text!r} fails its EIP-55 checksum")
    return str(to_checksum_address(text))


# --- EIP-681 ----------------------------------------------------------------------


def parse_eip681_number(text: str) -> int:
    """An ERC-681 ``number`` as an exact integer (``2.014e18`` → 2014000000000000000)."""
    match = _EIP681_NUMBER.fullmatch(text)
    if match is None or not (match.group("int") or match.group("frac")):
        raise _fail("paylink_bad_amount", f"{text!r} is not an ERC-681 number")
    digits = (match.group("int") or "") + (match.group("frac") or "")
    exponent = int(match.group("exp") or 0) - len(match.group("frac") or "")
    mantissa = int(digits)
    if exponent >= 0:
        value = mantissa * 10**exponent
    else:
        value, remainder = divmod(mantissa, 10**-exponent)
        if remainder:
            raise _fail("paylink_bad_amount", f"{text!r} is not a whole number of base units")
    return -value if match.group("sign") == "-" else value


@dataclass(frozen=True)
class EthereumRequest:
    """A parsed ERC-681 link. ``amount`` is wei (native) or token base units."""

    target: str  # recipient (native) or token contract (transfer); ENS names kept as text
    chain_id: int | None
    function: str | None
    recipient: str
    amount: int | None
    token: str | None
    params: dict[str, str] = field(default_factory=dict)


def eip681_native(address: str, chain_id: int, wei: int) -> str:
    """``ethereum:<address>@<chainId>?value=<wei>``."""
    _check_minor(wei)
    return f"ethereum:{_checked_evm_address(address)}@{_check_chain(chain_id)}?value={wei}"


def eip681_erc20(token: str, chain_id: int, to: str, amount: int) -> str:
    """``ethereum:<token>@<chainId>/transfer?address=<to>&uint256=<amount>``."""
    _check_minor(amount)
    return (
        f"ethereum:{_checked_evm_address(token)}@{_check_chain(chain_id)}/transfer"
        f"?address={_checked_evm_address(to)}&uint256={amount}"
    )


def parse_eip681(uri: str) -> EthereumRequest:
    rest = _scheme(uri, "ethereum")
    if rest.startswith("pay-"):
        rest = rest[4:]
    path, _, query = rest.partition("?")
    path, _, function = path.partition("/")
    target, at, chain = path.partition("@")
    if _EVM_ADDRESS.fullmatch(target):
        target = _checked_evm_address(target)
    elif not _ENS.fullmatch(target):
        raise _fail("paylink_bad_address", f"{target!r} is neither an address nor an ENS name")
    chain_id = None
    if at:
        if not chain.isdigit() or int(chain) <= 0:
            raise _fail("paylink_bad_chain", f"chain id {chain!r} is not a positive integer")
        chain_id = int(chain)
    if "/" in function or (function and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", function)):
        raise _fail("paylink_malformed", f"{function!r} is not a function name")
    pairs = _split_query(query)
    params = {k: v for k, v in pairs}
    for key in ("value", "gas", "gasLimit", "gasPrice", "uint256", "address"):
        _single(pairs, key)
    if not function:
        value = params.get("value")
        amount = parse_eip681_number(value) if value is not None else None
        if amount is not None and amount < 0:
            raise _fail("paylink_bad_amount", "value cannot be negative")
        return EthereumRequest(target, chain_id, None, target, amount, None, params)
    if function != "transfer":
        raise _fail("paylink_unsupported_function", f"function {function!r} is not a payment")
    to = params.get("address")
    if to is None:
        raise _fail("paylink_malformed", "an ERC-20 transfer needs address=")
    recipient = _checked_evm_address(to) if _EVM_ADDRESS.fullmatch(to) else to
    if recipient == to and not _EVM_ADDRESS.fullmatch(to) and not _ENS.fullmatch(to):
        raise _fail("paylink_bad_address", f"{to!r} is neither an address nor an ENS name")
    raw = params.get("uint256")
    amount = parse_eip681_number(raw) if raw is not None else None
    if amount is not None and amount < 0:
        raise _fail("paylink_bad_amount", "uint256 cannot be negative")
    if "value" in params and parse_eip681_number(params["value"]) != 0:
        raise _fail("paylink_malformed", "a token transfer sends no ether value")
    return EthereumRequest(target, chain_id, "transfer", recipient, amount, target, params)


def _check_minor(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise _fail("paylink_bad_amount", "amounts are non-negative integers in minor units")


def _check_chain(chain_id: int) -> int:
    if isinstance(chain_id, bool) or not isinstance(chain_id, int) or chain_id <= 0:
        raise _fail("paylink_bad_chain", "chain id must be a positive integer")
    return chain_id


# --- Solana Pay ---------------------------------------------------------------------


@dataclass(frozen=True)
class SolanaPayRequest:
    """A parsed transfer request; ``amount`` is the decimal text, ``amount_minor`` exact."""

    recipient: str
    amount: str | None
    amount_minor: int | None
    spl_token: str | None
    references: tuple[str, ...] = ()
    label: str | None = None
    message: str | None = None
    memo: str | None = None


def _base58_key(text: str, what: str) -> str:
    from bip_utils import Base58Decoder

    if not _BASE58.fullmatch(text):
        raise _fail("paylink_bad_address", f"{what} {text!r} is not a base58 public key")
    try:
        if len(Base58Decoder.Decode(text)) != 32:
            raise ValueError
    except ValueError:
        raise _fail("paylink_bad_address", f"{what} {text!r} is not 32 bytes") from None
    return text


def solana_pay(
    recipient: str,
    *,
    amount_minor: int | None = None,
    decimals: int = 9,
    spl_token: str | None = None,
    references: tuple[str, ...] = (),
    label: str | None = None,
    message: str | None = None,
    memo: str | None = None,
) -> str:
    """A ``solana:`` transfer request; ``decimals`` of SOL (9) or of the mint."""
    params: list[tuple[str, str]] = []
    if amount_minor is not None:
        _check_minor(amount_minor)
        params.append(("amount", format_minor(amount_minor, decimals, trim=True)))
    if spl_token is not None:
        params.append(("spl-token", _base58_key(spl_token, "spl-token")))
    params += [("reference", _base58_key(r, "reference")) for r in references]
    params += [(k, v) for k, v in (("label", label), ("message", message), ("memo", memo)) if v]
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    base = f"solana:{_base58_key(recipient, 'recipient')}"
    return f"{base}?{query}" if query else base


def parse_solana_pay(uri: str, *, decimals: int | None = None) -> SolanaPayRequest:
    """Parse a transfer request; ``decimals`` (9 for SOL, the mint's otherwise) bounds amount."""
    rest = _scheme(uri, "solana")
    path, _, query = rest.partition("?")
    if path.lower().startswith("http"):
        raise _fail("paylink_unsupported", "interactive transaction requests are not supported")
    recipient = _base58_key(unquote(path), "recipient")
    pairs = _split_query(query)
    amount = _single(pairs, "amount")
    spl_token = _single(pairs, "spl-token")
    if spl_token is not None:
        _base58_key(spl_token, "spl-token")
    minor = None
    if amount is not None:
        if not _DECIMAL.fullmatch(amount):
            raise _fail("paylink_bad_amount", f"amount {amount!r} is not a plain decimal")
        places = decimals if decimals is not None else (9 if spl_token is None else None)
        if places is not None:
            frac = amount.partition(".")[2]
            if len(frac) > places:
                raise _fail(
                    "paylink_bad_amount", f"amount {amount!r} has more than {places} decimals"
                )
            minor = parse_minor(amount, places)
    return SolanaPayRequest(
        recipient=recipient,
        amount=amount,
        amount_minor=minor,
        spl_token=spl_token,
        references=tuple(_base58_key(v, "reference") for k, v in pairs if k == "reference"),
        label=_single(pairs, "label"),
        message=_single(pairs, "message"),
        memo=_single(pairs, "memo"),
    )


# --- BIP21 --------------------------------------------------------------------------

_BIP21_AMOUNT = re.compile(r"\d+(?:\.\d{1,8})?")
_BIP21_SCHEMES = {"bitcoin", "dogecoin"}
_KNOWN = {"amount", "label", "message"}


@dataclass(frozen=True)
class Bip21Request:
    scheme: str
    address: str
    amount_minor: int | None  # satoshi / koinu
    label: str | None = None
    message: str | None = None
    params: dict[str, str] = field(default_factory=dict)


def bip21(
    address: str,
    *,
    scheme: str = "bitcoin",
    amount_minor: int | None = None,
    label: str | None = None,
    message: str | None = None,
) -> str:
    """``bitcoin:<address>?amount=<BTC>&label=&message=`` (``dogecoin:`` likewise)."""
    if scheme not in _BIP21_SCHEMES:
        raise _fail("paylink_bad_scheme", f"unknown scheme {scheme!r}")
    if not address or not re.fullmatch(r"[0-9A-Za-z]+", address):
        raise _fail("paylink_bad_address", f"{address!r} is not an address")
    params: list[tuple[str, str]] = []
    if amount_minor is not None:
        _check_minor(amount_minor)
        params.append(("amount", format_minor(amount_minor, 8, trim=True)))
    params += [(k, v) for k, v in (("label", label), ("message", message)) if v]
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    return f"{scheme}:{address}?{query}" if query else f"{scheme}:{address}"


def parse_bip21(uri: str, *, scheme: str = "bitcoin") -> Bip21Request:
    """Parse a BIP21 link; the address is checked by :mod:`wallet.chains.addresses` later."""
    if scheme not in _BIP21_SCHEMES:
        raise _fail("paylink_bad_scheme", f"unknown scheme {scheme!r}")
    rest = _scheme(uri, scheme)
    address, _, query = rest.partition("?")
    if not address or not re.fullmatch(r"[0-9A-Za-z]+", address):
        raise _fail("paylink_bad_address", f"{address!r} is not an address")
    pairs = _split_query(query)
    for key, _value in pairs:
        if key.startswith("req-") and key not in _KNOWN:
            raise _fail("paylink_unsupported_required", f"required parameter {key!r} is unknown")
    amount = _single(pairs, "amount")
    minor = None
    if amount is not None:
        if not _BIP21_AMOUNT.fullmatch(amount):
            raise _fail("paylink_bad_amount", f"amount {amount!r} is not a decimal with ≤ 8 places")
        minor = parse_minor(amount, 8)
    return Bip21Request(
        scheme=scheme,
        address=address,
        amount_minor=minor,
        label=_single(pairs, "label"),
        message=_single(pairs, "message"),
        params={k: v for k, v in pairs if k not in _KNOWN},
    )
