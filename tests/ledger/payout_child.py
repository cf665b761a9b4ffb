"""Child process for the payout crash tests: one `surplus ledger payouts` run.

Usage: python payout_child.py '<LedgerConfig JSON>' <wallet file> <crash point|none>
       [<refused addresses, JSON list> [<the send the crash point applies to, from 1>]]
Crash points: before_send, after_send (inside the wallet), after_record (after the run).
Accounts named "nowhere..." have no payout address (they are quarantined, not paid).
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
    refuse = tuple(json.loads(sys.argv[4])) if len(sys.argv) > 4 else ()
    crash_call = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    wallet = FileWalletDouble(Path(sys.argv[2]), crash if crash in CRASH_POINTS else None,
                              refuse=refuse, crash_call=crash_call)  # fmt: skip

    def resolve(accounts):
        return {a: None if a.startswith("nowhere") else a for a in accounts}

    report = commands.payouts(config, wallet, dry_run=False, resolve=resolve)
    if crash == "after_record":
        os.kill(os.getpid(), signal.SIGKILL)
    print(json.dumps({
        "batch": None if report.batch is None else report.batch.id,
        "txid": report.txid,
        "reconciled": [[r.batch_id, r.txid, r.how] for r in report.reconciled],
        "quarantined": sorted(report.quarantined),
    }))


if __name__ == "__main__":
    main()
