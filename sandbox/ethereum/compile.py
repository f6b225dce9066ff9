"""Compile the project's Solidity sources (``sandbox/contracts``) with the pinned npm solc.

solcjs runs offline under ``node``. The output is cached in the state dir
under a hash of the sources and compiler settings, so a restart skips the
compiler entirely.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
COMPILE_JS = Path(__file__).resolve().parent / "solc_compile.js"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
}


@dataclass(frozen=True)
class Artifact:
    """What deployment needs from one compiled contract."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def _standard_input(sources_dir: Path) -> dict[str, Any]:
    sources = {p.name: {"content": p.read_text()} for p in sorted(sources_dir.glob("*.sol"))}
    if not sources:
        raise FileNotFoundError(f"no Solidity sources in {sources_dir}")
    return {"language": "Solidity", "sources": sources, "settings": SETTINGS}


def _node_env() -> dict[str, str]:
    """Let ``require('solc')`` resolve from the repo's node_modules wherever node runs."""
    env = dict(os.environ)
    for parent in COMPILE_JS.parents:
        if (parent / "node_modules" / "solc").is_dir():
            env["NODE_PATH"] = str(parent / "node_modules")
            break
    return env


def compile_contracts(cache_dir: Path, sources_dir: Path = CONTRACTS_DIR) -> dict[str, Artifact]:
    """Return artifacts by contract name, compiling only when the sources changed."""
    standard_input = json.dumps(_standard_input(sources_dir), sort_keys=True)
    digest = hashlib.sha256((standard_input + COMPILE_JS.read_text()).encode()).hexdigest()[:16]
    cache = cache_dir / f"solc-{digest}.json"
    if cache.exists():
        output = json.loads(cache.read_text())
    else:
        node = shutil.which("node")
        if node is None:
            raise FileNotFoundError("node is required to run the npm solc compiler")
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [node, str(COMPILE_JS)],
            input=standard_input,
            capture_output=True,
            text=True,
            env=_node_env(),
            check=False,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(f"solc failed: {done.stderr.strip()[:2000]}")
        output = json.loads(done.stdout)
        errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
        if errors:
            raise RuntimeError("solc errors: " + "; ".join(e["formattedMessage"] for e in errors))
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(output))
        partial.replace(cache)  # atomic: a concurrent reader never sees half a file
    artifacts: dict[str, Artifact] = {}
    for contracts in output["contracts"].values():
        for name, compiled in contracts.items():
            code = compiled["evm"]["bytecode"]["object"]
            artifacts[name] = Artifact(name, compiled["abi"], "0x" + code)
    return artifacts
