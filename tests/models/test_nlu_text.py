"""Text normalisation shared by training and serving."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.text import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Hello   World \n", "hello world"),
        ("ＷＨＥＲＥ is my ＯＲＤＥＲ", "where is my order"),  # full-width folds (NFKC)
        ("re\u200bfund\ufeff", "refund"),  # zero-width space and BOM dropped
        ("tab\tand\r\nnewline", "tab and newline"),
        ("bell\x07 char", "bell char"),
        ("我想退货", "我想退货"),
        ("\u00a0\u2003 ", ""),
        ("", ""),
        ("Ǆ ligature ﬁ", "dž ligature fi"),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@given(st.text())
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert not any(ch in once for ch in "\n\t\r\x00")
