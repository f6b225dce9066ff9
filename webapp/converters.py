"""URL converters: ``<int:…>`` ids that the database can actually hold.

Werkzeug's ``int`` converter matches any digits, so ``/sessions/1876…0366``
(past 2**63 - 1) reached SQLite/PostgreSQL and overflowed into a 500
(found by schemathesis, issue 9). Ids are BIGINT, so anything outside
1..2**63 - 1 cannot exist: such URLs do not match and answer 404.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

MAX_ID = 2**63 - 1  # BIGINT / SQLite INTEGER


class IdConverter(IntegerConverter):
    """``int`` limited to 1..MAX_ID unless a rule asks for other bounds."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def register_converters(app: Flask) -> None:
    """Before any blueprint: rules bind their converter when they are added."""
    app.url_map.converters["int"] = IdConverter
