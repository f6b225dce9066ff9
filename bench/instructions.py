"""Instructions per request, counted by callgrind: intake's CPU without the host's noise.

The in-process CPU ladder (``process_time``) moved by a quarter from run
to run on a shared 2-core host, so a change of a tenth could not be seen.
An instruction count can: callgrind counts what the Python process
executes, whatever else the machine is doing. Each measured kind runs in a
child process under ``valgrind --tool=callgrind --instr-atstart=no``: the
child sets up and warms up uninstrumented, says ``ready``, and the parent
switches instrumentation on (``callgrind_control -i on``) for exactly the
measured requests, then off. Counting the process only, this leaves out
PostgreSQL and the kernel (round trips), which the load phases measure.

``python -m bench.instructions child SPEC`` is the child's entry point.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import REPO

WARMUP = 4
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


class InstructionCountFailed(RuntimeError):
    pass


def available() -> bool:
    """valgrind and callgrind_control are on the PATH."""
    from shutil import which

    return which("valgrind") is not None and which("callgrind_control") is not None


def count(spec: dict[str, Any], *, timeout_s: float = 900.0) -> int:
    """Instructions the child executes for ``spec["n"]`` requests of ``spec["kind"]``."""
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
        sync = Path(tmp)
        spec_file = sync / "spec.json"
        spec_file.write_text(json.dumps({**spec, "sync": str(sync)}))
        log = sync / "valgrind.log"
        with log.open("w") as err:
            proc = subprocess.Popen(
                [
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    f"--callgrind-out-file={sync / 'callgrind.out'}",
                    sys.executable,
                    "-m",
                    "bench.instructions",
                    "child",
                    str(spec_file),
                ],
                cwd=REPO,
                env={**os.environ, "PYTHONHASHSEED": "0"},
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        try:
            deadline = time.monotonic() + timeout_s
            _await(sync / "ready", proc, deadline, log)
            _control(proc.pid, "on")
            (sync / "go").touch()
            _await(sync / "end", proc, deadline, log)
            _control(proc.pid, "off")
            (sync / "stop").touch()
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.read_text()
        found = _COLLECTED.findall(text)
        if proc.returncode != 0 or not found:
            raise InstructionCountFailed(f"exit {proc.returncode}: {text[-600:]}")
        return int(found[-1])


def _await(path: Path, proc: subprocess.Popen[bytes], deadline: float, log: Path) -> None:
    while not path.exists():
        if proc.poll() is not None:
            tail = log.read_text()[-600:]
            raise InstructionCountFailed(f"child exited {proc.returncode}: {tail}")
        if time.monotonic() > deadline:
            raise InstructionCountFailed(f"child never wrote {path.name}")
        time.sleep(0.1)


def _control(pid: int, state: str) -> None:
    subprocess.run(
        ["callgrind_control", "-i", state, str(pid)],
        check=True,
        capture_output=True,
        timeout=120,
    )


# -- the child -------------------------------------------------------------------------------


def _handshake(sync: Path, mine: str, theirs: str) -> None:
    (sync / mine).touch()
    while not (sync / theirs).exists():
        time.sleep(0.02)


def _child(spec_file: str) -> int:
    spec = json.loads(Path(spec_file).read_text())
    sync = Path(spec["sync"])
    n = int(spec["n"])
    from bench.intake import expect_status, in_process_product, pay_in_process

    if spec["kind"] == "floor":
        from bench.floor_app import create_app as floor_app

        floor = floor_app(spec["database_url"]).test_client()

        def one(_i: int) -> None:
            expect_status(floor.post("/floor", json={"note": "instructions"}), 201, "floor")

        return _measure(sync, one, n)
    from wallet.config import Settings

    settings = Settings(
        _env_file=None,
        var_dir=Path(spec["var_dir"]),
        database_url=spec["database_url"],
        redis_url=None,
        settlement_worker=True,
    )
    pairs = spec["pairs"]
    with in_process_product(settings) as app:
        product = app.test_client()

        def pay(i: int) -> None:
            token, quote_id = pairs[i]
            auth = {"Authorization": f"Bearer {token}"}
            pay_in_process(product, auth, quote_id, key=True, what="payment")

        def read(i: int) -> None:
            auth = {"Authorization": f"Bearer {pairs[i][0]}"}
            expect_status(product.get("/api/v1/auth/tokens", headers=auth), 200, "read")

        return _measure(sync, read if spec["kind"] == "read" else pay, n)


def _measure(sync: Path, one: Callable[[int], None], n: int) -> int:
    for i in range(WARMUP):
        one(i)
    _handshake(sync, "ready", "go")
    for i in range(WARMUP, WARMUP + n):
        one(i)
    _handshake(sync, "end", "stop")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "child":
        sys.exit("usage: python -m bench.instructions child SPEC")
    sys.exit(_child(sys.argv[2]))
