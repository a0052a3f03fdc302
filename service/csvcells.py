"""CSV cells that spreadsheet apps open safely.

Spreadsheet apps execute a cell that starts with one of these characters as a formula (CSV
injection), so every export puts a quote before it in text that people or publishers name.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(text: str) -> str:
    """``text`` as a cell, with a quote before a leading formula character."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text
