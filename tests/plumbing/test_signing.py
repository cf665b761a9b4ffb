"""Signed allotment messages (plumbing.signing): what passes, what is refused and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plumbing.signing import (
    MIN_KEY_BYTES,
    Refused,
    SigningError,
    Verifier,
    read_key,
    sign,
)

KEY = b"k" * MIN_KEY_BYTES
OTHER = b"o" * MIN_KEY_BYTES
T0 = 1_750_000_000.0


def verifier(**kw: float) -> Verifier:
    return Verifier(KEY, "north", **kw)  # type: ignore[arg-type]


def refused(v: Verifier, env: object, now: float = T0) -> Refused:
    with pytest.raises(Refused) as info:
        v.open(env, now)
    return info.value


def test_a_signed_fresh_message_opens_to_its_fields() -> None:
    v = verifier()
    body = v.open(sign(KEY, "north", 1, T0, {"mw": 12.5, "as_of": T0, "id": "p-1"}), T0 + 1)
    assert body["mw"] == 12.5 and body["id"] == "p-1" and body["seq"] == 1
    assert v.last_seq == 1 and v.accepted == 1 and not v.refused


def test_the_envelope_survives_a_json_round_trip() -> None:
    env = json.loads(json.dumps(sign(KEY, "north", 5, T0, {"mw": 0.1 + 0.2})))
    assert verifier().open(env, T0)["mw"] == 0.1 + 0.2


@pytest.mark.parametrize("env", [{"mw": 3.0}, [1, 2], "x", None, {"signed": "{}"}])
def test_unsigned_messages_are_refused(env: object) -> None:
    v = verifier()
    assert refused(v, env).reason == "unsigned"
    assert v.refused["unsigned"] == 1


def test_a_message_signed_with_another_key_is_forged() -> None:
    assert refused(verifier(), sign(OTHER, "north", 1, T0, {"mw": 1.0})).reason == "forged"


def test_a_changed_figure_breaks_the_signature() -> None:
    env = sign(KEY, "north", 1, T0, {"mw": 1.0})
    env["signed"] = env["signed"].replace('"mw":1.0', '"mw":9.0')
    assert refused(verifier(), env).reason == "forged"


def test_a_message_for_another_site_is_refused() -> None:
    assert refused(verifier(), sign(KEY, "south", 1, T0, {"mw": 1})).reason == "wrong_site"


def test_old_and_future_messages_are_refused() -> None:
    v = verifier(max_age_s=30.0, max_skew_s=5.0)
    assert refused(v, sign(KEY, "north", 1, T0 - 31, {"mw": 1})).reason == "stale"
    assert refused(v, sign(KEY, "north", 2, T0 + 6, {"mw": 1})).reason == "future"
    assert v.open(sign(KEY, "north", 3, T0 - 29, {"mw": 1}), T0)["seq"] == 3


def test_a_replayed_or_reordered_message_is_refused() -> None:
    v = verifier()
    first = sign(KEY, "north", 10, T0, {"mw": 1})
    v.open(first, T0)
    assert refused(v, first).reason == "replayed"
    assert refused(v, sign(KEY, "north", 9, T0, {"mw": 1})).reason == "replayed"
    v.open(sign(KEY, "north", 11, T0, {"mw": 2}), T0)
    assert v.refused == {"replayed": 2} and v.accepted == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"alg": "none"}, "malformed"),
        ({"hmac": "00"}, "malformed"),
        ({"signed": 7}, "malformed"),
        ({"signed": "x" * 70_000}, "malformed"),
    ],
)
def test_malformed_envelopes(change: dict[str, object], reason: str) -> None:
    env: dict[str, object] = dict(sign(KEY, "north", 1, T0, {"mw": 1}))
    env.update(change)
    assert refused(verifier(), env).reason == reason


def test_refusal_text_escapes_what_came_from_outside() -> None:
    exc = refused(verifier(), sign(KEY, "north\n\x1b[2J", 1, T0, {"mw": 1}))
    assert "\n" not in str(exc) and "\x1b" not in str(exc) and len(str(exc)) < 200


def test_bad_seq_and_ts_in_a_signed_body() -> None:
    env = {"alg": "HMAC-SHA256", "signed": json.dumps({"site": "north", "seq": True, "ts": T0})}
    from plumbing.signing import mac

    env["hmac"] = mac(KEY, env["signed"])
    assert refused(verifier(), env).reason == "malformed"


def test_keys_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_KEY", "a" * 40)
    assert read_key(env="SITE_KEY") == b"a" * 40
    f = tmp_path / "key"
    f.write_text("b" * 40 + "\n")
    assert read_key(file=f) == b"b" * 40
    with pytest.raises(SigningError, match="not set"):
        read_key(env="NO_SUCH_KEY_VAR")
    f.write_text("short")
    with pytest.raises(SigningError, match="expected 32"):
        read_key(file=f)
    with pytest.raises(SigningError, match="cannot read"):
        read_key(file=tmp_path / "missing")
    with pytest.raises(SigningError, match="exactly one"):
        read_key()
