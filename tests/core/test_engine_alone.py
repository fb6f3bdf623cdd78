"""The engine's tests need no bot of the product and no trained model (retail: tests/core/commerce)."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: What would tie an engine test to the shop bot or to built artifacts.
PRODUCT = re.compile(r"^\s*(from|import)\s+(bots|models)\b|shop_support|catalog_support|artifacts_dir", re.MULTILINE)


def test_engine_tests_use_the_tiny_bot_and_scripted_models_only() -> None:
    offenders = [path.name for path in sorted(HERE.glob("*.py"))
                 if path.name not in ("catalog_support.py", Path(__file__).name)
                 and PRODUCT.search(path.read_text(encoding="utf-8"))]
    assert not offenders, f"move these to tests/bots or use tests/core/engine_support.py: {offenders}"
