"""Process entry point: ``python -m sandbox.utxo --network bitcoin|dogecoin``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from sandbox.faults import Faults
from sandbox.http import StandInServer, arg_parser
from sandbox.utxo.params import NETWORKS


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser("Bitcoin Core JSON-RPC regtest stand-in (Bitcoin or Dogecoin).")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="bitcoin")
    parser.add_argument("--rpc-user", "--user", dest="rpc_user", default="sandbox")
    parser.add_argument("--rpc-password", "--password", dest="rpc_password", default="sandbox")
    parser.add_argument(
        "--block-interval", type=float, default=0.0, help="auto-mine every N seconds (0: off)"
    )
    parser.add_argument("--coinbase-maturity", type=int, default=None)
    parser.add_argument("--initial-blocks", type=int, default=None)
    args = parser.parse_args(argv)

    # bitcoinlib creates its data dir on import; keep it inside our state dir.
    os.environ.setdefault("BCL_DATA_DIR", str((args.state_dir / "bitcoinlib").resolve()))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    from sandbox.utxo.app import UtxoApp  # imports bitcoinlib (after BCL_DATA_DIR is set)

    faults = Faults(args.seed)
    app = UtxoApp(
        NETWORKS[args.network],
        url=f"http://{args.host}:{args.port}",
        rpc_user=args.rpc_user,
        rpc_password=args.rpc_password,
        seed=args.seed,
        block_interval=args.block_interval,
        coinbase_maturity=args.coinbase_maturity,
        initial_blocks=args.initial_blocks,
        faults=faults,
    )
    server = StandInServer(app, args.host, args.port, faults)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.getLogger("sandbox").info("%s listening on %s", app.name, server.url)
    try:
        server.serve_forever()
    finally:
        app.close()
        server.server_close()


if __name__ == "__main__":
    main()
