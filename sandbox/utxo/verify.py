"""Input script checks: P2WPKH and P2PKH spends, signatures verified by bitcoinlib.

bitcoinlib verifies a signature against the public key found in the
witness/scriptSig, so the key's HASH160 is matched against the spent
output's script here first (the OP_EQUALVERIFY half of the script).
bitcoinlib is imported lazily: importing it touches its data directory.
"""

from __future__ import annotations

from typing import Any

from sandbox.utxo.params import NetworkParams
from sandbox.utxo.script import hash160, iter_pushes
from sandbox.utxo.tx import Tx, TxOut

EQUALVERIFY_FAILED = (
    "mandatory-script-verify-flag-failed (Script failed an OP_EQUALVERIFY operation)"
)
SIG_FAILED = (
    "mandatory-script-verify-flag-failed "
    "(Signature must be zero for failed CHECK(MULTI)SIG operation)"
)


class ScriptError(Exception):
    """An input whose script does not validate; ``str`` is Core's reject reason."""


def _key_for(params: NetworkParams, tx: Tx, index: int, prevout: TxOut) -> None:
    txin = tx.vin[index]
    script = prevout.script
    if len(script) == 22 and script[:2] == b"\x00\x14" and params.bech32_hrp:
        if txin.script_sig:
            raise ScriptError(
                "mandatory-script-verify-flag-failed (Witness requires empty scriptSig)"
            )
        if len(txin.witness) != 2:
            raise ScriptError("mandatory-script-verify-flag-failed (Witness program mismatch)")
        pubkey = txin.witness[1]
        if len(pubkey) != 33:
            raise ScriptError(
                "mandatory-script-verify-flag-failed (Using non-compressed keys in segwit)"
            )
        if hash160(pubkey) != script[2:]:
            raise ScriptError(EQUALVERIFY_FAILED)
        return
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        if txin.witness:
            raise ScriptError(
                "mandatory-script-verify-flag-failed (Witness provided for non-witness script)"
            )
        try:
            pushes = iter_pushes(txin.script_sig)
        except ValueError as exc:
            raise ScriptError("mandatory-script-verify-flag-failed (Bad opcode)") from exc
        if len(pushes) != 2 or any(data is None for _, data in pushes):
            raise ScriptError(
                "mandatory-script-verify-flag-failed "
                "(Operation not valid with the current stack size)"
            )
        pubkey = pushes[1][1] or b""
        if hash160(pubkey) != script[3:23]:
            raise ScriptError(EQUALVERIFY_FAILED)
        return
    raise ScriptError(
        "non-mandatory-script-verify-flag (sandbox: only P2WPKH and P2PKH spends are emulated)"
    )


def check_inputs(params: NetworkParams, tx: Tx, raw: bytes, prevouts: list[TxOut]) -> None:
    """Raise ScriptError unless every input validly spends its prevout."""
    for index, prevout in enumerate(prevouts):
        _key_for(params, tx, index, prevout)
    from bitcoinlib.transactions import Transaction  # lazy: see module docstring

    try:
        parsed: Any = Transaction.parse_bytes(raw, network=params.bitcoinlib_network)
        for inp, prevout in zip(parsed.inputs, prevouts, strict=True):
            inp.value = prevout.value  # BIP143 signs the spent amount
        ok = bool(parsed.verify())
    except Exception as exc:  # bitcoinlib raises assorted errors on malformed sigs
        raise ScriptError(SIG_FAILED) from exc
    if not ok:
        raise ScriptError(SIG_FAILED)
