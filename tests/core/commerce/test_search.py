"""ProductSearch plumbing (filters, paging, sorting) with a deterministic stand-in encoder.

Semantic quality is tested with the real encoder in test_search_quality.py.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from catalog_support import HashingEncoder, demo_catalog, demo_extractor, demo_search
from hypothesis import given, settings
from hypothesis import strategies as st

from core.commerce.search import ProductSearch, SearchFilters, product_document


@pytest.fixture(scope="module")
def index() -> ProductSearch:
    return demo_search(HashingEncoder())


def hidden_handles() -> set[str]:
    return {p.handle for p in demo_catalog().products() if not p.offered}


def test_only_offered_products_are_indexed(index: ProductSearch) -> None:
    assert hidden_handles(), "the demo has drafts, archived and unpublished products"
    assert not {p.handle for p in index.products} & hidden_handles()


async def test_drafts_and_archived_never_returned(index: ProductSearch) -> None:
    for p in demo_catalog().products():
        if not p.offered:
            hits = await index.search(p.title, k=200)
            assert p.handle not in {h.product.handle for h in hits}


async def test_filters_pick_a_fitting_variant(index: ProductSearch) -> None:
    f = SearchFilters(colors=("Red",), product_types=("Hoodies",), price_max=Decimal(60))
    hits = await index.search("red hoodie", filters=f, k=10)
    assert hits
    for h in hits:
        v = h.matched_variant
        assert h.product.product_type == "Hoodies" and v.color == "Red" and v.price <= 60


async def test_in_stock_filter_returns_buyable_variants(index: ProductSearch) -> None:
    hits = await index.search("", filters=SearchFilters(in_stock=True, sizes=("XS",)), k=500)
    assert hits and all(h.matched_variant.buyable and h.matched_variant.size == "XS" for h in hits)


async def test_paging_does_not_repeat(index: ProductSearch) -> None:
    first = await index.search("jacket", k=5)
    second = await index.search("jacket", k=5, offset=5)
    assert len(first) == 5 and len(second) == 5
    assert not {h.product.handle for h in first} & {h.product.handle for h in second}


async def test_sort_by_price(index: ProductSearch) -> None:
    f = SearchFilters(product_types=("Mugs",), sort="price_asc")
    prices = [h.matched_variant.price for h in await index.search("mug", filters=f, k=20)]
    assert prices == sorted(prices) and len(prices) > 3
    f = SearchFilters(product_types=("Mugs",), sort="price_desc")
    prices = [h.matched_variant.price for h in await index.search("mug", filters=f, k=20)]
    assert prices == sorted(prices, reverse=True)


async def test_impossible_filters_give_nothing(index: ProductSearch) -> None:
    assert await index.search("boots", filters=SearchFilters(product_types=("Boots",), price_max=Decimal(5))) == []


async def test_keyword_typo_tolerance(index: ProductSearch) -> None:
    for typo, kind in (("snekers", "Sneakers"), ("jaket", "Jackets"), ("hoodys", "Hoodies")):
        hits = await index.search(typo, k=3)
        assert hits[0].product.product_type == kind, typo
        assert hits[0].keyword > 0


async def test_query_embedding_is_reused(index: ProductSearch) -> None:
    class NoEmbed(HashingEncoder):
        async def embed(self, texts):  # the caller's embedding must be used instead
            raise AssertionError("encoder called")

    search = demo_search(NoEmbed(), embeddings=index._vectors)
    vec = HashingEncoder().embed_sync(["wool socks"])[0]
    hits = await search.search("wool socks", query_embedding=vec, k=3)
    assert hits[0].product.product_type == "Socks"


def test_from_entities() -> None:
    ex = demo_extractor()
    f = SearchFilters.from_entities(ex.extract("cheaper black sneakers size 9 under $100 in stock"))
    assert f == SearchFilters(price_max=Decimal(100), colors=("Black",), sizes=("9",),
                              product_types=("Sneakers",), in_stock=True, sort="price_asc")


def test_similar_and_goes_with_structure(index: ProductSearch) -> None:
    jeans = next(p for p in index.products if p.product_type == "Jeans")
    similar = index.similar(jeans.handle, k=4)
    assert len(similar) == 4 and all(h.product.product_type == "Jeans" for h in similar)
    assert jeans.handle not in {h.product.handle for h in similar}
    extras = index.goes_with(jeans.handle, k=3)
    assert [h.product.product_type for h in extras] == ["T-Shirts", "Sneakers", "Belts"]
    assert index.similar("no-such-product") == [] and index.goes_with("no-such-product") == []


def test_document_has_title_type_and_colours() -> None:
    p = demo_catalog().offered()[0]
    doc = product_document(p)
    assert p.title in doc and p.product_type in doc and all(c in doc for c in p.colors)


_VOCAB = demo_catalog().vocabulary()


@settings(max_examples=60, deadline=None)
@given(
    colors=st.lists(st.sampled_from(_VOCAB.colors), max_size=2),
    sizes=st.lists(st.sampled_from(_VOCAB.sizes), max_size=2),
    types=st.lists(st.sampled_from(_VOCAB.product_types), max_size=2),
    lo=st.none() | st.integers(0, 150),
    span=st.none() | st.integers(0, 150),
    in_stock=st.booleans(),
    query=st.sampled_from(["", "warm", "gift", "red", "summer dress", "leather"]),
)
async def test_filters_are_never_violated(colors, sizes, types, lo, span, in_stock, query) -> None:
    index = _shared_index()
    hi = None if span is None else (lo or 0) + span
    f = SearchFilters(price_min=None if lo is None else Decimal(lo), price_max=None if hi is None else Decimal(hi),
                      colors=tuple(colors), sizes=tuple(sizes), product_types=tuple(types), in_stock=in_stock)
    for h in await index.search(query, filters=f, k=50):
        v = h.matched_variant
        assert v in h.product.variants and h.product.offered
        assert not colors or v.color in colors
        assert not sizes or v.size in sizes
        assert not types or h.product.product_type in types
        assert f.price_min is None or v.price >= f.price_min
        assert f.price_max is None or v.price <= f.price_max
        assert not in_stock or v.buyable


_INDEX: list[ProductSearch] = []


def _shared_index() -> ProductSearch:
    if not _INDEX:
        _INDEX.append(demo_search(HashingEncoder()))
    return _INDEX[0]
