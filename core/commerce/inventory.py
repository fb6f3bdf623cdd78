"""Per-location stock from a Shopify inventory export (one row per variant and location).

Shopify's *Export inventory* CSV has the columns ``Handle, Title, Option1
Name, Option1 Value, ... SKU, ..., Location, Incoming, Unavailable,
Committed, Available, On hand``. The product catalogue only knows a total per
variant; store staff need the split by store, which is what this file holds.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import CatalogError
from core.retrieval import edit_distance, typo_budget

REQUIRED_COLUMNS = ("Handle", "SKU", "Location", "Available", "On hand")
_QUANTITIES = ("Incoming", "Unavailable", "Committed", "Available", "On hand")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, kw_only=True)
class StockLevel:
    """One variant's quantities at one location."""

    location: str
    available: int
    on_hand: int
    incoming: int = 0
    committed: int = 0
    unavailable: int = 0


@dataclass(frozen=True, kw_only=True)
class InventoryItem:
    """One variant (SKU) with its stock at every location listed in the export."""

    handle: str
    title: str
    sku: str
    options: tuple[tuple[str, str], ...]
    levels: tuple[StockLevel, ...]

    @property
    def variant_title(self) -> str:
        """``"Navy / XS"``: the option values, as Shopify shows them."""
        return " / ".join(value for _, value in self.options) or "Default"

    @property
    def available(self) -> int:
        return sum(level.available for level in self.levels)

    def at(self, location: str) -> StockLevel | None:
        return next((level for level in self.levels if level.location == location), None)


class Inventory:
    """Stock levels by SKU and by product handle.

    Args:
        items: one per SKU, in export order.
    """

    def __init__(self, *, items: Sequence[InventoryItem]) -> None:
        self.items = tuple(items)
        self._by_sku = {item.sku.upper(): item for item in self.items}
        self._by_handle: dict[str, list[InventoryItem]] = {}
        for item in self.items:
            self._by_handle.setdefault(item.handle, []).append(item)
        locations: dict[str, None] = {}
        for item in self.items:
            for level in item.levels:
                locations.setdefault(level.location, None)
        self.locations: tuple[str, ...] = tuple(locations)

    def __len__(self) -> int:
        return len(self.items)

    def for_sku(self, sku: str) -> InventoryItem | None:
        """Exact (case-insensitive) SKU match."""
        return self._by_sku.get(sku.strip().upper())

    def for_handle(self, handle: str) -> list[InventoryItem]:
        """Every variant of one product, in export order."""
        return list(self._by_handle.get(handle, ()))

    def find_skus(self, text: str) -> list[InventoryItem]:
        """SKUs written in ``text`` (``NW-TEE-001-NVY-XS``), in order of appearance."""
        found = []
        for token in re.findall(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+", text):
            item = self.for_sku(token)
            if item is not None and item not in found:
                found.append(item)
        return found

    def match_location(self, text: str, aliases: Mapping[str, Iterable[str]] | None = None) -> str | None:
        """The location named in ``text``, by a word that only its name has.

        "Northwind Midtown" is matched by "midtown" (typos tolerated) but not by
        "northwind", which every location shares. ``aliases`` adds more words
        per location (a store's id or city).
        """
        words = {w for w in _WORD.findall(text.lower())}
        if not words:
            return None
        own = {loc: set(_WORD.findall(loc.lower())) | {a.lower() for a in (aliases or {}).get(loc, ())}
               for loc in self.locations}
        shared = set.intersection(*own.values()) if len(own) > 1 else set()
        for location, names in own.items():
            for name in names - shared:
                if len(name) < 3:
                    continue
                for word in words:
                    if word == name or (typo_budget(name) and edit_distance(word, name, typo_budget(name))
                                        <= typo_budget(name)):
                        return location
        return None


def _int(row: Mapping[str, str], column: str, path: Path, line: int) -> int:
    raw = (row.get(column) or "0").strip() or "0"
    try:
        return int(float(raw))
    except ValueError as e:
        raise CatalogError(str(path), f"{column} is not a number: {raw!r}", line) from e


def load_inventory(path: str | Path) -> Inventory:
    """Read a Shopify inventory export.

    Raises:
        CatalogError: the file is missing, lacks a required column, or a
            quantity is not a number (``line`` says where).
    """
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CatalogError(str(path), f"cannot read: {e.strerror or e}") from e
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise CatalogError(str(path), f"missing column(s) {', '.join(missing)}", 1)
        rows: dict[str, dict[str, Any]] = {}
        for line, row in enumerate(reader, start=2):
            sku = (row.get("SKU") or "").strip()
            location = (row.get("Location") or "").strip()
            if not sku or not location:
                raise CatalogError(str(path), "a row needs a SKU and a Location", line)
            q = {c: _int(row, c, path, line) for c in _QUANTITIES}
            entry = rows.setdefault(sku, {
                "handle": (row.get("Handle") or "").strip(),
                "title": (row.get("Title") or "").strip(),
                "options": tuple(
                    ((row.get(f"Option{i} Name") or "").strip(), (row.get(f"Option{i} Value") or "").strip())
                    for i in (1, 2, 3)
                    if (row.get(f"Option{i} Value") or "").strip()
                ),
                "levels": {},
            })
            entry["levels"][location] = StockLevel(
                location=location, available=q["Available"], on_hand=q["On hand"], incoming=q["Incoming"],
                committed=q["Committed"], unavailable=q["Unavailable"],
            )
    items = [
        InventoryItem(handle=e["handle"], title=e["title"] or e["handle"], sku=sku, options=e["options"],
                      levels=tuple(e["levels"].values()))
        for sku, e in rows.items()
    ]
    return Inventory(items=items)
