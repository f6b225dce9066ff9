"""The Grafana dashboard only charts series that /metrics actually defines."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wallet.observability import metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "taskforce.json"


def test_every_dashboard_series_is_defined() -> None:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for expr in exprs
        for name in re.findall(r"\btaskforce_[a-z_]+", expr)
    }
    defined = {v for k, v in vars(metrics).items() if k.isupper() and isinstance(v, str)}
    defined |= {metrics.FLOAT_BALANCE + "_gateway", metrics.HTTP_REQUESTS}
    assert used, "the dashboard charts nothing"
    assert used <= defined, used - defined
    must_chart = {metrics.PAYMENTS, metrics.QUOTE_TO_PAID_OUT, metrics.SETTLEMENT_STEP,
                  metrics.CHAIN_HEAD_LAG, metrics.RATES_AGE, metrics.FLOAT_BALANCE,
                  metrics.WEBHOOK_BACKLOG, metrics.HTTP_LATENCY, metrics.HTTP_REQUESTS}  # fmt: skip
    assert must_chart <= used, must_chart - used
