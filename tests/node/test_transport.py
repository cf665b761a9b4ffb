"""URL checks, error classification and answer normalisation (no network)."""

from __future__ import annotations

import http.client

import pytest
from bitcoinrpc.authproxy import JSONRPCException

from pool.node.base import NodeAuthError, NodeDown, NodeRPCError, NodeWarmingUp
from pool.node.normalize import BadTemplate, normalize_template, submit_reason
from pool.node.transport import Endpoint, classify


def test_endpoint_label_hides_credentials() -> None:
    ep = Endpoint.parse("http://user:s3cret@127.0.0.1:18443/wallet/w1")
    assert ep.label == "127.0.0.1:18443/wallet/w1"
    assert (ep.host, ep.port, ep.https) == ("127.0.0.1", 18443, False)
    assert "s3cret" not in ep.label


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://u:p@127.0.0.1:1/", "scheme"),
        ("http://u:p@127.0.0.1/", "port is required"),
        ("http://127.0.0.1:8332/", "credentials"),
        ("http://u:p@:8332/", "no host"),
    ],
)
def test_bad_urls_are_named_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        Endpoint.parse(url)
    assert ":p@" not in str(info.value)


def rpc_exc(code: int, message: str) -> JSONRPCException:
    return JSONRPCException({"code": code, "message": message})


def test_classification_of_node_answers() -> None:
    ep, m = "127.0.0.1:1", "getblockcount"
    assert isinstance(classify(rpc_exc(-28, "Loading block index..."), ep, m), NodeWarmingUp)
    assert isinstance(classify(rpc_exc(-10, "downloading blocks"), ep, m), NodeWarmingUp)
    auth = classify(
        rpc_exc(-342, "non-JSON HTTP response with '401 Unauthorized' from server"), ep, m
    )
    assert isinstance(auth, NodeAuthError) and auth.status == 401
    assert "API key" in str(auth)
    other = classify(rpc_exc(-342, "non-JSON HTTP response with '502 Bad Gateway'"), ep, m)
    assert isinstance(other, NodeDown) and "502" in str(other)
    err = classify(rpc_exc(-8, "Block height out of range."), ep, "getblockhash")
    assert isinstance(err, NodeRPCError) and err.code == -8
    assert "getblockhash" in str(err) and "out of range" in str(err)
    assert "refused" in str(classify(ConnectionRefusedError(), ep, m))
    assert isinstance(classify(http.client.RemoteDisconnected("closed"), ep, m), NodeDown)
    assert "timed out" in str(classify(TimeoutError(), ep, m))


def test_unexpected_exceptions_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        classify(KeyError("bug"), "x", "y")


def template(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "version": 0x20000000,
        "previousblockhash": "00" * 32,
        "transactions": [],
        "coinbasevalue": 5_000_000_000,
        "target": "7f" + "ff" * 31,
        "mintime": 1,
        "curtime": 2,
        "bits": "207fffff",
        "height": 3,
        "default_witness_commitment": "6a24aa21a9ed" + "00" * 32,
    }
    base.update(extra)
    return base


def test_commitment_dropped_until_segwit_is_active() -> None:
    assert "default_witness_commitment" not in normalize_template(template(rules=[]))
    assert "default_witness_commitment" not in normalize_template(template())
    for rules in (["csv", "!segwit", "testdummy"], ["segwit"]):
        out = normalize_template(template(rules=rules))
        assert out["default_witness_commitment"].startswith("6a24aa21a9ed")


def test_template_missing_keys_are_named() -> None:
    broken = template()
    del broken["coinbasevalue"], broken["bits"]
    with pytest.raises(BadTemplate, match="coinbasevalue, bits"):
        normalize_template(broken)
    with pytest.raises(BadTemplate, match="transaction 0 lacks fee"):
        normalize_template(template(transactions=[{"data": "", "txid": "", "hash": ""}]))


def test_submit_reasons_have_one_shape() -> None:
    assert submit_reason(None) is None
    assert submit_reason("rejected: high-hash") == "high-hash"
    assert submit_reason("duplicate") == "duplicate"
    assert submit_reason("inconclusive") == "inconclusive"
