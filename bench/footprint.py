"""(5) Footprint: memory and CPU of everything ``make run`` starts, idle and under load.

Starts ``taskforce run`` (what ``make run`` runs after its setup step) with
a fresh ``VAR_DIR`` (the embedded default: SQLite, in-process caches) and
free ports for the web app and the Dagster UI; the sandbox stand-ins use
their fixed default ports, so the benchmark is skipped when one of them is
taken. Once the web app and the Dagster UI answer, a settling period has
passed and the start-up sweeps are done (the demo's funded deposit
addresses go to the hot wallets one to three minutes after the start:
signing and broadcasting, not idling), the whole process tree under
``taskforce run``'s pid is sampled for the idle window (the sandbox
chains keep producing blocks, nothing is paid). Memory is the sum of PSS
(shared pages split between the processes mapping them: what the tree
really holds); the RSS sum, which counts shared pages in every process, is
shown as an upper bound. CPU is the tree's CPU seconds over the window's
wall seconds.

Then the load phase: the demo payer pays the demo vendor's ₹250 QR in SOL
through the REST API (:mod:`bench.demo_load`), one payment every
``load_spacing_s`` (under the payer's hourly count limit), sampled the same
way until every vendor is paid; and the tree is sampled idle again for
``after_seconds`` (two sell windows): whatever the payments left behind
(sales, dust below the venue's minimum waiting for volume) costs CPU here.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.core import REPO, BenchResult, Figure, fmt, median
from bench.demo_load import DemoPayer, pay_in_background
from bench.proctree import TreeSampler, descendants, snapshot, still_running

MEMORY_BUDGET_GIB = 1.5
CPU_BUDGET_PCT = 15.0


@dataclass(frozen=True)
class FootprintScale:
    idle_seconds: float = 60.0
    settle_seconds: float = 20.0
    interval: float = 0.5
    startup_timeout: float = 300.0
    load_payments: int = 15  # the demo payer may make 20 payments an hour
    load_spacing_s: float = 4.0
    after_seconds: float = 120.0
    paid_timeout_s: float = 120.0
    # Start-up work that is not idle: the demo's funded deposit addresses are swept
    # to the hot wallets by the housekeeping sensor (every 30 s) a minute or two after
    # the start. The idle window opens once no sweep is open and none was added for
    # this long (0: do not wait), or after ``quiet_timeout_s`` at most.
    quiet_s: float = 70.0
    quiet_timeout_s: float = 300.0


def component(cmdline: str) -> str:
    """A readable name for a process of the tree."""
    state = re.search(r"--state-dir \S*/([\w.-]+)", cmdline)
    if "anvil" in cmdline.split(" ")[0]:
        return "sandbox ethereum (anvil)"
    if " -m sandbox." in cmdline:
        return f"sandbox {state.group(1) if state else cmdline.split(' -m ')[1].split()[0]}"
    if "gunicorn" in cmdline:
        return "web app (gunicorn)"
    if "dagster_webserver" in cmdline or "dagster-webserver" in cmdline:
        return "dagster webserver"
    if "dagster._daemon" in cmdline or "dagster-daemon" in cmdline:
        return "dagster daemon"
    if "dagster api grpc" in cmdline or "code-server" in cmdline:
        return "dagster code server"
    if "dagster" in cmdline:
        return "dagster dev"
    if "taskforce" in cmdline:
        return "taskforce run"
    return cmdline.split(" ")[0].rsplit("/", 1)[-1] or "?"


def _ports_taken() -> list[str]:
    from sandbox.manager import STAND_INS, port_in_use

    return [f"{s.name}:{s.default_port}" for s in STAND_INS if port_in_use(s.default_port)]


def _wait_ready(proc: subprocess.Popen[bytes], log: Path, urls: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while "TaskForce Wallet is running." not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"taskforce run did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    for url in urls:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=3).status_code < 500:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} never answered:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def _stop(proc: subprocess.Popen[bytes], seen: dict[int, float]) -> list[str]:
    """SIGTERM taskforce run (it stops its children); SIGKILL what it left of its tree.

    ``seen`` maps the pids observed in the tree to their start times, so a
    pid the system has since reused for another process is never touched.
    """
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    leftovers = []
    for pid, start in sorted(seen.items()):
        if pid != proc.pid and still_running(pid, start):
            name = component(" ".join(snap.cmdline for snap in snapshot([pid])))
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                leftovers.append(f"{pid} ({name})")
    return leftovers


def run(scale: FootprintScale | None = None, plots_dir: Path | None = None) -> BenchResult:
    from sandbox.manager import free_port

    scale = scale or FootprintScale()
    result = BenchResult("footprint", 5, "Footprint of `make run`, idle")
    taken = _ports_taken()
    if taken:
        result.skipped = (
            "the sandbox's default ports are taken (another sandbox is running): "
            + ", ".join(taken)
        )
        return result
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp) / "var"
        web_port, dagster_port = free_port(), free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DAGSTER_HOME", "SANDBOX_ENDPOINTS_FILE")
        }
        env.update(
            {
                "VAR_DIR": str(var),
                "WEB_PORT": str(web_port),
                "DAGSTER_PORT": str(dagster_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        log = Path(tmp) / "run.log"
        argv = [str(Path(sys.executable).parent / "taskforce"), "run"]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        seen: dict[int, float] = {}
        sampler = TreeSampler(proc.pid)
        load = after = None
        payer: DemoPayer | None = None
        started = time.monotonic()
        try:
            _wait_ready(
                proc,
                log,
                [
                    f"http://127.0.0.1:{web_port}/healthz",
                    f"http://127.0.0.1:{dagster_port}/server_info",
                ],
                scale.startup_timeout,
            )
            ready_after = time.monotonic() - started
            time.sleep(scale.settle_seconds)
            quiet = _wait_start_up_sweeps(var / "taskforce.db", scale)
            sampler.start()
            end = time.monotonic() + scale.idle_seconds
            while time.monotonic() < end:
                time.sleep(scale.interval)
                sampler.sample()
                if proc.poll() is not None:
                    raise RuntimeError(f"taskforce run exited:\n{log.read_text()[-3000:]}")
            seen.update({s.pid: s.start_s for s in snapshot(descendants(proc.pid))})
            if scale.load_payments:
                load, after, payer = _load_phases(proc, f"http://127.0.0.1:{web_port}", scale, seen)
        finally:
            seen.update(sampler.starts)
            with contextlib.suppress(Exception):
                seen.update({s.pid: s.start_s for s in snapshot(descendants(proc.pid))})
            leftovers = _stop(proc, seen)
    _report(result, sampler, scale, ready_after, leftovers)
    result.notes.append(
        f"Before the idle window: {quiet.describe()}."
        if scale.quiet_s
        else "The idle window opened without waiting for start-up sweeps."
    )
    if load is not None and after is not None and payer is not None:
        _report_load(result, load, after, payer, scale)
    if plots_dir is not None:
        result.plots.append(_plot(sampler, plots_dir / "footprint_idle.png"))
    return result


@dataclass(frozen=True)
class StartUpSweeps:
    """What the wait for the demo's start-up sweeps saw."""

    sweeps: int
    open_sweeps: int
    waited_s: float
    quiet: bool

    def describe(self) -> str:
        if not self.quiet:
            return (
                f"waited {self.waited_s:.0f} s for start-up sweeps and gave up "
                f"({self.sweeps} recorded, {self.open_sweeps} still open): the window "
                "includes their work"
            )
        return (
            f"waited {self.waited_s:.0f} s for the start-up sweeps of the demo's funded "
            f"addresses to finish ({self.sweeps} sweeps, none open or new for the last "
            "stretch), so their signing and broadcasting is not counted as idle"
        )


def _sweep_counts(db: Path) -> tuple[int, int]:
    """(sweeps recorded, sweeps not yet confirmed or failed), read-only."""
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as c:
            total, still_open = c.execute(
                "SELECT count(*), count(*) FILTER (WHERE status NOT IN ('confirmed', 'failed'))"
                " FROM custody_sweeps"
            ).fetchone()
    except sqlite3.OperationalError:  # the database or the table not created yet
        return 0, 0
    return int(total), int(still_open)


def _wait_start_up_sweeps(db: Path, scale: FootprintScale) -> StartUpSweeps:
    """Until no sweep is open and none was added for ``scale.quiet_s``."""
    started = time.monotonic()
    counts = _sweep_counts(db) if scale.quiet_s else (0, 0)
    last_change = started
    while scale.quiet_s:
        now = time.monotonic()
        if counts[1] == 0 and now - last_change >= scale.quiet_s:
            break
        if now - started >= scale.quiet_timeout_s:
            return StartUpSweeps(*counts, now - started, quiet=False)
        time.sleep(1.0)
        seen = _sweep_counts(db)
        if seen != counts:
            counts, last_change = seen, time.monotonic()
    return StartUpSweeps(*counts, time.monotonic() - started, quiet=True)


def _sample_until(
    proc: subprocess.Popen[bytes], sampler: TreeSampler, interval: float, done: Callable[[], bool]
) -> None:
    sampler.start()
    while not done():
        time.sleep(interval)
        sampler.sample()
        if proc.poll() is not None:
            raise RuntimeError("taskforce run exited during the benchmark")


def _load_phases(
    proc: subprocess.Popen[bytes], base: str, scale: FootprintScale, seen: dict[int, float]
) -> tuple[TreeSampler, TreeSampler, DemoPayer]:
    """The demo payer's payments (sampled), then the idle tree after them (sampled)."""
    payer = DemoPayer(base)
    payer.sign_in()
    load = TreeSampler(proc.pid)
    first = payer.pay_when_funded(scale.paid_timeout_s)  # the deposits are credited by now
    payer.payments.append(first)
    paying = pay_in_background(payer, scale.load_payments - 1, scale.load_spacing_s)
    deadline = time.monotonic() + scale.load_payments * scale.load_spacing_s + scale.paid_timeout_s
    checked = [0.0]

    def all_paid() -> bool:
        if paying.is_alive() or time.monotonic() - checked[0] < 1.0:
            return False
        checked[0] = time.monotonic()
        return payer.vendors_paid() == len(payer.payments) or time.monotonic() > deadline

    _sample_until(proc, load, scale.interval, all_paid)
    seen.update(load.starts)
    after = TreeSampler(proc.pid)
    end = time.monotonic() + scale.after_seconds
    _sample_until(proc, after, scale.interval, lambda: time.monotonic() >= end)
    seen.update(after.starts)
    payer.final_statuses = payer.statuses()  # while the web app still answers
    payer.final_paid = payer.vendors_paid()
    return load, after, payer


def _phase(sampler: TreeSampler) -> tuple[float, float, list[tuple[int, float]]]:
    """(CPU % of one core, max PSS GiB, busiest (pid, CPU %)) over the sampler's window."""
    window = sampler.seconds()
    cpu = sampler.cpu_by_pid()
    pct = 100 * sum(cpu.values()) / window if window else float("nan")
    pss = max(sum(s.pss_kib for s in shots) / 1024**2 for _t, shots in sampler.series)
    busiest = sorted(((pid, 100 * c / window) for pid, c in cpu.items()), key=lambda x: -x[1])
    return pct, pss, busiest[:4]


def _report_load(
    result: BenchResult,
    load: TreeSampler,
    after: TreeSampler,
    payer: DemoPayer,
    scale: FootprintScale,
) -> None:
    load_cpu, load_pss, load_top = _phase(load)
    after_cpu, _pss, after_top = _phase(after)
    paid = payer.final_paid
    n = len(payer.payments)
    result.figures += [
        Figure(
            f"CPU of the whole tree under load ({n} demo payments, one every "
            f"{scale.load_spacing_s:g} s, {load.seconds():.0f} s)",
            load_cpu, CPU_BUDGET_PCT, "% of one core", "informational", None,
            baseline_label="the idle budget",
        ),
        Figure(
            "memory of the whole tree under load (max PSS sum)",
            load_pss, MEMORY_BUDGET_GIB, "GiB", "informational", None,
            baseline_label="the idle budget",
        ),
        Figure(
            f"CPU of the whole tree, idle {after.seconds():.0f} s after the load",
            after_cpu, CPU_BUDGET_PCT, "% of one core", f"≤ {CPU_BUDGET_PCT:g}% of one core",
            after_cpu <= CPU_BUDGET_PCT, baseline_label="the budget",
        ),
        Figure(
            "demo payments whose vendor was not paid", float(n - paid + len(payer.errors)),
            None, "payments", "0", n - paid + len(payer.errors) == 0,
        ),
    ]  # fmt: skip

    def top(rows: list[tuple[int, float]], sampler: TreeSampler) -> str:
        return "; ".join(
            f"{pct:.1f}% {sampler.label(pid, component)}"
            + (" (a Dagster run)" if "dagster" in sampler.names.get(pid, "") and "run_worker"
               in sampler.names.get(pid, "") else "")
            for pid, pct in rows
        )  # fmt: skip

    statuses = sorted(payer.final_statuses.values())
    result.notes.append(
        f"Under load: the demo payer (signed in over the API) paid the demo vendor's ₹250 QR "
        f"in SOL {n} times, one every {scale.load_spacing_s:g} s; {paid} vendors paid, "
        f"{len(payer.errors)} refusals{': ' + payer.errors[0][:200] if payer.errors else ''}. "
        f"Busiest under load: {top(load_top, load)}. Then idle again for "
        f"{after.seconds():.0f} s (payment statuses at the end: "
        f"{ {s: statuses.count(s) for s in set(statuses)} }); busiest: {top(after_top, after)}."
    )


def _report(
    result: BenchResult,
    sampler: TreeSampler,
    scale: FootprintScale,
    ready_after: float,
    leftovers: list[str],
) -> None:
    window = sampler.seconds()
    pss = [sum(s.pss_kib for s in shots) / 1024**2 for _t, shots in sampler.series]
    rss = [sum(s.rss_kib for s in shots) / 1024**2 for _t, shots in sampler.series]
    cpu = sampler.cpu_by_pid()
    cpu_pct = 100 * sum(cpu.values()) / window if window else float("nan")
    result.figures = [
        Figure(
            "memory of the whole tree, idle (median PSS sum)",
            median(pss),
            MEMORY_BUDGET_GIB,
            "GiB",
            f"≤ {MEMORY_BUDGET_GIB:g} GiB",
            median(pss) <= MEMORY_BUDGET_GIB,
            baseline_label="the budget",
        ),
        Figure(
            "memory upper bound, idle (median RSS sum, shared pages counted per process)",
            median(rss),
            MEMORY_BUDGET_GIB,
            "GiB",
            "informational",
            None,
            baseline_label="the budget",
        ),
        Figure(
            f"CPU of the whole tree, idle {window:.0f} s",
            cpu_pct,
            CPU_BUDGET_PCT,
            "% of one core",
            f"≤ {CPU_BUDGET_PCT:g}% of one core",
            cpu_pct <= CPU_BUDGET_PCT,
            baseline_label="the budget",
        ),
    ]
    last = sampler.series[-1][1]
    by: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in last:
        row = by[sampler.label(s.pid, component)]
        row["procs"] += 1
        row["pss"] += s.pss_kib / 1024
        row["rss"] += s.rss_kib / 1024
    for pid, seconds in cpu.items():
        by[sampler.label(pid, component)]["cpu"] += 100 * seconds / window
    table = [
        "| component | processes | PSS MiB | RSS MiB | CPU % of one core |",
        "|---|---|---|---|---|",
    ]
    for name, row in sorted(by.items(), key=lambda kv: -kv[1]["pss"]):
        table.append(
            f"| {name} | {row['procs']:.0f} | {fmt(row['pss'])} | {fmt(row['rss'])} | "
            f"{row['cpu']:.1f} |"
        )
    result.notes.append(
        f"`taskforce run` was ready (web app and Dagster UI answering) after "
        f"{ready_after:.0f} s; measured after a further {scale.settle_seconds:g} s, sampling "
        f"the tree every {scale.interval:g} s for {window:.0f} s. The budgets are the "
        "baselines: there is no same-run baseline for an absolute budget. psutil is not "
        "installed, so `bench/proctree.py` reads /proc directly. Per component, memory at "
        "the last sample, CPU over the window:\n\n" + "\n".join(table)
    )
    busiest = sorted(cpu.items(), key=lambda kv: -kv[1])[:5]
    result.notes.append(
        "Busiest processes over the window (CPU % of one core, command line cut at 110 "
        "characters; `?`: a process that lived and died between two samples):\n\n"
        + "\n".join(
            f"- {100 * seconds / window:.1f}% ({sampler.label(pid, component)}) "
            f"`{sampler.names.get(pid, '')[:110] or '?'}`"
            for pid, seconds in busiest
        )
    )
    if leftovers:
        result.notes.append(
            f"`taskforce run` left {len(leftovers)} process(es) behind after SIGTERM "
            f"(killed by the benchmark): {', '.join(leftovers)}."
        )
    missed = [f for f in result.figures if f.met is False]
    if missed:
        top = max(by.items(), key=lambda kv: kv[1]["cpu" if "CPU" in missed[0].name else "pss"])
        why = (
            " Idle, it keeps starting fresh Python processes (`multiprocessing` spawn), each "
            "of which imports the code location again before doing its small piece of work "
            "(sensor/schedule ticks and the runs they launch); most likely the import, not "
            "the work, is the CPU (not yet profiled inside those children)."
            if "spawned children" in top[0]
            else ""
        )
        result.notes.append(
            f"Target missed. The largest contributor is **{top[0]}** (see the table and "
            "the busiest processes; this per-process split is the profile of the idle "
            f"tree).{why}"
        )


def _plot(sampler: TreeSampler, path: Path) -> Path:
    from bench.report import plt_figure

    t0 = sampler.series[0][0]
    names = sorted({sampler.label(s.pid, component) for _t, shots in sampler.series for s in shots})
    xs = [t - t0 for t, _ in sampler.series]
    stacks = []
    for name in names:
        stacks.append(
            [
                sum(s.pss_kib for s in shots if sampler.label(s.pid, component) == name) / 1024
                for _t, shots in sampler.series
            ]
        )
    fig, ax = plt_figure(8.5, 4.8)
    ax.stackplot(xs, stacks, labels=names)
    ax.axhline(MEMORY_BUDGET_GIB * 1024, color="red", linewidth=0.8, label="1.5 GiB budget")
    ax.set_xlabel("seconds into the idle window")
    ax.set_ylabel("PSS, MiB")
    ax.set_title("Footprint of `make run`, idle: memory by component")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
