"""Retrieval quality on the bots' own data with the real encoder: shop policies, staff procedures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.commerce.shopdata import load_policies, load_procedures, procedure_passages
from core.retrieval import PassageIndex, confident
from tests.core.catalog_support import SHOP_DATA, STAFF_DATA


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> Iterator[object]:
    from models.encoder import OnnxEncoder

    enc = OnnxEncoder.from_artifacts(artifacts_dir / "encoder")
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def policy_index(encoder) -> PassageIndex:
    return PassageIndex(passages=load_policies(SHOP_DATA / "policies.yaml").passages(), encoder=encoder)


@pytest.fixture(scope="module")
def procedure_index(encoder) -> PassageIndex:
    return PassageIndex(passages=procedure_passages(load_procedures(STAFF_DATA / "procedures.yaml")),
                        encoder=encoder)


# Paraphrases that are NOT in policies.yaml.
PARAPHRASES = [
    ("how many days do I have to send something back", "returns_window"),
    ("is delivery free if I spend a lot", "shipping_cost"),
    ("can I pay using paypal", "payment_methods"),
    ("do you deliver to australia", "shipping_international"),
    ("my parcel got lost", "shipping_lost"),
    ("how do I wash a fleece hoodie", "care"),
    ("can I collect my order from the shop", "click_and_collect"),
    ("do gift vouchers run out", "gift_cards"),
    ("can I exchange these jeans for another colour", "exchanges"),
    ("erase everything you know about me", "data_erasure"),
]
OFF_TOPIC = [
    "what's the weather like tomorrow", "tell me a joke", "what is the capital of France",
    "how do I cook rice", "play some music", "book me a flight to london", "how tall is mount everest",
    "turn off the lights", "what's 2+2", "recommend a movie",
]


@pytest.mark.parametrize(("question", "policy"), PARAPHRASES)
async def test_policy_paraphrases_are_found_confidently(policy_index: PassageIndex, question: str,
                                                        policy: str) -> None:
    hits = await policy_index.query(question, k=3)
    assert hits[0].passage.id == policy
    assert confident(hits[0])


async def test_off_topic_questions_are_not_confident(policy_index: PassageIndex) -> None:
    unsure = [q for q in OFF_TOPIC if not confident((await policy_index.query(q, k=1))[0])]
    assert len(unsure) >= 9, f"confident on: {set(OFF_TOPIC) - set(unsure)}"


async def test_query_embedding_reuse_gives_same_ranking(policy_index: PassageIndex, encoder) -> None:
    q = "what is your return policy"
    vec = encoder.embed_sync([q])[0]
    a = await policy_index.query(q, k=3)
    b = await policy_index.query(q, k=3, query_embedding=vec)
    assert [h.passage.id for h in a] == [h.passage.id for h in b] == [h.passage.id for h in a]
    assert a[0].score == pytest.approx(b[0].score, abs=1e-5)


@pytest.mark.parametrize(("question", "procedure"), [
    ("customer wants to return something but lost the receipt", "return_without_receipt"),
    ("the card machine won't connect", "card_reader_offline"),
    ("what do I do when we close up at night", "store_closing"),
    ("I think someone is stealing", "shoplifting"),
    ("who do I call about the till app crashing", "pos_frozen"),
])
async def test_staff_procedures(procedure_index: PassageIndex, question: str, procedure: str) -> None:
    hits = await procedure_index.query(question, k=3)
    assert procedure in [h.passage.id for h in hits]
