"""Quotes: the rupee amount a vendor is owed, priced in the payer's coin."""

from wallet.quotes.calc import (
    FeeBreakdown,
    QuoteCalculation,
    QuoteRequest,
    check_quote_valid,
    make_quote,
    quote_from_sources,
)
from wallet.quotes.config import QuoteConfig
from wallet.quotes.errors import QuoteExpired

__all__ = [
    "FeeBreakdown",
    "QuoteCalculation",
    "QuoteConfig",
    "QuoteExpired",
    "QuoteRequest",
    "check_quote_valid",
    "make_quote",
    "quote_from_sources",
]
