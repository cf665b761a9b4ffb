"""One bad row never fails a batch, on both backends.

The pool group-commits every miner's shares in one INSERT, so a row the database cannot
hold (PostgreSQL text cannot hold U+0000; no backend can encode a lone surrogate) once
failed everybody's shares in that commit. Now: a share is validated before it joins a
batch; should the database still refuse a batch because of a row, the rest is stored
row by row and only the refused row fails (SharesNotStored names it)."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import pytest

from pool.ledger import InvalidShare, Ledger, LedgerSink, Share
from pool.ledger.errors import SharesNotStored
from pool.shares.accepted import AcceptedShare

from .conftest import MakeConfig
from .factories import share


def unchecked_share(worker: str) -> Share:
    """A share with a name the validation would refuse, as if a bug let it through: the
    database itself must be the last line, and its refusal must stay with this row."""
    row = object.__new__(Share)
    for name, value in (("account", "mallory"), ("worker", worker),
                        ("difficulty", Fraction(1)), ("job_id", "1a"), ("height", 500),
                        ("time", time.time()), ("is_block", False)):  # fmt: skip
        object.__setattr__(row, name, value)
    return row


@pytest.mark.parametrize(
    ("field", "value"),
    [("worker", "rig\x00"), ("worker", "rig\n2099 FORGED"), ("account", "a\x1b[31m"),
     ("worker", "rig\ud800"), ("account", "x" * 257), ("job_id", ""), ("account", "")],
)  # fmt: skip
def test_a_share_that_cannot_be_stored_is_refused_before_any_batch(field: str, value: str) -> None:
    values = {"account": "alice", "worker": "alice.rig", "job_id": "1a"} | {field: value}
    with pytest.raises(InvalidShare, match=field):
        Share(values["account"], values["worker"], Fraction(1), values["job_id"], 1, 1.0)
    with pytest.raises(InvalidShare, match="height"):
        Share("alice", "alice.rig", Fraction(1), "1a", 2**63, 1.0)


async def test_the_database_refusing_one_row_fails_only_that_row(
    make_config: MakeConfig, backend_name: str
) -> None:
    bad_worker = "rig\x00evil" if backend_name == "postgres" else "rig\ud800"
    async with await Ledger.open(make_config()) as ledger:
        neighbour = ledger.record_shares([share("bob", 2), share("bob", 3)])
        batch = ledger.record_shares([share("alice", 1), unchecked_share(bad_worker),
                                      share("alice", 5)])  # fmt: skip
        bob_ids, caught = await asyncio.gather(neighbour, batch, return_exceptions=True)
        assert isinstance(caught, SharesNotStored), caught
        assert caught.failed_rows == {1} and caught.ids[1] is None
        assert all(isinstance(i, int) for i in (*bob_ids, caught.ids[0], caught.ids[2]))
        stored = dict(ledger.store.shares())
        assert sorted(stored) == sorted([*bob_ids, caught.ids[0], caught.ids[2]])
        assert sorted(s.account for s in stored.values()) == ["alice", "alice", "bob", "bob"]
        # the writer is fine afterwards: the next batch goes through in one commit
        commits = ledger.commits
        assert len(await ledger.record_shares([share("carol", 1)] * 3)) == 3
        assert ledger.commits == commits + 1


async def test_the_sink_stores_the_valid_shares_of_a_batch(make_config: MakeConfig) -> None:
    def accepted(worker: str, *, block: str | None = None) -> AcceptedShare:
        return AcceptedShare(worker=worker, username=worker.split(".")[0], difficulty=1.0,
                             share_difficulty=2.0, job_id="7", height=12,
                             is_block=block is not None, block_hash=block,
                             remote="127.0.0.1", time=1.5)  # fmt: skip

    async with await Ledger.open(make_config()) as ledger:
        sink = LedgerSink(ledger)
        batch = [accepted("alice.rig", block="ab" * 32), accepted("mallory.\x00"),
                 accepted("bob.rig")]  # fmt: skip
        with pytest.raises(SharesNotStored) as caught:
            await sink.record_shares(batch)
        assert caught.value.failed_rows == {1} and "worker" in caught.value.reasons[1]
        stored = dict(ledger.store.shares())
        assert sorted(s.worker for s in stored.values()) == ["alice.rig", "bob.rig"]
        assert sink.block_share_id("ab" * 32) == caught.value.ids[0]
