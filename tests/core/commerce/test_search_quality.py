"""Search quality with the real ONNX encoder (built by `make models`)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_support import demo_extractor, demo_search

from core.commerce.search import ProductSearch, SearchFilters, SearchHit


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> Iterator[object]:
    from models.encoder import OnnxEncoder

    enc = OnnxEncoder.from_artifacts(artifacts_dir / "encoder")
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def index(encoder) -> ProductSearch:
    return demo_search(encoder)


async def ask(index: ProductSearch, query: str, k: int = 5) -> list[SearchHit]:
    """Same query understanding as the chat and the CLI."""
    entities = demo_extractor().extract(query)
    return await index.search(query, filters=SearchFilters.from_entities(entities), k=k)


async def test_red_hoodie_under_60(index: ProductSearch) -> None:
    hits = await ask(index, "red hoodie under 60")
    assert hits
    for h in hits:
        assert h.product.product_type == "Hoodies"
        assert h.matched_variant.color == "Red" and h.matched_variant.price <= Decimal(60)


@pytest.mark.parametrize(("query", "kind"), [
    ("snekers", "Sneakers"), ("jaket", "Jackets"), ("hoody", "Hoodies"), ("backpak", "Bags"),
])
async def test_typos_still_find_the_type(index: ProductSearch, query: str, kind: str) -> None:
    hits = await index.search(query, k=3)  # no entity filter: the index itself must cope
    assert [h.product.product_type for h in hits] == [kind] * 3


async def test_something_warm_for_winter(index: ProductSearch) -> None:
    hits = await index.search("something warm for winter", k=10)
    kinds = [h.product.product_type for h in hits]
    assert set(kinds) <= {"Jackets", "Hoodies", "Boots", "Hats", "Socks"}
    assert {"Jackets", "Hoodies", "Boots"} & set(kinds[:5])


@pytest.mark.parametrize(("query", "kind"), [
    ("waterproof shoes for hiking", "Boots"),
    ("a gift for someone who loves coffee", "Mugs"),
    ("something to carry my laptop", "Bags"),
    ("a dress for a summer wedding", "Dresses"),
    ("something that smells nice for the living room", "Candles"),
])
async def test_semantic_queries(index: ProductSearch, query: str, kind: str) -> None:
    hits = await index.search(query, k=3)
    assert hits[0].product.product_type == kind


async def test_similar_and_goes_with(index: ProductSearch) -> None:
    boot = next(p for p in index.products if p.product_type == "Boots")
    assert all(h.product.product_type == "Boots" for h in index.similar(boot.handle, k=3))
    jeans = next(p for p in index.products if p.product_type == "Jeans")
    kinds = [h.product.product_type for h in index.goes_with(jeans.handle, k=3)]
    assert kinds == ["T-Shirts", "Sneakers", "Belts"]
