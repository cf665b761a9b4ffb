"""The sketch that lets a cluster count an account online in two processes once."""

from __future__ import annotations

import base64
import zlib

import pytest

from pool.online_sketch import EXACT_MAX, OnlineSketch, SketchError, union_count


def test_small_counts_are_exact() -> None:
    for n in (0, 1, 2, 3, 17, 250, EXACT_MAX):
        sketch = OnlineSketch.of(f"acct{i}" for i in range(n))
        assert sketch.exact and sketch.count() == n
        assert OnlineSketch.decode(sketch.encode()).count() == n


def test_a_name_seen_by_two_processes_counts_once() -> None:
    one = OnlineSketch.of(["alice", "bob", "carol"])
    two = OnlineSketch.of(["bob", "carol", "dave"])
    assert one.count() + two.count() == 6
    assert one.merge(two).count() == 4
    assert union_count([one.encode(), two.encode()]) == 4


def test_large_counts_are_within_three_standard_errors() -> None:
    n = 200_000
    halves = [OnlineSketch.of(f"w{i}" for i in range(0, n, 2)),
              OnlineSketch.of(f"w{i}" for i in range(1, n, 2))]  # fmt: skip
    overlap = OnlineSketch.of(f"w{i}" for i in range(0, n // 2))
    merged = halves[0].merge(halves[1]).merge(overlap)
    assert not merged.exact
    assert abs(merged.count() - n) / n < 3 * 0.0081
    wire = OnlineSketch.decode(merged.encode())
    assert wire.count() == merged.count() and len(merged.encode()["registers"]) < 22_000


def test_an_exact_set_merges_into_a_sketch() -> None:
    big = OnlineSketch.of(f"w{i}" for i in range(10_000))
    small = OnlineSketch.of(["w1", "w2", "someone else"])
    assert abs(big.merge(small).count() - 10_001) < 3 * 0.0081 * 10_001
    assert big.merge(small).count() == small.merge(big).count()


def test_the_wire_form_round_trips() -> None:
    sketch = OnlineSketch.of(f"rig{i}" for i in range(100))
    wire = sketch.encode()
    assert len(wire["hashes"]) < 1_100
    assert OnlineSketch.decode(wire).hashes == sketch.hashes


@pytest.mark.parametrize("bad", [
    None, "x", {"precision": 12, "registers": ""}, {"precision": 14, "registers": 5},
    {"precision": 14, "registers": "not base64!"},
    {"precision": 14, "registers": base64.b64encode(b"not zlib").decode()},
    {"precision": 14, "registers": base64.b64encode(zlib.compress(bytes(100))).decode()},
    {"precision": 14, "registers": base64.b64encode(zlib.compress(bytes(1 << 15))).decode()},
    {"precision": 14, "registers": base64.b64encode(zlib.compress(b"\xff" * (1 << 14))).decode()},
    {"precision": 14, "hashes": base64.b64encode(bytes(7)).decode()},
    {"precision": 14, "hashes": base64.b64encode(bytes(8 * EXACT_MAX + 8)).decode()},
])  # fmt: skip
def test_a_bad_sketch_is_refused(bad: object) -> None:
    with pytest.raises(SketchError):
        OnlineSketch.decode(bad)
    assert union_count([OnlineSketch.of(["a"]).encode(), bad]) is None
