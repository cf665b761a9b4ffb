"""Loading the real-data vectors under tests/vectors."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


@cache
def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())
