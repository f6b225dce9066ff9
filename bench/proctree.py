"""Memory and CPU of a process tree, read straight from /proc (Linux; no psutil needed).

- Memory: ``Pss`` from ``/proc/<pid>/smaps_rollup`` (each shared page split
  between the processes that map it, so the sum is the RAM the tree really
  holds) and ``VmRSS`` from ``/proc/<pid>/status`` (shared pages counted in
  every process: an upper bound).
- CPU: ``utime + stime`` from ``/proc/<pid>/stat``, sampled; a process's
  CPU in a window is its last sample minus its first (from zero if it was
  born inside the window). A process that lives and dies between two
  samples is missed: sample often.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcSnapshot:
    pid: int
    ppid: int
    cmdline: str
    cpu_s: float  # utime + stime
    start_s: float  # seconds after boot
    rss_kib: int
    pss_kib: int


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, cpu seconds, start seconds after boot) or None if gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    start = int(fields[19]) / TICKS
    return ppid, cpu, start


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _cmdline(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def parents() -> dict[int, int]:
    """pid -> ppid for every process on the machine."""
    out: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None:
                out[int(entry.name)] = st[0]
    return out


def descendants(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents().items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def snapshot(pids: Iterable[int]) -> list[ProcSnapshot]:
    shots = []
    for pid in pids:
        st = _stat(pid)
        if st is None:
            continue
        base = PROC / str(pid)
        shots.append(
            ProcSnapshot(
                pid,
                st[0],
                _cmdline(pid),
                st[1],
                st[2],
                _kib(base / "status", "VmRSS:"),
                _kib(base / "smaps_rollup", "Pss:"),
            )
        )
    return shots


def still_running(pid: int, start_s: float) -> bool:
    """The process ``pid`` that started at ``start_s`` is alive: not reused, not a zombie."""
    st = _stat(pid)
    if st is None or abs(st[2] - start_s) >= 0.05:
        return False
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return False
    return raw[raw.rindex(")") + 2 :].split()[0] != "Z"


def uptime_s() -> float:
    return float((PROC / "uptime").read_text().split()[0])


@dataclass
class TreeSampler:
    """Samples a tree: memory series, and per-process CPU over the whole window."""

    root: int
    window_start: float = 0.0  # seconds after boot
    first_cpu: dict[int, float] = field(default_factory=dict)
    last_cpu: dict[int, float] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    starts: dict[int, float] = field(default_factory=dict)  # pid -> start (tells reuse apart)
    parents: dict[int, int] = field(default_factory=dict)

    def label(self, pid: int, name: Callable[[str], str]) -> str:
        """``name`` of the process's command line; a multiprocessing child is its parent's."""
        cmdline = self.names.get(pid, "")
        ancestor, hops = pid, 0
        while "multiprocessing" in self.names.get(ancestor, "") and hops < 10:
            if self.parents.get(ancestor) not in self.names:
                break
            ancestor, hops = self.parents[ancestor], hops + 1
        if hops:
            return f"{name(self.names[ancestor])}: spawned children"
        return name(cmdline) if cmdline else "?"

    series: list[tuple[float, list[ProcSnapshot]]] = field(default_factory=list)

    def start(self) -> None:
        self.window_start = uptime_s()
        self.sample()

    def sample(self) -> list[ProcSnapshot]:
        shots = snapshot(descendants(self.root))
        now = time.monotonic()
        for s in shots:
            if s.pid not in self.first_cpu:
                born_inside = s.start_s >= self.window_start and bool(self.series)
                self.first_cpu[s.pid] = 0.0 if born_inside else s.cpu_s
            self.last_cpu[s.pid] = s.cpu_s
            if s.cmdline:  # a dying process reads empty: keep what it was
                self.names[s.pid] = s.cmdline
            self.parents[s.pid] = s.ppid
            self.starts[s.pid] = s.start_s
        self.series.append((now, shots))
        return shots

    def cpu_by_pid(self) -> dict[int, float]:
        """CPU seconds each process used in the window."""
        return {pid: self.last_cpu[pid] - self.first_cpu[pid] for pid in self.last_cpu}

    def seconds(self) -> float:
        return self.series[-1][0] - self.series[0][0] if len(self.series) > 1 else 0.0
