"""The exchange stand-in over real HTTP: Binance shapes, signing, filters, faults.

Raw signed requests (``signed_request``) give exact control of timestamps and
client ids; ccxt (the library the product uses) checks that the shapes parse.
The product client's own behaviour is tested in ``tests/exchanges``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from typing import Any

import ccxt
import httpx
import pytest

from sandbox.exchange.testing import signed_request, start_exchange, stop_exchange

BINANCE_SYMBOLS = {
    "BTCUSDT",
    "ETHUSDT",
    "SOLUSDT",
    "DOGEUSDT",
    "SHIBUSDT",
    "PEPEUSDT",
    "BONKUSDT",
    "USDCUSDT",
}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    process, info = start_exchange(tmp_path_factory.mktemp("exchange"), "binance", seed=7)
    yield info
    stop_exchange(process)


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "exchange" in request.fixturenames:
        info = request.getfixturevalue("exchange")
        httpx.post(f"{info['url']}/__sandbox/faults", json={"clear": True}, trust_env=False)


def get(info: dict[str, Any], path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{info['url']}{path}", params=params, trust_env=False)


def balances(info: dict[str, Any]) -> dict[str, Decimal]:
    response = signed_request(info, "GET", "/api/v3/account", {})
    assert response.status_code == 200, response.text
    return {row["asset"]: Decimal(row["free"]) for row in response.json()["balances"]}


def sell(info: dict[str, Any], symbol: str, qty: str, client_id: str, **extra: Any) -> Any:
    params = {
        "symbol": symbol,
        "side": "SELL",
        "type": "MARKET",
        "quantity": qty,
        "newClientOrderId": client_id,
        **extra,
    }
    return signed_request(info, "POST", "/api/v3/order", params)


def test_health_reports_the_settings_the_product_reads(exchange: dict[str, Any]) -> None:
    assert exchange["settings"] == {
        "exchange_url": exchange["url"],
        "exchange_api_key": "sandbox-exchange-key",
        "exchange_api_secret": "sandbox-exchange-secret",
    }
    assert set(exchange["symbols"]) == BINANCE_SYMBOLS


def test_exchange_info_lists_every_pair_with_filters(exchange: dict[str, Any]) -> None:
    info = get(exchange, "/api/v3/exchangeInfo").json()
    symbols = {s["symbol"]: s for s in info["symbols"]}
    assert set(symbols) == BINANCE_SYMBOLS
    shib = symbols["SHIBUSDT"]
    assert (shib["baseAsset"], shib["quoteAsset"], shib["status"]) == ("SHIB", "USDT", "TRADING")
    filters = {f["filterType"]: f for f in shib["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.00000001"
    assert filters["LOT_SIZE"]["stepSize"] == "1.00000000"
    assert filters["NOTIONAL"]["minNotional"] == "1.00000000"
    single = get(exchange, "/api/v3/exchangeInfo", symbol="BTCUSDT").json()
    assert [s["symbol"] for s in single["symbols"]] == ["BTCUSDT"]
    unknown = get(exchange, "/api/v3/exchangeInfo", symbol="NOPEUSDT")
    assert unknown.status_code == 400
    assert unknown.json() == {"code": -1121, "msg": "Invalid symbol."}


def test_depth_is_a_sorted_book_of_decimal_strings(exchange: dict[str, Any]) -> None:
    depth = get(exchange, "/api/v3/depth", symbol="ETHUSDT", limit=10).json()
    bids = [(Decimal(p), Decimal(q)) for p, q in depth["bids"]]
    asks = [(Decimal(p), Decimal(q)) for p, q in depth["asks"]]
    assert len(bids) == len(asks) == 10
    assert all(isinstance(x, str) for level in depth["bids"] + depth["asks"] for x in level)
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert bids[0][0] < asks[0][0]
    assert Decimal("2500") < bids[0][0] < Decimal("3500")  # ETH near its seeded mid
    assert all(q > 0 and q % Decimal("0.0001") == 0 for _, q in bids + asks)


def test_tickers_agree_with_the_book(exchange: dict[str, Any]) -> None:
    book = get(exchange, "/api/v3/ticker/bookTicker", symbol="PEPEUSDT").json()
    full = get(exchange, "/api/v3/ticker/24hr", symbol="PEPEUSDT").json()
    price = get(exchange, "/api/v3/ticker/price", symbol="PEPEUSDT").json()
    assert Decimal(book["bidPrice"]) < Decimal(book["askPrice"])
    assert Decimal("0.000006") < Decimal(price["price"]) < Decimal("0.00001")
    for key in ("lastPrice", "bidPrice", "askPrice", "volume", "quoteVolume", "openPrice"):
        assert isinstance(full[key], str)
    every = get(exchange, "/api/v3/ticker/price").json()
    assert {row["symbol"] for row in every} == BINANCE_SYMBOLS


def test_ccxt_parses_markets_tickers_and_books(exchange: dict[str, Any]) -> None:
    client = ccxt.binance(
        {
            "apiKey": exchange["credentials"]["api_key"],
            "secret": exchange["credentials"]["api_secret"],
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
            },
        }
    )
    client.urls["api"] = {
        "public": f"{exchange['url']}/api/v3",
        "private": f"{exchange['url']}/api/v3",
    }
    markets = client.load_markets()
    assert {"BTC/USDT", "BONK/USDT", "USDC/USDT"} <= set(markets)
    assert markets["SOL/USDT"]["limits"]["cost"]["min"] == 5
    assert client.fetch_ticker("BTC/USDT")["bid"] > 0
    assert len(client.fetch_order_book("DOGE/USDT", 5)["asks"]) == 5
    assert client.fetch_balance()["free"]["SHIB"] > 0


def test_signed_market_sell_fills_with_fees_in_quote(exchange: dict[str, Any]) -> None:
    before = balances(exchange)
    response = sell(exchange, "DOGEUSDT", "1000", "t-fee-1")
    assert response.status_code == 200, response.text
    order = response.json()
    assert order["status"] == "FILLED"
    assert order["executedQty"] == "1000.00000000"
    fills = order["fills"]
    assert fills and all(f["commissionAsset"] == "USDT" for f in fills)
    quote = sum((Decimal(f["price"]) * Decimal(f["qty"]) for f in fills), Decimal(0))
    commission = sum((Decimal(f["commission"]) for f in fills), Decimal(0))
    assert Decimal(order["cummulativeQuoteQty"]) == quote
    for f in fills:  # 0.1 % taker fee per fill, rounded up to 8 places
        fill_quote = Decimal(f["price"]) * Decimal(f["qty"])
        expected = (fill_quote / 1000).quantize(Decimal("1e-8"), rounding=ROUND_CEILING)
        assert Decimal(f["commission"]) == expected
    after = balances(exchange)
    assert before["DOGE"] - after["DOGE"] == Decimal(1000)
    assert after["USDT"] - before["USDT"] == quote - commission


def test_bad_signature_and_unknown_key_are_rejected(exchange: dict[str, Any]) -> None:
    before = balances(exchange)
    forged = signed_request(
        exchange,
        "POST",
        "/api/v3/order",
        {"symbol": "SOLUSDT", "side": "SELL", "type": "MARKET", "quantity": "1"},
        secret="not-the-secret",
    )
    assert forged.status_code == 400
    assert forged.json() == {"code": -1022, "msg": "Signature for this request is not valid."}
    stranger = signed_request(exchange, "GET", "/api/v3/account", {}, api_key="who-is-this")
    assert (stranger.status_code, stranger.json()["code"]) == (401, -2015)
    bare = httpx.get(f"{exchange['url']}/api/v3/account", trust_env=False)
    assert (bare.status_code, bare.json()["code"]) == (401, -2014)
    assert balances(exchange) == before


def test_timestamp_outside_recv_window_is_rejected(exchange: dict[str, Any]) -> None:
    now = int(time.time() * 1000)
    stale = signed_request(exchange, "GET", "/api/v3/account", {}, timestamp_ms=now - 10_000)
    assert stale.status_code == 400
    assert stale.json() == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    ahead = signed_request(exchange, "GET", "/api/v3/account", {}, timestamp_ms=now + 5_000)
    assert ahead.json()["code"] == -1021
    wide = signed_request(
        exchange, "GET", "/api/v3/account", {"recvWindow": 30_000}, timestamp_ms=now - 10_000
    )
    assert wide.status_code == 200


@pytest.mark.parametrize(
    ("symbol", "qty", "message"),
    [
        ("SOLUSDT", "1.0005", "Filter failure: LOT_SIZE"),  # step 0.001
        ("BTCUSDT", "0.000001", "Filter failure: LOT_SIZE"),  # below minQty
        ("SOLUSDT", "0.01", "Filter failure: NOTIONAL"),  # 1.5 USDT < 5
        ("SHIBUSDT", "1000", "Filter failure: NOTIONAL"),  # 0.012 USDT < 1
    ],
)
def test_filters_reject_with_binance_codes(
    exchange: dict[str, Any], symbol: str, qty: str, message: str
) -> None:
    before = balances(exchange)
    response = sell(exchange, symbol, qty, f"t-filter-{symbol}-{qty}")
    assert response.status_code == 400
    assert response.json() == {"code": -1013, "msg": message}
    assert balances(exchange) == before


def test_insufficient_balance_is_rejected(exchange: dict[str, Any]) -> None:
    response = sell(exchange, "BTCUSDT", "1000", "t-too-much")
    assert response.json() == {
        "code": -2010,
        "msg": "Account has insufficient balance for requested action.",
    }


def test_unknown_order_query_says_it_does_not_exist(exchange: dict[str, Any]) -> None:
    response = signed_request(
        exchange, "GET", "/api/v3/order", {"symbol": "SOLUSDT", "origClientOrderId": "never-sent"}
    )
    assert response.status_code == 400
    assert response.json() == {"code": -2013, "msg": "Order does not exist."}


def test_client_order_id_is_unique_among_open_orders_only(exchange: dict[str, Any]) -> None:
    """Binance's real semantics, the double-sell hazard: a filled MARKET id can be reused."""
    before = balances(exchange)
    first = sell(exchange, "SOLUSDT", "2", "t-hazard-1").json()
    second = sell(exchange, "SOLUSDT", "2", "t-hazard-1").json()
    assert first["status"] == second["status"] == "FILLED"
    assert first["orderId"] != second["orderId"]
    assert before["SOL"] - balances(exchange)["SOL"] == Decimal(4)  # sold twice
    queried = signed_request(
        exchange, "GET", "/api/v3/order", {"symbol": "SOLUSDT", "origClientOrderId": "t-hazard-1"}
    ).json()
    assert queried["orderId"] == second["orderId"]  # the most recent one

    # An OPEN order's id is protected: a second one is refused.
    resting = {"side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "price": "999.00"}
    params = {"symbol": "SOLUSDT", "quantity": "1", "newClientOrderId": "t-open-1", **resting}
    assert signed_request(exchange, "POST", "/api/v3/order", params).json()["status"] == "NEW"
    duplicate = signed_request(exchange, "POST", "/api/v3/order", params)
    assert duplicate.json() == {"code": -2010, "msg": "Duplicate order sent."}
    cancel = {"symbol": "SOLUSDT", "origClientOrderId": "t-open-1"}
    assert signed_request(exchange, "DELETE", "/api/v3/order", cancel).json()["status"] == (
        "CANCELED"
    )


def test_limit_order_rests_locks_funds_and_cancels(exchange: dict[str, Any]) -> None:
    params = {
        "symbol": "ETHUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "1.5",
        "price": "9000.00",
        "newClientOrderId": "t-rest-1",
    }
    placed = signed_request(exchange, "POST", "/api/v3/order", params).json()
    assert (placed["status"], placed["fills"]) == ("NEW", [])
    account = signed_request(exchange, "GET", "/api/v3/account", {}).json()
    eth = next(b for b in account["balances"] if b["asset"] == "ETH")
    assert eth["locked"] == "1.50000000"
    open_orders = signed_request(exchange, "GET", "/api/v3/openOrders", {"symbol": "ETHUSDT"})
    assert [o["clientOrderId"] for o in open_orders.json()] == ["t-rest-1"]
    cancel = {"symbol": "ETHUSDT", "orderId": placed["orderId"]}
    assert signed_request(exchange, "DELETE", "/api/v3/order", cancel).json()["status"] == (
        "CANCELED"
    )
    again = signed_request(exchange, "DELETE", "/api/v3/order", cancel).json()
    assert again == {"code": -2011, "msg": "Unknown order sent."}
    account = signed_request(exchange, "GET", "/api/v3/account", {}).json()
    eth = next(b for b in account["balances"] if b["asset"] == "ETH")
    assert eth["locked"] == "0.00000000"


def test_market_order_that_exhausts_a_thin_book_expires(exchange: dict[str, Any]) -> None:
    url = exchange["url"]
    assert httpx.post(
        f"{url}/__sandbox/book", json={"symbol": "DOGEUSDT", "mode": "thin"}
    ).is_success
    try:
        # The book is regenerated every tick (1 s): the order must meet the book that was
        # read, so an attempt that straddled a tick (lastUpdateId moved) is made again on
        # the next tick's fresh book.
        for attempt in range(5):
            depth = get(exchange, "/api/v3/depth", symbol="DOGEUSDT").json()
            order = sell(exchange, "DOGEUSDT", "100000", f"t-thin-{attempt}").json()
            seen = get(exchange, "/api/v3/depth", symbol="DOGEUSDT").json()["lastUpdateId"]
            if seen == depth["lastUpdateId"]:
                break
            deadline = time.monotonic() + 5
            while (
                get(exchange, "/api/v3/depth", symbol="DOGEUSDT").json()["lastUpdateId"] == seen
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
        else:
            pytest.fail("the book was regenerated during every attempt")
        available = sum(Decimal(q) for _, q in depth["bids"])
        assert order["status"] == "EXPIRED"
        assert Decimal(order["executedQty"]) == available
        assert len(order["fills"]) == len(depth["bids"]) == 3
    finally:
        httpx.post(f"{url}/__sandbox/book", json={"symbol": "DOGEUSDT", "mode": "normal"})


def test_timeout_after_fill_answers_1007_but_the_order_is_filled(exchange: dict[str, Any]) -> None:
    faults = {"extra": {"timeout_after_fill": 1}}
    httpx.post(f"{exchange['url']}/__sandbox/faults", json=faults, trust_env=False)
    before = balances(exchange)
    response = sell(exchange, "SOLUSDT", "3", "t-1007-1")
    assert response.status_code == 408
    assert response.json()["code"] == -1007
    queried = signed_request(
        exchange, "GET", "/api/v3/order", {"symbol": "SOLUSDT", "origClientOrderId": "t-1007-1"}
    ).json()
    assert queried["status"] == "FILLED"
    assert before["SOL"] - balances(exchange)["SOL"] == Decimal(3)
    assert sell(exchange, "SOLUSDT", "3", "t-1007-2").status_code == 200  # consumed: once only


def test_dropped_response_still_performs_the_order(exchange: dict[str, Any]) -> None:
    faults = {"match": "POST /api/v3/order", "drop_next": 1}
    httpx.post(f"{exchange['url']}/__sandbox/faults", json=faults, trust_env=False)
    before = balances(exchange)
    with pytest.raises(httpx.TransportError):
        sell(exchange, "SOLUSDT", "1", "t-drop-1")
    assert before["SOL"] - balances(exchange)["SOL"] == Decimal(1)


def test_price_jump_moves_the_book_while_set(exchange: dict[str, Any]) -> None:
    def bid() -> Decimal:
        return Decimal(
            get(exchange, "/api/v3/ticker/bookTicker", symbol="BTCUSDT").json()["bidPrice"]
        )

    base = bid()
    jump = {"extra": {"price_jump": {"symbol": "BTCUSDT", "pct": "-20"}}}
    httpx.post(f"{exchange['url']}/__sandbox/faults", json=jump, trust_env=False)
    jumped = bid()
    assert Decimal("0.78") < jumped / base < Decimal("0.82")
    httpx.post(f"{exchange['url']}/__sandbox/faults", json={"clear": True}, trust_env=False)
    assert Decimal("0.98") < bid() / base < Decimal("1.02")


def test_admin_price_and_deposit(exchange: dict[str, Any]) -> None:
    url = exchange["url"]
    moved = httpx.post(f"{url}/__sandbox/price", json={"symbol": "BONKUSDT", "price": "0.00003"})
    assert moved.status_code == 200
    bid = Decimal(get(exchange, "/api/v3/ticker/bookTicker", symbol="BONKUSDT").json()["bidPrice"])
    assert Decimal("0.000029") < bid < Decimal("0.000031")
    before = balances(exchange)["USDT"]
    assert httpx.post(
        f"{url}/__sandbox/deposit", json={"asset": "USDT", "amount": "12.5"}
    ).is_success
    assert balances(exchange)["USDT"] - before == Decimal("12.5")
    bad = httpx.post(f"{url}/__sandbox/deposit", json={"asset": "USDT", "amount": "-1"})
    assert bad.status_code == 400


def test_inr_venue_serves_inr_pairs(tmp_path_factory: pytest.TempPathFactory) -> None:
    process, info = start_exchange(tmp_path_factory.mktemp("inr"), "inr")
    try:
        assert set(info["symbols"]) == {"USDTINR", "BTCINR", "ETHINR"}
        assert info["settings"]["inr_exchange_url"] == info["url"]
        assert info["settings"]["inr_exchange_api_key"] == "sandbox-inr-key"
        price = Decimal(get(info, "/api/v3/ticker/price", symbol="USDTINR").json()["price"])
        assert Decimal(85) < price < Decimal(91)
        order = sell(info, "USDTINR", "100", "t-inr-1").json()
        assert order["status"] == "FILLED"
        assert {f["commissionAsset"] for f in order["fills"]} == {"INR"}
    finally:
        stop_exchange(process)


def test_coinbase_venue_serves_the_ticker_shape(tmp_path_factory: pytest.TempPathFactory) -> None:
    process, info = start_exchange(tmp_path_factory.mktemp("coinbase"), "coinbase")
    try:
        assert info["settings"] == {"coinbase_url": info["url"]}
        ticker = get(info, "/products/SHIB-USD/ticker").json()
        assert set(ticker) >= {"ask", "bid", "volume", "trade_id", "price", "size", "time"}
        assert isinstance(ticker["trade_id"], int)
        assert Decimal(ticker["bid"]) < Decimal(ticker["ask"])
        assert "E" not in ticker["price"]  # plain decimal notation
        assert ticker["time"].endswith("Z")
        missing = get(info, "/products/NOPE-USD/ticker")
        assert (missing.status_code, missing.json()) == (404, {"message": "NotFound"})
    finally:
        stop_exchange(process)
