"""The ledger against a pure-Python model (Hypothesis stateful testing).

Random sequences of valid and invalid postings, retries, holds, posts and
voids run against the real code on SQLite. After a refused operation the
test still COMMITS the session, so any half-written row would show; the
invariants (model agreement, ``check_invariants``, no overdraft) are
checked after every step.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from tests.ledger.model import ACCOUNTS, BAD_CODES, LedgerModel, Refused
from wallet.db.base import Base
from wallet.db.models import JournalEntry, LedgerAccount, LedgerHold, Posting
from wallet.db.session import make_engine, make_session_factory
from wallet.errors import WalletError
from wallet.ledger import (
    check_invariants,
    find_entry,
    get_balance,
    place_hold,
    post_entry,
    post_hold,
    void_hold,
)

GOOD = sorted(ACCOUNTS)
ALL_CODES = GOOD + sorted(BAD_CODES)
ETH_CODES = [c for c in GOOD if ACCOUNTS[c].asset == "ETH"]
INR_CODES = [c for c in GOOD if ACCOUNTS[c].asset == "INR"]
GUARDED = [c for c in GOOD if ACCOUNTS[c].guarded]
SINKS = {"ETH": "revenue:fees:ETH", "INR": "float:INR"}
ENTRY_REFS = st.sampled_from([f"r{i}" for i in range(6)])
HOLD_REFS = st.sampled_from([f"h{i}" for i in range(5)])
AMOUNTS = st.integers(min_value=-400, max_value=400)
BIG = st.integers(min_value=1, max_value=10**30)


@st.composite
def balanced_legs(draw: Any) -> list[tuple[str, str, int]]:
    """2-3 legs in one asset that sum to zero (overdraft is still possible)."""
    codes = draw(st.sampled_from([ETH_CODES, INR_CODES]))
    asset = ACCOUNTS[codes[0]].asset
    picked = draw(st.lists(st.sampled_from(codes), min_size=2, max_size=3))
    amounts = [draw(AMOUNTS | BIG | BIG.map(lambda v: -v)) for _ in picked[:-1]]
    amounts.append(-sum(amounts))
    return [(c, asset, a) for c, a in zip(picked, amounts, strict=True)]


junk_legs = st.lists(
    st.tuples(st.sampled_from(ALL_CODES), st.sampled_from(["ETH", "INR", "XYZ"]), AMOUNTS),
    max_size=4,
)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = make_engine("sqlite:///:memory:", poolclass=StaticPool)
        Base.metadata.create_all(self.engine)
        self.factory = make_session_factory(self.engine)
        self.model = LedgerModel()
        self.entry_ids: dict[tuple[str, str], int] = {}

    def teardown(self) -> None:
        self.engine.dispose()

    # -- plumbing ------------------------------------------------------------

    def _both(self, op: str, real: Any, predicted: Any) -> Any:
        """Run the model and the real operation; they must agree exactly."""
        try:
            expected: Any = predicted()
        except Refused as refusal:
            expected = refusal.error
        with self.factory() as session:
            session.begin()
            try:
                outcome: Any = real(session)
            except WalletError as exc:
                outcome = exc
            session.commit()  # also after a refusal: it must have left nothing
        event(f"{op}: {getattr(expected, '__name__', expected)}")
        if isinstance(expected, type):
            assert type(outcome) is expected, (outcome, expected)
            assert outcome.code  # a stable, non-empty error code
            return None
        assert not isinstance(outcome, WalletError), (outcome, expected)
        return outcome, expected

    def _post(self, kind: str, ref: str, legs: list[tuple[str, str, int]]) -> None:
        result = self._both(
            "post",
            lambda s: post_entry(s, legs, kind=kind, ref=ref).id,
            lambda: self.model.post(kind, ref, legs),
        )
        if result is None:
            return
        entry_id, how = result
        if how == "replay":
            assert entry_id == self.entry_ids[(kind, ref)]
        else:
            assert (kind, ref) not in self.entry_ids
            self.entry_ids[(kind, ref)] = entry_id

    # -- rules ---------------------------------------------------------------

    @rule(ref=ENTRY_REFS, legs=balanced_legs())
    def post_balanced(self, ref: str, legs: list[tuple[str, str, int]]) -> None:
        self._post("transfer", ref, legs)

    @rule(ref=ENTRY_REFS, legs=junk_legs)
    def post_junk(self, ref: str, legs: list[tuple[str, str, int]]) -> None:
        self._post("junk", ref, legs)

    @rule(ref=ENTRY_REFS, legs=balanced_legs(), off=st.sampled_from([-3, -2, -1, 1, 2, 3]))
    def post_unbalanced(self, ref: str, legs: list[tuple[str, str, int]], off: int) -> None:
        code, asset, amount = legs[-1]
        self._post("transfer", ref, [*legs[:-1], (code, asset, amount + off)])

    @rule(
        ref=ENTRY_REFS,
        code=st.sampled_from(GUARDED),
        off=st.sampled_from([-1, 0, 1]),
        hold_instead=st.booleans(),
    )
    def spend_at_the_boundary(self, ref: str, code: str, off: int, hold_instead: bool) -> None:
        """Spend or hold exactly the available balance, one unit less, or one more."""
        amount = self.model.available(code) + off
        acct = ACCOUNTS[code]
        if hold_instead:
            self._both(
                "hold",
                lambda s: place_hold(s, code, acct.asset, amount, ref=f"b{ref}").id,
                lambda: self.model.place_hold(code, acct.asset, amount, f"b{ref}"),
            )
            return
        sink = SINKS[acct.asset]
        self._post(
            "spend",
            ref,
            [(code, acct.asset, -acct.sign * amount), (sink, acct.asset, acct.sign * amount)],
        )

    @rule(data=st.data())
    def retry_earlier_entry(self, data: st.DataObject) -> None:
        if not self.entry_ids:
            return
        kind, ref = data.draw(st.sampled_from(sorted(self.entry_ids)))
        if kind == "hold.post":
            return
        legs = list(self.model.entries[(kind, ref)])
        if data.draw(st.booleans()):
            code, asset, amount = legs[0]
            legs = [(code, asset, amount + 1), *legs[1:-1], (*legs[-1][:2], legs[-1][2] - 1)]
        self._post(kind, ref, legs)

    @rule(
        ref=HOLD_REFS,
        code=st.sampled_from(GOOD) | st.sampled_from(ALL_CODES),
        amount=st.integers(1, 300) | AMOUNTS | BIG,
    )
    def hold(self, ref: str, code: str, amount: int) -> None:
        asset = ACCOUNTS[code].asset if code in ACCOUNTS else "ETH"
        self._both(
            "hold",
            lambda s: place_hold(s, code, asset, amount, ref=ref).id,
            lambda: self.model.place_hold(code, asset, amount, ref),
        )

    @rule(ref=HOLD_REFS, data=st.data())
    def post_a_hold(self, ref: str, data: st.DataObject) -> None:
        junk = st.lists(st.tuples(st.sampled_from(ALL_CODES), AMOUNTS), max_size=2)
        hold = self.model.holds.get(ref)
        if hold is None or data.draw(st.booleans()):
            dests = data.draw(junk)
        else:  # plausible: same asset, within (or just over) the held amount
            codes = ETH_CODES if ACCOUNTS[hold.code].asset == "ETH" else INR_CODES
            amounts = st.integers(1, max(1, hold.amount // 2 + 1))
            dests = data.draw(
                st.lists(st.tuples(st.sampled_from(codes), amounts), min_size=1, max_size=2)
            )
        result = self._both(
            "post_hold",
            lambda s: post_hold(s, ref, dests).id,
            lambda: self.model.post_hold(ref, dests),
        )
        if result is not None and result[1] == "new":
            self.entry_ids[("hold.post", ref)] = result[0]

    @rule(ref=HOLD_REFS)
    def void_a_hold(self, ref: str) -> None:
        self._both("void", lambda s: void_hold(s, ref).status, lambda: self.model.void_hold(ref))

    # -- invariants ----------------------------------------------------------

    @invariant()
    def books_agree_with_the_model(self) -> None:
        with self.factory() as session:
            self._assert_agree(session)

    def _assert_agree(self, session: Session) -> None:
        check_invariants(session)
        for code in GOOD:
            real = get_balance(session, code)
            assert real.balance == self.model.normal(code), code
            assert real.held == self.model.held[code], code
            if ACCOUNTS[code].guarded:
                assert real.available >= 0, code
        codes = set(session.scalars(select(LedgerAccount.code)))
        assert codes == self.model.existing | {h.code for h in self.model.holds.values()}
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == len(
            self.model.entries
        )
        legs = sum(len(v) for v in self.model.entries.values())
        assert session.scalar(select(func.count()).select_from(Posting)) == legs
        holds = {h.ref: h.status.value for h in session.scalars(select(LedgerHold))}
        assert holds == {ref: h.status for ref, h in self.model.holds.items()}
        for key, entry_id in self.entry_ids.items():
            entry = find_entry(session, *key)
            assert entry is not None and entry.id == entry_id


LedgerMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerAgainstModel = LedgerMachine.TestCase
