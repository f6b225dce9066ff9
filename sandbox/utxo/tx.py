"""Transaction and block wire serialisation (the consensus encoding).

Parsing here is structural only; signatures are checked in
:mod:`sandbox.utxo.verify`. Hashes are stored as bytes in internal (little
endian) order and shown reversed as hex, as Bitcoin Core does.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from functools import cached_property

from sandbox.utxo.script import sha256d

NULL_HASH = b"\0" * 32
MAX_MONEY = 21_000_000 * 100_000_000


class DecodeError(ValueError):
    """Bytes that are not a transaction (Core: "TX decode failed")."""


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def _read(stream: io.BytesIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise DecodeError("unexpected end of data")
    return data


def _read_varint(stream: io.BytesIO) -> int:
    first = _read(stream, 1)[0]
    if first < 0xFD:
        return first
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    return int.from_bytes(_read(stream, width), "little")


def _read_bytes(stream: io.BytesIO) -> bytes:
    size = _read_varint(stream)
    if size > 4_000_000:
        raise DecodeError("oversized field")
    return _read(stream, size)


def hash_hex(h: bytes) -> str:
    return h[::-1].hex()


def hex_hash(text: str) -> bytes:
    data = bytes.fromhex(text)
    if len(data) != 32:
        raise ValueError("hash must be 32 bytes")
    return data[::-1]


@dataclass
class TxIn:
    prev_txid: bytes  # internal byte order
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: list[bytes] = field(default_factory=list)

    @property
    def is_coinbase(self) -> bool:
        return self.prev_txid == NULL_HASH and self.prev_vout == 0xFFFFFFFF

    @property
    def outpoint(self) -> tuple[str, int]:
        return hash_hex(self.prev_txid), self.prev_vout


@dataclass
class TxOut:
    value: int
    script: bytes


@dataclass
class Tx:
    version: int
    vin: list[TxIn]
    vout: list[TxOut]
    locktime: int

    @property
    def has_witness(self) -> bool:
        return any(i.witness for i in self.vin)

    def serialize(self, with_witness: bool = True) -> bytes:
        witness = with_witness and self.has_witness
        out = [self.version.to_bytes(4, "little")]
        if witness:
            out.append(b"\x00\x01")
        out.append(varint(len(self.vin)))
        for i in self.vin:
            out += [i.prev_txid, i.prev_vout.to_bytes(4, "little"), varint(len(i.script_sig))]
            out += [i.script_sig, i.sequence.to_bytes(4, "little")]
        out.append(varint(len(self.vout)))
        for o in self.vout:
            out += [o.value.to_bytes(8, "little"), varint(len(o.script)), o.script]
        if witness:
            for i in self.vin:
                out.append(varint(len(i.witness)))
                out += [varint(len(item)) + item for item in i.witness]
        out.append(self.locktime.to_bytes(4, "little"))
        return b"".join(out)

    @cached_property
    def txid(self) -> str:
        return hash_hex(sha256d(self.serialize(with_witness=False)))

    @cached_property
    def wtxid(self) -> str:
        return hash_hex(sha256d(self.serialize()))

    @cached_property
    def size(self) -> int:
        return len(self.serialize())

    @cached_property
    def weight(self) -> int:
        return len(self.serialize(with_witness=False)) * 3 + self.size

    @property
    def vsize(self) -> int:
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        return len(self.vin) == 1 and self.vin[0].is_coinbase

    @property
    def signals_rbf(self) -> bool:
        """BIP125 opt-in: any input with nSequence below 0xfffffffe."""
        return any(i.sequence < 0xFFFFFFFE for i in self.vin)


def parse_tx_stream(stream: io.BytesIO, allow_witness: bool = True) -> Tx:
    version = int.from_bytes(_read(stream, 4), "little", signed=True)
    n_in = _read_varint(stream)
    segwit = False
    if n_in == 0:
        flag = _read(stream, 1)[0]
        if flag != 1 or not allow_witness:
            raise DecodeError("unsupported witness flag")
        segwit = True
        n_in = _read_varint(stream)
    vin = []
    for _ in range(n_in):
        prev = _read(stream, 32)
        idx = int.from_bytes(_read(stream, 4), "little")
        script_sig = _read_bytes(stream)
        seq = int.from_bytes(_read(stream, 4), "little")
        vin.append(TxIn(prev, idx, script_sig, seq))
    vout = []
    for _ in range(_read_varint(stream)):
        value = int.from_bytes(_read(stream, 8), "little", signed=True)
        vout.append(TxOut(value, _read_bytes(stream)))
    if segwit:
        for txin in vin:
            txin.witness = [_read_bytes(stream) for _ in range(_read_varint(stream))]
        if not any(i.witness for i in vin):
            raise DecodeError("superfluous witness record")
    locktime = int.from_bytes(_read(stream, 4), "little")
    return Tx(version, vin, vout, locktime)


def parse_tx(raw: bytes, allow_witness: bool = True) -> Tx:
    """Decode one transaction; the whole buffer must be consumed."""
    stream = io.BytesIO(raw)
    try:
        tx = parse_tx_stream(stream, allow_witness)
    except (KeyError, IndexError) as exc:
        raise DecodeError(str(exc)) from exc
    if stream.read(1):
        raise DecodeError("trailing bytes after transaction")
    return tx


def merkle_root(hashes: list[bytes]) -> bytes:
    """Bitcoin's merkle root over internal-order hashes (last one duplicated)."""
    if not hashes:
        return NULL_HASH
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass
class Header:
    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return b"".join(
            [
                self.version.to_bytes(4, "little"),
                self.prev_hash,
                self.merkle_root,
                self.time.to_bytes(4, "little"),
                self.bits.to_bytes(4, "little"),
                self.nonce.to_bytes(4, "little"),
            ]
        )

    @property
    def hash(self) -> bytes:
        return sha256d(self.serialize())


def bits_to_target(bits: int) -> int:
    exponent = bits >> 24
    mantissa = bits & 0x7FFFFF
    return mantissa << (8 * (exponent - 3))


def pow_hash(header: Header, scrypt_pow: bool) -> bytes:
    """The proof-of-work hash: SHA256d for Bitcoin, scrypt(1024,1,1) for Dogecoin."""
    raw = header.serialize()
    if scrypt_pow:
        return hashlib.scrypt(raw, salt=raw, n=1024, r=1, p=1, dklen=32)
    return sha256d(raw)


def solve(header: Header, scrypt_pow: bool) -> None:
    """Grind the nonce to meet the (regtest, trivially easy) target."""
    target = bits_to_target(header.bits)
    while int.from_bytes(pow_hash(header, scrypt_pow), "little") > target:
        header.nonce += 1


def serialize_block(header: Header, txs: list[Tx]) -> bytes:
    return header.serialize() + varint(len(txs)) + b"".join(t.serialize() for t in txs)
