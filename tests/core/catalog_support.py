"""Shared helpers for the retail tests: the demo shop's data (not fixtures: plain functions).

``HashingEncoder`` (tests/core/engine_support.py, re-exported here) is a
deterministic stand-in used ONLY to test ranking plumbing (filters, paging,
sorting); every test of semantic quality uses the real ONNX encoder through
the ``artifacts_dir`` fixture.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bots.shop_assistant.services import ShopWords
from core.commerce.catalog import InMemoryCatalog, load_catalog
from core.commerce.entities import EntityExtractor
from core.commerce.search import ProductSearch
from core.protocols import TextEncoder
from tests.core.engine_support import HashingEncoder

__all__ = ["SHOP_DATA", "STAFF_DATA", "HashingEncoder", "demo_catalog", "demo_extractor", "demo_search",
           "demo_words"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP_DATA = REPO_ROOT / "bots" / "shop_assistant" / "data"
STAFF_DATA = REPO_ROOT / "bots" / "staff_helpdesk" / "data"


@lru_cache(maxsize=1)
def demo_catalog() -> InMemoryCatalog:
    return load_catalog(SHOP_DATA / "products.csv")


@lru_cache(maxsize=1)
def demo_words() -> ShopWords:
    """The demo bot's own words (type synonyms, complements) from its data folder."""
    return ShopWords.load(SHOP_DATA / "vocabulary.yaml")


def demo_extractor() -> EntityExtractor:
    return EntityExtractor(demo_catalog().vocabulary(), type_synonyms=demo_words().type_synonyms)


def demo_search(encoder: TextEncoder, **kwargs: object) -> ProductSearch:
    return ProductSearch(catalog=demo_catalog(), encoder=encoder, complements=demo_words().complements,
                         **kwargs)  # type: ignore[arg-type]
