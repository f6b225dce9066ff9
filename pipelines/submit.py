"""Submit a settlement run directly, for the custodial "pay now" path.

The web app calls :func:`submit_settlement_run` right after a custodial
payment is confirmed so the vendor is paid without waiting for a sensor
tick (the payments sensor stays the safety net: settlement is idempotent,
so a duplicate run changes nothing). Uses Dagster's GraphQL client against
the webserver (``dagster dev`` / ``dagster-webserver``).
"""

from __future__ import annotations

from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

JOB = "settlement_job"


def submit_settlement_run(
    payment_ids: list[str], *, host: str = "127.0.0.1", port: int = 3000, timeout_s: int = 5
) -> str | None:
    """Launch ``settlement_job`` for ``payment_ids``; the run id, or None if Dagster is away.

    Never raises for an unreachable Dagster: the sensor will pick the
    payment up within seconds anyway.
    """
    client = DagsterGraphQLClient(host, port_number=port, timeout=timeout_s)
    try:
        return client.submit_job_execution(
            JOB,
            run_config={"ops": {"settlements": {"config": {"payment_ids": payment_ids}}}},
            tags={"taskforce/payments": ",".join(payment_ids)[:4000], "taskforce/source": "web"},
        )
    except (DagsterGraphQLClientError, OSError, ConnectionError):
        return None
    except Exception as exc:  # gql/requests raise their own types for a down server
        if "Connection" in type(exc).__name__ or "Connection" in str(exc):
            return None
        raise
