"""Pure share checks: version rolling, the ntime window, duplicates and the verdict.

Order matters and is fixed here: a block candidate is reported before the stale check,
and the stale check comes before the difficulty check (ckpool and Core agree that a
stale share is stale whatever its hash).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from pool.protocol import MAX_FUTURE_NTIME, ErrorCode
from pool.shares.submission import ShareRejected


def negotiate_version_mask(pool_mask: int, miner_mask: int | None) -> int:
    """BIP310: the mask answered to mining.configure; no miner mask means ffffffff."""
    return pool_mask & (0xFFFFFFFF if miner_mask is None else miner_mask)


def rolled_version(job_version: int, version_bits: int | None, mask: int) -> int:
    """nVersion = (job_version & ~mask) | (bits & mask); bits outside the mask -> 20."""
    if version_bits is None:
        return job_version
    if version_bits & ~mask & 0xFFFFFFFF:
        raise ShareRejected(
            ErrorCode.OTHER,
            f"version bits {version_bits:08x} outside the mask {mask:08x}",
        )
    return (job_version & ~mask & 0xFFFFFFFF) | (version_bits & mask)


def check_ntime(ntime: int, min_time: int, now: float) -> None:
    """ntime must lie in [template mintime, now + 7200]."""
    if ntime < min_time:
        raise ShareRejected(ErrorCode.OTHER, f"ntime {ntime:08x} below the job's mintime")
    if ntime > now + MAX_FUTURE_NTIME:
        raise ShareRejected(ErrorCode.OTHER, f"ntime {ntime:08x} more than 2 hours ahead")


def duplicate_key(extranonce1: bytes, extranonce2: bytes, ntime: int, nonce: int,
                  version: int) -> bytes:
    """The parsed values that fix a header for one job, packed: two submissions with the
    same key hash to the same header whatever their spelling (case, leading zeros)."""
    return (
        extranonce1
        + extranonce2
        + (ntime & 0xFFFFFFFF).to_bytes(4, "little")
        + (nonce & 0xFFFFFFFF).to_bytes(4, "little")
        + (version & 0xFFFFFFFF).to_bytes(4, "little")
    )


class DuplicateFilter:
    """Seen shares per job id, forgetting whole jobs oldest first.

    Keyed by job so memory follows the job window, not the share rate's history."""

    __slots__ = ("_jobs", "max_jobs")

    def __init__(self, max_jobs: int = 64) -> None:
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, set[bytes]] = OrderedDict()

    def add(self, job_id: str, key: bytes) -> bool:
        """Record a share; False when it was already seen (a duplicate)."""
        seen = self._jobs.get(job_id)
        if seen is None:
            seen = self._jobs[job_id] = set()
            while len(self._jobs) > self.max_jobs:
                self._jobs.popitem(last=False)
        if key in seen:
            return False
        seen.add(key)
        return True

    def discard(self, job_id: str, key: bytes) -> None:
        """Forget a share that turned out invalid, so a retry gets the real reason."""
        seen = self._jobs.get(job_id)
        if seen is not None:
            seen.discard(key)

    def __len__(self) -> int:
        return sum(len(s) for s in self._jobs.values())


class Verdict(Enum):
    ACCEPTED = "accepted"
    STALE = "stale"
    LOW_DIFFICULTY = "low difficulty"


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    is_block: bool

    @property
    def error(self) -> tuple[int, str] | None:
        if self.verdict is Verdict.STALE:
            return ErrorCode.JOB_NOT_FOUND, "Stale job"
        if self.verdict is Verdict.LOW_DIFFICULTY:
            return ErrorCode.LOW_DIFFICULTY, "Low difficulty share"
        return None


def judge(hash_value: int | None, share_target: int, network_target: int,
          stale: bool) -> Outcome:
    """The verdict on a hashed share. `hash_value` None means the hash missed both
    targets (the validator only computes the exact value for hits).

    A block candidate stays a candidate when stale (it was already sent to the node);
    the miner still hears "stale" for it, as the chain has moved on."""
    is_block = hash_value is not None and hash_value <= network_target
    if stale:
        return Outcome(Verdict.STALE, is_block)
    if is_block or (hash_value is not None and hash_value <= share_target):
        return Outcome(Verdict.ACCEPTED, is_block)
    return Outcome(Verdict.LOW_DIFFICULTY, False)
