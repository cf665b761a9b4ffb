"""Fixtures that steer the kernel choice: force a kernel, hide CPU features, and keep
choice records in a scratch directory instead of the tree's numba cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hashing import choice, kernels


@pytest.fixture
def force(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """force("shani2") / force("batch=avx2"): SURPLUS_HASH_KERNEL for this test."""

    def _force(spec: str) -> None:
        monkeypatch.setenv("SURPLUS_HASH_KERNEL", spec)
        kernels.reset()

    yield _force
    kernels.reset()


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """hide("sha,avx512f"): the kernel choice sees a CPU without these features."""

    def _hide(features: str) -> None:
        monkeypatch.setenv("SURPLUS_HASH_HIDE", features)
        kernels.reset()

    yield _hide
    kernels.reset()


@pytest.fixture
def choice_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Choice records are read and written here for this test."""
    monkeypatch.setattr(choice, "cache_dir", lambda: tmp_path)
    kernels.reset()
    yield tmp_path
    kernels.reset()
