"""Shared helpers for the catalogue, search and retrieval tests (not fixtures: plain functions).

``HashingEncoder`` is a deterministic stand-in used ONLY to test ranking
plumbing (filters, paging, sorting); every test of semantic quality uses the
real ONNX encoder through the ``artifacts_dir`` fixture.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from bots.shop_assistant.services import ShopWords
from core.commerce.catalog import InMemoryCatalog, load_catalog
from core.commerce.entities import EntityExtractor
from core.commerce.search import ProductSearch
from core.protocols import TextEncoder

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP_DATA = REPO_ROOT / "bots" / "shop_assistant" / "data"
STAFF_DATA = REPO_ROOT / "bots" / "staff_helpdesk" / "data"


class HashingEncoder:
    """Bag of character trigrams hashed into a normalised vector."""

    dim = 256

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                h = int.from_bytes(hashlib.blake2b(padded[i:i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_sync(texts)


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
