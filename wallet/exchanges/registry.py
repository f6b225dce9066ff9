"""Which venues settlement may use, with whose keys: the admin panel's choices.

The admin panel (:mod:`wallet.admin.exchange_accounts`) stores each venue's
API key sealed under the master key and can switch a venue off. A venue's
client takes the stored keys when the panel holds them, else the keys in
:class:`wallet.config.Settings` (a fresh install, or a venue never set up
in the panel). A venue the panel switched off is left out of the selling
clients, so :class:`wallet.settlement.selling.Seller` neither sells there
nor fails over to it; with none left the sale waits, as when every venue
is down, and :data:`NO_VENUE_ALERT` is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from wallet.admin import exchange_accounts
from wallet.admin.errors import AdminNotFound
from wallet.alerts import Alert, AlertSink, Severity
from wallet.config import Settings
from wallet.custody.kms import KeyManager
from wallet.exchanges.base import ExchangeClient
from wallet.exchanges.factory import binance_from_settings

Venue = Literal["binance", "inr"]
VENUES: tuple[Venue, ...] = ("binance", "inr")
NO_VENUE_ALERT = "exchange_no_venue_enabled"

# Builds one venue's client from the settings (URL) and the chosen (key, secret).
Builder = Callable[[Settings, Venue, tuple[str, str] | None], ExchangeClient]


def _default_builder(
    settings: Settings, venue: Venue, credentials: tuple[str, str] | None
) -> ExchangeClient:
    return binance_from_settings(settings, venue, credentials=credentials)


def disabled_venues(session: Session) -> set[str]:
    """Venues the admin switched off (a venue without a panel row counts as on)."""
    enabled = set(exchange_accounts.enabled_venues(session))
    return {a.venue for a in exchange_accounts.list_accounts(session)} - enabled


def stored_credentials(session: Session, kms: KeyManager, venue: str) -> tuple[str, str] | None:
    """The panel's (key, secret) for ``venue``, decrypted; ``None`` when it holds none."""
    try:
        key, secret = exchange_accounts.credentials(session, kms, venue)
    except AdminNotFound:
        return None
    return key.reveal().decode(), secret.reveal().decode()


def venue_clients(
    factory: sessionmaker[Session],
    settings: Settings,
    kms: KeyManager,
    *,
    include_disabled: bool = False,
    alerts: AlertSink | None = None,
    build: Builder = _default_builder,
) -> dict[str, ExchangeClient]:
    """Clients for the venues settlement may sell on, keyed by venue.

    ``include_disabled`` keeps switched-off venues too (reconciliation still
    reads their balances and orders; it never sells). When no venue is left
    for selling, ``alerts`` gets :data:`NO_VENUE_ALERT` (resolved once one is
    back); settlement then waits like it does for a venue outage.
    """
    with factory() as session:
        off = disabled_venues(session)
        chosen = {venue: stored_credentials(session, kms, venue) for venue in VENUES}
    clients: dict[str, ExchangeClient] = {
        venue: build(settings, venue, creds)
        for venue, creds in chosen.items()
        if include_disabled or venue not in off
    }
    if alerts is not None and not include_disabled:
        if any(venue not in off for venue in VENUES):
            alerts.resolve(NO_VENUE_ALERT, "an exchange venue is enabled again")
        else:
            alerts.fire(
                Alert(
                    NO_VENUE_ALERT,
                    NO_VENUE_ALERT,
                    Severity.CRITICAL,
                    "every exchange venue is disabled in the admin panel; crypto sales wait",
                    {"disabled": sorted(off)},
                )
            )
    return clients
