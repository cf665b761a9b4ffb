"""numba (and its kernels) load only where a header is hashed in bulk.

Parsing an address, a block or a config, or building a rig, used to import numba through
`pool.bitcoin.hashes` (a hashlib one-liner) and `rigsim.miner`: a second and 200 MB for
every command and test that touched them. Each check runs in a fresh interpreter, since
this one has long imported numba.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

LIGHT = [
    "pool.bitcoin.address",
    "pool.bitcoin.block",
    "pool.bitcoin.merkle",
    "pool.jobs.factory",
    "pool.config",
    "rigsim.miner",
    "rigsim.fleet",
]


def loads_numba(module: str) -> bool:
    code = f"import sys, {module}; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    return out.stdout.strip() == "True"


@pytest.mark.parametrize("module", LIGHT)
def test_module_does_not_import_numba(module: str) -> None:
    assert not loads_numba(module), f"importing {module} loads numba"


def test_the_validator_still_does() -> None:
    """The check above can tell: the share validator needs the kernels at import."""
    assert loads_numba("pool.shares.validator")


def test_sha256d_is_the_same_function_of_bytes() -> None:
    import hashing
    from pool.bitcoin.hashes import sha256d

    for data in (b"", b"abc", bytes(80), bytes(range(256)) * 3):
        assert sha256d(data) == hashing.sha256d(data)
    assert sha256d(b"").hex() == (
        "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456"
    )
