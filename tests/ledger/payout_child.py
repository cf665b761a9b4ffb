"""Child process for the payout crash tests: one `surplus ledger payouts` run.

Usage: python payout_child.py '<LedgerConfig JSON>' <wallet file> <crash point|none>
Crash points: before_send, after_send (inside the wallet), after_record (after the run).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from pool.ledger import LedgerConfig, commands

sys.path.insert(0, str(Path(__file__).resolve().parent))
from wallet_double import CRASH_POINTS, FileWalletDouble


def main() -> None:
    config = LedgerConfig.model_validate_json(sys.argv[1])
    crash = sys.argv[3]
    wallet = FileWalletDouble(Path(sys.argv[2]), crash if crash in CRASH_POINTS else None)
    report = commands.payouts(config, wallet, dry_run=False)
    if crash == "after_record":
        os.kill(os.getpid(), signal.SIGKILL)
    print(json.dumps({
        "batch": None if report.batch is None else report.batch.id,
        "txid": report.txid,
        "reconciled": [[r.batch_id, r.txid, r.how] for r in report.reconciled],
    }))


if __name__ == "__main__":
    main()
