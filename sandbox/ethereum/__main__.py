"""``python -m sandbox.ethereum``: run the Ethereum stand-in (see :mod:`sandbox.ethereum`)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from sandbox.ethereum.app import EthereumApp
from sandbox.faults import Faults
from sandbox.http import StandInServer, arg_parser

log = logging.getLogger("sandbox.ethereum")


def main(argv: list[str] | None = None) -> None:
    """Bind the proxy port, start anvil and deploy, then serve until SIGTERM/SIGINT.

    Our own ``StandInServer`` (instead of ``sandbox.http.serve``) so the app
    shares the server's ``Faults`` for the ``drop_tx_next`` knob. Anvil is
    stopped on every exit path; if we are SIGKILLed it gets SIGTERM from the
    kernel (PR_SET_PDEATHSIG).
    """
    parser = arg_parser("Ethereum stand-in: the real anvil node behind a fault-injecting proxy")
    parser.add_argument(
        "--block-time",
        type=int,
        default=1,
        help="seconds between blocks (interval mining); 0 = instant mining, a block per tx",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per relayed call is noise

    def _exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    # During startup a signal unwinds through the finally below, which stops anvil.
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    faults = Faults(args.seed)
    app = EthereumApp("", args.state_dir, block_time=args.block_time, faults=faults)
    server = StandInServer(app, args.host, args.port, faults)
    app.url = server.url
    try:
        app.start()

        def _stop(*_: Any) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        log.info("ethereum listening on %s", server.url)
        server.serve_forever()
    finally:
        server.server_close()
        app.close()


if __name__ == "__main__":
    main()
