"""The pool with a SURPLUS_HASH_KERNEL it cannot use: a plain refusal, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SURPLUS_HASH")}


def test_the_pool_refuses_a_bad_override_plainly(tmp_path: Path) -> None:
    config = tmp_path / "pool.toml"
    config.write_text(
        'mode = "solo"\nnetwork = "regtest"\n'
        'payout_address = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"\n'
        "[node]\ndevnet = true\n"
        '[stratum]\nhost = "127.0.0.1"\nport = 0\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "surplus.cli", "pool", "--config", str(config)], cwd=ROOT,
        capture_output=True, text=True, timeout=120,
        env={**_env(), "PYTHONPATH": str(ROOT), "SURPLUS_HASH_KERNEL": "batch=no-such-kernel"},
    )  # fmt: skip
    assert out.returncode == 1
    assert "cannot start: SURPLUS_HASH_KERNEL='batch=no-such-kernel': no kernel named" in out.stderr
    assert "Traceback" not in out.stderr
