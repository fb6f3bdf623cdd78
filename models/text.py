"""Text normalisation shared by intent training and serving.

Training and serving must see the same string for the same input, otherwise
the head learns from text it will never be shown. Everything that feeds the
intent head goes through :func:`normalize_text`.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")
# Control (Cc) and format (Cf) characters: zero-width spaces, BOMs, bidi marks...
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs"})


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text`` that the intent model sees.

    Steps: Unicode NFKC (full-width letters, ligatures and compatibility forms
    fold to their plain form), lower-casing (the encoder's tokenizer is
    uncased), control and format characters removed (tabs and newlines become
    spaces first), runs of whitespace folded to one space, ends stripped.

    Args:
        text: Any user text.

    Returns:
        The normalised text; empty when ``text`` held nothing printable.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _WHITESPACE.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    text = text.lower()
    return _WHITESPACE.sub(" ", text).strip()
