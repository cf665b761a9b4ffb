"""Child process for the crash test: writes shares through the Ledger from many concurrent
submitters and reports each acknowledged share on stdout ("<id> <seq>\\n", one os.write
per ack, straight into the pipe, no buffering) until it is killed.

Usage: python crash_child.py '<LedgerConfig JSON>'
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from fractions import Fraction

from pool.ledger import Ledger, LedgerConfig, Share

SESSIONS = 64
LIMIT_S = 60.0  # never outlive a test that forgot to kill us


async def main(config: LedgerConfig) -> None:
    ledger = await Ledger.open(config)
    stop = time.monotonic() + LIMIT_S
    counter = iter(range(10**9))

    async def session(k: int) -> None:
        while time.monotonic() < stop:
            seq = next(counter)
            share = Share(f"acct{k}", f"rig{k}", Fraction(seq % 97 + 1, 3), str(seq), 100,
                          time.time())
            share_id = await ledger.record_share(share)
            os.write(1, f"{share_id} {seq}\n".encode())

    await asyncio.gather(*(session(k) for k in range(SESSIONS)))


if __name__ == "__main__":
    asyncio.run(main(LedgerConfig.model_validate_json(sys.argv[1])))
