"""Exchange stand-in: Binance Spot REST, a WazirX-like INR venue, Coinbase tickers.

``python -m sandbox.exchange --venue binance|inr|coinbase --port P
[--seed S] [--tick-seconds 1.0] [--api-key K --api-secret S]``

Venues (see :mod:`sandbox.exchange.venues`):

- ``binance``: pairs of every registry asset against USDT (BTCUSDT, ETHUSDT,
  SOLUSDT, DOGEUSDT, SHIBUSDT, PEPEUSDT, BONKUSDT, USDCUSDT). Settings:
  ``exchange_url``, ``exchange_api_key``, ``exchange_api_secret``.
- ``inr``: the same API surface with USDTINR, BTCINR, ETHINR. Settings:
  ``inr_exchange_url``, ``inr_exchange_api_key``, ``inr_exchange_api_secret``.
- ``coinbase``: Coinbase Exchange public ``GET /products/{id}/ticker`` (and
  ``/products``, ``/products/{id}``, ``/time``) for BTC-USD, ETH-USD, SOL-USD,
  DOGE-USD, SHIB-USD, PEPE-USD, BONK-USD, USDT-USD; rates only. Settings:
  ``coinbase_url``.

Binance API served (``sandbox.exchange.binance_api``): ping, time,
exchangeInfo, depth, ticker/price, ticker/bookTicker, ticker/24hr; signed:
account, order (POST/GET/DELETE), openOrders, myTrades; Binance error codes
(-1013 filter failures, -1021 timestamp, -1022 signature, -2010 rejected,
-2011 unknown cancel, -2013 no such order, -2014/-2015 bad key). The
platform account (per API key) is seeded with inventory of every asset.
State lives in memory and starts fresh (seeded) on every launch.

Fault knobs in ``FaultConfig.extra`` (``POST /__sandbox/faults {"extra": ...}``):

- ``price_jump``: ``{"symbol": "BTCUSDT", "pct": "-12.5"}`` (or a list; symbol
  ``"*"`` for all): the effective mid is offset by ``pct`` percent for as long
  as the knob is set; clearing it moves the price back.
- ``thin_book``: ``"SHIBUSDT"`` | ``["SHIBUSDT", ...]`` | ``{"symbol": ...}`` |
  ``"*"``: the pair's book holds 1/1000 of its depth on 3 levels.
- ``timeout_after_fill``: ``N`` (the next N orders), ``true`` (every order) or
  ``{"symbol": "SOLUSDT", "count": N}``: ``POST /api/v3/order`` is performed
  (filled) but answered HTTP 408 ``{"code": -1007, "msg": "Timeout waiting for
  response from backend server. Send status unknown; execution status
  unknown."}``. Binance documents -1007 but no HTTP status for it; 408 is what
  the live API has been seen to send.

The generic faults of :mod:`sandbox.faults` also apply, matched on labels such
as ``"POST /api/v3/order"``: ``drop_next`` there performs the order and closes
the connection without an answer.

Admin endpoints (JSON bodies; 400 ``{"error"}`` on bad input):

- ``POST /__sandbox/price`` ``{"symbol", "price"}``: set the mid (and the anchor
  it mean-reverts to).
- ``POST /__sandbox/book`` ``{"symbol", "mode": "normal"|"thin"|"empty"}``.
- ``POST /__sandbox/deposit`` ``{"asset", "amount", "api_key"?}``: credit the
  platform account (or the named key's account).
- ``GET /__sandbox/state``: tick, mids, book modes, platform balances.

``health()["head"]`` is the random walk's tick number.
"""
