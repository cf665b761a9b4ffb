"""The real-data vectors in this folder (README.md says where each comes from), loaded
once per test session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent


@cache
def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())
