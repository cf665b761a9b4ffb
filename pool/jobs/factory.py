"""From a getblocktemplate result to Jobs.

A template is parsed once into TemplateWork (prevhash, raw transactions, merkle
branch, witness commitment); Jobs are then cheap to make from it, one per payout set
(solo mode gives each worker address its own coinbase on the same template).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pool.bitcoin.hashes import id_from_hex
from pool.bitcoin.merkle import merkle_branch, witness_commitment, witness_commitment_script
from pool.bitcoin.target import bits_to_target
from pool.bitcoin.tx import Tx
from pool.jobs.coinbase import MAX_EXTRANONCE2, MIN_EXTRANONCE2, Payout, build_coinbase
from pool.jobs.job import Job
from pool.jobs.window import JobIdGenerator

_SEGWIT_RULES = {"segwit", "!segwit"}


def _field(template: Mapping[str, Any], key: str) -> Any:
    try:
        return template[key]
    except KeyError:
        raise ValueError(f"block template has no {key!r}") from None


def _hex_int(template: Mapping[str, Any], key: str) -> int:
    value = _field(template, key)
    try:
        return int(value, 16)
    except (TypeError, ValueError):
        raise ValueError(f"block template {key!r} is not hex: {value!r}") from None


@dataclass(frozen=True, slots=True)
class TemplateWork:
    """The parts of a template every job built from it shares."""

    height: int
    prevhash: bytes
    version: int
    nbits: int
    network_target: int
    curtime: int
    mintime: int
    coinbase_value: int
    transactions: tuple[bytes, ...]
    txids: tuple[bytes, ...]
    merkle_branch: tuple[bytes, ...]
    witness_commitment: bytes | None
    fees: int
    longpollid: str | None

    @classmethod
    def from_gbt(cls, template: Mapping[str, Any]) -> TemplateWork:
        """Parse a Core- or bcoin-shaped getblocktemplate result; a malformed
        template raises ValueError naming the key."""
        raw_txs: list[bytes] = []
        txids: list[bytes] = []
        wtxids: list[bytes] = []
        fees = 0
        for i, entry in enumerate(_field(template, "transactions")):
            try:
                data = bytes.fromhex(entry["data"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"template transaction {i} has no valid 'data' hex") from None
            raw_txs.append(data)
            if "txid" in entry and "hash" in entry:
                txids.append(id_from_hex(entry["txid"]))
                wtxids.append(id_from_hex(entry["hash"]))
            else:  # older nodes send only "hash" (the txid); compute both
                tx = Tx.parse(data)
                txids.append(tx.txid)
                wtxids.append(tx.wtxid)
            fees += int(entry.get("fee", 0))
        commitment_hex = template.get("default_witness_commitment")
        commitment: bytes | None
        if commitment_hex:
            try:
                commitment = bytes.fromhex(commitment_hex)
            except ValueError:
                raise ValueError(
                    f"default_witness_commitment is not hex: {commitment_hex!r}"
                ) from None
        elif _SEGWIT_RULES & set(template.get("rules", ())):
            commitment = witness_commitment_script(witness_commitment(wtxids))
        else:
            commitment = None
        nbits = _hex_int(template, "bits")
        target = _hex_int(template, "target") if "target" in template else bits_to_target(nbits)
        curtime = int(_field(template, "curtime"))
        return cls(
            height=int(_field(template, "height")),
            prevhash=id_from_hex(_field(template, "previousblockhash")),
            version=int(_field(template, "version")),
            nbits=nbits,
            network_target=target,
            curtime=curtime,
            mintime=int(template.get("mintime", curtime)),
            coinbase_value=int(_field(template, "coinbasevalue")),
            transactions=tuple(raw_txs),
            txids=tuple(txids),
            merkle_branch=merkle_branch(txids),
            witness_commitment=commitment,
            fees=fees,
            longpollid=template.get("longpollid"),
        )


class JobFactory:
    """Makes Jobs with one pool's coinbase settings: extranonce sizes, tag, payouts."""

    def __init__(
        self,
        payouts: Sequence[Payout] | bytes,
        *,
        tag: bytes | str = b"/surplus/",
        extranonce1_size: int = 4,
        extranonce2_size: int = 8,
        ids: JobIdGenerator | None = None,
    ) -> None:
        if not MIN_EXTRANONCE2 <= extranonce2_size <= MAX_EXTRANONCE2:
            raise ValueError(
                f"extranonce2 size must be {MIN_EXTRANONCE2}..{MAX_EXTRANONCE2} bytes, "
                f"got {extranonce2_size}"
            )
        self.payouts = self._payouts(payouts)
        self.tag = tag.encode() if isinstance(tag, str) else bytes(tag)
        self.extranonce1_size = extranonce1_size
        self.extranonce2_size = extranonce2_size
        self.ids = ids or JobIdGenerator()

    @staticmethod
    def _payouts(payouts: Sequence[Payout] | bytes) -> tuple[Payout, ...]:
        if isinstance(payouts, bytes | bytearray):
            return (Payout(bytes(payouts)),)
        return tuple(payouts)

    def job(
        self,
        work: TemplateWork | Mapping[str, Any],
        *,
        clean_jobs: bool,
        payouts: Sequence[Payout] | bytes | None = None,
        now: float | None = None,
    ) -> Job:
        """A new Job (fresh id) on `work`; `payouts` overrides the factory's (solo mode)."""
        if not isinstance(work, TemplateWork):
            work = TemplateWork.from_gbt(work)
        parts = build_coinbase(
            work.height,
            work.coinbase_value,
            self.payouts if payouts is None else self._payouts(payouts),
            tag=self.tag,
            extranonce1_size=self.extranonce1_size,
            extranonce2_size=self.extranonce2_size,
            witness_commitment=work.witness_commitment,
        )
        return Job(
            job_id=self.ids.next(),
            height=work.height,
            prevhash=work.prevhash,
            version=work.version,
            nbits=work.nbits,
            ntime=work.curtime,
            min_time=work.mintime,
            network_target=work.network_target,
            coinb1=parts.coinb1,
            coinb2=parts.coinb2,
            merkle_branch=work.merkle_branch,
            transactions=work.transactions,
            witness_commitment=work.witness_commitment,
            coinbase_value=work.coinbase_value,
            clean_jobs=clean_jobs,
            created=time.time() if now is None else now,
            extranonce1_size=self.extranonce1_size,
            extranonce2_size=self.extranonce2_size,
        )

    def from_template(self, template: Mapping[str, Any], *, clean_jobs: bool = True) -> Job:
        return self.job(TemplateWork.from_gbt(template), clean_jobs=clean_jobs)
