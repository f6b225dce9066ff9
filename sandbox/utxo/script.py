"""Output scripts, addresses and descriptors as Bitcoin Core renders them.

Base58Check (P2PKH/P2SH), bech32/bech32m (BIP173/BIP350) and the output
descriptor checksum (BIP380) are implemented here rather than through
bitcoinlib, whose "regtest" network uses mainnet's base58 prefixes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sandbox.utxo.params import NetworkParams


class AddressError(ValueError):
    """An address that does not decode for this network."""


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hash160(data: bytes) -> bytes:
    return hashlib.new("ripemd160", hashlib.sha256(data).digest()).digest()


# --- base58check -------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58check_encode(version: int, payload: bytes) -> str:
    data = bytes([version]) + payload
    data += sha256d(data)[:4]
    num = int.from_bytes(data, "big")
    out = ""
    while num:
        num, rem = divmod(num, 58)
        out = _B58[rem] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def b58check_decode(text: str) -> tuple[int, bytes]:
    num = 0
    for char in text:
        index = _B58.find(char)
        if index < 0:
            raise AddressError("Invalid base58 character")
        num = num * 58 + index
    body = num.to_bytes((num.bit_length() + 7) // 8, "big")
    data = b"\0" * (len(text) - len(text.lstrip("1"))) + body
    if len(data) < 5 or sha256d(data[:-4])[:4] != data[-4:]:
        raise AddressError("Invalid checksum or length of Base58 address (P2PKH or P2SH)")
    return data[0], data[1:-4]


# --- bech32 / bech32m (reference implementation of BIP173 / BIP350) ---------

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M_CONST = 0x2BC830A3


def _polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def _convertbits(data: bytes | list[int], frombits: int, tobits: int, pad: bool) -> list[int]:
    acc = bits = 0
    ret: list[int] = []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if pad and bits:
        ret.append((acc << (tobits - bits)) & maxv)
    elif not pad and (bits >= frombits or ((acc << (tobits - bits)) & maxv)):
        raise AddressError("Invalid padding in Bech32 data section")
    return ret


def segwit_encode(hrp: str, version: int, program: bytes) -> str:
    data = [version, *_convertbits(program, 8, 5, True)]
    const = 1 if version == 0 else _BECH32M_CONST
    poly = _polymod(_hrp_expand(hrp) + data + [0] * 6) ^ const
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def segwit_decode(hrp: str, address: str) -> tuple[int, bytes]:
    if address.lower() != address and address.upper() != address:
        raise AddressError("Invalid Bech32 address: mixed case")
    address = address.lower()
    pos = address.rfind("1")
    if pos < 1 or pos + 7 > len(address) or len(address) > 90:
        raise AddressError("Invalid Bech32 address data size")
    if address[:pos] != hrp:
        raise AddressError("Invalid or unsupported Segwit (Bech32) or Base58 encoding.")
    try:
        data = [_BECH32.index(c) for c in address[pos + 1 :]]
    except ValueError as exc:
        raise AddressError("Invalid Bech32 character") from exc
    const = _polymod(_hrp_expand(hrp) + data)
    if const not in (1, _BECH32M_CONST):
        raise AddressError("Invalid Bech32 checksum")
    version = data[0]
    program = bytes(_convertbits(data[1:-6], 5, 8, False))
    if version > 16 or not 2 <= len(program) <= 40:
        raise AddressError("Invalid Bech32 address program size")
    if version == 0 and len(program) not in (20, 32):
        raise AddressError("Invalid Bech32 v0 address program size")
    if (version == 0) != (const == 1):
        raise AddressError("Version 1+ witness address must use Bech32m checksum")
    return version, program


# --- scripts -----------------------------------------------------------------


def p2pkh_script(pubkey_hash: bytes) -> bytes:
    return b"\x76\xa9\x14" + pubkey_hash + b"\x88\xac"


def p2wpkh_script(pubkey_hash: bytes) -> bytes:
    return b"\x00\x14" + pubkey_hash


def address_to_script(params: NetworkParams, address: str) -> bytes:
    """The scriptPubKey an address pays to; raises AddressError if invalid here."""
    if params.bech32_hrp and address.lower().startswith(params.bech32_hrp + "1"):
        version, program = segwit_decode(params.bech32_hrp, address)
        return bytes([0x50 + version if version else 0, len(program)]) + program
    version, payload = b58check_decode(address)
    if len(payload) != 20:
        raise AddressError("Invalid length for Base58 address (P2PKH or P2SH)")
    if version == params.p2pkh_version or version in params.p2pkh_aliases:
        return p2pkh_script(payload)
    if version == params.p2sh_version:
        return b"\xa9\x14" + payload + b"\x87"
    raise AddressError("Invalid or unsupported Base58-encoded address.")


@dataclass(frozen=True)
class ScriptInfo:
    type: str  # Bitcoin Core's scriptPubKey "type"
    address: str | None


def classify(params: NetworkParams, script: bytes) -> ScriptInfo:
    """Core's ``type`` and ``address`` for a scriptPubKey."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return ScriptInfo("pubkeyhash", b58check_encode(params.p2pkh_version, script[3:23]))
    if len(script) == 23 and script[:2] == b"\xa9\x14" and script[22:] == b"\x87":
        return ScriptInfo("scripthash", b58check_encode(params.p2sh_version, script[2:22]))
    if script[:1] == b"\x6a":
        return ScriptInfo("nulldata", None)
    if len(script) in (35, 67) and script[-1] == 0xAC and script[0] == len(script) - 2:
        return ScriptInfo("pubkey", None)
    is_witness = 4 <= len(script) <= 42 and script[1] == len(script) - 2
    if params.bech32_hrp and is_witness and (script[0] == 0 or 0x51 <= script[0] <= 0x60):
        version = 0 if script[0] == 0 else script[0] - 0x50
        program = script[2:]
        address = segwit_encode(params.bech32_hrp, version, program)
        if version == 0 and len(program) == 20:
            return ScriptInfo("witness_v0_keyhash", address)
        if version == 0 and len(program) == 32:
            return ScriptInfo("witness_v0_scripthash", address)
        if version == 1 and len(program) == 32:
            return ScriptInfo("witness_v1_taproot", address)
        if version != 0:
            return ScriptInfo("witness_unknown", address)
    return ScriptInfo("nonstandard", None)


_OPCODES = {
    0x00: "0",
    0x4F: "-1",
    0x6A: "OP_RETURN",
    0x76: "OP_DUP",
    0x87: "OP_EQUAL",
    0x88: "OP_EQUALVERIFY",
    0xA9: "OP_HASH160",
    0xAC: "OP_CHECKSIG",
    0xAE: "OP_CHECKMULTISIG",
}


def iter_pushes(script: bytes) -> list[tuple[int, bytes | None]]:
    """(opcode, pushed data or None) per script element; raises on truncation."""
    out: list[tuple[int, bytes | None]] = []
    i = 0
    while i < len(script):
        op = script[i]
        i += 1
        if 0 < op <= 0x4E:
            if op < 0x4C:
                size = op
            else:
                width = {0x4C: 1, 0x4D: 2, 0x4E: 4}[op]
                size = int.from_bytes(script[i : i + width], "little")
                i += width
            data = script[i : i + size]
            if len(data) != size:
                raise ValueError("script push past end")
            i += size
            out.append((op, data))
        else:
            out.append((op, None))
    return out


def script_asm(script: bytes, sighash_decode: bool = False) -> str:
    """Core's ``asm``: opcode names and hex pushes ("[ALL]" decoded in scriptSigs)."""
    try:
        elements = iter_pushes(script)
    except ValueError:
        return "[error]"
    parts: list[str] = []
    for op, data in elements:
        if data is None:
            if 0x51 <= op <= 0x60:
                parts.append(str(op - 0x50))
            else:
                parts.append(_OPCODES.get(op, f"OP_UNKNOWN[{op}]"))
        elif sighash_decode and len(data) > 8 and data[0] == 0x30 and data[-1] == 0x01:
            parts.append(data[:-1].hex() + "[ALL]")
        else:
            parts.append(data.hex())
    return " ".join(parts)


# --- descriptors (BIP380 checksum) ------------------------------------------

_INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_CHECKSUM_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _desc_polymod(c: int, val: int) -> int:
    c0 = c >> 35
    c = ((c & 0x7FFFFFFFF) << 5) ^ val
    for bit, gen in enumerate(
        (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
    ):
        if c0 & (1 << bit):
            c ^= gen
    return c


def descriptor_checksum(desc: str) -> str:
    c = 1
    cls = 0
    clscount = 0
    for ch in desc:
        pos = _INPUT_CHARSET.find(ch)
        if pos < 0:
            raise ValueError(f"invalid descriptor character {ch!r}")
        c = _desc_polymod(c, pos & 31)
        cls = cls * 3 + (pos >> 5)
        clscount += 1
        if clscount == 3:
            c = _desc_polymod(c, cls)
            cls = clscount = 0
    if clscount:
        c = _desc_polymod(c, cls)
    for _ in range(8):
        c = _desc_polymod(c, 0)
    c ^= 1
    return "".join(_CHECKSUM_CHARSET[(c >> (5 * (7 - j))) & 31] for j in range(8))


def with_checksum(desc: str) -> str:
    return f"{desc}#{descriptor_checksum(desc)}"


def script_descriptor(params: NetworkParams, script: bytes) -> str:
    """The inferred descriptor Core reports for an output script."""
    info = classify(params, script)
    if info.address:
        return with_checksum(f"addr({info.address})")
    return with_checksum(f"raw({script.hex()})")


def descriptor_scripts(params: NetworkParams, desc: str) -> list[bytes]:
    """Output scripts of a scantxoutset descriptor: addr(), raw(), pkh(), wpkh() with hex keys."""
    if "#" in desc:
        desc, checksum = desc.split("#", 1)
        if descriptor_checksum(desc) != checksum:
            raise ValueError(f"Provided checksum '{checksum}' does not match computed checksum")
    for prefix in ("addr(", "raw(", "pkh(", "wpkh("):
        if desc.startswith(prefix) and desc.endswith(")"):
            arg = desc[len(prefix) : -1]
            break
    else:
        raise ValueError(f"'{desc}' is not a supported descriptor (addr, raw, pkh, wpkh)")
    if prefix == "addr(":
        try:
            return [address_to_script(params, arg)]
        except AddressError as exc:
            raise ValueError(f"Address '{arg}' is not valid") from exc
    try:
        data = bytes.fromhex(arg)
    except ValueError as exc:
        raise ValueError(f"'{arg}' is not hex") from exc
    if prefix == "raw(":
        return [data]
    if len(data) not in (33, 65):
        raise ValueError(f"Pubkey '{arg}' is invalid")
    if prefix == "pkh(":
        return [p2pkh_script(hash160(data))]
    if not params.bech32_hrp or len(data) != 33:
        raise ValueError("wpkh() requires a compressed key on a segwit chain")
    return [p2wpkh_script(hash160(data))]
