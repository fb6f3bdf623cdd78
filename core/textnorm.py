"""What the engine reads of a message: compatibility forms folded, common traditional characters simplified.

Staff and shoppers type full-width digits and letters ("订单＃１００１", "ＸＬ") and
traditional characters ("紅色連帽衫", "訂單"). :func:`normalize_message` makes
the text the intent head, retrieval and entity rules read:

* Unicode NFKC: full-width ASCII to ASCII, ideographic space to a space,
  compatibility ideographs to their unified forms;
* a small traditional-to-simplified table (``core/data/zh_variants.yaml``):
  the characters of colours, garments, sizes, orders, stock, payment and
  common question words. Characters outside the table stay as they are
  (a multilingual encoder reads traditional Chinese anyway).

The message the user sent is what the conversation's history keeps; only
understanding uses the normalised text.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

import yaml

VARIANTS_FILE = Path(__file__).resolve().parent / "data" / "zh_variants.yaml"


@functools.cache
def _simplified_table(path: Path = VARIANTS_FILE) -> dict[int, str]:
    """``str.translate`` table from the variants file (pairs of characters per entry)."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    table: dict[int, str] = {}
    for run in (doc.get("pairs") or {}).values():
        run = str(run)
        if len(run) % 2:
            raise ValueError(f"{path}: an odd run of characters: {run!r}")
        for trad, simp in zip(run[::2], run[1::2]):
            if trad != simp:
                table[ord(trad)] = simp
    return table


def to_simplified(text: str) -> str:
    """``text`` with the table's traditional characters replaced by their simplified forms."""
    return text.translate(_simplified_table())


def normalize_message(text: str) -> str:
    """NFKC, then common traditional characters simplified (see the module docstring)."""
    return to_simplified(unicodedata.normalize("NFKC", text))
