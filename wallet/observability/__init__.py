"""Observability, framework-free: logs, errors, metrics.

- :mod:`~wallet.observability.context`: who/what a log line is about
  (request id, user id, payment id, Dagster run id) in ``contextvars``.
- :mod:`~wallet.observability.logs`: ``configure_logging(settings)`` —
  one JSON object per line, context attached, secrets redacted.
- :mod:`~wallet.observability.redact`: what counts as a secret and how it
  is masked (key names, header values, every ``SecretStr`` in settings).
- :mod:`~wallet.observability.sentry`: Sentry init with personal data
  scrubbed; off unless a DSN is configured.
- :mod:`~wallet.observability.metrics`: every Prometheus series by name;
  state-derived gauges are computed from the database at scrape time.
- :mod:`~wallet.observability.probes`: the small wire calls readiness and
  metrics share (JSON-RPC heads, HTTP pings).
- :mod:`~wallet.observability.config`: the knobs, read from ``Settings``
  when it has them.
"""
