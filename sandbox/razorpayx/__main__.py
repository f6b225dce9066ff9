"""``python -m sandbox.razorpayx --port P [--webhook-url URL ...]``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from sandbox.faults import Faults
from sandbox.http import StandInServer, arg_parser
from sandbox.razorpayx.app import Config, RazorpayXApp
from sandbox.razorpayx.webhooks import WebhookUrlError

log = logging.getLogger("sandbox")


def main(argv: list[str] | None = None) -> None:
    defaults = Config()
    parser = arg_parser("RazorpayX Payouts API stand-in")
    parser.add_argument("--key-id", default=defaults.key_id)
    parser.add_argument("--key-secret", default=defaults.key_secret)
    parser.add_argument("--webhook-secret", default=defaults.webhook_secret)
    parser.add_argument("--account-number", default=defaults.account_number)
    parser.add_argument("--account-id", default="", help="acc_… in webhook envelopes")
    parser.add_argument("--balance-paise", type=int, default=defaults.balance_paise)
    parser.add_argument("--process-delay", type=float, default=defaults.process_delay_s)
    parser.add_argument("--fee-paise", type=int, default=defaults.fee_paise)
    parser.add_argument("--webhook-url", action="append", default=[], help="loopback only")
    parser.add_argument("--webhook-max-attempts", type=int, default=defaults.webhook_max_attempts)
    parser.add_argument("--webhook-backoff", type=float, default=defaults.webhook_backoff_s)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    config = Config(
        key_id=args.key_id,
        key_secret=args.key_secret,
        webhook_secret=args.webhook_secret,
        account_number=args.account_number,
        account_id=args.account_id,
        balance_paise=args.balance_paise,
        process_delay_s=args.process_delay,
        fee_paise=args.fee_paise,
        webhook_urls=args.webhook_url,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_backoff_s=args.webhook_backoff,
        seed=args.seed,
    )
    faults = Faults(args.seed)
    try:
        app = RazorpayXApp(config, faults, f"http://{args.host}:{args.port}")
    except WebhookUrlError as exc:
        parser.error(str(exc))
    # Built here rather than via sandbox.http.serve so the app shares the server's Faults.
    server = StandInServer(app, args.host, args.port, faults)

    def _stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    app.start()
    log.info("%s listening on %s", app.name, server.url)
    try:
        server.serve_forever()
    finally:
        app.close()
        server.server_close()


if __name__ == "__main__":
    main()
