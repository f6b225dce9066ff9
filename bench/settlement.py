"""(4) Settlement throughput: 1,000 confirmed payments across assets to ``completed``.

The real ``dagster dev`` (webserver + daemon) over a fresh PostgreSQL
schema and the sandbox stand-ins (:mod:`bench.daemon`), with the product's
default sell window (60 s). A backlog, as after a Dagster outage: the
payments sensor is stopped through the GraphQL API, 1,000 confirmed
custodial payments (each its own payer, across five assets) are written
through the product's intake functions, and the clock starts when the
sensor is started again. It stops when every payment is ``completed``, or
when the rest have been paid out and nothing has completed for
:data:`DUST_PATIENCE_S`: the tail of a burst can leave an asset's last
payments below the venue's minimum order, and they wait for more volume by
design (``docs/decisions.md``); they are reported, and the wall time is then
that of the last completion.

Counted at the outside services, not in our tables: payouts at the
RazorpayX stand-in (``GET /v1/payouts``, all pages; duplicates by our
payment id, the payout's ``reference_id``) and orders at the two venues
(distinct order ids in ``GET /api/v3/myTrades`` of every listed symbol).
The order budget is the number of sell windows the run touched times the
legs of each asset's route (one batch per asset per window, one order per
leg); batches are counted in ``sell_batches``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.core import BenchResult, Figure, fmt
from bench.daemon import World, sandbox_world, settlement_runs

TARGET_S = 180.0
ASSETS = ("SOL", "ETH", "BTC", "USDC", "USDC-SPL")
LOCATION = "pipelines.definitions"
SENSOR = "payments_sensor"
SELL_WINDOW_S = 60  # wallet/settlement/config.py's default
# No completion for this long (three sell windows, past the payments sensor's 60-s
# retry of unsold payments): what is left waits for volume.
DUST_PATIENCE_S = 3 * SELL_WINDOW_S


@dataclass(frozen=True)
class SettlementScale:
    payments: int = 1000
    inr_paise: int = 20_000  # ₹200 each: ₹2,00,000 in all, inside the stand-in's float
    timeout_s: float = 900.0
    sell_window_s: int = SELL_WINDOW_S
    dust_patience_s: float = DUST_PATIENCE_S

    @classmethod
    def tiny(cls) -> SettlementScale:
        # ₹500 each: a one-payment batch is above every venue's minimum order.
        # Patience past the payments sensor's 60-s retry of unsold payments: on a busy
        # machine their first run may pay them and find its sell window already used.
        return cls(
            payments=5, inr_paise=50_000, timeout_s=240.0, sell_window_s=5, dust_patience_s=100
        )


def _graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> Any:
    reply = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables or {}},
        timeout=60,
    )
    reply.raise_for_status()
    body = reply.json()
    if body.get("errors"):
        raise RuntimeError(f"GraphQL: {body['errors']}")
    return body["data"]


def _selector() -> dict[str, str]:
    return {
        "repositoryLocationName": LOCATION,
        "repositoryName": "__repository__",
        "sensorName": SENSOR,
    }


def set_sensor(port: int, running: bool) -> None:
    """Stop or start the payments sensor, as an operator would in the Dagster UI."""
    if running:
        data = _graphql(
            port,
            "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename } }",
            {"s": _selector()},
        )
        kind = data["startSensor"]["__typename"]
    else:
        found = _graphql(
            port,
            "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) "
            "{ __typename ... on Sensor { id } } }",
            {"s": _selector()},
        )["sensorOrError"]
        if found["__typename"] != "Sensor":
            raise RuntimeError(f"no {SENSOR}: {found}")
        data = _graphql(
            port,
            "mutation($id: String) { stopSensor(id: $id) { __typename } }",
            {"id": found["id"]},
        )
        kind = data["stopSensor"]["__typename"]
    if "Error" in kind:
        raise RuntimeError(f"{'start' if running else 'stop'} {SENSOR}: {kind}")


def _backlog(world: World, scale: SettlementScale) -> list[str]:
    """``scale.payments`` confirmed custodial payments, committed in chunks (untimed)."""
    from taskforce.harness import custodial_payment
    from wallet.db.session import make_engine, make_session_factory, transaction

    engine = make_engine(world.db_url)
    factory = make_session_factory(engine)
    ids: list[str] = []
    now = datetime.now(UTC)
    try:
        for start in range(0, scale.payments, 50):
            with transaction(factory) as session:
                for i in range(start, min(start + 50, scale.payments)):
                    ids.append(
                        custodial_payment(
                            factory,
                            session=session,
                            asset=ASSETS[i % len(ASSETS)],
                            inr_paise=scale.inr_paise,
                            vpa=f"ravi.kumar{i}@okaxis",
                            now=now,
                        )
                    )
    finally:
        engine.dispose()
    return ids


def _counts(world: World) -> dict[str, Any]:
    """Payments by status, sell batches per asset, and the legs of each asset's route."""
    from sqlalchemy import func, select

    from wallet.db.models.payments import Payment
    from wallet.db.session import make_engine, make_session_factory
    from wallet.settlement.models import SellBatch

    engine = make_engine(world.db_url)
    try:
        with make_session_factory(engine)() as s:
            statuses = {
                status.value: n
                for status, n in s.execute(
                    select(Payment.status, func.count()).group_by(Payment.status)
                )
            }
            batches = list(s.scalars(select(SellBatch)))
    finally:
        engine.dispose()
    legs = {b.asset: len(b.route.get("legs", [])) for b in batches}
    per_asset: dict[str, int] = {}
    for b in batches:
        per_asset[b.asset] = per_asset.get(b.asset, 0) + 1
    return {"statuses": statuses, "batches": per_asset, "legs": legs}


def _completed(world: World) -> int:
    return int(_counts(world)["statuses"].get("completed", 0))


def payouts_at_razorpayx(rzp: dict[str, Any]) -> list[dict[str, Any]]:
    creds = rzp["credentials"]
    items: list[dict[str, Any]] = []
    while True:
        reply = httpx.get(
            f"{rzp['url']}/v1/payouts",
            params={
                "account_number": creds["account_number"],
                "count": "100",
                "skip": str(len(items)),
            },
            auth=(creds["key_id"], creds["key_secret"]),
            timeout=30,
            trust_env=False,
        )
        reply.raise_for_status()
        page = reply.json().get("items") or []
        items += page
        if len(page) < 100:
            return items


def orders_at_venues(venues: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Distinct orders with fills per venue, from the venues' own trade lists."""
    from wallet.exchanges.binance import BinanceClient

    counts: dict[str, int] = {}
    for name, info in venues.items():
        client = BinanceClient(
            info["url"],
            info["credentials"]["api_key"],
            info["credentials"]["api_secret"],
            venue=name,
            rate_limit=False,
        )
        symbols = httpx.get(f"{info['url']}/api/v3/exchangeInfo", timeout=30).json()["symbols"]
        orders: set[tuple[str, int]] = set()
        for sym in symbols:
            pair = f"{sym['baseAsset']}/{sym['quoteAsset']}"
            for trade in client.my_trades(pair):
                orders.add((trade.symbol, trade.order_id))
        counts[name] = len(orders)
    return counts


def run(scale: SettlementScale | None = None, *, plots_dir: Path) -> BenchResult:
    from taskforce.harness import dagster_dev, dagster_env, wait_for, webserver_up

    scale = scale or SettlementScale()
    result = BenchResult(
        "settlement", 4, "Settlement throughput: 1,000 confirmed payments to completed"
    )
    with sandbox_world("settle") as world:
        env = dagster_env(
            world.tmp,
            world.db_url,
            world.rzp,
            world.venues,
            sell_window_seconds=scale.sell_window_s,
        )
        with dagster_dev(world.tmp, env) as (proc, port):
            wait_for(lambda: webserver_up(port), 180, "the Dagster webserver", proc)
            wait_for(lambda: _sensor_known(port), 180, "the code location", proc)
            set_sensor(port, running=False)
            ids = _backlog(world, scale)
            progress: list[tuple[float, int]] = [(0.0, 0)]
            started = time.perf_counter()
            epoch0 = time.time()
            set_sensor(port, running=True)
            deadline = time.monotonic() + scale.timeout_s
            done = 0
            last_done_at = 0.0
            while done < len(ids) and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError("dagster dev exited during the benchmark")
                time.sleep(1.0)
                statuses = _counts(world)["statuses"]
                now_done = int(statuses.get("completed", 0))
                elapsed = time.perf_counter() - started
                if now_done > done:
                    last_done_at = elapsed
                done = now_done
                progress.append((elapsed, done))
                if set(statuses) <= {"completed", "paid_out"} and (
                    elapsed - last_done_at > scale.dust_patience_s
                ):
                    break  # every vendor paid; the rest waits for volume
            wall = last_done_at if done else time.perf_counter() - started
            epoch1 = time.time()
            paid = [at for at in (world.sink.at(p, "processed") for p in ids) if at is not None]
            last_paid = max(paid) - started if paid else float("nan")
            runs = settlement_runs(port)
        counts = _counts(world)
        payouts = payouts_at_razorpayx(world.rzp)
        orders = orders_at_venues(world.venues)
    return _result(
        result, scale, len(ids), done, (wall, last_paid), (epoch0, epoch1), counts, payouts,
        orders, runs, progress, plots_dir,
    )  # fmt: skip


def _sensor_known(port: int) -> bool:
    try:
        found = _graphql(
            port,
            "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { __typename } }",
            {"s": _selector()},
        )
    except (httpx.HTTPError, RuntimeError):
        return False
    return bool(found["sensorOrError"]["__typename"] == "Sensor")


def _result(
    result: BenchResult,
    scale: SettlementScale,
    n: int,
    done: int,
    times: tuple[float, float],
    span: tuple[float, float],
    counts: dict[str, Any],
    payouts: list[dict[str, Any]],
    orders: dict[str, int],
    runs: list[dict[str, Any]],
    progress: list[tuple[float, int]],
    plots_dir: Path,
) -> BenchResult:
    wall, last_paid = times
    refs = [p.get("reference_id") for p in payouts]
    distinct = len(set(refs))
    duplicates = len(refs) - distinct
    window = scale.sell_window_s
    windows = int(span[1] // window) - int(span[0] // window) + 1
    assets = len(ASSETS)
    batches = sum(counts["batches"].values())
    legs = counts["legs"]
    order_budget = sum(legs.get(a, 2) for a in ASSETS) * windows
    total_orders = sum(orders.values())
    result.figures += [
        Figure(
            f"wall time, {n:,} confirmed payments → completed ({done:,} done)",
            wall, TARGET_S, "s", "≤ 3 min on 2 cores", done == n and wall <= TARGET_S,
            "the budget",
        ),
        Figure(
            f"last vendor paid (payout processed webhook), of {n:,}",
            last_paid, wall, "s", "informational: the rest of the wall time is the last sale "
            f"waiting for its {window}-s sell window", None, "the wall time",
        ),
        Figure(
            "vendor paid, crypto left unsold below the venue's minimum (waits for volume)",
            float(counts["statuses"].get("paid_out", 0)), None, "payments", "informational",
            None,
        ),
        Figure(
            "payouts at the RazorpayX stand-in", float(len(payouts)), float(n), "payouts",
            f"exactly {n:,}, no payment paid twice", len(payouts) == n and duplicates == 0,
            "payments",
        ),
        Figure(
            f"exchange orders at the venues ({windows} sell windows of {window} s)",
            float(total_orders), float(order_budget), "orders",
            "≤ Σ route legs × windows", total_orders <= order_budget,
            "one per leg per asset per window",
        ),
        Figure(
            "sell batches", float(batches), float(assets * windows), "batches",
            "≤ assets × windows (not one per payment)", batches <= assets * windows,
            f"{assets} assets × {windows} windows",
        ),
    ]  # fmt: skip
    web = sum(1 for r in runs if r["tags"].get("taskforce/source") == "web")
    keys = [r["tags"].get("dagster/run_key", "") for r in runs]
    net = sum(1 for k in keys if k.startswith("retry:"))
    new = sum(1 for k in keys if k.startswith("settle:"))
    durations = sorted(
        r["endTime"] - r["startTime"] for r in runs if r["startTime"] and r["endTime"]
    )
    launches = sorted(
        r["startTime"] - r["creationTime"] for r in runs if r["startTime"] and r["creationTime"]
    )
    mid = len(durations) // 2
    result.notes += [
        f"{n:,} custodial payments, {scale.inr_paise / 100:,.0f} INR each, one payer each, "
        f"assets {', '.join(ASSETS)} in turn; written while the payments sensor was stopped, "
        "the clock started when it was started again (a backlog, as after an outage). "
        "Real `dagster dev` with the instance settings of `taskforce/dagster_instance.py` "
        f"(runs queued, at most 4 at a time); sell window {window} s; app "
        "database on PostgreSQL; RazorpayX stand-in at its default processing delay.",
        f"Statuses at the end: {counts['statuses']}. Payouts: {len(payouts)} at RazorpayX, "
        f"{distinct} distinct payment ids ({duplicates} duplicates). Orders per venue: "
        f"{orders}; batches per asset: {counts['batches']}; legs per route: {legs}.",
        f"{len(runs)} settlement runs ({web} from pay-now submits; from the sensor, {new} for "
        f"newly confirmed payments and {net} from its safety net); "
        f"run wall time median {fmt(durations[mid] if durations else float('nan'))} s, "
        f"queue + launch median {fmt(launches[len(launches) // 2] if launches else float('nan'))}"
        " s.",
    ]
    result.plots.append(_plot(plots_dir, progress, n))
    return result


def _plot(plots_dir: Path, progress: list[tuple[float, int]], n: int) -> Path:
    from bench.report import plt_figure

    fig, ax = plt_figure()
    ax.plot([t for t, _ in progress], [d for _, d in progress], color="tab:blue")
    ax.axvline(TARGET_S, color="tab:red", ls="--", label="target 3 min")
    ax.axhline(n, color="grey", ls=":")
    ax.set_xlabel("seconds since the sensor was started")
    ax.set_ylabel("payments completed")
    ax.set_title(f"Settlement throughput: {n:,} payments")
    ax.legend()
    fig.tight_layout()
    path = plots_dir / "settlement_progress.png"
    fig.savefig(path, dpi=110)
    return path
