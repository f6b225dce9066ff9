"""An in-memory chain implementing the scanner's side of ``ChainAdapter``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from wallet.assets import Chain
from wallet.chains.base import (
    BlockRef,
    CreditCheck,
    Observation,
    ObservationStatus,
    ScanResult,
)


class FakeChain:
    chain = Chain.ETHEREUM

    def __init__(self, height: int) -> None:
        self.fork = 0
        self.tip = height
        self.forks: dict[int, int] = {}  # height -> fork generation of the block there
        self.payments: list[tuple[int, int, str, str, int]] = []  # (height, fork, ...)

    def hash(self, height: int) -> str:
        generation = self.forks.get(height, 0)
        return hashlib.sha256(f"{height}:{generation}".encode()).hexdigest()

    def pay(self, *, height: int, address: str, txid: str, amount: int) -> None:
        self.payments.append((height, self.forks.get(height, 0), address, txid, amount))

    def extend(self, new_tip: int) -> None:
        self.tip = new_tip

    def verify_credit(self, observation: Observation) -> CreditCheck:
        return CreditCheck(observation.amount_minor)

    def reorg(self, *, from_height: int, new_tip: int) -> None:
        self.fork += 1
        for h in range(from_height, new_tip + 1):
            self.forks[h] = self.fork
        self.payments = [p for p in self.payments if p[0] < from_height]
        self.tip = new_tip

    def head(self) -> BlockRef:
        return BlockRef(self.tip, self.hash(self.tip))

    def block_hash(self, height: int) -> str | None:
        return self.hash(height) if 0 <= height <= self.tip else None

    def block_hashes(self, heights: Sequence[int]) -> dict[int, str | None]:
        return {h: self.block_hash(h) for h in heights}

    def normalise(self, address: str) -> str:
        return address.lower()

    def scan(self, start: int, end: int, watched: AbstractSet[str]) -> ScanResult:
        observations = [
            Observation(
                "ethereum",
                txid,
                0,
                "ETH",
                address,
                amount,
                h,
                self.hash(h),
                ObservationStatus.SUCCESS,
            )
            for h, _gen, address, txid, amount in self.payments
            if start <= h <= end and address in watched
        ]
        blocks = [BlockRef(h, self.hash(h)) for h in range(start, end + 1)]
        return ScanResult(observations, blocks)

    def close(self) -> None:
        pass
