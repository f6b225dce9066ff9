"""``python -m sandbox.solana``: run the Solana stand-in until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from sandbox.faults import Faults
from sandbox.http import StandInServer, arg_parser
from sandbox.solana.app import SolanaStandIn
from sandbox.solana.chain import ChainConfig

log = logging.getLogger("sandbox.solana")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = arg_parser("Solana JSON-RPC stand-in over LiteSVM")
    parser.add_argument("--slot-ms", type=int, default=400, help="milliseconds per slot")
    parser.add_argument(
        "--confirm-depth", type=int, default=1, help="blocks behind head for `confirmed`"
    )
    parser.add_argument(
        "--finalize-depth", type=int, default=32, help="blocks behind head for `finalized`"
    )
    parser.add_argument(
        "--blockhash-validity", type=int, default=150, help="blocks a blockhash stays valid"
    )
    args = parser.parse_args(argv)
    if args.slot_ms < 10:
        parser.error("--slot-ms must be at least 10")
    # confirm >= 1 keeps getBlock away from the still-open head block.
    if not 1 <= args.confirm_depth <= args.finalize_depth:
        parser.error("need 1 <= --confirm-depth <= --finalize-depth")
    if args.blockhash_validity < 1:
        parser.error("--blockhash-validity must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    config = ChainConfig(
        seed=args.seed,
        slot_ms=args.slot_ms,
        confirm_depth=args.confirm_depth,
        finalize_depth=args.finalize_depth,
        blockhash_validity=args.blockhash_validity,
    )
    faults = Faults(args.seed)
    app = SolanaStandIn(config, faults, url=f"http://{args.host}:{args.port}")
    app.start()
    server = StandInServer(app, args.host, args.port, faults)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("solana stand-in listening on %s", server.url)
    try:
        server.serve_forever()
    finally:
        app.close()
        server.server_close()


if __name__ == "__main__":
    main()
