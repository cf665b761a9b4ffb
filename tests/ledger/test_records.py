"""Bad input gets a named error, never silent loss; config errors name the key."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from pydantic import ValidationError

from pool.ledger import InvalidShare, LedgerConfig, Scheme, Share
from pool.ledger.errors import InvalidBlock

from .factories import found


@pytest.mark.parametrize(
    ("field", "value"),
    [("account", ""), ("account", None), ("difficulty", 0), ("difficulty", -1),
     ("difficulty", float("nan")), ("difficulty", "abc"), ("height", -1), ("height", 1.5),
     ("time", float("inf")), ("worker", 3)],
)
def test_bad_shares_are_refused_by_name(field: str, value: object) -> None:
    fields: dict[str, object] = {"account": "a", "worker": "w", "difficulty": Fraction(1),
                                 "job_id": "j", "height": 1, "time": time.time()}
    fields[field] = value
    with pytest.raises(InvalidShare):
        Share(**fields)  # type: ignore[arg-type]


def test_difficulty_forms_become_exact_fractions() -> None:
    assert Share("a", "w", "0.001", "j", 1, 0.0).difficulty == Fraction(1, 1000)  # type: ignore[arg-type]
    assert Share("a", "w", 2, "j", 1, 0.0).difficulty == 2  # type: ignore[arg-type]
    assert Share("a", "w", 0.5, "j", 1, 0.0).difficulty == Fraction(1, 2)  # type: ignore[arg-type]


def test_bad_blocks_are_refused() -> None:
    with pytest.raises(InvalidBlock):
        found(1, reward=-5, network_difficulty=1)
    with pytest.raises(InvalidBlock):
        found(1, reward=5, network_difficulty=1).__class__(
            height=1, hash="xyz", reward=5, share_id=1, account="a", worker="w",
            network_difficulty=Fraction(1),
        )


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValidationError, match="fee_account"):
        LedgerConfig(scheme="pplns")
    with pytest.raises(ValidationError, match="fee_percent"):
        LedgerConfig(fee_account="x", fee_percent=100)
    with pytest.raises(ValidationError, match="pplns_window"):
        LedgerConfig.model_validate({"fee_account": "x", "pplns_window": 5})
    assert LedgerConfig(scheme="solo").scheme is Scheme.SOLO  # SOLO needs no fee account
