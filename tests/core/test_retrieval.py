"""PassageIndex: keyword tools, ranking plumbing and the confidence floor (hashing encoder, no model).

Retrieval quality on the bots' policies and procedures with the real encoder:
tests/bots/test_retrieval_quality.py.
"""

from __future__ import annotations

import pytest

from core.retrieval import (
    CONFIDENT_FLOOR,
    KeywordIndex,
    Passage,
    PassageIndex,
    confident,
    edit_distance,
    tokenize,
)
from tests.core.engine_support import HashingEncoder


def test_tokenize_and_stem() -> None:
    assert tokenize("Do you have Hoodies and T-Shirts?") == ["hoodie", "tshirt"]
    assert tokenize("dresses boxes") == ["dress", "box"]
    assert tokenize("红色") == ["红", "色"]


@pytest.mark.parametrize(("a", "b", "d"), [
    ("sneaker", "sneaker", 0), ("sneker", "sneaker", 1), ("jakcet", "jacket", 1), ("hoody", "hoodie", 2),
    ("boot", "jacket", 3),
])
def test_edit_distance(a: str, b: str, d: int) -> None:
    assert edit_distance(a, b, limit=2) == d


def test_keyword_index_typos_and_coverage() -> None:
    idx = KeywordIndex(documents=[tokenize("waterproof hiking boot"), tokenize("cotton tee")])
    bm25, coverage = idx.scores(tokenize("waterprof boots"))
    assert bm25[0] > 0 and bm25[1] == 0
    assert coverage[0] == pytest.approx(0.9, abs=0.01)  # one exact word, one typo (discounted)
    assert idx.expand("xyz") == []


async def test_exact_key_wins_and_scores_are_sorted() -> None:
    passages = [Passage(id="a", title="Shipping", text="Costs $5.", keys=("how much is delivery",)),
                Passage(id="b", title="Returns", text="30 days.", keys=("can I send it back",))]
    idx = PassageIndex(passages=passages, encoder=HashingEncoder())
    hits = await idx.query("can I send it back", k=2)
    assert [h.passage.id for h in hits] == ["b", "a"]
    assert hits[0].semantic == pytest.approx(1.0, abs=1e-5) and hits[0].score > hits[1].score
    assert await idx.query("   ") == []


async def test_the_floor_separates_a_matching_question_from_an_unrelated_one() -> None:
    # Scores as the index computes them, on each side of the floor: an asked key and a
    # question sharing neither words nor trigrams with any passage.
    passages = [Passage(id="returns", title="Returns", text="Send items back within 30 days.",
                        keys=("can I send it back",)),
                Passage(id="shipping", title="Shipping", text="Delivery costs $5.", keys=("how much is delivery",))]
    idx = PassageIndex(passages=passages, encoder=HashingEncoder())
    (asked,) = await idx.query("can I send it back", k=1)
    (unrelated,) = await idx.query("zzz qqq xxyyzz", k=1)
    assert asked.score >= CONFIDENT_FLOOR > unrelated.score
    assert confident(asked) and not confident(unrelated)
    assert not confident(asked, floor=asked.score + 0.01)  # a stricter bot-level floor is honoured
    assert not confident(None)  # an empty index answers "not sure", never an error
