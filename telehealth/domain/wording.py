"""Marking messages for the French catalog where no framework may be imported."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the name gettext's extractor looks for
    """The message unchanged: it is translated where it is shown, not where it is written."""
    return message


def NP_(context: str, message: str) -> str:  # noqa: N802 - the extractor's keyword (NP_:1c,2)
    """N_ for a word whose translation depends on what it describes (French gender)."""
    return message
