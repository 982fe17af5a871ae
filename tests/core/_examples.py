"""How many hypothesis examples a property runs: its own number, or fewer in the edit-test
loop (``make test-fast`` sets ``KDELOSS_EXAMPLES``). ``make test`` always runs the full count."""

from __future__ import annotations

import os


def examples(n: int) -> int:
    """``n``, or ``KDELOSS_EXAMPLES`` when that is set and smaller."""
    cap = os.environ.get("KDELOSS_EXAMPLES", "").strip()
    return min(n, int(cap)) if cap else n
