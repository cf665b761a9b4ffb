"""The kernel choice: measured, recorded per CPU, loaded, overridden; bad records ignored."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hashing
from hashing import choice, kernels, lanes, warm
from tests.hashing.helpers import random_headers

ROOT = Path(__file__).resolve().parents[2]


def record(batch: str, scan: str, single: str) -> choice.Record:
    return choice.Record(
        choice={"batch": batch, "scan": scan, "single": single},
        rates={"batch": {batch: 1e7}, "scan": {scan: 2e7}, "single": {single: 1e6}},
    )


def other_than_default(path: str) -> str:
    """A kernel this CPU runs for `path` that is not first in the default order."""
    names = [k.name for k in kernels.available(path)]
    return names[-1]


def test_measure_times_every_available_kernel_and_picks_the_fastest(choice_dir: Path) -> None:
    rec = choice.measure(rounds=3, min_seconds=0.0)
    for path in kernels.PATHS:
        offered = {k.name for k in kernels.available(path)}
        assert set(rec.rates[path]) == offered
        assert all(rate > 0 for rate in rec.rates[path].values())
        assert rec.choice[path] == max(rec.rates[path], key=rec.rates[path].__getitem__)


def test_a_saved_choice_is_loaded_and_used(choice_dir: Path) -> None:
    picks = {p: other_than_default(p) for p in kernels.PATHS}
    file = choice.save(record(picks["batch"], picks["scan"], picks["single"]))
    assert file is not None and file.parent == choice_dir and file.name.startswith("hash-kernels-")
    kernels.reset()
    for path in kernels.PATHS:
        assert kernels.chosen(path).name == picks[path]
    entry, kernel = kernels.function("batch"), kernels.KERNELS[picks["batch"]]
    assert (entry.func, entry.args) == (kernel.dispatcher("batch"), (kernel.width,))
    assert hashing.kernel_rate("batch") == 1e7
    headers = random_headers(50)
    assert np.array_equal(hashing.sha256d_headers(headers), hashing.sha256d_headers(
        headers.copy(), threads=1))  # fmt: skip


def test_the_record_is_keyed_by_the_cpu_features(choice_dir: Path, hide) -> None:
    """A record measured with a feature is not used by a CPU without it (here: hidden)."""
    first = kernels.available("batch")[0]
    saved = choice.save(record(first.name, first.name, "hashlib"))
    assert choice.load() is not None
    hide(",".join(first.requires) or sorted(kernels.features())[0])
    assert choice.path() != saved, "another CPU, another file"
    assert choice.load() is None
    if first.requires:
        assert kernels.chosen("batch").name != first.name
    # The same file copied under the other CPU's name is refused by its key.
    choice.path().write_bytes(saved.read_bytes())
    assert choice.load() is None


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\xff\xfe not utf-8",
        b"{not json",
        b"[]",
        b'{"version": 99}',
        b"x" * (70 * 1024),
    ],
    ids=["empty", "binary", "bad-json", "list", "other-version", "huge"],
)
def test_a_corrupt_record_is_ignored(choice_dir: Path, caplog, content: bytes) -> None:
    file = choice.path()
    file.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="hashing.choice"):
        assert choice.load() is None
    assert "ignoring kernel choice" in caplog.text
    assert kernels.chosen("batch").name == kernels.available("batch")[0].name
    assert hashing.sha256d_headers(random_headers(3)).shape == (3, 32)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["choice"].update(batch="no-such-kernel"),
        lambda d: d["choice"].update(single="avx512"),  # serves no single path
        lambda d: d["choice"].update(warp="shani"),
        lambda d: d["rates"]["batch"].update(avx2="fast"),
        lambda d: d["rates"]["batch"].update(avx2=-1),
        lambda d: d.update(choice=["batch"]),
        lambda d: d["key"].update(numba="0.1"),
    ],
    ids=["unknown-kernel", "wrong-path", "unknown-path", "rate-not-number", "rate-negative",
         "choice-not-object", "stale-key"],
)  # fmt: skip
def test_an_invalid_record_is_ignored(choice_dir: Path, mutate) -> None:
    file = choice.save(record("avx2", "avx2", "hashlib"))
    data = json.loads(file.read_text())
    mutate(data)
    file.write_text(json.dumps(data))
    assert choice.load() is None
    assert kernels.chosen("batch").name == kernels.available("batch")[0].name


def test_a_record_naming_a_kernel_the_cpu_lacks_is_ignored(choice_dir: Path, hide) -> None:
    """Written for this CPU as it would look without SHA-NI, but naming a SHA-NI kernel."""
    hide("sha")
    file = choice.save(record("avx2", "avx2", "hashlib"))
    data = json.loads(file.read_text())
    data["choice"]["batch"] = "shani2"
    file.write_text(json.dumps(data))
    assert choice.load() is None
    assert not kernels.chosen("batch").name.startswith("shani")


def test_hidden_features_are_never_chosen_or_run(choice_dir: Path, hide, monkeypatch) -> None:
    """Without SHA-NI, AVX2 and AVX-512 only the portable kernels remain, and measuring
    calls nothing else."""
    hide("sha,avx2,avx512f")
    called: list[str] = []
    real = kernels.Kernel.function

    def spy(self, path):
        called.append(self.name)
        return real(self, path)

    monkeypatch.setattr(kernels.Kernel, "function", spy)
    rec = choice.measure(rounds=1)
    assert set(called) <= {"portable", "hashlib"}
    assert rec.choice == {"batch": "portable", "scan": "portable", "single": "hashlib"}
    headers = random_headers(40)
    assert kernels.chosen("batch").name == "portable"
    assert [bytes(d) for d in hashing.sha256d_headers(headers)] == [
        hashing.sha256d(bytes(h)) for h in headers
    ]
    with pytest.raises(hashing.KernelError, match="sha"):
        monkeypatch.setenv("SURPLUS_HASH_KERNEL", "shani2")
        kernels.reset()
        hashing.sha256d_headers(headers)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fastest", "no kernel named 'fastest'"),
        ("single=avx512", "has no single path"),
        ("batch=avx2,warp=avx2", "PATH=NAME"),
        ("batch", "no kernel named 'batch'"),
    ],
)
def test_a_bad_override_is_a_clear_error(force, spec: str, message: str) -> None:
    force(spec)
    with pytest.raises(hashing.KernelError, match=message):
        for path in kernels.PATHS:
            kernels.chosen(path)


def test_the_override_beats_the_record(choice_dir: Path, force) -> None:
    choice.save(record("avx2", "avx2", "hashlib"))
    force("portable")
    assert kernels.chosen("batch").name == "portable"
    assert kernels.chosen("scan").name == "portable"
    assert kernels.chosen("single").name == "hashlib", "portable has no single path: recorded"
    force("scan=avx2, batch=portable")
    assert (kernels.chosen("batch").name, kernels.chosen("scan").name) == ("portable", "avx2")


def test_warm_records_a_choice_that_a_new_process_loads(choice_dir: Path) -> None:
    assert warm.warm(parallel=False) > 0
    rec = choice.load()
    assert rec is not None and set(rec.choice) == set(kernels.PATHS)
    assert warm.is_cached()
    # A new process, reading the same directory, resolves the recorded kernels (made
    # different from the default order, so that finding them proves the file was read).
    picks = {p: other_than_default(p) for p in kernels.PATHS}
    choice.save(record(picks["batch"], picks["scan"], picks["single"]))
    code = (
        "import sys; from pathlib import Path; import numpy as np, hashing;"
        "from hashing import choice, kernels;"
        "choice.cache_dir = lambda: Path(sys.argv[1]);"
        "print(*(kernels.chosen(p).name for p in kernels.PATHS));"
        "h = np.zeros((20, 80), np.uint8);"
        "assert bytes(hashing.sha256d_headers(h)[0]) == hashing.sha256d(bytes(80))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(choice_dir)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**_env(), "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [picks[p] for p in kernels.PATHS]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SURPLUS_HASH")}


def test_surplus_warm_refuses_a_bad_override_plainly() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "surplus.cli", "warm", "--quiet"], cwd=ROOT, capture_output=True,
        text=True, timeout=120,
        env={**_env(), "PYTHONPATH": str(ROOT), "SURPLUS_HASH_KERNEL": "no-such-kernel"},
    )  # fmt: skip
    assert out.returncode == 2
    assert "no kernel named 'no-such-kernel'" in out.stderr
    assert "Traceback" not in out.stderr


def _chunk16(headers, targets, digests, meets, count, shared, want_d, want_m):
    lanes._chunk16(headers, 0, count, targets, shared, digests, meets, want_d, want_m)


def _chunk8(headers, targets, digests, meets, count, shared, want_d, want_m):
    lanes._chunk8(headers, 0, count, targets, shared, digests, meets, want_d, want_m)


def test_the_avx512_kernel_uses_512_bit_vectors_and_avx2_256() -> None:
    """The lane kernels are what they are called: compiled afresh (cached code cannot be
    inspected), the 16-lane chunk's rounds work on zmm registers, the 8-lane one's on ymm."""
    import numba

    if kernels.missing(kernels.KERNELS["avx512"]):
        assert kernels.KERNELS["avx512"] not in kernels.available()
        return
    args = (np.zeros((1, 80), np.uint8), np.zeros((1, 8), np.uint32), np.zeros((1, 32), np.uint8),
            np.zeros(0, np.bool_), 1, True, True, False)  # fmt: skip

    def register_widths(fn) -> set[str]:
        fresh = numba.njit(fn)
        fresh(*args)
        asm = fresh.inspect_asm(fresh.signatures[0])
        # The additions of the rounds: hundreds of them, on the lane vectors.
        adds = [line for line in asm.splitlines() if line.strip().startswith("vpaddd")]
        assert len(adds) > 300
        return {w for line in adds for w in ("xmm", "ymm", "zmm") if f"%{w}" in line}

    assert register_widths(_chunk16) == {"zmm"}
    assert register_widths(_chunk8) == {"ymm"}
