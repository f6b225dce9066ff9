"""``python -m sandbox.exchange --venue binance|inr|coinbase --port P ...``"""

from __future__ import annotations

import logging

from sandbox.exchange.binance_api import BinanceApp
from sandbox.exchange.coinbase_api import CoinbaseApp
from sandbox.exchange.engine import Engine
from sandbox.exchange.venues import venue
from sandbox.faults import Faults
from sandbox.http import StandInApp, arg_parser, serve

log = logging.getLogger("sandbox.exchange")


def build_app(
    venue_name: str,
    url: str,
    faults: Faults,
    seed: int,
    tick_seconds: float = 1.0,
    api_key: str | None = None,
    api_secret: str | None = None,
) -> StandInApp:
    """The stand-in app for one venue, wired to the server's fault settings."""
    engine = Engine(venue(venue_name, api_key, api_secret), seed, tick_seconds, faults.extra)
    if venue_name == "coinbase":
        return CoinbaseApp(engine, url)
    return BinanceApp(engine, faults, url)


def main(argv: list[str] | None = None) -> None:
    parser = arg_parser("Binance-style spot exchange (or Coinbase ticker) stand-in.")
    parser.add_argument("--venue", choices=("binance", "inr", "coinbase"), default="binance")
    parser.add_argument("--api-key", default=None, help="platform account key (venue default)")
    parser.add_argument("--api-secret", default=None, help="platform account secret")
    parser.add_argument(
        "--tick-seconds", type=float, default=1.0, help="mid random-walk step; 0 freezes prices"
    )
    args = parser.parse_args(argv)
    faults = Faults(args.seed)
    url = f"http://{args.host}:{args.port}"
    app = build_app(
        args.venue, url, faults, args.seed, args.tick_seconds, args.api_key, args.api_secret
    )
    serve(app, args, faults)


if __name__ == "__main__":
    main()
