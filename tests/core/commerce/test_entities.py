"""EntityExtractor rules, one behaviour per case, on the demo catalogue's vocabulary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from catalog_support import demo_extractor
from hypothesis import given, settings
from hypothesis import strategies as st

from core.commerce.catalog import Vocabulary
from core.commerce.entities import EntityExtractor, normalize_phone


@pytest.fixture(scope="module")
def ex() -> EntityExtractor:
    return demo_extractor()


def D(x: str) -> Decimal:
    return Decimal(x)


@pytest.mark.parametrize(("text", "lo", "hi"), [
    ("red hoodie under $50", None, "50"),
    ("less than 40", None, "40"),
    ("below 30 dollars", None, "30"),
    ("no more than 25 bucks", None, "25"),
    ("between 20 and 40", "20", "40"),
    ("$20-$40", "20", "40"),
    ("from $40 to $20", "20", "40"),
    ("over 100", "100", None),
    ("at least $75", "75", None),
    ("around 50", "40.00", "60.00"),
    ("about $100", "80.00", "120.00"),
    ("50元以下", None, "50"),
    ("100元以上的外套", "100", None),
    ("不超过200元", None, "200"),
])
def test_prices(ex: EntityExtractor, text: str, lo: str | None, hi: str | None) -> None:
    e = ex.extract(text)
    assert e.price_min == (D(lo) if lo else None)
    assert e.price_max == (D(hi) if hi else None)


@pytest.mark.parametrize(("text", "colors"), [
    ("a red hoodie", ("Red",)),
    ("gray socks", ("Grey",)),
    ("grey or navy", ("Navy", "Grey")),
    ("navy blue jacket", ("Navy",)),
    ("something in black and white", ("Black", "White")),
    ("红色的卫衣", ("Red",)),
    ("蓝色牛仔裤", ("Blue",)),
    ("I'm tired of boring stuff", ()),
])
def test_colors(ex: EntityExtractor, text: str, colors: tuple[str, ...]) -> None:
    assert set(ex.extract(text).colors) == set(colors)


@pytest.mark.parametrize(("text", "types"), [
    ("hoodies", ("Hoodies",)),
    ("a hoody", ("Hoodies",)),
    ("sneaker", ("Sneakers",)),
    ("snekers", ("Sneakers",)),
    ("a warm jaket", ("Jackets",)),
    ("t-shirt", ("T-Shirts",)),
    ("tees", ("T-Shirts",)),
    ("trainers", ("Sneakers",)),
    ("a coat", ("Jackets",)),
    ("gift card", ("Gift Cards",)),
    ("牛仔裤", ("Jeans",)),
    ("jeans and a belt", ("Jeans", "Belts")),
    ("hello there", ()),
])
def test_product_types(ex: EntityExtractor, text: str, types: tuple[str, ...]) -> None:
    assert set(ex.extract(text).product_types) == set(types)


@pytest.mark.parametrize(("text", "sizes"), [
    ("XL", ("XL",)),
    ("extra large please", ("XL",)),
    ("size m", ("M",)),
    ("jeans waist 32", ("32",)),
    ("boots size 9", ("9",)),
    ("in small", ("S", "Small")),
    ("I am a medium", ("M",)),
    ("a large candle", ("L", "Large")),
    ("I'm looking for a hat", ()),  # the pronoun "I" and article "a" are not sizes
])
def test_sizes(ex: EntityExtractor, text: str, sizes: tuple[str, ...]) -> None:
    assert set(ex.extract(text).sizes) == set(sizes)


@pytest.mark.parametrize(("text", "qty"), [
    ("2 of them", 2), ("three", 3), ("x3", 3), ("3x", 3), ("add 4", 4), ("I'll take two", 2),
    ("qty: 5", 5), ("3 hoodies", 3), ("two red mugs", 2), ("2 pairs of socks", 2), ("买两件", 2),
    ("a red hoodie", None), ("under 40", None),
])
def test_quantity(ex: EntityExtractor, text: str, qty: int | None) -> None:
    assert ex.extract(text).quantity == qty


@pytest.mark.parametrize(("text", "number"), [
    ("#1001", "#1001"), ("where is order 1002?", "#1002"), ("order number: 1003", "#1003"),
    ("SK-1004", "#1004"), ("sk1005 status", "#1005"), ("订单号 1006", "#1006"), ("hello", None),
    ("where's my order? it's #R-2231", "#R-2231"), ("#ab-10042 please", "#AB-10042"), ("a t-1000 robot", None),
])
def test_order_numbers(ex: EntityExtractor, text: str, number: str | None) -> None:
    assert ex.extract(text).order_number == number


@pytest.mark.parametrize(("text", "index"), [
    ("the 2nd", 2), ("number 3", 3), ("#2", 2), ("the first one", 1), ("the last one", -1),
    ("option 4", 4), ("第二个", 2), ("first time here", None),
])
def test_list_index(ex: EntityExtractor, text: str, index: int | None) -> None:
    assert ex.extract(text).list_index == index


def test_order_number_is_not_a_list_index(ex: EntityExtractor) -> None:
    e = ex.extract("#1001")
    assert e.order_number == "#1001" and e.list_index is None


def test_price_is_not_a_size_or_quantity(ex: EntityExtractor) -> None:
    e = ex.extract("jeans under 32")
    assert e.price_max == D("32") and e.sizes == () and e.quantity is None


def test_contacts(ex: EntityExtractor) -> None:
    e = ex.extract("reach me at Ava.Cohen@Example.com or +1 (206) 555-1001")
    assert e.email == "ava.cohen@example.com" and e.phone == "+12065551001"
    assert ex.extract("call 206-555-1001").phone == "+12065551001"
    assert ex.extract("my order is #1001").phone is None


def test_phone_normalisation() -> None:
    assert normalize_phone("+44 20 7946 0958") == "+442079460958"
    assert normalize_phone("0044 20 7946 0958") == "+442079460958"
    assert normalize_phone("+86 138 1234 5678") == "+8613812345678"
    assert normalize_phone("(206) 555-1001") == "+12065551001"
    assert normalize_phone("12345") is None


def test_stock_and_sort_hints(ex: EntityExtractor) -> None:
    assert ex.extract("boots in stock").in_stock
    assert not ex.extract("boots").in_stock
    assert ex.extract("anything cheaper?").sort == "cheaper"
    assert ex.extract("show me something pricier").sort == "pricier"
    assert ex.extract("cheaper than 40").price_max == D("40")


def test_combined_query(ex: EntityExtractor) -> None:
    e = ex.extract("2 black hoodies in XL under $70 that are in stock")
    assert e.as_dict() == {"price_max": "70", "colors": ["Black"], "sizes": ["XL"],
                           "product_types": ["Hoodies"], "quantity": 2, "in_stock": True}


def test_vocabulary_limits_what_is_returned() -> None:
    ex = EntityExtractor(Vocabulary(colors=("Red",), sizes=("M",), product_types=("Mugs",)))
    e = ex.extract("blue hoodie in XL, or a red mug size M")
    assert e.colors == ("Red",) and e.product_types == ("Mugs",) and e.sizes == ("M",)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_never_raises(text: str) -> None:
    e = demo_extractor().extract(text)
    assert e.price_min is None or e.price_min >= 0


@pytest.mark.parametrize("text", ["any in stock?", "is it in stock in size M", "which store has it"])
def test_ordinary_words_are_not_misspelt_types(ex: EntityExtractor, text: str) -> None:
    assert ex.extract(text).product_types == ()


@pytest.mark.parametrize("text", ["the second one", "the 2nd one", "add the first one"])
def test_an_ordinal_pick_is_not_a_quantity(ex: EntityExtractor, text: str) -> None:
    found = ex.extract(text)
    assert found.list_index in (1, 2)
    assert found.quantity is None
