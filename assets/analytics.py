"""Analyst tables in the app database (query them with SQL or pandas).

Rebuilt whole on each materialisation inside one transaction, so a reader
sees either the old table or the new one; reruns are harmless.
"""

import dagster as dg
from sqlalchemy import text

from assets.settlement import settlements
from pipelines.resources import WalletDatabase

PAYMENTS_FACT = """
CREATE TABLE analytics_payments_fact AS
SELECT p.id AS payment_id, p.user_id, p.merchant_id, p.payee_vpa, p.asset, p.source,
       p.status, p.amount_minor, p.amount_inr_paise, q.rate AS quoted_rate,
       p.created_at, p.updated_at,
       (SELECT MAX(e.at) FROM payment_events e
         WHERE e.payment_id = p.id AND e.to_status = 'paid_out') AS paid_out_at,
       (SELECT MAX(o.utr) FROM payouts o
         WHERE o.payment_id = p.id AND o.status = 'processed') AS utr
FROM payments p JOIN quotes q ON q.id = p.quote_id
"""

MERCHANT_DAILY = """
CREATE TABLE analytics_merchant_daily_volume AS
SELECT payee_vpa, merchant_id, {day} AS day, COUNT(*) AS payments,
       SUM(CAST(amount_inr_paise AS BIGINT)) AS inr_paise
FROM analytics_payments_fact
WHERE status IN ('paid_out', 'completed')
GROUP BY payee_vpa, merchant_id, {day}
"""


def _rebuild(db: WalletDatabase, table: str, create: str) -> int:
    with db.factory()() as session, session.begin():
        session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text(create))
        # S608: ``table`` is one of this module's constant table names, never input.
        return int(session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())  # noqa: S608


@dg.asset(group_name="analytics", deps=[settlements], kinds={"sql"})
def payments_fact(db: WalletDatabase) -> dg.MaterializeResult:
    """One row per payment: who paid whom, in what, how much, its status and UTR."""
    rows = _rebuild(db, "analytics_payments_fact", PAYMENTS_FACT)
    return dg.MaterializeResult(metadata={"rows": rows, "table": "analytics_payments_fact"})


@dg.asset(group_name="analytics", deps=[payments_fact], kinds={"sql"})
def merchant_daily_volume(db: WalletDatabase) -> dg.MaterializeResult:
    """INR paid out per payee per UTC day (paise)."""
    url = db.url()
    day = "DATE(created_at)" if url.startswith("sqlite") else "CAST(created_at AS DATE)"
    rows = _rebuild(db, "analytics_merchant_daily_volume", MERCHANT_DAILY.format(day=day))
    return dg.MaterializeResult(metadata={"rows": rows, "table": "analytics_merchant_daily_volume"})
