"""``/__sandbox/...`` controls of the exchange stand-in (not part of any real API)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.exchange.engine import ApiError, Engine
from sandbox.http import Request, Response, json_response

BOOK_MODES = ("normal", "thin", "empty")


def handle_admin(engine: Engine, request: Request) -> Response | None:
    """Dispatch one admin request; ``None`` lets the shared server answer 404."""
    handlers = {
        ("POST", "/__sandbox/price"): _price,
        ("POST", "/__sandbox/book"): _book,
        ("POST", "/__sandbox/deposit"): _deposit,
        ("GET", "/__sandbox/state"): _state,
    }
    handler = handlers.get((request.method, request.path))
    if handler is None:
        return None
    try:
        body = request.json() if request.method == "POST" else {}
        if body is not None and not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        with engine.lock:
            return json_response(handler(engine, body or {}))
    except ApiError as exc:
        return json_response({"error": exc.msg}, 400)
    except (ValueError, KeyError, InvalidOperation) as exc:
        return json_response({"error": f"bad request: {exc}"}, 400)


def _positive(value: Any, what: str) -> Decimal:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{what} must be a decimal string")
    number = Decimal(str(value))
    if not number.is_finite() or number <= 0:
        raise ValueError(f"{what} must be positive")
    return number


def _price(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """Set a pair's mid (and the anchor it reverts to): {symbol, price}."""
    market = engine.market(body["symbol"])
    market.set_price(_positive(body["price"], "price"))
    market = engine.market(body["symbol"])
    return {"symbol": market.spec.symbol, "mid": str(market.mid)}


def _book(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """Set a pair's book mode: {symbol, mode: normal | thin | empty}."""
    mode = body.get("mode")
    if mode not in BOOK_MODES:
        raise ValueError(f"mode must be one of {BOOK_MODES}")
    market = engine.market(body["symbol"])
    market.mode = mode
    market.book_key = None
    engine.market(body["symbol"])
    return {"symbol": market.spec.symbol, "mode": mode}


def _deposit(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """Credit an account: {asset, amount, api_key?} (default: the platform account)."""
    account = engine.account(body.get("api_key") or engine.venue.api_key)
    asset = body["asset"]
    if not isinstance(asset, str) or not asset.isalnum():
        raise ValueError("asset must be a symbol such as USDT")
    account.credit(asset, _positive(body["amount"], "amount"))
    return {"asset": asset, "free": f"{account.free[asset]:.8f}"}


def _state(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    """Mids, book modes and the platform account's balances (for tests and operators)."""
    markets = {s: engine.market(s) for s in engine.markets}
    state: dict[str, Any] = {
        "tick": engine.current_tick(),
        "mids": {s: str(m.mid) for s, m in markets.items()},
        "modes": {s: m.mode for s, m in markets.items()},
    }
    account = engine.accounts.get(engine.venue.api_key)
    if account is not None:
        state["balances"] = {
            a: {
                "free": f"{account.free.get(a, 0):.8f}",
                "locked": f"{account.locked.get(a, 0):.8f}",
            }
            for a in sorted(set(account.free) | set(account.locked))
        }
    return state
