"""A site's rigs counted by firmware family and state, and by model, from its fleetd's
GET /sites/{site}/rigs (for the operator's console). Pure.

Every key is a string from a rig or a fleetd: made printable and bounded here, and a
site with more distinct values than MAX_KEYS counts the rest under "other" (a hostile
fleetd cannot grow the coordinator's memory or the page without bound). The page shows
them as text.
"""

from __future__ import annotations

from typing import Any

from plumbing.escape import printable

MAX_KEYS = 32
MAX_KEY_CHARS = 40


def _key(v: Any, seen: dict[str, Any]) -> str:
    k = printable(str(v), MAX_KEY_CHARS) if isinstance(v, str) and v else "unknown"
    return k if k in seen or len(seen) < MAX_KEYS else "other"


def count_rigs(answer: Any) -> dict[str, Any]:
    """{"total", "by_family": {family: {state: n}}, "by_model": {model: n}} of a RigList."""
    rigs = answer.get("rigs") if isinstance(answer, dict) else None
    by_family: dict[str, dict[str, int]] = {}
    by_model: dict[str, int] = {}
    total = 0
    for rig in rigs if isinstance(rigs, list) else []:
        if not isinstance(rig, dict):
            continue
        total += 1
        family = _key(rig.get("firmware"), by_family)
        states = by_family.setdefault(family, {})
        state = _key(rig.get("state"), states)
        states[state] = states.get(state, 0) + 1
        model = _key(rig.get("model"), by_model)
        by_model[model] = by_model.get(model, 0) + 1
    return {"total": total, "by_family": by_family, "by_model": by_model}
