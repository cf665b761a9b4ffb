"""Helper threads and their mailboxes: jobs taken or withdrawn, helpers stopped and
restarted, concurrent callers and forked children still hash right."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import hashing
from hashing import choice, cpu, handoff, reference, workers
from hashing.loops import counter
from hashing.targets import target_limbs
from tests.hashing.helpers import random_headers
from tests.waiting import wait_for_sync

NO_MEETS = np.zeros(0, np.bool_)


@pytest.fixture(autouse=True)
def two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """threads=2 is capped at the usable cores: let these tests have two on any machine;
    and on a busy one, a late join (workers._Calm) must not send their batches alone."""
    monkeypatch.setattr(cpu, "usable_cores", lambda: 2)
    monkeypatch.setattr(workers, "_calm", workers._Calm())
    monkeypatch.setattr(workers, "LATE_JOIN_SECONDS", float("inf"))


def test_a_job_no_helper_takes_is_withdrawn() -> None:
    """The caller never waits for a helper that is not there: join takes the job back,
    and nothing touched the batch."""
    box, claims = handoff.mailbox(), counter()
    digests = np.zeros((8, 32), np.uint8)
    headers = random_headers(8)
    handoff.post(box, headers, target_limbs(0), digests, NO_MEETS, 0, 8, claims)
    assert box[handoff.STATE] == handoff.POSTED
    assert not handoff.join(box)  # withdrawn: no helper took part
    assert box[handoff.STATE] == handoff.IDLE
    assert claims[0] == 0 and not digests.any()


def test_joining_a_mailbox_nothing_was_posted_to_returns_at_once() -> None:
    """A caller interrupted before it posted still joins every mailbox on its way out."""
    box = handoff.mailbox()
    assert box[handoff.STATE] == handoff.IDLE
    assert not handoff.join(box)
    assert box[handoff.STATE] == handoff.IDLE


def test_without_a_usable_cycle_counter_batches_go_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers.stop_all()
    monkeypatch.setattr(workers, "_ticks_per_second", 1.0)  # what a counter reading 0 gives
    headers = random_headers(8192, seed=5)
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2),
                          hashing.sha256d_headers(headers, threads=1))  # fmt: skip
    assert not workers._helpers


def test_a_spinning_helper_takes_a_posted_job_over_the_callers_arrays() -> None:
    """serve rebuilds the caller's arrays from the addresses in the mailbox and hashes
    the whole batch when the caller claims none of it."""
    kernel = choice.chosen("batch")
    box, claims = handoff.mailbox(), counter()
    headers = random_headers(1000, seed=21)
    digests = np.zeros((1000, 32), np.uint8)
    spin = int(30 * workers.ticks_per_second())  # bounded; stopped below once done
    helper = threading.Thread(target=kernel.server(), args=(kernel.width, box, spin))
    helper.start()
    try:
        wait_for_sync(lambda: box[handoff.AWAKE] == 1, what="the helper spinning")
        assert handoff.post(box, headers, target_limbs(0), digests, NO_MEETS, 0, 1000, claims)
        wait_for_sync(lambda: box[handoff.STATE] == handoff.DONE, what="the job done")
        assert handoff.join(box)  # the helper took part
    finally:
        handoff.stop(box)
        helper.join()
    assert box[handoff.AWAKE] == 0
    assert np.array_equal(digests, reference.sha256d_headers(headers))


def test_a_new_kernel_choice_lets_the_helpers_go(force) -> None:
    headers = random_headers(2000, seed=5)
    expect = reference.sha256d_headers(headers)
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), expect)
    old = list(workers._helpers)
    assert old, "a 2-thread batch starts a helper"
    force(f"batch={choice.chosen('batch').name}")
    wait_for_sync(lambda: not any(h.thread.is_alive() for h in old), what="old helpers gone")
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), expect)
    assert workers._helpers and workers._helpers[0] not in old


def test_concurrent_callers_each_get_their_own_batch_right() -> None:
    """One caller at a time has the helpers; the others hash alone, never mixed up."""
    batches = [random_headers(3000 + 7 * i, seed=i) for i in range(4)]
    expect = [reference.sha256d_headers(b) for b in batches]
    results: dict[int, list[bool]] = {}

    def caller(i: int) -> None:
        results[i] = [
            np.array_equal(hashing.sha256d_headers(batches[i], threads=2), expect[i])
            for _ in range(20)
        ]

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: [True] * 20 for i in range(4)}


def test_a_forked_child_starts_helpers_of_its_own() -> None:
    headers = random_headers(3000, seed=8)
    expect = reference.sha256d_headers(headers)
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), expect)
    pid = os.fork()
    if pid == 0:  # the child: its parent's helper threads do not exist here
        ok = all(
            np.array_equal(hashing.sha256d_headers(headers, threads=2), expect) for _ in range(5)
        )
        os._exit(0 if ok and len(workers._helpers) == 1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_late_join_sends_batches_alone_for_a_while(monkeypatch) -> None:
    """A join that waited long (a helper set aside by the scheduler mid-claim) makes the
    next batches skip the helpers, for a pause that doubles while joins stay late."""
    headers = random_headers(3000, seed=13)
    expect = reference.sha256d_headers(headers)
    now = [1000.0]
    monkeypatch.setattr(workers, "_clock", lambda: now[0])
    monkeypatch.setattr(workers, "LATE_JOIN_SECONDS", 200e-6)
    real_join = handoff.join

    def late_join(box):
        real_join(box)
        now[0] += 1.0  # the clock says the join took a second, for a helper that took part
        return True

    monkeypatch.setattr(handoff, "join", late_join)
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), expect)
    assert workers._calm.until == now[0] + workers.CALM_SECONDS

    def no_post(*args):
        raise AssertionError("a batch during the pause must not go to the helpers")

    monkeypatch.setattr(handoff, "post", no_post)
    assert np.array_equal(hashing.sha256d_headers(headers, threads=2), expect)
    calm = workers._Calm()
    for pause in (0.002, 0.004, 0.008):
        calm.joined(1.0)
        assert calm.pause == pause
    calm.joined(0.0)
    assert calm.pause == 0.0
