"""Understanding and search learnt from the loaded catalogue, on small synthetic exports of each layout.

The catalogues are written here (never a real shop's export): the 2021 layout (Custom Product Type,
Standard Product Type, lowercase Published, drafts), the oldest layout (no Status column), German
option names, Product Category paths with an empty Type, sold-out variants under "deny".
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from catalog_support import HashingEncoder

from core.commerce.catalog import ShopifyCsvCatalog
from core.commerce.finder import ProductFinder
from core.commerce.search import ProductSearch
from core.commerce.shop import catalogue_currency, catalogue_name, resolve_identity
from core.commerce.vocabulary import CatalogVocabulary, default_lexicon

# 2021 layout: no Type column; Custom Product Type is the shop's type. Prices in ringgit.
FOOD = """Handle,Title,Body (HTML),Vendor,Standard Product Type,Custom Product Type,Tags,Published,Option1 Name,\
Option1 Value,Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Price,Status
lamb-rack,Lamb Rack,<p>Frenched lamb rack.</p>,Sabah Meats,Food,Lamb,"lamb, frozen",true,Title,Default Title,L1,\
shopify,5,deny,89.00,active
beef-mince,Beef Mince,<p>Lean minced beef.</p>,Sabah Meats,Food,Beef,"beef, frozen",true,Title,Default Title,B1,\
shopify,5,deny,29.50,active
beef-ribeye,Beef Ribeye,<p>Ribeye steak.</p>,Sabah Meats,Food,Beef,"beef, steak",true,Title,Default Title,B2,\
shopify,5,deny,75.00,active
oxtail,Oxtail,<p>For soup.</p>,Sabah Meats,Food,Beef,beef,false,Title,Default Title,O1,shopify,5,deny,40.00,draft
twister-fries,Twister Fries,<p>Spiral fries.</p>,Sabah Meats,Food,Fries,fries,true,Title,Default Title,F1,,0,deny,\
35.20,active
crinkle-fries,Crinkle Fries,<p>Crinkle cut.</p>,Sabah Meats,Food,Fries,fries,true,Title,Default Title,F2,shopify,\
9,deny,12.00,active
yam-cake,Yam Cake,<p>Steamed yam cake.</p>,Sabah Meats,Food,Snacks,snack,true,Flavour,Original,Y1,shopify,5,deny,\
13.60,active
yam-cake,,,,,,,,,Roasted Groundnuts,Y2,shopify,5,deny,13.60,
"""

# Oldest layout (no Status), German option names, colours only in option values, a market column.
SWIM = """Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,\
Option2 Value,Variant SKU,Variant Price,Included / Germany
lena-top-navy,LENA TOP,<p>Triangle bikini top.</p>,Mira Label,Swimwear,"tops, bikini",TRUE,Farbe,NAVY,Größe,S,\
LT1,89.00,TRUE
lena-top-navy,,,,,,,,NAVY,,M,LT2,89.00,TRUE
lena-top-black,LENA TOP,<p>Triangle bikini top.</p>,Mira Label,Swimwear,"tops, bikini",TRUE,Farbe,BLACK,Größe,S,\
LT3,89.00,TRUE
lena-top-black,,,,,,,,BLACK,,M,LT4,89.00,TRUE
ava-bottom-lilac,AVA BOTTOM,<p>High waisted bottom.</p>,Mira Label,Swimwear,"bottoms, bikini",TRUE,Farbe,LILAC,\
Größe,S,AB1,79.00,TRUE
ava-bottom-black,AVA BOTTOM,<p>High waisted bottom.</p>,Mira Label,Swimwear,"bottoms, bikini",TRUE,Farbe,BLACK,\
Größe,S,AB2,79.00,TRUE
ivy-pareo-white,IVY PAREO,<p>Pareo wrap skirt.</p>,Mira Label,Resortwear,pareos,TRUE,Farbe,WHITE,Größe,ONE SIZE,\
IP1,59.00,TRUE
old-pareo,OLD PAREO,<p>Gone.</p>,Mira Label,Resortwear,pareos,FALSE,Farbe,RED,Größe,ONE SIZE,OP1,49.00,TRUE
"""

# Product Category paths with an empty Type; colour only in the title.
JEWELLERY = """Handle,Title,Body (HTML),Vendor,Product Category,Type,Tags,Published,Option1 Name,Option1 Value,\
Variant SKU,Variant Inventory Tracker,Variant Inventory Qty,Variant Inventory Policy,Variant Price,Status
silver-bracelet,Silver Curb Bracelet,<p>Sterling.</p>,Old Gold Co,Apparel & Accessories > Jewelry > Bracelets,,\
,TRUE,Title,Default Title,S1,shopify,2,deny,24.00,active
rose-bracelet,Rose Gold Bracelet,<p>9ct.</p>,Old Gold Co,Apparel & Accessories > Jewelry > Bracelets,,,TRUE,\
Title,Default Title,R1,shopify,2,deny,180.00,active
diamond-ring,Diamond Ring,<p>RING SIZE: M.</p>,Old Gold Co,Apparel & Accessories > Jewelry > Rings,,,TRUE,Title,\
Default Title,D1,shopify,1,deny,450.00,active
tiffany-earrings,Tiffany Heart Earrings,<p>Sold.</p>,Old Gold Co,Apparel & Accessories > Jewelry > Earrings,,,TRUE,\
Title,Default Title,T1,shopify,0,deny,900.00,active
pearl-earrings,Pearl Earrings,<p>Akoya.</p>,Old Gold Co,Apparel & Accessories > Jewelry > Earrings,,,TRUE,Title,\
Default Title,P1,shopify,3,deny,250.00,active
"""


def finder_for(tmp_path: Path, text: str) -> ProductFinder:
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8")
    catalog = ShopifyCsvCatalog.from_path(path)
    assert not catalog.warnings
    return ProductFinder(search=ProductSearch(catalog=catalog, encoder=HashingEncoder()))


@pytest.fixture
def food(tmp_path: Path) -> ProductFinder:
    return finder_for(tmp_path, FOOD)


@pytest.fixture
def swim(tmp_path: Path) -> ProductFinder:
    return finder_for(tmp_path, SWIM)


@pytest.fixture
def jewellery(tmp_path: Path) -> ProductFinder:
    return finder_for(tmp_path, JEWELLERY)


def handles(finder: ProductFinder, query: str, k: int = 3) -> list[str]:
    return [r.product.handle for r in finder.find(query, k=k).results]


# ------------------------------------------------------------------------- vocabulary


def test_types_come_from_custom_product_type_and_category_paths(food: ProductFinder,
                                                                 jewellery: ProductFinder) -> None:
    assert {"Lamb", "Beef", "Fries", "Snacks"} <= set(food.vocabulary.types)
    assert {"Bracelets", "Rings", "Earrings"} <= set(jewellery.vocabulary.types)
    assert food.parse("any beef?").types == ("Beef",)
    assert jewellery.parse("a bracelet").types == ("Bracelets",)


def test_option_names_in_other_languages_and_colour_families(swim: ProductFinder) -> None:
    lex = default_lexicon()
    assert lex.option_family("Farbe") == "colour" and lex.option_family("Größe") == "size"
    assert lex.option_family("Link Size") == "size"
    assert lex.colour_of("NAVY") == "blue" and lex.colour_of("LILAC") == "purple"
    assert lex.colour_of("Rose Gold") == "rose gold" and lex.colour_of("Chryso Black") == "black"
    assert swim.vocabulary.colours["blue"] == {"NAVY"}
    assert swim.catalog.get("lena-top-navy").variants[0].color == "NAVY"
    assert swim.catalog.get("lena-top-navy").variants[1].size == "M"


def test_words_only_drafts_use_are_told_apart(food: ProductFinder) -> None:
    vocab = CatalogVocabulary.from_products(food.catalog.products())
    assert vocab.only_inactive("oxtail") and vocab.known("lamb")


# ------------------------------------------------------------------------- finding


def test_a_named_product_comes_first(swim: ProductFinder, food: ProductFinder) -> None:
    finding = swim.find("LENA TOP", k=5)
    assert [r.match for r in finding.results] == ["named", "named"]
    assert {r.product.handle for r in finding.results} == {"lena-top-navy", "lena-top-black"}
    assert handles(food, "Yam Cake")[0] == "yam-cake"


def test_colour_families_match_option_values_and_other_colours_are_left_out(swim: ProductFinder) -> None:
    assert handles(swim, "blue bikini top") == ["lena-top-navy"]
    assert handles(swim, "purple bottom") == ["ava-bottom-lilac"]
    assert "ava-bottom-black" not in handles(swim, "bottoms but not black", k=5)


def test_a_colour_without_an_option_is_matched_in_the_title(jewellery: ProductFinder) -> None:
    assert handles(jewellery, "rose gold bracelet")[0] == "rose-bracelet"
    assert handles(jewellery, "silver bracelet")[0] == "silver-bracelet"


def test_unpublished_and_draft_products_are_never_found(swim: ProductFinder, food: ProductFinder) -> None:
    assert "old-pareo" not in handles(swim, "OLD PAREO red", k=10)
    finding = food.find("oxtail for soup")
    assert finding.none_buyable and "oxtail" not in [r.product.handle for r in finding.results]
    assert all(r.match == "alternative" for r in finding.results)


def test_a_kind_the_shop_never_sold_is_answered_honestly(swim: ProductFinder) -> None:
    finding = swim.find("men's swim shorts")
    assert finding.none_buyable and finding.query.missing_terms == ("short",)


def test_a_sold_out_match_is_not_buyable(jewellery: ProductFinder, food: ProductFinder) -> None:
    assert jewellery.find("Tiffany earrings available to buy now").none_buyable
    assert not jewellery.find("pearl earrings in stock").none_buyable
    twister = food.catalog.get("twister-fries")  # qty 0 under deny with an empty tracker: sold out
    assert not twister.in_stock


def test_price_words_in_any_currency_and_the_stated_relaxation(food: ProductFinder,
                                                               jewellery: ProductFinder) -> None:
    q = food.parse("frozen beef under RM 35")
    assert q.price_max == Decimal(35) and q.types == ("Beef",)
    assert handles(food, "frozen beef under RM 35") == ["beef-mince"]
    finding = jewellery.find("silver bracelet under 20 €")
    assert finding.relaxed == ("price",) and finding.cheapest == Decimal("24.00")
    assert finding.results[0].product.handle == "silver-bracelet" and finding.results[0].match == "alternative"
    between = jewellery.parse("earrings between $200 and $2,000")
    assert (between.price_min, between.price_max) == (Decimal(200), Decimal(2000))


def test_a_size_only_in_the_description_is_found(jewellery: ProductFinder) -> None:
    assert handles(jewellery, "a ring in size M")[0] == "diamond-ring"


def test_variants_are_picked_from_the_words_said(swim: ProductFinder, food: ProductFinder) -> None:
    top = swim.catalog.get("lena-top-navy")
    assert [v.sku for v in swim.variants_for(top, "add it in size M")] == ["LT2"]
    yam = food.catalog.get("yam-cake")
    assert [v.sku for v in food.variants_for(yam, "add the roasted groundnuts one")] == ["Y2"]
    assert len(food.variants_for(yam, "add it")) == 2


def test_search_json_marks_alternatives(food: ProductFinder) -> None:
    out = food.find("chicken nuggets", k=3).as_json()
    assert out["none_buyable"] is True and all(r["match"] == "alternative" for r in out["results"])


# ------------------------------------------------------------------------- shop identity


def test_identity_comes_from_the_catalogue_not_another_shop(swim: ProductFinder) -> None:
    assert catalogue_name(swim.catalog) == "Mira Label"
    assert catalogue_currency(swim.catalog) == "EUR"
    shop = resolve_identity(catalog=swim.catalog, own_catalog=False,
                            defaults={"name": "Northwind Outfitters", "currency": "USD"})
    assert shop.name == "Mira Label" and shop.currency == "EUR" and shop.money(Decimal(89)) == "€89.00"
    assert resolve_identity(catalog=swim.catalog, own_catalog=False, defaults={}, name="Shop X",
                            currency="MYR").money(Decimal(35)) == "RM 35.00"
