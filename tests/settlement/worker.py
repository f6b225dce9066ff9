"""Run one settlement pass in a child process (the crash tests kill it mid-way).

``python -m tests.settlement.worker STATE.json PAYMENT_ID`` where the JSON
names the database URL and the stand-ins' health info.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sqlalchemy.pool import NullPool

from tests.settlement.helpers import deps_for
from wallet.db.session import make_engine, make_session_factory
from wallet.settlement.service import settle_pass


def main(state_path: str, payment_id: str) -> int:
    state = json.loads(Path(state_path).read_text())
    engine = make_engine(state["db_url"], poolclass=NullPool)
    deps = deps_for(
        make_session_factory(engine), state["rzp"], state["venues"], sell_lease_seconds=0.0
    )
    report = settle_pass(deps, [payment_id])
    sys.stdout.write(json.dumps(report.statuses) + "\n")
    return 0 if report.statuses.get(payment_id) == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
