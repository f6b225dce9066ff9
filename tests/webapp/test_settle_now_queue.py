"""The settle-now sender: batches what gathered, and backs off while Dagster is away."""

from __future__ import annotations

import threading
import time

from webapp.pay.settle_now import SettleNowQueue


class Recorder:
    """A submit that fails while ``failing`` says so, recording every batch it was given."""

    def __init__(self, failing: list[bool]) -> None:
        self.failing = failing
        self.batches: list[list[str]] = []
        self.called = threading.Semaphore(0)

    def __call__(self, ids: list[str]) -> None:
        self.batches.append(list(ids))
        fail = self.failing.pop(0) if self.failing else False
        self.called.release()
        if fail:
            raise ConnectionRefusedError("dagster is away")


def test_after_a_failure_it_waits_and_sends_what_gathered_as_one_batch() -> None:
    submit = Recorder(failing=[True])
    gate = threading.Event()
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        assert gate.wait(10)

    sender = SettleNowQueue(submit, retry_after_s=1.0, sleep=sleep)
    sender.put("p-0")
    assert submit.called.acquire(timeout=10)  # the first submission, refused
    later = [f"p-{n}" for n in range(1, 11)]
    for payment_id in later:  # arrive while the sender waits
        sender.put(payment_id)
    gate.set()
    assert submit.called.acquire(timeout=10)
    assert submit.batches == [["p-0"], later]  # one launch for all of them, not ten
    assert pauses == [1.0]


def test_the_pause_doubles_to_its_cap_and_a_success_resets_it() -> None:
    outcomes = [True, True, True, True, False, True]
    submit = Recorder(failing=list(outcomes))
    pauses: list[float] = []
    sender = SettleNowQueue(submit, retry_after_s=1.0, retry_after_max_s=5.0, sleep=pauses.append)
    for n, _ in enumerate(outcomes):
        sender.put(f"p-{n}")
        assert submit.called.acquire(timeout=10)
    deadline = time.monotonic() + 10
    while len(pauses) < 5 and time.monotonic() < deadline:  # the last pause follows its call
        time.sleep(0.01)
    assert pauses == [1.0, 2.0, 4.0, 5.0, 1.0]  # no pause after the success; reset after it
