"""What the operator watches: money positions and system health.

Everything here is read from our own tables (the ledger, payouts, scan
cursors, rate history, asset pauses, the outbox) except two optional
probes the caller passes in: the chains' current heads (to show scan lag)
and Dagster's GraphQL API (daemon heartbeat, failed runs). A probe that
fails shows "unavailable"; no number is invented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from wallet.chains.models import ScanCursor
from wallet.db.models.ledger import LedgerAccount, LedgerBalance
from wallet.db.models.ops import OutboxMessage
from wallet.db.models.settlement import Payout, PayoutStatus
from wallet.http import tls_context
from wallet.rates.models import MEDIAN_SOURCE, AssetPause, RateHistory

OPEN_PAYOUT = (
    PayoutStatus.CREATED,
    PayoutStatus.PENDING,
    PayoutStatus.QUEUED,
    PayoutStatus.SCHEDULED,
    PayoutStatus.PROCESSING,
    PayoutStatus.UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class AccountLine:
    code: str
    asset: str
    balance: int  # normal side, minor units
    held: int


@dataclass
class Positions:
    float_inr: AccountLine | None
    queued_payouts: list[Payout]
    queued_paise: int
    exchange: list[AccountLine]
    wallets: list[AccountLine]  # hot and escrow, per chain and asset
    clearing: AccountLine | None


def _lines(session: Session, prefixes: tuple[str, ...]) -> list[AccountLine]:
    rows = session.execute(
        select(
            LedgerAccount.code,
            LedgerAccount.asset,
            LedgerBalance.normal_sign,
            LedgerBalance.balance,
            LedgerBalance.held,
        )
        .join(LedgerBalance, LedgerBalance.account_id == LedgerAccount.id)
        .order_by(LedgerAccount.code)
    ).all()
    return [
        AccountLine(code, asset, sign * balance, held)
        for code, asset, sign, balance, held in rows
        if code.startswith(prefixes)
    ]


def positions(session: Session) -> Positions:
    """The INR float, payouts still in flight, venue inventory and wallet books."""
    queued = list(
        session.scalars(
            select(Payout)
            .where(Payout.status.in_(OPEN_PAYOUT))
            .order_by(Payout.created_at)
            .limit(200)
        )
    )
    float_lines = _lines(session, ("float:INR",))
    clearing = _lines(session, ("payout_clearing:INR",))
    return Positions(
        float_inr=float_lines[0] if float_lines else None,
        queued_payouts=queued,
        queued_paise=sum(p.amount_paise for p in queued),
        exchange=_lines(session, ("exchange:",)),
        wallets=_lines(session, ("hot:", "escrow:")),
        clearing=clearing[0] if clearing else None,
    )


# --- health ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChainHealth:
    name: str
    scanned_height: int | None
    scanned_at: datetime | None
    head: int | None  # None: the node was not asked or did not answer

    @property
    def lag(self) -> int | None:
        if self.head is None or self.scanned_height is None:
            return None
        return max(0, self.head - self.scanned_height)


@dataclass(frozen=True, slots=True)
class RateAge:
    asset: str
    observed_at: datetime
    age_seconds: int


@dataclass
class DagsterHealth:
    reachable: bool
    ui_url: str
    error: str | None = None
    daemons: list[dict[str, Any]] = field(default_factory=list)
    failed_runs: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Health:
    chains: list[ChainHealth]
    rates: list[RateAge]
    pauses: list[AssetPause]
    outbox: list[tuple[str, str, int]]  # topic, status, count
    dagster: DagsterHealth | None


def chain_health(
    session: Session, heads: Callable[[str], int | None] | None, chains: tuple[str, ...]
) -> list[ChainHealth]:
    cursors = {c.name: c for c in session.scalars(select(ScanCursor))}
    names = list(dict.fromkeys([*chains, *sorted(cursors)]))
    out = []
    for name in names:
        cursor = cursors.get(name)
        head = None
        if heads is not None:
            try:
                head = heads(name)
            except Exception:  # a probe failing is exactly what the page must survive
                head = None
        out.append(
            ChainHealth(
                name,
                cursor.height if cursor else None,
                cursor.updated_at if cursor else None,
                head,
            )
        )
    return out


def rate_ages(session: Session, now: datetime) -> list[RateAge]:
    rows = session.execute(
        select(RateHistory.asset, func.max(RateHistory.observed_at))
        .where(RateHistory.source == MEDIAN_SOURCE)
        .group_by(RateHistory.asset)
        .order_by(RateHistory.asset)
    ).all()
    out = []
    for asset, observed in rows:
        if observed is None:
            continue
        if isinstance(observed, str):  # SQLite aggregates lose the column type
            observed = datetime.fromisoformat(observed)
        if observed.tzinfo is None:
            from datetime import UTC

            observed = observed.replace(tzinfo=UTC)
        out.append(RateAge(asset, observed, int((now - observed).total_seconds())))
    return out


def open_pauses(session: Session) -> list[AssetPause]:
    return list(
        session.scalars(
            select(AssetPause).where(AssetPause.resumed_at.is_(None)).order_by(AssetPause.asset)
        )
    )


def outbox_backlog(session: Session) -> list[tuple[str, str, int]]:
    rows = session.execute(
        select(OutboxMessage.topic, OutboxMessage.status, func.count(OutboxMessage.id))
        .group_by(OutboxMessage.topic, OutboxMessage.status)
        .order_by(OutboxMessage.topic, OutboxMessage.status)
    ).all()
    return [(topic, getattr(status, "value", str(status)), int(n)) for topic, status, n in rows]


DAGSTER_QUERY = """
query Health {
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required lastHeartbeatTime } } }
  runsOrError(filter: {statuses: [FAILURE]}, limit: 10) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime } }
  }
}
"""


def dagster_health(
    url: str, *, timeout_s: float = 2.0, transport: httpx.BaseTransport | None = None
) -> DagsterHealth:
    """Daemon heartbeats and recent failed runs from Dagster's GraphQL API."""
    base = url.rstrip("/")
    try:
        with httpx.Client(
            timeout=timeout_s, trust_env=False, transport=transport, verify=tls_context()
        ) as client:
            response = client.post(f"{base}/graphql", json={"query": DAGSTER_QUERY})
        response.raise_for_status()
        data = response.json().get("data") or {}
    except (httpx.HTTPError, ValueError) as exc:
        return DagsterHealth(False, base, error=f"{type(exc).__name__}: {str(exc)[:200]}")
    daemons = ((data.get("instance") or {}).get("daemonHealth") or {}).get(
        "allDaemonStatuses"
    ) or []
    runs_block = data.get("runsOrError") or {}
    runs = runs_block.get("results") or [] if runs_block.get("__typename") == "Runs" else []
    for run in runs:
        run["url"] = f"{base}/runs/{run.get('runId', '')}"
    return DagsterHealth(True, base, daemons=list(daemons), failed_runs=list(runs))
