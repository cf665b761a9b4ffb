"""Fixtures that steer the kernel choice: force a kernel, hide CPU features, and keep
choice records in a scratch directory instead of the tree's numba cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hashing import choice


def _steer(monkeypatch: pytest.MonkeyPatch, variable: str) -> Iterator[Callable[[str], None]]:
    """A setter of the environment `variable` that makes the kernel choice look again;
    after the test, the choice is made afresh from the untouched environment."""

    def set_to(value: str) -> None:
        monkeypatch.setenv(variable, value)
        choice.reset()

    yield set_to
    choice.reset()


@pytest.fixture
def force(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """force("shani2") / force("batch=avx2"): SURPLUS_HASH_KERNEL for this test."""
    yield from _steer(monkeypatch, "SURPLUS_HASH_KERNEL")


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """hide("sha,avx512f"): the kernel choice sees a CPU without these features."""
    yield from _steer(monkeypatch, "SURPLUS_HASH_HIDE")


@pytest.fixture
def choice_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Choice records are read and written here for this test."""
    monkeypatch.setattr(choice, "cache_dir", lambda: tmp_path)
    choice.reset()
    yield tmp_path
    choice.reset()
