"""plumbing.redact: what looks like a credential is masked; nothing else changes."""

from __future__ import annotations

import pytest

from plumbing.redact import MASK, is_secret_key, redact, shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://rpcuser:S3cret@127.0.0.1:8332/", "http://rpcuser:***@127.0.0.1:8332/"),
        ("(got 'http://rpcuser:S3cret@10.0.0.2:8332/')", "(got 'http://rpcuser:***@10.0.0.2:8332/')"),
        ("postgresql://surplus:pw@db.example/ledger", "postgresql://surplus:***@db.example/ledger"),
        ("http://u:p@ss@host:1/", "http://u:***@host:1/"),  # an unencoded @ in the password
        ("https://APIKEY@api.example/", "https://***@api.example/"),
        ("host=127.0.0.1 user=postgres password=hunter2 dbname=x",
         "host=127.0.0.1 user=postgres password=*** dbname=x"),
        ("password = 'two words' host=x", "password = '***' host=x"),
        ("{'password': 'x', 'user': 'y'}", "{'password': '***', 'user': 'y'}"),
        ('{"token": "abc"}', '{"token": "***"}'),
        ("GET /x?token=abc&page=2", "GET /x?token=***&page=2"),
        ("Authorization: Bearer abc.def-ghi", "Authorization: Bearer ***"),
    ],
)  # fmt: skip
def test_credentials_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "tcp://127.0.0.1:28332",
        "http://127.0.0.1:8332/",
        "the API listens beyond loopback; expected a bearer token (token or token_env)",
        "key 'api.token_env': environment variable FLEETD_TOKEN is not set",
        "miner@example.com",
        "",
    ],
)
def test_other_text_is_untouched(text: str) -> None:
    assert redact(text) == text


def test_shown_masks_secret_keys_and_bounds_the_value() -> None:
    assert shown("short", "token") == MASK and is_secret_key("Password")
    assert not is_secret_key("token_env") and not is_secret_key(3)
    assert shown(["http://a:b@c:1/"], "urls") == "['http://a:***@c:1/']"
    long = shown("x" * 10_000)
    assert len(long) == 200 and long.endswith("…")
