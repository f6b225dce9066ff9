"""The shared TLS context verifies like httpx's default and is built once."""

from __future__ import annotations

import ssl

from wallet.http import tls_context
from wallet.rates.venues import SpotVenueClient


def test_tls_context_is_shared_and_still_verifies() -> None:
    ctx = tls_context()
    assert ctx is tls_context()
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] > 0  # certifi's bundle is loaded


def test_venue_clients_use_the_shared_context() -> None:
    client = SpotVenueClient("binance", "https://venue.invalid")
    try:
        pool = client._client._transport._pool  # type: ignore[attr-defined]
        assert pool._ssl_context is tls_context()
    finally:
        client.close()
