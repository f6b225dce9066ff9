"""Named crash points for the crash-recovery tests.

``crash_point("after_payout_call")`` kills this process with SIGKILL when
the environment says ``TASKFORCE_CRASH_AT=after_payout_call``: no cleanup,
no rollback handlers, exactly like a machine losing power. The variable is
read at the call (never at import), and is unset in production.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "TASKFORCE_CRASH_AT"

POINTS = (
    "attempt_committed",  # the attempt row (and payout key) is durable, nothing sent
    "after_payout_call",  # RazorpayX answered; the answer is not stored yet
    "after_sell",  # the venue filled the order; the fill is not stored yet
    "before_final_commit",  # the batch booking and completion are about to commit
)


def crash_point(name: str) -> None:
    """Die here if the test harness asked for it (see :data:`POINTS`)."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
