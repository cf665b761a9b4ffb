"""`surplus demo --node URL`: the same site mining on a real regtest node (bcoin), whose
chain is the witness that the pool's blocks were accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.components.bcoin import BcoinNode

TAG = b"/surplus-demo/"


def test_demo_mines_real_blocks_on_a_regtest_node(bcoin_fresh: BcoinNode, tmp_path: Path) -> None:
    start_height = bcoin_fresh.height
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "surplus.cli", "demo", "--headless", "--duration", "30",
         "--free-ports", "--rigs", "40", "--node", bcoin_fresh.rpc_url, "--out", str(out),
         "--block-time", "3", "--log-every", "10"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    sys.stdout.write(output[-4000:])
    assert proc.returncode == 0, output[-3000:]
    assert "devnet chain" not in output  # the embedded chain was not used
    facts = json.loads((out / "summary.json").read_text())
    assert facts["blocks_confirmed"] >= 2
    assert facts["north_breach_s"] == 0.0 and facts["south_breach_s"] == 0.0
    # the node's own chain holds the pool's blocks, with the demo's coinbase tag
    height = bcoin_fresh.height
    assert height - start_height >= facts["blocks_confirmed"]
    tagged = 0
    for h in range(start_height + 1, height + 1):
        block = bcoin_fresh.rpc("getblock", bcoin_fresh.rpc("getblockhash", h), True, True)
        coinbase = bytes.fromhex(block["tx"][0]["vin"][0]["coinbase"])
        tagged += TAG in coinbase
    assert tagged >= facts["blocks_confirmed"]
