"""Shared helpers for the retail tests: the demo shop's data (not fixtures: plain functions).

``HashingEncoder`` (tests/core/engine_support.py, re-exported here) is a
deterministic stand-in used ONLY to test ranking plumbing (filters, paging,
sorting); every test of semantic quality uses the real ONNX encoder through
the ``artifacts_dir`` fixture.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from core.commerce.catalog import InMemoryCatalog, load_catalog
from tests.core.engine_support import HashingEncoder

__all__ = ["SHOP_DATA", "STAFF_DATA", "HashingEncoder", "demo_catalog"]

REPO_ROOT = Path(__file__).resolve().parents[2]
SHOP_DATA = REPO_ROOT / "bots" / "shop_assistant" / "data"
STAFF_DATA = REPO_ROOT / "bots" / "staff_helpdesk" / "data"


@lru_cache(maxsize=1)
def demo_catalog() -> InMemoryCatalog:
    return load_catalog(SHOP_DATA / "products.csv")
