"""What free text from a patient or an admin may contain, checked without any framework.

Names, reasons and bios end up in emails, calendar invites, the physiotherapist's screen and
the audit log. A NUL byte breaks some of those outright, and a right-to-left override makes
"Ann Lee" display as something else entirely (or an ".exe" look like ".pdf"), so both are
refused at the door rather than escaped everywhere they are shown.
"""

from __future__ import annotations

import unicodedata

from .wording import N_

# Bidirectional embeddings, overrides and isolates: LRE, RLE, PDF, LRO, RLO and LRI, RLI, FSI, PDI.
BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

NOT_ALLOWED = N_("Remove control or text-direction characters.")


def unsafe_character(text: str, allow_newlines: bool = False) -> str | None:
    """The first character a person cannot have meant to type, or None when the text is clean.

    Control characters (Unicode category Cc: NUL, escape, DEL, the C1 range) and the bidi
    overrides are refused; with `allow_newlines`, line breaks and tabs of multi-line fields pass.
    """
    for char in text:
        if allow_newlines and char in "\n\r\t":
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) == "Cc":
            return char
    return None


def is_clean_text(text: str, allow_newlines: bool = False) -> bool:
    """True when the text has no control or bidi-override characters."""
    return unsafe_character(text, allow_newlines) is None


def unclean_fields(
    values: dict[str, object], multiline: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Per-field errors for every string value that carries an unsafe character."""
    return {
        name: NOT_ALLOWED
        for name, value in values.items()
        if isinstance(value, str) and not is_clean_text(value, name in multiline)
    }
