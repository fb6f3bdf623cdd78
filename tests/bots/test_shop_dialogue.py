"""The shopping assistant through the dialogue manager with its trained head (memory store).

What the engine does with any bot is tested on the tiny inline bot in
tests/core/test_dialogue.py; these check that the shop bot's own model and
data drive those paths as intended.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.protocols import IntentClassifier, IntentPrediction
from core.sessions import MemorySessionStore
from tests.bots.shop_support import ShopParts, message, shop_parts

OUT_OF_SCOPE = ("can you fix my car engine tomorrow", "what is the capital of australia")


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


async def test_greeting_is_understood_and_answered(parts: ShopParts) -> None:
    store = MemorySessionStore()
    replies = await parts.manager(store).handle(message("hi there"))
    assert "Northwind" in replies[0].text or "Hello" in replies[0].text
    state = await store.load(message().conversation)
    assert state is not None and state.history[0].intent == "greet"


async def test_the_trained_head_rejects_off_topic_text_and_the_second_brings_a_person(parts: ShopParts) -> None:
    floor = parts.bot.fallback.clarify_min_confidence
    predictions = parts.classifier.predict_batch_sync(OUT_OF_SCOPE)
    assert all(p.out_of_scope or (p.ambiguous and p.confidence < floor) for p in predictions), [
        (p.label, p.confidence) for p in predictions
    ]
    store = MemorySessionStore()
    manager = parts.manager(store)
    first = await manager.handle(message(OUT_OF_SCOPE[0]))
    assert not first[0].handoff and any(b.payload == "cmd:human" for b in first[0].buttons)
    second = await manager.handle(message(OUT_OF_SCOPE[1]))
    assert second[0].handoff


class AlwaysAmbiguous:
    """The real classifier, with every prediction marked ambiguous (forces the clarify path)."""

    def __init__(self, inner: IntentClassifier) -> None:
        self._inner = inner
        self.labels = inner.labels

    async def predict(self, text: str) -> IntentPrediction:
        return dataclasses.replace(await self._inner.predict(text), ambiguous=True, out_of_scope=False)

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]:
        return self._inner.predict_batch_sync(texts)


async def test_a_clarified_search_runs_on_the_text_typed_before(parts: ShopParts) -> None:
    store = MemorySessionStore()
    manager = parts.manager(store, classifier=AlwaysAmbiguous(parts.classifier))
    # Not in the catalogue's own words (a message that is, "black hoodie", is searched without asking).
    typed = "something warm to wear for winter"
    replies = await manager.handle(message(typed))
    payloads = [b.payload for b in replies[0].buttons]
    assert 2 <= len(payloads) <= 3 and all(p.startswith("intent:") for p in payloads)
    assert "intent:product_search" in payloads
    chosen = await manager.handle(message(payload="intent:product_search"))
    assert chosen[0].cards
    state = await store.load(message().conversation)
    assert state is not None and state.data["search"]["query"] == typed


async def test_an_ambiguous_message_in_the_catalogues_words_is_searched(parts: ShopParts) -> None:
    manager = parts.manager(MemorySessionStore(), classifier=AlwaysAmbiguous(parts.classifier))
    replies = await manager.handle(message("black hoodie"))
    assert replies[0].cards and all(c.subtitle == "Hoodies" for c in replies[0].cards)


async def test_why_names_the_products_and_the_price_filter_used(parts: ShopParts) -> None:
    manager = parts.manager(MemorySessionStore())
    await manager.handle(message("show me black hoodies under $80"))
    text = (await manager.handle(message("/why")))[0].text
    assert "product_search" in text and "product:" in text and "price_max=80" in text


async def test_chinese_locale_gets_chinese_replies(parts: ShopParts) -> None:
    replies = await parts.manager(MemorySessionStore()).handle(message("hi", locale="zh-hans"))
    assert any("\u4e00" <= ch <= "\u9fff" for ch in replies[0].text)
