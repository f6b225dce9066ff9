"""Anvil fixtures shared by the EVM chain and custody tests.

Import them into a test module: each importing module gets its own
module-scoped node, so their chains never interfere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.ethereum.testing import start_ethereum, stop_ethereum


@pytest.fixture(scope="module")
def eth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A block-per-transaction anvil behind the stand-in proxy; its health info."""
    proc, info = start_ethereum(tmp_path_factory.mktemp("eth"), block_time=0)
    try:
        yield info
    finally:
        stop_ethereum(proc)


@pytest.fixture
def admin(eth: dict[str, Any]) -> Iterator[httpx.Client]:
    """The stand-in's admin endpoints; faults are cleared after each test."""
    with httpx.Client(base_url=eth["url"], timeout=30) as client:
        yield client
        client.post("/__sandbox/faults", json={"clear": True})
