"""What a custody worker needs to move coins: the signer, the chains' adapters and our keys."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from wallet.assets import Chain
from wallet.chains.base import ChainAdapter
from wallet.custody.addresses import PublicKeys
from wallet.custody.signer import Signer


@dataclass(frozen=True)
class ChainWork:
    """The outside world of the withdrawal and sweep workers (built only when there is work).

    ``adapters`` maps a chain value to a factory of its adapter (the
    sensors' ``SharedAdapter`` keeps one open across ticks); the workers
    never close an adapter. ``keys`` derives the EVM/UTXO hot addresses.
    """

    signer: Signer
    adapters: Mapping[str, Callable[[], ChainAdapter]]
    keys: PublicKeys

    def adapter(self, chain: Chain) -> ChainAdapter:
        build = self.adapters.get(chain.value)
        if build is None:
            raise LookupError(f"no adapter configured for {chain.value}")
        return build()

    def discard(self, chain: Chain) -> None:
        """Drop a shared adapter after an unexpected error, so the next use starts afresh."""
        drop = getattr(self.adapters.get(chain.value), "discard", None)
        if callable(drop):
            drop()
