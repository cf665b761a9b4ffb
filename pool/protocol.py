"""The Stratum V1 vocabulary that the server and the share checks both speak.

`pool.stratum` (sessions, the wire) and `pool.shares` (the checks of mining.submit) each
need the error codes, the error that carries one, and the BIP310 and ntime limits. They
live here, in a leaf module that imports nothing of the pool, rather than in either
package: with them in `pool.stratum.codec` the share checks imported the server's
package while the server's config imported the checks, and the two packages could only
be read, tested and changed together. A module beside both (not one inside
`pool.stratum`, whose package would still be a dependency of `pool.shares`) keeps the
arrow one way: stratum -> shares -> protocol.
"""

from __future__ import annotations

from enum import IntEnum

# BIP310 rolling bits most ASICs use (bits 13..28); also what a miner gets that sends
# version bits without negotiating first.
DEFAULT_VERSION_MASK = 0x1FFFE000
# A share's ntime may run this far (seconds) ahead of the pool's clock (Bitcoin Core's
# limit for a block).
MAX_FUTURE_NTIME = 7200


class ErrorCode(IntEnum):
    """The error codes every Stratum V1 pool and miner agree on."""

    OTHER = 20
    JOB_NOT_FOUND = 21  # unknown or stale job
    DUPLICATE = 22
    LOW_DIFFICULTY = 23
    UNAUTHORIZED = 24
    NOT_SUBSCRIBED = 25


class StratumError(Exception):
    """A request that gets an error answer; the connection stays open."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{int(code)}: {message}")
        self.code = int(code)
        self.message = message

    def as_list(self) -> list:
        return [self.code, self.message, None]
