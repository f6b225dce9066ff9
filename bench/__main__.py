"""``python -m bench [--only ledger,monitor,...] [--out DIR]``: run the suite, write the report.

Benchmarks run one after another (never in parallel: each would be the
other's noise), in the order the issue lands them. A benchmark that
cannot run here (no PostgreSQL, a path not built yet) is reported as not
measured with its reason; one that crashes is reported the same way with
the error, and the suite goes on.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.core import BENCH_DIR, BenchResult, machine

ORDER = ("ledger", "monitor", "intake", "footprint", "vendor_paid", "settlement")


def _runners() -> dict[str, Callable[[Path], BenchResult]]:
    from bench import footprint, intake, ledger, monitor, settlement, vendor_paid

    return {
        "ledger": lambda plots: ledger.run(plots_dir=plots),
        "monitor": lambda plots: monitor.run(plots_dir=plots),
        "intake": lambda plots: intake.run(plots_dir=plots),
        "footprint": lambda plots: footprint.run(plots_dir=plots),
        "vendor_paid": lambda plots: vendor_paid.run(plots_dir=plots),
        "settlement": lambda plots: settlement.run(plots_dir=plots),
    }


NUMBERS = {
    "ledger": 6,
    "monitor": 3,
    "intake": 1,
    "footprint": 5,
    "vendor_paid": 2,
    "settlement": 4,
}


def interrupt_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into ``KeyboardInterrupt``.

    The benchmarks start servers, gunicorns and Dagster in process groups of
    their own and stop them in ``finally`` blocks; Python's default SIGTERM
    ends the process without running those, which left the whole tree behind.
    """

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def main(argv: list[str] | None = None) -> int:
    interrupt_on_termination()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(ORDER)}")
    parser.add_argument("--out", type=Path, default=BENCH_DIR, help="where RESULTS.md goes")
    args = parser.parse_args(argv)
    chosen = [k.strip() for k in args.only.split(",")] if args.only else list(ORDER)
    unknown = set(chosen) - set(ORDER)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    plots = args.out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    facts = machine()
    runners = _runners()
    results: list[BenchResult] = []
    suite_start = time.perf_counter()
    for key in chosen:
        print(f"[bench] {key} …", flush=True)
        start = time.perf_counter()
        try:
            result = runners[key](plots)
        except Exception as exc:  # reported in RESULTS.md; the rest of the suite still runs
            traceback.print_exc()
            result = BenchResult(key, NUMBERS[key], key, skipped=f"crashed: {exc!r}")
        result.seconds = time.perf_counter() - start
        results.append(result)
        for f in result.figures:
            ratio = "" if f.ratio is None else f" ratio={f.ratio:.2f}"
            print(f"[bench]   {f.name}: {f.value:.4g} {f.unit}{ratio} met={f.met}", flush=True)
        if result.skipped:
            print(f"[bench]   not measured: {result.skipped}", flush=True)
    from bench.report import render

    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = render(results, facts, command.strip(), time.perf_counter() - suite_start)
    target = args.out / "RESULTS.md"
    if args.only and target.exists():  # keep the benchmarks this run did not measure
        from bench.report import merge

        text = merge(target.read_text(), text, {NUMBERS[k] for k in chosen})
    target.write_text(text)
    print(f"[bench] wrote {args.out / 'RESULTS.md'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
