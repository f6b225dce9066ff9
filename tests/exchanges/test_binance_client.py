"""The product's exchange client against the stand-in over real HTTP.

The central promise (RELIABILITY.md G3): one filled sell per client order
id, even when the answer to the order request is lost or is ``-1007``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, Decimal
from typing import Any

import httpx
import pytest

from sandbox.exchange.testing import signed_request, start_exchange, stop_exchange
from wallet.errors import InvalidAmount
from wallet.exchanges import (
    ExchangeAuthError,
    ExchangeClient,
    ExchangeUnavailable,
    InsufficientExchangeBalance,
    OrderNotFound,
    OrderRejected,
    OrderStatus,
    TickerSource,
)
from wallet.exchanges.binance import BinanceClient
from wallet.exchanges.coinbase import CoinbaseTickerClient
from wallet.exchanges.safe_sell import SafeSellPolicy
from wallet.money import Amount


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    process, info = start_exchange(tmp_path_factory.mktemp("exchange"), "binance", seed=11)
    yield info
    stop_exchange(process)


@pytest.fixture
def client(exchange: dict[str, Any]) -> Iterator[BinanceClient]:
    creds = exchange["credentials"]
    policy = SafeSellPolicy(lookup_backoff_s=0.05)
    yield BinanceClient(exchange["url"], creds["api_key"], creds["api_secret"], policy=policy)
    httpx.post(f"{exchange['url']}/__sandbox/faults", json={"clear": True}, trust_env=False)


def set_faults(exchange: dict[str, Any], **faults: Any) -> None:
    response = httpx.post(f"{exchange['url']}/__sandbox/faults", json=faults, trust_env=False)
    assert response.status_code == 200, response.text


def fired(exchange: dict[str, Any]) -> dict[str, int]:
    snapshot = httpx.get(f"{exchange['url']}/__sandbox/faults", trust_env=False).json()
    fired_counts: dict[str, int] = snapshot["fired"]
    return fired_counts


def orders_with_client_id(exchange: dict[str, Any], symbol: str, client_id: str) -> list[int]:
    """Order ids carrying ``client_id``, read over raw HTTP (independent of the client)."""
    trades = signed_request(exchange, "GET", "/api/v3/myTrades", {"symbol": symbol}).json()
    order_ids = sorted({t["orderId"] for t in trades})
    found = []
    for order_id in order_ids:
        order = signed_request(
            exchange, "GET", "/api/v3/order", {"symbol": symbol, "orderId": order_id}
        ).json()
        if order["clientOrderId"] == client_id:
            found.append(order_id)
    return found


def test_client_implements_the_interfaces(client: BinanceClient) -> None:
    assert isinstance(client, ExchangeClient)
    assert isinstance(client, TickerSource)
    assert "secret" not in repr(client)


def test_market_data_is_exact_decimals(client: BinanceClient) -> None:
    book = client.order_book("ETH/USDT", depth=5)
    assert len(book.bids) == len(book.asks) == 5
    assert all(isinstance(level.price, Decimal) for level in book.bids + book.asks)
    assert book.bids[0].price < book.asks[0].price
    ticker = client.ticker("SHIBUSDT")
    assert ticker.bid < ticker.ask
    assert ticker.last == ticker.last.quantize(Decimal("1e-8"))
    rules = client.symbol_rules("SOLUSDT")
    assert (rules.base, rules.quote, rules.step_size) == ("SOL", "USDT", Decimal("0.001"))
    assert rules.floor_qty(Decimal("1.23456")) == Decimal("1.234")
    assert client.taker_fee() == Decimal("0.001")


def test_market_sell_fills_with_fees_and_moves_balances_exactly(client: BinanceClient) -> None:
    before = client.balances()
    order = client.market_sell("SOLUSDT", "7.25", "cli-fee-1")
    assert order.status is OrderStatus.FILLED
    assert not order.recovered
    assert order.executed_qty == Decimal("7.25")
    proceeds = sum((f.quote_qty for f in order.fills), Decimal(0))
    assert proceeds == order.cumulative_quote_qty
    for fill in order.fills:  # 0.1 % taker fee in the quote asset, rounded up to 8 places
        assert fill.commission == (fill.quote_qty / 1000).quantize(Decimal("1e-8"), ROUND_CEILING)
    assert order.commissions() == {"USDT": sum((f.commission for f in order.fills), Decimal(0))}
    after = client.balances()
    assert before["SOL"].free - after["SOL"].free == Decimal("7.25")
    assert after["USDT"].free - before["USDT"].free == proceeds - order.commissions()["USDT"]


def test_amount_in_minor_units_is_accepted(client: BinanceClient) -> None:
    before = client.balances()["BONK"].free
    order = client.market_sell(
        "BONKUSDT", Amount("BONK", 10_000_000_000), "cli-minor-1"
    )  # 100k BONK
    assert order.executed_qty == Decimal(100_000)
    assert before - client.balances()["BONK"].free == Decimal(100_000)


def test_floats_and_bad_quantities_are_refused_before_anything_is_sent(
    client: BinanceClient,
) -> None:
    with pytest.raises(InvalidAmount):
        client.market_sell("SOLUSDT", 1.5, "cli-float")  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        client.market_sell("SOLUSDT", "-1", "cli-negative")
    with pytest.raises(OrderNotFound):
        client.get_order("SOLUSDT", "cli-float")


def test_bad_secret_is_rejected_and_changes_nothing(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    before = client.balances()
    forger = BinanceClient(exchange["url"], exchange["credentials"]["api_key"], "wrong-secret")
    with pytest.raises(ExchangeAuthError) as caught:
        forger.market_sell("SOLUSDT", "1", "cli-forged")
    assert caught.value.venue_code == -1022
    assert client.balances() == before


@pytest.mark.parametrize(
    ("symbol", "qty", "code"),
    [("SOLUSDT", "0.0005", -1013), ("SOLUSDT", "0.02", -1013), ("PEPEUSDT", "1.5", -1013)],
)
def test_filter_violations_are_definitive_rejections(
    client: BinanceClient, symbol: str, qty: str, code: int
) -> None:
    with pytest.raises(OrderRejected) as caught:
        client.market_sell(symbol, qty, f"cli-filter-{qty}")
    assert caught.value.venue_code == code
    with pytest.raises(OrderNotFound):
        client.get_order(symbol, f"cli-filter-{qty}")


def test_insufficient_balance(client: BinanceClient) -> None:
    with pytest.raises(InsufficientExchangeBalance):
        client.market_sell("BTCUSDT", "500", "cli-broke")


def test_resending_a_filled_id_sells_twice_but_market_sell_does_not(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    """The hazard, shown with the client's single-shot send, then avoided by market_sell."""
    start = client.balances()["SOL"].free
    client._send_market_sell("SOLUSDT", Decimal(1), "cli-hazard")
    client._send_market_sell("SOLUSDT", Decimal(1), "cli-hazard")
    assert start - client.balances()["SOL"].free == Decimal(2)
    assert len(orders_with_client_id(exchange, "SOLUSDT", "cli-hazard")) == 2

    start = client.balances()["SOL"].free
    first = client.market_sell("SOLUSDT", "1", "cli-safe")
    again = client.market_sell("SOLUSDT", "1", "cli-safe")
    assert again.order_id == first.order_id and again.recovered
    assert again.fills == first.fills
    assert start - client.balances()["SOL"].free == Decimal(1)


def test_dropped_response_is_resolved_by_lookup_not_resend(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    start = client.balances()["SOL"].free
    set_faults(exchange, match="POST /api/v3/order", drop_next=1)
    order = client.market_sell("SOLUSDT", "2.5", "cli-drop-1")
    assert fired(exchange)["drop"] == 1
    assert order.recovered and order.status is OrderStatus.FILLED
    assert order.executed_qty == Decimal("2.5") and order.fills
    assert start - client.balances()["SOL"].free == Decimal("2.5")
    assert orders_with_client_id(exchange, "SOLUSDT", "cli-drop-1") == [order.order_id]


def test_1007_timeout_is_resolved_by_lookup_not_resend(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    start = client.balances()["DOGE"].free
    set_faults(exchange, extra={"timeout_after_fill": 1})
    order = client.market_sell("DOGEUSDT", "2500", "cli-1007-1")
    assert order.recovered and order.status is OrderStatus.FILLED
    assert sum((f.qty for f in order.fills), Decimal(0)) == Decimal(2500)
    assert start - client.balances()["DOGE"].free == Decimal(2500)
    assert orders_with_client_id(exchange, "DOGEUSDT", "cli-1007-1") == [order.order_id]


def test_request_that_never_arrived_is_sent_again_once(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    """A reset before the venue acted: the lookup says -2013 (twice), so re-sending is safe."""
    start = client.balances()["ETH"].free
    set_faults(exchange, match="POST /api/v3/order", reset_next=1)
    order = client.market_sell("ETHUSDT", "0.5", "cli-reset-1")
    assert fired(exchange)["reset"] == 1
    assert not order.recovered and order.status is OrderStatus.FILLED
    assert start - client.balances()["ETH"].free == Decimal("0.5")
    assert orders_with_client_id(exchange, "ETHUSDT", "cli-reset-1") == [order.order_id]


def test_venue_down_means_no_sell_and_a_clear_error(
    exchange: dict[str, Any], client: BinanceClient
) -> None:
    start = client.balances()["SOL"].free
    set_faults(exchange, match="/api/v3/order", error_rate=1.0)
    with pytest.raises(ExchangeUnavailable):
        client.market_sell("SOLUSDT", "1", "cli-down-1")
    set_faults(exchange, clear=True)
    assert client.balances()["SOL"].free == start
    later = client.market_sell("SOLUSDT", "1", "cli-down-1")  # the retry, same id
    assert not later.recovered
    assert start - client.balances()["SOL"].free == Decimal(1)


def test_inr_venue_sells_usdt_for_inr(tmp_path_factory: pytest.TempPathFactory) -> None:
    process, info = start_exchange(tmp_path_factory.mktemp("inr"), "inr")
    try:
        creds = info["credentials"]
        inr = BinanceClient(info["url"], creds["api_key"], creds["api_secret"], venue="inr")
        before = inr.balances()
        order = inr.market_sell("USDT/INR", "250.5", "cli-inr-1")
        fee = order.commissions()["INR"]
        after = inr.balances()
        assert before["USDT"].free - after["USDT"].free == Decimal("250.5")
        assert after["INR"].free - before["INR"].free == order.cumulative_quote_qty - fee
    finally:
        stop_exchange(process)


def test_coinbase_ticker_client(tmp_path_factory: pytest.TempPathFactory) -> None:
    process, info = start_exchange(tmp_path_factory.mktemp("coinbase"), "coinbase")
    try:
        coinbase = CoinbaseTickerClient(info["url"])
        assert isinstance(coinbase, TickerSource)
        ticker = coinbase.ticker("BONK/USD")
        assert ticker.symbol == "BONK-USD" and ticker.venue == "coinbase"
        assert Decimal("0.00001") < ticker.last < Decimal("0.00003")
        assert coinbase.ticker("ETHUSD").bid < coinbase.ticker("ETH-USD").ask
    finally:
        stop_exchange(process)


def test_factory_builds_clients_from_settings(exchange: dict[str, Any]) -> None:
    from wallet.config import Settings
    from wallet.exchanges.factory import binance_from_settings

    settings = Settings(**exchange["settings"])
    built = binance_from_settings(settings)
    assert built.venue == "binance" and built.url == exchange["url"]
    assert built.balances()["USDT"].free > 0  # signed with the settings' key and secret
