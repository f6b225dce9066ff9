"""The ``taskforce`` command: run the platform, drive the sandbox, migrate, seed.

taskforce run                      # everything, on the embedded default
taskforce sandbox up|down|status [--json]
taskforce sandbox fund ADDRESS ASSET AMOUNT
taskforce sandbox fault NAME [--clear] [KEY=VALUE ...]
taskforce migrate                  # alembic upgrade head on DATABASE_URL
taskforce seed-demo                # demo payer, merchant and admin
taskforce rotate-master-key [--generate | --check] [--batch-size N]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from wallet.config import load_settings


def _sandbox_dir() -> Path:
    return load_settings().var_dir / "sandbox"


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox.manager import SPECS, Sandbox, SandboxError

    state = _sandbox_dir()
    try:
        if args.action == "up":
            existing = Sandbox.attach(state)
            if existing.running and all(s["healthy"] for s in existing.status().values()):
                _out("sandbox already running")
                return _print_status(existing, as_json=False)
            existing.stop()
            sandbox = Sandbox(state, seed=args.seed)
            names = args.only.split(",") if args.only else list(SPECS)
            ports = {}
            for pair in filter(None, (args.ports or "").split(",")):
                name, _, port = pair.partition("=")
                ports[name] = int(port)
            sandbox.start(names, ports=ports)
            _out(f"sandbox up: {', '.join(names)} (endpoints in {sandbox.endpoints_file})")
            return _print_status(sandbox, as_json=False)
        sandbox = Sandbox.attach(state)
        if args.action == "down":
            count = len(sandbox.running)
            sandbox.stop()
            _out(f"sandbox down: stopped {count} stand-ins")
            return 0
        if args.action == "status":
            return _print_status(sandbox, as_json=args.json)
        if args.action == "fund":
            _out(json.dumps(sandbox.fund(args.address, args.asset, args.amount)))
            return 0
        if args.action == "fault":
            body: dict[str, Any] = {"clear": True} if args.clear else {}
            for pair in args.settings:
                key, _, value = pair.partition("=")
                if key.startswith("extra."):
                    body.setdefault("extra", {})[key[6:]] = _parse_value(value)
                else:
                    body[key] = _parse_value(value)
            _out(json.dumps(sandbox.admin(args.name, "faults", body), indent=2))
            return 0
    except SandboxError as exc:
        _err(f"sandbox: {exc}")
        return 1
    return 2


def _print_status(sandbox: Any, *, as_json: bool) -> int:
    report = sandbox.status()
    if as_json:
        _out(json.dumps(report, indent=2))
        return 0 if report else 1
    if not report:
        _out("sandbox: nothing running (taskforce sandbox up)")
        return 1
    for name, entry in report.items():
        state = "healthy" if entry["healthy"] else "DOWN"
        faults = ",".join(entry["faults"]) or "-"
        _out(f"{name:13} {state:8} {entry['url']:28} head={entry['head']} faults={faults}")
    return 0 if all(e["healthy"] for e in report.values()) else 1


def cmd_migrate(_args: argparse.Namespace) -> int:
    from wallet.db.migrate import upgrade

    url = load_settings().resolved_database_url
    upgrade(url)
    _out("migrations applied")
    return 0


def cmd_seed_demo(_args: argparse.Namespace) -> int:
    from taskforce.demo import seed_demo

    for line in seed_demo(load_settings()):
        _out(line)
    return 0


def cmd_rotate_master_key(args: argparse.Namespace) -> int:
    """Re-wrap every sealed secret under the current master key (docs/key-rotation.md).

    Prints key ids (public fingerprints) and counts only, never key material.
    """
    from wallet.custody.kms import key_fingerprint
    from wallet.custody.rotation import remaining, rotate_all
    from wallet.db.session import make_engine, make_session_factory
    from wallet.devkeys import generate_dev_master_key, platform_kms, previous_master_keys
    from wallet.errors import WalletError

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        factory = make_session_factory(engine)
        if args.generate:
            old_id, new_id = generate_dev_master_key(settings)
            _out(f"generated a new dev master key {new_id}; retired {old_id}")
        kms = platform_kms(settings)
        configured = {kms.key_id, *map(key_fingerprint, previous_master_keys(settings))}
        with factory() as session:
            left = remaining(session, kms.key_id)
        _out(f"current master key: {kms.key_id}")
        _out(f"previous master keys: {', '.join(sorted(configured - {kms.key_id})) or '-'}")
        if args.check:
            return _print_remaining(left, kms.key_id)
        unknown = {k for by_key in left.values() for k in by_key} - configured
        if unknown:
            _err(
                f"rotate-master-key: values are sealed under {', '.join(sorted(unknown))}, "
                "which is not configured (WALLET_PREVIOUS_MASTER_KEYS); nothing changed"
            )
            return 1
        report = rotate_all(
            factory,
            kms,
            batch_size=args.batch_size,
            actor="system:rotate-master-key",
            after_batch=lambda table, rows: _out(f"  {table}: {rows} rows committed"),
        )
    except WalletError as exc:
        _err(f"rotate-master-key: {exc.message} ({exc.code})")
        return 1
    finally:
        engine.dispose()
    for table, count in report.counts.items():
        _out(f"{table:24} {count:6} re-wrapped")
    _out(f"total: {report.total} re-wrapped under {report.key_id}")
    if report.from_key_ids:
        _out(f"re-wrapped from: {', '.join(report.from_key_ids)}")
    _out("confirm with `taskforce rotate-master-key --check`, then drop the previous keys")
    return 0


def _print_remaining(left: dict[str, dict[str, int]], key_id: str) -> int:
    """``--check``: what is still under a previous key; 1 while anything is."""
    for table, by_key in left.items():
        detail = ", ".join(f"{n} under {k}" for k, n in sorted(by_key.items()))
        _out(f"{table:24} {sum(by_key.values()):6} to re-wrap {detail}".rstrip())
    total = sum(sum(by_key.values()) for by_key in left.values())
    _out(f"total: {total} sealed values not under {key_id}")
    if total:
        _out("run `taskforce rotate-master-key` before dropping any previous key")
        return 1
    _out("nothing is under a previous key: the previous keys can be dropped")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def cmd_run(args: argparse.Namespace) -> int:
    from taskforce.run import run_platform

    return run_platform(load_settings(), with_sandbox=not args.no_sandbox, keep_data=args.keep_data)


def cmd_settle_worker(args: argparse.Namespace) -> int:
    from taskforce.settle_worker import alive, main

    if args.alive:
        return alive(args.within)
    return main()


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskforce", description="TaskForce Wallet")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the whole platform on the embedded default")
    run.add_argument("--no-sandbox", action="store_true", help="use configured endpoints")
    run.add_argument(
        "--keep-data",
        action="store_true",
        help="keep var/taskforce.db (by default each run starts a fresh sandbox world)",
    )
    run.set_defaults(func=cmd_run)

    sb = sub.add_parser("sandbox", help="local stand-ins for the outside world")
    sb_sub = sb.add_subparsers(dest="action", required=True)
    up = sb_sub.add_parser("up", help="start every stand-in in the background")
    up.add_argument("--only", help="comma-separated stand-in names")
    up.add_argument("--seed", type=int, default=0)
    up.add_argument(
        "--ports",
        help="NAME=PORT,… overriding the defaults: ethereum=8545 solana=8899 bitcoin=18443 "
        "dogecoin=18445 exchange=9100 inr_exchange=9101 coinbase=9102 razorpayx=9200",
    )
    sb_sub.add_parser("down", help="stop every stand-in")
    status = sb_sub.add_parser("status", help="show each stand-in")
    status.add_argument("--json", action="store_true")
    fund = sb_sub.add_parser("fund", help="send a real on-chain transfer from the faucet")
    fund.add_argument("address")
    fund.add_argument("asset")
    fund.add_argument("amount", help="decimal string in the asset's display unit")
    fault = sb_sub.add_parser("fault", help="set fault injection on one stand-in")
    fault.add_argument("name")
    fault.add_argument("--clear", action="store_true", help="clear all faults first")
    fault.add_argument("settings", nargs="*", help="KEY=VALUE, e.g. drop_next=1 extra.x=1")
    sb.set_defaults(func=cmd_sandbox)

    worker = sub.add_parser(
        "settle-worker", help="pay confirmed payments from a warm process (beside Dagster)"
    )
    worker.add_argument(
        "--alive",
        action="store_true",
        help="do not run: exit 0 if the running worker's loops pulsed lately (liveness probe)",
    )
    worker.add_argument(
        "--within", type=float, default=120.0, help="seconds a loop may go without a pulse"
    )
    worker.set_defaults(func=cmd_settle_worker)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("seed-demo", help="create demo accounts").set_defaults(func=cmd_seed_demo)
    rotate = sub.add_parser(
        "rotate-master-key",
        help="re-wrap every sealed secret under WALLET_MASTER_KEY (old keys in "
        "WALLET_PREVIOUS_MASTER_KEYS)",
    )
    mode = rotate.add_mutually_exclusive_group()
    mode.add_argument(
        "--generate",
        action="store_true",
        help="dev only (no WALLET_MASTER_KEY): new var/master.key, old one kept in "
        "var/master.previous.keys, then re-wrap",
    )
    mode.add_argument(
        "--check",
        action="store_true",
        help="count sealed values still under a previous key; exit 1 if any",
    )
    rotate.add_argument("--batch-size", type=_positive, default=200, help="rows per commit")
    rotate.set_defaults(func=cmd_rotate_master_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
