"""Deploy the sandbox tokens and mint the faucet's supply.

Deployment runs on a fresh chain in instant-mining mode from dev account 0
(the faucet), always in the same order, so with the fixed mnemonic every
start yields the same contract addresses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address

from sandbox.ethereum.compile import Artifact
from sandbox.ethereum.node import JsonRpc, RpcError


@dataclass(frozen=True)
class TokenSpec:
    symbol: str
    contract: str  # Solidity contract name
    decimals: int
    faucet_supply: int  # whole tokens minted to the faucet
    ctor_args: tuple[str, str, int] | None  # (name, symbol, decimals) for SandboxToken


TOKENS: tuple[TokenSpec, ...] = (
    TokenSpec("USDC", "SandboxToken", 6, 10**12, ("USD Coin", "USDC", 6)),
    TokenSpec("SHIB", "SandboxToken", 18, 10**15, ("SHIBA INU", "SHIB", 18)),
    TokenSpec("PEPE", "SandboxToken", 18, 10**15, ("Pepe", "PEPE", 18)),
    TokenSpec("FALSE", "FalseToken", 18, 10**9, None),
    TokenSpec("FEEMEME", "FeeOnTransferToken", 18, 10**15, None),
)
TOKEN_DECIMALS = {t.symbol: t.decimals for t in TOKENS}
PRODUCT_TOKENS = ("USDC", "SHIB", "PEPE")  # the ones the product's settings list


def calldata(signature: str, types: list[str], args: list[object]) -> str:
    """ABI-encode a call: 4-byte selector of ``signature`` plus the encoded arguments."""
    return "0x" + (function_signature_to_4byte_selector(signature) + encode(types, args)).hex()


def wait_receipt(rpc: JsonRpc, txid: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Poll for a receipt: anvil answers eth_sendTransaction a moment before it is stored."""
    deadline = time.monotonic() + timeout_s
    while (receipt := rpc.call("eth_getTransactionReceipt", txid)) is None:
        if time.monotonic() > deadline:
            raise RpcError("eth_getTransactionReceipt", f"{txid} not mined in {timeout_s}s")
        time.sleep(0.02)
    return dict(receipt)


def send_and_confirm(rpc: JsonRpc, tx: dict[str, str]) -> dict[str, Any]:
    """Send from an unlocked dev account (instant mining) and require success."""
    txid = rpc.call("eth_sendTransaction", tx)
    receipt = wait_receipt(rpc, txid)
    if int(receipt["status"], 16) != 1:
        raise RuntimeError(f"deployment transaction {txid} failed: {receipt}")
    return dict(receipt)


def deploy_tokens(rpc: JsonRpc, artifacts: dict[str, Artifact], faucet: str) -> dict[str, str]:
    """Deploy every token and mint its faucet supply; returns {symbol: checksum address}."""
    addresses: dict[str, str] = {}
    for spec in TOKENS:
        code = artifacts[spec.contract].bytecode
        if spec.ctor_args is not None:
            code += encode(["string", "string", "uint8"], list(spec.ctor_args)).hex()
        receipt = send_and_confirm(rpc, {"from": faucet, "data": code})
        address = to_checksum_address(str(receipt["contractAddress"]))
        mint = calldata(
            "mint(address,uint256)",
            ["address", "uint256"],
            [faucet, spec.faucet_supply * 10**spec.decimals],
        )
        send_and_confirm(rpc, {"from": faucet, "to": address, "data": mint})
        addresses[spec.symbol] = address
    return addresses
