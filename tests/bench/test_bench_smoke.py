"""Each benchmark's code runs at a tiny size and produces well-formed rows.

Nothing here asserts a timing (performance is reported by ``make bench``,
never tested): the checks are that the measuring code works, that it
measures what it claims (a process tree's members, a load generator's
errors, identical RPC counts) and that the report is complete.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bench.core import BenchResult, Figure, percentile
from bench.footprint import component
from bench.loadgen import Client, Exhausted, run_phase
from bench.proctree import TreeSampler
from bench.report import render


def _pg(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the benchmarks at the test server (skip loudly, or fail under CI, without it)."""
    from tests.conftest import _require_postgres

    _require_postgres()
    if os.environ.get("TEST_DATABASE_URL"):
        monkeypatch.setenv("BENCH_DATABASE_URL", os.environ["TEST_DATABASE_URL"])


def _assert_rows(result: BenchResult, plots: int) -> None:
    assert result.skipped is None, result.skipped
    assert result.well_formed(), result.figures
    assert len(result.plots) == plots
    for plot in result.plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = render([result], {"cores": "2"}, "python -m bench", 1.0)
    for figure in result.figures:
        assert figure.name in text


# -- pure parts -------------------------------------------------------------------------


def test_percentiles_interpolate_and_ratios_divide() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    assert Figure("x", 30, 100, "req/s", "≥ 30%", True).ratio == pytest.approx(0.3)
    assert Figure("x", 1, None, "s", "t", None).ratio is None


def test_the_footprint_idle_window_waits_for_start_up_sweeps(tmp_path: Path) -> None:
    import sqlite3
    import threading

    from bench.footprint import FootprintScale, _wait_start_up_sweeps

    db = tmp_path / "taskforce.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE custody_sweeps (id INTEGER PRIMARY KEY, status TEXT)")
        conn.execute("INSERT INTO custody_sweeps (status) VALUES ('sent'), ('confirmed')")
    scale = FootprintScale(quiet_s=1.0, quiet_timeout_s=2.5)
    stuck = _wait_start_up_sweeps(db, scale)
    assert not stuck.quiet and stuck.open_sweeps == 1 and stuck.waited_s >= 2.5

    def confirm_later() -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("UPDATE custody_sweeps SET status = 'confirmed'")

    timer = threading.Timer(0.5, confirm_later)
    timer.start()
    done = _wait_start_up_sweeps(db, FootprintScale(quiet_s=1.0, quiet_timeout_s=10.0))
    timer.join()
    assert done.quiet and (done.sweeps, done.open_sweeps) == (2, 0)
    assert done.waited_s >= 1.5  # quiet for 1 s after the last change, at about 0.5 s
    assert "2 sweeps" in done.describe()
    skipped = _wait_start_up_sweeps(tmp_path / "none.db", FootprintScale(quiet_s=0.0))
    assert skipped.quiet and skipped.waited_s < 1.0
    absent = _wait_start_up_sweeps(tmp_path / "none.db", FootprintScale(quiet_s=0.5))
    assert absent.quiet and absent.sweeps == 0  # no database yet reads as no sweeps


def test_the_demo_payer_waits_out_start_up_refusals_and_no_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.demo_load import DemoPayer

    answers = [
        'quote: 503 {"error":{"code":"rate_stale"}}',
        'payment: 422 {"error":{"code":"insufficient_funds"}}',
        "pay_123",
        'quote: 422 {"error":{"code":"unsupported_asset"}}',
    ]

    def pay_once(_self: DemoPayer, asset: str = "SOL") -> str:
        answer = answers.pop(0)
        if answer.startswith("pay_"):
            return answer
        raise RuntimeError(answer)

    monkeypatch.setattr(DemoPayer, "pay_once", pay_once)
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    payer = DemoPayer("http://127.0.0.1:9")
    assert payer.pay_when_funded(60.0) == "pay_123"
    with pytest.raises(RuntimeError, match="unsupported_asset"):
        payer.pay_when_funded(60.0)
    assert answers == []


def test_malformed_rows_are_caught() -> None:
    good = BenchResult("k", 1, "t", figures=[Figure("x", 1.0, 2.0, "s", "≤ 2", True)])
    assert good.well_formed()
    assert not BenchResult("k", 1, "t").well_formed()  # nothing measured, no reason
    nan = BenchResult("k", 1, "t", figures=[Figure("x", float("nan"), 2.0, "s", "t", False)])
    assert not nan.well_formed()
    assert not BenchResult(
        "k", 1, "t", figures=[Figure("x", 1.0, 2.0, "", "t", True)]
    ).well_formed()


def test_unmeasurable_benchmarks_say_why_and_the_report_shows_it() -> None:
    results = [
        BenchResult("vendor_paid", 2, "Vendor-paid latency", skipped="no PostgreSQL here"),
        BenchResult("settlement", 4, "Settlement throughput", skipped="crashed: boom"),
    ]
    for r in results:
        assert r.well_formed() and r.skipped
    text = render(results, {"cores": "2", "memory": "1 GiB"}, "python -m bench", 2.0)
    assert "- cores: 2" in text and "- memory: 1 GiB" in text
    assert text.count("not measured") == 2
    assert str(results[0].skipped) in text


def _latency_only(p95: float, date: str) -> str:
    """The report of a ``--only vendor_paid`` run measuring ``p95`` on ``date``."""
    result = BenchResult(
        "vendor_paid", 2, "Latency", figures=[Figure("p95", p95, 1.0, "s", "t", True)]
    )
    return render([result], {"date": date}, "python -m bench --only vendor_paid", 1.0)


def test_an_only_run_keeps_the_other_benchmarks_rows_and_sections() -> None:
    from bench.report import merge

    old = [
        BenchResult(
            "ledger", 6, "Ledger", figures=[Figure("postings", 5.0, 9.0, "/s", "t", False)]
        ),
        BenchResult(
            "vendor_paid", 2, "Latency", figures=[Figure("p95", 9.0, 1.0, "s", "t", False)]
        ),
    ]
    previous = render(old, {"date": "yesterday"}, "python -m bench", 1.0)
    fresh = _latency_only(3.0, "today")
    text = merge(previous, fresh, {2})
    assert "| (6) postings | 5 /s |" in text and "## (6) Ledger" in text  # kept
    assert "| (2) p95 | 3 s |" in text and "| (2) p95 | 9 s |" not in text  # replaced
    assert text.index("## (2)") < text.index("## (6)")
    assert "- date: today" in text
    assert "- kept from `python -m bench` (yesterday, commit ?): (6)" in text
    # Another --only run: (6) still says the first run measured it, not the second.
    again = _latency_only(2.0, "tomorrow")
    chained = merge(text, again, {2})
    assert "- kept from `python -m bench` (yesterday, commit ?): (6)" in chained
    assert "| (2) p95 | 2 s |" in chained and "| (6) postings | 5 /s |" in chained


def test_components_are_named_from_command_lines() -> None:
    assert component("python -m sandbox.exchange --port 1 --state-dir /v/sandbox/inr_exchange") == (
        "sandbox inr_exchange"
    )
    assert component("/x/anvil --port 3") == "sandbox ethereum (anvil)"
    assert component("/v/bin/gunicorn -w 2 webapp:create_app()") == "web app (gunicorn)"
    assert component("python -m dagster._daemon run --log-level info") == "dagster daemon"
    assert component("python -m dagster api grpc --lazy-load-user-code") == "dagster code server"
    assert component("/v/bin/python /v/bin/taskforce run") == "taskforce run"


def test_the_tree_sampler_sees_children_and_their_cpu() -> None:
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "time.sleep(0.3)\n"
        "end = time.monotonic() + 0.6\n"
        "while time.monotonic() < end: pass\n"  # burn CPU in the parent, inside the window
        "time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    sampler = TreeSampler(proc.pid)
    try:
        sampler.start()
        deadline = time.monotonic() + 10
        while len(sampler.last_cpu) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            sampler.sample()
        time.sleep(1.0)
        shots = sampler.sample()
    finally:
        for pid in sampler.last_cpu:  # the child and its grandchild: ours
            if pid != proc.pid:
                os.kill(pid, 9)
        proc.kill()
        proc.wait()
    assert len(shots) == 2 and proc.pid in {s.pid for s in shots}
    assert all(s.pss_kib > 0 and s.rss_kib >= s.pss_kib for s in shots)
    assert sampler.cpu_by_pid()[proc.pid] > 0.1  # the busy loop ran inside the window
    assert sampler.seconds() > 0


# -- the load generator against a real loopback server -------------------------------------


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        status = 500 if body.get("fail") else 201
        payload = json.dumps({"echo": body}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_the_load_generator_counts_successes_errors_and_stops_when_exhausted(
    server: int,
) -> None:
    budget = {0: 5, 1: 5}

    def flow(index: int, client: Client) -> None:
        if budget[index] == 0:
            raise Exhausted
        budget[index] -= 1
        _status, body = client.post("echo", "/x", {"fail": budget[index] == 0, "i": index})
        assert body["echo"]["i"] == index

    phase = run_phase("echo", "127.0.0.1", server, 2, 5.0, flow)
    assert len(phase.samples) == 10
    assert phase.errors() == 2 and len(phase.ok("echo")) == 8
    assert phase.elapsed < 5.0  # ended by exhaustion, not by the deadline
    assert phase.rate() > 0 and phase.p(99) >= phase.p(50) > 0


def test_a_request_without_an_answer_is_an_error() -> None:
    from sandbox.manager import free_port

    port = free_port()  # nothing listens here
    seen: list[int] = []
    client = Client("127.0.0.1", port, lambda s: seen.append(s.status))
    assert client.post("x", "/", {}) == (0, None)
    assert seen == [0]


# -- the benchmarks themselves, tiny -------------------------------------------------------


@pytest.mark.postgres
def test_ledger_benchmark_runs_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    from bench import ledger

    _pg(monkeypatch)
    if shutil.which("pgbench") is None:
        pytest.skip("pgbench (postgresql-client) is not installed")
    result = ledger.run(ledger.LedgerScale.tiny(), plots_dir=tmp_path)
    _assert_rows(result, plots=1)
    assert all(f.value > 0 and (f.baseline or 0) > 0 for f in result.figures)


@pytest.mark.slow
@pytest.mark.postgres
def test_monitor_benchmark_runs_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench import monitor

    _pg(monkeypatch)
    result = monitor.run(monitor.MonitorScale.tiny(), plots_dir=tmp_path)
    _assert_rows(result, plots=1)
    calls = result.figures[0]
    assert calls.met is True and calls.value == calls.baseline  # cost independent of size
    first_load = result.figures[2]  # the watchlists loaded, then scans read forward
    assert first_load.met is None and first_load.value > 0


@pytest.mark.slow
@pytest.mark.postgres
def test_intake_benchmark_runs_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench import intake

    _pg(monkeypatch)
    result = intake.run(intake.IntakeScale.tiny(), plots_dir=tmp_path)
    _assert_rows(result, plots=2)
    errors = result.figures[-1]
    assert errors.unit == "errors" and errors.value == 0 and errors.baseline == 0
    assert all(f.value > 0 for f in result.figures if f.unit == "req/s")
    # The in-process CPU ladder ran (its failure would only drop it from the report).
    ladder = [f for f in result.figures if f.name.startswith("CPU per request in-process")]
    assert len(ladder) == 2 and all(f.value > 0 and (f.baseline or 0) > 0 for f in ladder)
    assert any("× the floor" in note for note in result.notes)
    # Instructions were counted (valgrind is installed by `make test`): an authenticated
    # read runs more of them than a floor request, and a payment more than the read.
    read, payment = [f for f in result.figures if f.name.startswith("Python instructions")]
    assert "authenticated read" in read.name and "payment" in payment.name
    assert payment.value > read.value > (read.baseline or 0) > 0, result.notes
    assert payment.baseline == read.baseline
    # The payments phase's anatomy: the product's gunicorn and PostgreSQL both did work.
    (anatomy,) = [n for n in result.notes if n.startswith("Where the first payments phase")]
    rows = dict(line.split(" | ")[:2] for line in anatomy.splitlines() if line.startswith("| "))
    assert float(rows["| product (gunicorn)"]) > 0 and float(rows["| PostgreSQL"]) > 0


def test_cpu_between_counts_new_processes_from_zero_and_groups_them() -> None:
    from bench.anatomy import cpu_between

    before = {(1, 0.0): ("web", 10.0), (2, 5.0): ("db", 3.0), (3, 6.0): ("web", 1.0)}
    after = {(1, 0.0): ("web", 12.5), (2, 5.0): ("db", 4.0), (4, 9.0): ("web", 0.5)}
    # pid 3 ended in between (missed); pid 4 was born in between (counted from zero).
    assert cpu_between(before, after) == {"web": 3.0, "db": 1.0}


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_vendor_paid_benchmark_runs_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench import vendor_paid

    _pg(monkeypatch)
    result = vendor_paid.run(vendor_paid.VendorPaidScale.tiny(), plots_dir=tmp_path)
    _assert_rows(result, plots=1)
    never = result.figures[-1]
    assert never.unit == "payments" and never.value == 0  # every payout reached processed
    assert all(f.value > 0 for f in result.figures if f.unit == "s")


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(600)
def test_settlement_benchmark_runs_tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from bench import settlement

    _pg(monkeypatch)
    scale = settlement.SettlementScale.tiny()
    result = settlement.run(scale, plots_dir=tmp_path)
    _assert_rows(result, plots=1)
    wall, last_paid, dust, payouts, orders, batches = result.figures
    # Every payment completed; if not, the notes say where they stopped (statuses, runs).
    assert "5 done" in wall.name, "\n".join([wall.name, *result.notes])
    assert 0 < last_paid.value <= wall.value  # a sale completes a payment after its payout
    assert dust.value == 0  # ₹500 each: no payment is below a venue's minimum
    assert payouts.value == scale.payments and payouts.met is True  # one each, counted outside
    assert 0 < orders.value <= (orders.baseline or 0)
    assert 0 < batches.value <= (batches.baseline or 0)


def test_a_terminated_bench_still_stops_what_it_started(tmp_path: Path) -> None:
    """SIGTERM runs the benchmark's ``finally`` blocks, which stop its process groups."""
    pid_file = tmp_path / "child.pid"
    script = f"""
import os, signal, subprocess, sys, time
from bench.__main__ import interrupt_on_termination
interrupt_on_termination()
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
open({str(pid_file)!r}, "w").write(str(child.pid))
try:
    time.sleep(300)
finally:
    os.killpg(child.pid, signal.SIGKILL)
"""
    repo = Path(__file__).resolve().parents[2]
    bench = subprocess.Popen([sys.executable, "-c", script], cwd=repo, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.05)
    child = int(pid_file.read_text())
    bench.send_signal(signal.SIGTERM)
    _out, err = bench.communicate(timeout=30)
    assert b"KeyboardInterrupt" in err
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a killed child the bench never reaped is gone for us)."""
    from bench.proctree import _stat, still_running

    st = _stat(pid)
    return st is not None and still_running(pid, st[2])


def test_the_report_calls_a_tree_dirty_only_for_changes_beside_the_bench_outputs(
    tmp_path: Path,
) -> None:
    from bench.core import tree_dirty

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "bench" / "plots").mkdir(parents=True)
    for name in ("code.py", "bench/RESULTS.md", "bench/plots/a.png"):
        (tmp_path / name).write_text("v1\n")
    git("add", "-A")
    git("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "one")
    assert tree_dirty(tmp_path) is False
    (tmp_path / "bench" / "RESULTS.md").write_text("v2\n")  # what a bench run writes
    (tmp_path / "bench" / "plots" / "a.png").write_text("v2\n")
    assert tree_dirty(tmp_path) is False
    (tmp_path / "code.py").write_text("v2\n")
    assert tree_dirty(tmp_path) is True
    assert tree_dirty(tmp_path / "nowhere") is False  # not a repository: no claim either way
