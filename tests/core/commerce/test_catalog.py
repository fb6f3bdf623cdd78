"""ShopifyCsvCatalog / ShopifyJsonCatalog on the demo export and small hand-written files."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_support import SHOP_DATA, demo_catalog

from core.commerce.catalog import (
    Catalog,
    ShopifyCsvCatalog,
    ShopifyJsonCatalog,
    html_to_text,
    load_catalog,
)
from core.errors import CatalogError
from core.messages import StockState

HEADER = ("Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,"
          "Option2 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,"
          "Variant Price,Variant Compare At Price,Image Src,Image Position,Status")
SMALL = "\n".join([  # noqa: FLY002 - one CSV line per row reads best
    HEADER,
    ("tee,Basic Tee,<p>Soft &amp; light</p>,Acme,T-Shirts,\"cotton, summer\",TRUE,Color,Red,Size,S,TEE-R-S,"
     "shopify,0,deny,20.00,25.00,https://cdn.shopify.com/tee-1.jpg,1,active"),
    "tee,,,,,,,,Red,,M,TEE-R-M,shopify,2,deny,20.00,,,,",
    "tee,,,,,,,,Blue,,M,TEE-B-M,shopify,0,continue,22.00,,,,",
    "tee,,,,,,,,,,,,,,,,,https://cdn.shopify.com/tee-2.jpg,2,",
    "draft-hat,Draft Hat,,Acme,Hats,,TRUE,Title,Default Title,,,HAT-1,shopify,5,deny,10.00,,,,draft",
    "old-mug,Old Mug,,Acme,Mugs,,TRUE,Title,Default Title,,,MUG-1,shopify,5,deny,10.00,,,,archived",
    "hidden-sock,Hidden Sock,,Acme,Socks,,FALSE,Title,Default Title,,,SCK-1,shopify,5,deny,8.00,,,,active",
    "gift,Gift Card,,Acme,Gift Cards,,TRUE,Denomination,$25,,,GC-25,,,deny,25.00,,,,active",
])


def write(tmp_path: Path, text: str, name: str = "products.csv", *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_blank_title_rows_join_their_handle(tmp_path: Path) -> None:
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, SMALL))
    tee = cat.get("tee")
    assert tee is not None
    assert [v.sku for v in tee.variants] == ["TEE-R-S", "TEE-R-M", "TEE-B-M"]
    assert tee.colors == ("Red", "Blue") and tee.sizes == ("S", "M")
    assert tee.variants[1].options == {"Color": "Red", "Size": "M"}
    assert tee.variants[1].title == "Red / M"
    assert tee.images == ("https://cdn.shopify.com/tee-1.jpg", "https://cdn.shopify.com/tee-2.jpg")
    assert tee.body_text == "Soft & light"
    assert tee.tags == ("cotton", "summer")
    assert tee.min_price == Decimal("20.00")
    assert tee.variants[0].compare_at_price == Decimal("25.00") and tee.variants[0].on_sale


def test_stock_rules_deny_and_continue(tmp_path: Path) -> None:
    tee = ShopifyCsvCatalog.from_path(write(tmp_path, SMALL)).get("tee")
    assert tee is not None
    out_denied, low, out_continue = tee.variants
    assert not out_denied.buyable and out_denied.stock is StockState.OUT_OF_STOCK
    assert low.buyable and low.stock is StockState.LOW_STOCK
    assert out_continue.buyable and out_continue.stock is StockState.OUT_OF_STOCK
    assert tee.in_stock


def test_only_active_published_products_are_offered(tmp_path: Path) -> None:
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, SMALL))
    assert {p.handle for p in cat.products()} == {"tee", "draft-hat", "old-mug", "hidden-sock", "gift"}
    assert {p.handle for p in cat.offered()} == {"tee", "gift"}
    assert cat.get("draft-hat").status == "draft"  # still readable for staff
    assert cat.vocabulary().product_types == ("Gift Cards", "T-Shirts")


def test_default_title_and_untracked_inventory(tmp_path: Path) -> None:
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, SMALL))
    hat = cat.get("draft-hat")
    assert hat.variants[0].options == {} and hat.variants[0].title == "Default Title"
    gift = cat.get("gift")
    assert gift.variants[0].inventory_qty is None and gift.variants[0].buyable


def test_find_variant_by_sku_case_insensitive(tmp_path: Path) -> None:
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, SMALL))
    found = cat.find_variant("tee-b-m")
    assert found is not None and found[0].handle == "tee" and found[1].price == Decimal("22.00")
    assert cat.find_variant("nope") is None


def test_bom_and_crlf_are_tolerated(tmp_path: Path) -> None:
    text = "\ufeff" + SMALL.replace("\n", "\r\n")
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, text))
    assert len(cat.products()) == 5 and cat.get("tee") is not None


def test_missing_optional_columns(tmp_path: Path) -> None:
    text = "Handle,Title,Option1 Name,Option1 Value,Variant Price\nmug,Mug,Title,Default Title,9.50\n"
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, text))
    mug = cat.get("mug")
    assert mug.status == "active" and mug.published and mug.offered
    assert mug.variants[0].inventory_qty is None and mug.variants[0].price == Decimal("9.50")


@pytest.mark.parametrize(("body", "line", "words"), [
    ("Title,Price\nx,1\n", 1, "Handle"),
    ("Handle,Price\nx,1\n", 1, "Title"),
    ("Handle,Title\nx,X\n", 1, "Variant Price"),
    (HEADER + '\ntee,"Tee,,,,,TRUE\n', 2, "malformed"),
    ("", 1, "empty"),
])
def test_files_that_are_not_product_csvs_name_the_line(tmp_path: Path, body: str, line: int, words: str) -> None:
    with pytest.raises(CatalogError) as info:
        ShopifyCsvCatalog.from_path(write(tmp_path, body))
    assert info.value.line == line
    assert words.lower() in str(info.value).lower()


GOOD_ROW = "mug,Mug,,,,,TRUE,,,,,M1,shopify,3,deny,9.00,,,,active\n"


@pytest.mark.parametrize(("row", "column", "words"), [
    ("tee,Tee,,,,,TRUE,,,,,T1,shopify,3,deny,abc,,,,active", "Variant Price", "not a number"),
    ("tee,Tee,,,,,TRUE,,,,,T1,shopify,3,deny,-4.00,,,,active", "Variant Price", "not a valid amount"),
    ("tee,Tee,,,,,TRUE,,,,,T1,shopify,three,deny,1.00,,,,active", "Variant Inventory Qty", "whole number"),
    ("tee,Tee,,,,,TRUE,,,,,T1,shopify,3,maybe,1.00,,,,active", None, "policy"),
    ("tee,Tee,,,,,TRUE,,,,,T1,shopify,3,deny,1.00,,,,live", None, "status"),
    ("tee,,,,,,,,Red,,,T1,shopify,3,deny,1.00,,,,", "Title", "no Title"),
])
def test_a_bad_row_is_skipped_with_a_warning_naming_line_and_column(
        tmp_path: Path, row: str, column: str | None, words: str) -> None:
    path = write(tmp_path, HEADER + "\n" + GOOD_ROW + row + "\n")
    cat = ShopifyCsvCatalog.from_path(path)
    tee = cat.get("tee")
    assert (tee is None or not tee.offered) and cat.get("mug").offered  # never shown; the rest still loads
    [warning] = cat.warnings
    assert f"{path}:3:" in warning and words.lower() in warning.lower() and "skipped" in warning
    if column:
        assert f"column {column!r}" in warning


def test_a_handle_used_by_two_products_keeps_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\n" + GOOD_ROW + GOOD_ROW.replace(",Mug,", ",Teapot,"))
    cat = ShopifyCsvCatalog.from_path(path)
    assert cat.get("mug").title == "Mug" and len(cat.get("mug").variants) == 1
    assert len(cat.warnings) == 1 and "'Handle'" in cat.warnings[0] and ":3:" in cat.warnings[0]


def test_non_utf8_bytes_and_a_bom_still_load(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    body = (HEADER + "\n" + GOOD_ROW.replace("Mug", "Mug caf\u00e9")).encode("utf-8")
    path.write_bytes(b"\xef\xbb\xbf" + body.replace("caf\u00e9".encode(), b"caf\xe9"))
    cat = ShopifyCsvCatalog.from_path(path)
    assert cat.get("mug").title.startswith("Mug caf")
    assert len(cat.warnings) == 1 and f"{path}:2:" in cat.warnings[0] and "not UTF-8" in cat.warnings[0]


def test_broken_html_never_raises() -> None:
    assert "Soft" in html_to_text("<p>Soft <b>cotton<</p><div <<<")
    assert html_to_text("<![if ") is not None


def test_fifty_thousand_rows_load(tmp_path: Path) -> None:
    rows = "".join(f"p{i},Product {i},,,,,TRUE,,,,,S{i},shopify,3,deny,{i % 90 + 1}.00,,,,active\n"
                   for i in range(50_000))
    cat = ShopifyCsvCatalog.from_path(write(tmp_path, HEADER + "\n" + rows))
    assert len(cat) == 50_000 and not cat.warnings


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(CatalogError):
        load_catalog(tmp_path / "absent.csv")
    with pytest.raises(CatalogError, match="unknown catalogue format"):
        load_catalog(write(tmp_path, "x", "products.xlsx"))


def test_json_catalog_carries_variant_ids(tmp_path: Path) -> None:
    doc = {"products": [{
        "id": 1, "handle": "rain-jacket", "title": "Rain Jacket", "body_html": "<p>Dry <b>always</b></p>",
        "vendor": "Acme", "product_type": "Jackets", "tags": "outerwear, rain", "status": "active",
        "published_at": "2026-01-01T00:00:00Z",
        "options": [{"name": "Color", "position": 1}, {"name": "Size", "position": 2}],
        "images": [{"id": 7, "src": "https://cdn.shopify.com/j.jpg", "position": 1}],
        "variants": [
            {"id": 111, "sku": "RJ-Y-M", "price": "99.00", "option1": "Yellow", "option2": "M",
             "inventory_quantity": 0, "inventory_policy": "deny", "inventory_management": "shopify", "image_id": 7},
            {"id": 112, "sku": "RJ-Y-L", "price": "99.00", "compare_at_price": "120.00", "option1": "Yellow",
             "option2": "L", "inventory_quantity": 2, "inventory_policy": "deny", "inventory_management": "shopify"},
        ]}, {"handle": "draft", "title": "Draft", "status": "draft", "published_at": None,
             "variants": [{"id": 5, "price": "1.00"}]}]}
    path = tmp_path / "products.json"
    path.write_text(json.dumps(doc))
    cat = load_catalog(path)
    assert isinstance(cat, ShopifyJsonCatalog)
    product, variant = cat.find_variant("112")
    assert product.handle == "rain-jacket" and variant.sku == "RJ-Y-L" and variant.id == "112"
    assert variant.size == "L" and variant.color == "Yellow" and variant.on_sale
    assert not cat.find_variant("RJ-Y-M")[1].buyable
    assert product.body_text == "Dry always" and product.image_url == "https://cdn.shopify.com/j.jpg"
    assert [p.handle for p in cat.offered()] == ["rain-jacket"]


def test_json_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"products": [\n{"handle": }]}')
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert info.value.line == 2
    path.write_text('{"products": [{"title": "no handle"}]}')
    with pytest.raises(CatalogError, match=r"products\[0\]"):
        load_catalog(path)


def test_html_to_text() -> None:
    assert html_to_text("<p>One</p><ul><li>two &amp; three</li></ul>") == "One two & three"
    assert html_to_text("") == ""


# ---------------------------------------------------------------- the demo export


def test_demo_catalog_meets_the_brief() -> None:
    cat = demo_catalog()
    assert isinstance(cat, Catalog)
    assert len(cat.products()) >= 150
    assert len({p.product_type for p in cat.products()}) >= 8
    statuses = {p.status for p in cat.products()}
    assert {"active", "draft", "archived"} <= statuses
    assert any(p.status == "active" and not p.published for p in cat.products())
    variants = [v for p in cat.products() for v in p.variants]
    assert any(v.inventory_qty == 0 and v.inventory_policy == "deny" for v in variants)
    assert any(v.inventory_qty == 0 and v.inventory_policy == "continue" for v in variants)
    assert any(v.compare_at_price for v in variants)
    assert any(len(p.images) > 1 for p in cat.products())
    assert all(p.offered for p in cat.offered())
    vocab = cat.vocabulary()
    assert {"Red", "Grey", "Navy"} <= set(vocab.colors) and {"S", "M", "XL"} <= set(vocab.sizes)


def test_demo_csv_is_a_shopify_layout() -> None:
    with (SHOP_DATA / "products.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and list(rows[0])[:3] == ["Handle", "Title", "Body (HTML)"]
    assert "Variant Inventory Policy" in rows[0] and "Status" in rows[0]
    image_only = [r for r in rows if r["Image Src"] and not r["Variant SKU"] and not r["Title"]]
    assert image_only, "extra image rows are part of the Shopify layout"
    assert all(r["Image Position"] for r in image_only)


def test_demo_skus_are_unique() -> None:
    skus = [v.sku for p in demo_catalog().products() for v in p.variants]
    assert len(skus) == len(set(skus))
