"""Address validation per chain, with checksums, before anything is sent.

- Ethereum: ``0x`` + 40 hex; a mixed-case address must pass its EIP-55
  checksum (a typo in a checksummed address is caught, not paid);
  the zero address is refused. Returned in checksum form.
- Bitcoin: BIP173/BIP350 bech32(m) segwit for the network's HRP, or
  base58check P2PKH/P2SH with the network's version bytes.
- Dogecoin: base58check P2PKH/P2SH with the network's version bytes.
- Solana: base58 of exactly 32 bytes.

Every refusal is :class:`~wallet.custody.errors.InvalidAddress` (code
``invalid_address``) and never echoes more than the address itself.
"""

from __future__ import annotations

from wallet.assets import Chain
from wallet.chains.networks import ChainNetwork
from wallet.custody.errors import InvalidAddress

ZERO_EVM = "0x" + "0" * 40


def validate_address(net: ChainNetwork, address: str) -> str:
    """The canonical form of ``address`` on ``net``; :class:`InvalidAddress` otherwise."""
    if not isinstance(address, str) or not 0 < len(address) <= 128 or address.strip() != address:
        raise InvalidAddress("an address is a non-empty string without spaces")
    if net.chain is Chain.ETHEREUM:
        return _evm(address)
    if net.chain is Chain.SOLANA:
        return _solana(address)
    return _utxo(net, address)


def _evm(address: str) -> str:
    from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

    if not address.startswith("0x") or not is_hex_address(address):
        raise InvalidAddress(f"{address!r} is not an Ethereum address")
    body = address[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(address):
        raise InvalidAddress(f"{address!r} fails its EIP-55 checksum")
    if address.lower() == ZERO_EVM:
        raise InvalidAddress("the zero address burns funds")
    return str(to_checksum_address(address))


def _solana(address: str) -> str:
    from bip_utils import Base58Decoder

    try:
        raw = Base58Decoder.Decode(address)
    except ValueError:
        raise InvalidAddress(f"{address!r} is not base58") from None
    if len(raw) != 32:
        raise InvalidAddress(f"{address!r} is not a 32-byte Solana public key")
    return address


def _utxo(net: ChainNetwork, address: str) -> str:
    from bip_utils import Base58Decoder, SegwitBech32Decoder

    if net.bech32_hrp and address.lower().startswith(net.bech32_hrp + "1"):
        try:
            version, program = SegwitBech32Decoder.Decode(net.bech32_hrp, address)
        except Exception:
            raise InvalidAddress(f"{address!r} fails its bech32 checksum") from None
        if version == 0 and len(program) not in (20, 32):
            raise InvalidAddress(f"{address!r} has a bad witness program")
        return address.lower()
    try:
        payload = Base58Decoder.CheckDecode(address)
    except Exception:
        raise InvalidAddress(f"{address!r} fails its base58check checksum") from None
    if len(payload) != 21 or payload[0] not in (net.p2pkh_version, net.p2sh_version):
        raise InvalidAddress(f"{address!r} is not a {net.chain.value} {net.kind.value} address")
    return address
