"""The product app as the intake benchmark serves it (``bench.intake_app:create_app()``).

Exactly ``webapp.create_app()`` with one change: the per-address API rate
limit (300/minute) is raised, because every load-generator connection
comes from 127.0.0.1 and would otherwise be throttled after the first
300 requests. The limiter still runs on every request, so its cost counts.
"""

from __future__ import annotations

from flask import Flask

BENCH_API_LIMIT = "10000000/minute"


def create_app() -> Flask:
    from webapp import create_app as product_app

    return product_app(RATE_LIMIT_API=BENCH_API_LIMIT)
