"""Schedules: the daily reconciliation and the hourly analyst tables."""

from __future__ import annotations

import dagster as dg

from pipelines.jobs import analytics_job, reconciliation_job

# Yesterday's IST day, reconciled at 00:30 IST once late webhooks have settled.
reconciliation_schedule = dg.build_schedule_from_partitioned_job(
    reconciliation_job, hour_of_day=0, minute_of_hour=30
)
analytics_schedule = dg.ScheduleDefinition(
    job=analytics_job, cron_schedule="15 * * * *", execution_timezone="Asia/Kolkata"
)
