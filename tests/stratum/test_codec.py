"""The wire format: parsing with named errors, error tuples, and the encoders."""

from __future__ import annotations

import json

import pytest

from pool.protocol import ErrorCode, StratumError
from pool.stratum.codec import (
    InvalidJSON,
    LineSplitter,
    LineTooLong,
    MalformedRequest,
    encode_error,
    encode_notify,
    encode_reconnect,
    encode_request,
    encode_result,
    encode_set_difficulty,
    encode_set_extranonce,
    encode_set_version_mask,
    encode_show_message,
    encode_true,
    parse_message,
    parse_request,
)


def test_error_codes_are_the_stratum_ones():
    assert [int(c) for c in ErrorCode] == [20, 21, 22, 23, 24, 25]
    assert StratumError(ErrorCode.DUPLICATE, "Duplicate share").as_list() == [
        22, "Duplicate share", None,
    ]


def test_parse_request():
    req = parse_request(b'{"id": 4, "method": "mining.submit", "params": ["a", "b"]}')
    assert (req.id, req.method, req.params) == (4, "mining.submit", ["a", "b"])
    req = parse_request(b'{"id": "x", "method": "mining.ping"}')
    assert req.params == [] and req.id == "x"
    assert parse_request(b'{"id":1,"method":"m","params":null}').params == []


@pytest.mark.parametrize(
    "line", [b"{", b"not json", b'{"id":1,}', b"\xff\xfe", b'{"id": 1, method: "x"}']
)
def test_invalid_json_is_named(line):
    with pytest.raises(InvalidJSON, match="not valid JSON"):
        parse_request(line)


@pytest.mark.parametrize(
    ("line", "needle", "req_id"),
    [
        (b"[]", "JSON object", None),
        (b"42", "JSON object", None),
        (b'{"id": 3}', "no method", 3),
        (b'{"id": 3, "method": ""}', "no method", 3),
        (b'{"id": 3, "method": 5}', "no method", 3),
        (b'{"id": 3, "method": "m", "params": "x"}', "params must be a list", 3),
        (b'{"id": {"a": 1}, "method": "m"}', "request id", None),
    ],
)
def test_malformed_request_keeps_the_id(line, needle, req_id):
    with pytest.raises(MalformedRequest, match=needle) as info:
        parse_request(line)
    assert info.value.code == ErrorCode.OTHER
    assert info.value.request_id == req_id


def test_line_splitter_keeps_partial_lines_and_enforces_the_limit():
    s = LineSplitter(max_line=10)
    assert s.feed(b"abc") == []
    assert s.feed(b"de\n\r\n12") == [b"abcde"]
    assert s.feed(b"3\n") == [b"123"]
    with pytest.raises(LineTooLong):
        s.feed(b"x" * 11)
    with pytest.raises(LineTooLong):
        LineSplitter(max_line=4).feed(b"12345\n")


def test_encoders_round_trip():
    assert json.loads(encode_true(7)) == {"id": 7, "result": True, "error": None}
    assert json.loads(encode_true("a")) == {"id": "a", "result": True, "error": None}
    assert json.loads(encode_result(None, [1, "x"])) == {
        "id": None, "result": [1, "x"], "error": None,
    }
    assert json.loads(encode_error(9, ErrorCode.LOW_DIFFICULTY, "Low difficulty share")) == {
        "id": 9, "result": None, "error": [23, "Low difficulty share", None],
    }
    assert json.loads(encode_request(1, "mining.subscribe", ["x"])) == {
        "id": 1, "method": "mining.subscribe", "params": ["x"],
    }
    for line in (encode_true(1), encode_set_difficulty(2), encode_show_message("hi")):
        assert line.endswith(b"\n") and line.count(b"\n") == 1


def test_notification_encoders():
    notify = ["1f", "00" * 32, "01", "02", ["aa" * 32], "20000000", "207fffff", "5f5e1000", True]
    msg = json.loads(encode_notify(notify))
    assert msg == {"id": None, "method": "mining.notify", "params": notify}
    with pytest.raises(ValueError, match="9 params"):
        encode_notify(notify[:8])
    assert json.loads(encode_set_difficulty(1024.0))["params"] == [1024]
    assert b"[1024]" in encode_set_difficulty(1024.0)  # no "1024.0" for strict firmware
    assert json.loads(encode_set_difficulty(0.001))["params"] == [0.001]
    with pytest.raises(ValueError):
        encode_set_difficulty(0)
    assert json.loads(encode_set_extranonce(b"\x01\x02\x03\x04", 8))["params"] == ["01020304", 8]
    assert json.loads(encode_set_version_mask(0x1FFFE000))["params"] == ["1fffe000"]
    assert json.loads(encode_reconnect())["params"] == []
    assert json.loads(encode_reconnect("127.0.0.2", 3334, 5))["params"] == ["127.0.0.2", 3334, 5]
    assert json.loads(encode_show_message("maintenance"))["method"] == "client.show_message"


def test_parse_message_for_clients():
    assert parse_message(b'{"id":1,"result":true,"error":null}')["result"] is True
    with pytest.raises(InvalidJSON):
        parse_message(b"[1]")
