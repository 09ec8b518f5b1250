"""How the clinic shows a patient's name on screen: no more than it needs."""

from __future__ import annotations


def short_name(full_name: str) -> str:
    """'Ann Lee' → 'Ann L.': enough to greet and confirm identity on screen."""
    parts = full_name.split()
    return f"{parts[0]} {parts[-1][0]}." if len(parts) > 1 else full_name
