"""The framework floor for the intake benchmark: one row in, JSON out.

Served by gunicorn exactly like the product (``bench.floor_app:create_app()``)
against the same PostgreSQL schema: ``POST /floor`` inserts one row with
SQLAlchemy in its own transaction and answers ``201 {"id": …}``. Whatever
the product's endpoints cost above this is the product's own work.
"""

from __future__ import annotations

import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table

metadata = MetaData()
floor_rows = Table(
    "bench_floor",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("note", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def create_app(database_url: str | None = None) -> Flask:
    """The floor app for ``database_url`` (default ``DATABASE_URL``, read when gunicorn builds
    the app)."""
    from wallet.db.base import utcnow
    from wallet.db.session import make_engine

    engine = make_engine(database_url or os.environ["DATABASE_URL"])
    app = Flask(__name__)
    app.extensions["engine"] = engine

    @app.post("/floor")
    def floor() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        with engine.begin() as conn:
            row_id = conn.execute(
                floor_rows.insert()
                .values(note=str(body.get("note", ""))[:64], created_at=utcnow())
                .returning(floor_rows.c.id)
            ).scalar_one()
        return jsonify({"id": row_id}), 201

    return app
