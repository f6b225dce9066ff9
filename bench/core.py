"""What every benchmark shares: result rows, the machine, a scratch schema.

A benchmark returns a :class:`BenchResult`: figures (value against a
baseline measured in the same run, the ratio, the target and whether it
was met), free-form notes (method, per-round numbers, profile summary) and
the plots it drew. :mod:`bench.report` turns a list of them into
``bench/RESULTS.md``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Figure:
    """One row of the results table.

    ``ratio`` is ``value / baseline``; ``target`` says in words what the
    ratio (or the value) must satisfy, and ``met`` is the verdict (None
    when the figure is informational).
    """

    name: str
    value: float
    baseline: float | None
    unit: str
    target: str
    met: bool | None
    baseline_label: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / float(self.baseline)


@dataclass
class BenchResult:
    """What one benchmark measured, or why it could not be measured."""

    key: str  # "ledger", "monitor", ...
    number: int  # the numbering (1-6)
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # markdown paragraphs
    plots: list[Path] = field(default_factory=list)
    skipped: str | None = None  # reason it was not measured
    seconds: float = 0.0

    def well_formed(self) -> bool:
        """Every figure has a finite value, a unit and a target (the smoke test's check)."""
        if self.skipped is not None:
            return not self.figures and bool(self.skipped.strip())
        if not self.figures:
            return False
        for f in self.figures:
            if not (f.name and f.unit and f.target) or f.value != f.value:  # NaN
                return False
            if f.baseline is not None and f.baseline != f.baseline:
                return False
        return True


# -- machine and run facts -------------------------------------------------------


def _first(path: str, prefix: str) -> str:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return "?"


# What a bench run writes itself: not a change to the code it measured.
BENCH_OUTPUTS = ("bench/RESULTS.md", "bench/plots/")


def _git(repo: Path, *args: str) -> str | None:
    """``git ARGS`` in ``repo``: its output, or None when git or the repository is missing."""
    try:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def tree_dirty(repo: Path) -> bool:
    """Whether ``repo`` has changes other than the bench's own outputs (False if not git)."""
    status = _git(repo, "status", "--porcelain", "--untracked-files=no") or ""
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return any(not path.startswith(BENCH_OUTPUTS) for path in changed)


def machine() -> dict[str, str]:
    """Cores, CPU model, memory (from /proc), kernel, Python, PostgreSQL, commit, date."""
    mem_kb = _first("/proc/meminfo", "MemTotal").split()[0]
    try:
        mem = f"{int(mem_kb) / 1024 / 1024:.1f} GiB"
    except ValueError:
        mem = "?"
    commit = (_git(REPO, "rev-parse", "--short", "HEAD") or "?").strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": _first("/proc/cpuinfo", "model name"),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_version(),
        "commit": commit + (" (plus the uncommitted working tree)" if tree_dirty(REPO) else ""),
        "load average at start": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
    }


# -- PostgreSQL -------------------------------------------------------------------


def pg_admin_url() -> str:
    from wallet.db.session import normalise_url

    return normalise_url(os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG))


def pg_version() -> str:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(pg_admin_url())
        with engine.connect() as conn:
            version = str(conn.execute(text("show server_version")).scalar())
        engine.dispose()
        return version
    except Exception as exc:  # reported, not fatal: the PG benchmarks skip themselves
        return f"unreachable ({type(exc).__name__})"


def schema_url(schema: str) -> str:
    admin = pg_admin_url()
    sep = "&" if "?" in admin else "?"
    return f"{admin}{sep}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def scratch_schema(label: str, *, migrate: bool = True) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL schema ``bench_<label>_<hex>`` (migrated to head), dropped after.

    Yields ``(schema name, SQLAlchemy URL with search_path set)``.
    """
    from sqlalchemy import create_engine, text

    schema = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = schema_url(schema)
        if migrate:
            from wallet.db.migrate import upgrade

            upgrade(url)
        yield schema, url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


# -- statistics ----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.seconds``"""

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for the table: thousands separated, ``digits`` significant-ish."""
    if value is None:
        return "—"
    if value != value:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:,.1f}"
    return f"{value:.{digits}g}"
