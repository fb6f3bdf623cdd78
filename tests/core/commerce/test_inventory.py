"""The Shopify inventory export loader: per-location quantities, SKU and store matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.commerce.inventory import load_inventory
from core.errors import CatalogError

DATA = Path(__file__).resolve().parents[3] / "bots" / "staff_helpdesk" / "data" / "inventory.csv"
HEADER = ("Handle,Title,Option1 Name,Option1 Value,Option2 Name,Option2 Value,Option3 Name,Option3 Value,SKU,"
          "HS Code,COO,Location,Incoming,Unavailable,Committed,Available,On hand\n")


def test_demo_export_has_every_variant_at_every_store() -> None:
    inventory = load_inventory(DATA)
    assert inventory.locations == ("Northwind Harbourfront", "Northwind Midtown", "Northwind Riverside Outlet")
    assert len(inventory) == 1571
    assert all(len(item.levels) == 3 for item in inventory.items)
    item = inventory.for_sku("nw-tee-001-nvy-xs")
    assert item is not None and item.variant_title == "Navy / XS"
    assert [level.available for level in item.levels] == [5, 1, 7]
    assert item.available == 13
    assert inventory.for_sku("NW-NOPE") is None


def test_rows_of_one_sku_merge_and_quantities_are_read(tmp_path: Path) -> None:
    path = tmp_path / "inv.csv"
    path.write_text(HEADER
                    + "cap,Wool Cap,Color,Red,,,,,CAP-RED,,,Store A,3,1,2,4,7\n"
                    + "cap,Wool Cap,Color,Red,,,,,CAP-RED,,,Store B,0,0,0,0,0\n"
                    + "cap,Wool Cap,Color,Blue,,,,,CAP-BLU,,,Store A,0,0,0,9,9\n", encoding="utf-8")
    inventory = load_inventory(path)
    red = inventory.for_sku("CAP-RED")
    assert red is not None
    a = red.at("Store A")
    assert a is not None and (a.incoming, a.unavailable, a.committed, a.available, a.on_hand) == (3, 1, 2, 4, 7)
    assert [i.sku for i in inventory.for_handle("cap")] == ["CAP-RED", "CAP-BLU"]
    assert inventory.find_skus("stock of cap-blu and CAP-RED please") == [
        inventory.for_sku("CAP-BLU"), inventory.for_sku("CAP-RED")]


def test_store_names_match_by_their_own_words_with_typos() -> None:
    inventory = load_inventory(DATA)
    assert inventory.match_location("how many in midtown?") == "Northwind Midtown"
    assert inventory.match_location("anything at harbourfrnt") == "Northwind Harbourfront"
    assert inventory.match_location("the riverside one") == "Northwind Riverside Outlet"
    assert inventory.match_location("at northwind") is None  # every store shares that word
    assert inventory.match_location("in the downtown store") is None
    assert inventory.match_location("at the pier", {"Northwind Harbourfront": ["pier"]}) == "Northwind Harbourfront"


@pytest.mark.parametrize(("body", "reason"), [
    ("Handle,Title\ncap,Cap\n", "missing column"),
    (HEADER + "cap,Cap,,,,,,,CAP-1,,,Store A,0,0,0,lots,1\n", "not a number"),
    (HEADER + "cap,Cap,,,,,,,,,,Store A,0,0,0,1,1\n", "needs a SKU"),
])
def test_bad_exports_are_catalog_errors(tmp_path: Path, body: str, reason: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogError, match=reason):
        load_inventory(path)


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read"):
        load_inventory(tmp_path / "nope.csv")
