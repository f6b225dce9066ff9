"""Daily reconciliation: our books against the chains, the venues and RazorpayX.

:func:`~wallet.reconciliation.report.reconcile` reads one consistent
snapshot of the database (``SERIALIZABLE READ ONLY DEFERRABLE`` on
PostgreSQL: it never aborts and never blocks writers) and compares it with
what the outside world reports; every disagreement is a :class:`Break` row
with a category, the amounts on each side and what to look at.
"""

from wallet.reconciliation.report import Break, ReconReport, reconcile, snapshot

__all__ = ["Break", "ReconReport", "reconcile", "snapshot"]
