"""Exchange rates, conversion routes and circuit breakers.

A rate is an exact ``Fraction`` of **paise per minor unit** of the asset.
Modules: ``sources``/``venues`` (fetching), ``aggregate`` (median, outliers,
jumps), ``cache`` (Redis / database / memory, and the freshness gate),
``book_cache`` (the order books between background refreshes, and theirs),
``history`` (append-only record), ``routes`` (order-book walking and route
choice), ``breakers`` (pauses), ``refresh`` (the sync the Dagster asset runs).
"""

from wallet.rates.errors import (
    AssetPaused,
    InsufficientLiquidity,
    RateSourceError,
    StaleBooks,
    StaleRate,
)

__all__ = ["AssetPaused", "InsufficientLiquidity", "RateSourceError", "StaleBooks", "StaleRate"]
