from __future__ import annotations

import pytest

from pool.ledger.wallet import WalletFormatError, btc_to_sat, find_payment, sent_outputs


def test_btc_to_sat_is_exact() -> None:
    assert btc_to_sat(-0.12345678) == -12_345_678
    assert btc_to_sat("21000000.00000000") == 2_100_000_000_000_000
    assert btc_to_sat(0.1) == 10_000_000
    with pytest.raises(WalletFormatError):
        btc_to_sat("0.123456789")
    with pytest.raises(WalletFormatError):
        btc_to_sat("lots")


def test_sent_outputs_reads_core_rows_and_grouped_entries() -> None:
    rows = [
        {"txid": "t1", "category": "send", "address": "A", "amount": -0.5},
        {"txid": "t1", "category": "send", "address": "B", "amount": -0.00000001},
        {"txid": "t1", "category": "receive", "address": "C", "amount": 1.0},
        {"txid": "t2", "outputs": {"A": 7}},
    ]
    assert sent_outputs(rows) == {"t1": {"A": 50_000_000, "B": 1}, "t2": {"A": 7}}
    with pytest.raises(WalletFormatError):
        sent_outputs([{"category": "send"}])
    with pytest.raises(WalletFormatError):
        sent_outputs([{"txid": "x", "outputs": {"A": 0.5}}])


def test_find_payment_needs_every_output_exact_and_skips_recorded_txids() -> None:
    sent = {"t1": {"A": 5, "B": 6, "change": 99}, "t2": {"A": 5, "B": 6}, "t3": {"A": 5}}
    assert find_payment({"A": 5, "B": 6}, sent, set()) == "t1"
    assert find_payment({"A": 5, "B": 6}, sent, {"t1"}) == "t2"
    assert find_payment({"A": 5, "B": 6}, sent, {"t1", "t2"}) is None
    assert find_payment({"A": 5, "B": 7}, sent, set()) is None


def test_gettransaction_outputs_of_sends_only() -> None:
    from pool.ledger.wallet import wallet_sent_outputs

    # bitcoind paying an external address and itself: the self output appears twice
    core = {"amount": -0.5, "fee": -0.0001, "details": [
        {"category": "send", "address": "ext", "amount": -0.5, "vout": 0},
        {"category": "send", "address": "own", "amount": -0.25, "vout": 1},
        {"category": "receive", "address": "own", "amount": 0.25, "vout": 1},
    ]}
    assert wallet_sent_outputs(core) == {"ext": 50_000_000, "own": 25_000_000}
    # bcoin paying only its own addresses: "receive" rows, amount 0, no fee field
    bcoin_self = {"amount": 0, "details": [
        {"category": "receive", "address": "a", "amount": 0.03, "vout": 0},
        {"category": "receive", "address": "b", "amount": 0.01, "vout": 2},
    ]}
    assert wallet_sent_outputs(bcoin_self) == {"a": 3_000_000, "b": 1_000_000}
    # a payment or coinbase the wallet received is not a send
    received = {"amount": 50, "details": [
        {"category": "receive", "address": "a", "amount": 50, "vout": 0},
    ]}
    assert wallet_sent_outputs(received) is None
