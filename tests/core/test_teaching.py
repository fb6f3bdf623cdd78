"""Teaching data: validation with errors that name the field, atomic writes, merged pairs."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.teaching import TeachingError, TeachingStore, faq_intent, load_answers

KNOWN = {"greet", "store_hours"}


def test_examples_need_an_intent_the_bot_has(tmp_path: Path) -> None:
    store = TeachingStore(tmp_path, "shop")
    with pytest.raises(TeachingError) as error:
        store.add_examples(["when do you open"], "opening_hours", known=KNOWN)
    assert error.value.field == "intent" and "'opening_hours' is not an intent of the shop bot" in error.value.reason
    assert not store.path.exists()
    with pytest.raises(TeachingError) as empty:
        store.add_examples(["  \x00 "], "greet", known=KNOWN)
    assert empty.value.field == "examples"
    assert store.add_examples(["when do you\nopen", "when do you open"], "store_hours", known=KNOWN) == 1
    assert store.add_examples(["When do you open"], "store_hours", known=KNOWN) == 0  # already taught
    assert store.load().training_pairs() == [("when do you open", "store_hours")]


def test_a_new_answer_needs_a_title_every_language_and_two_questions(tmp_path: Path) -> None:
    store = TeachingStore(tmp_path, "shop")
    good = {"title": "Gift cards", "answers": {"en": "Yes, from $10.", "zh": "有，10 美元起。"},
            "examples": ["do you sell gift cards", "gift vouchers?"], "languages": ("en", "zh"), "known": KNOWN}
    for change, field in (({"title": " "}, "title"), ({"answers": {"en": "Yes"}}, "answer_zh"),
                          ({"examples": ["gift cards", "Gift  cards"]}, "examples")):
        with pytest.raises(TeachingError) as error:
            store.add_answer(**{**good, **change})
        assert error.value.field == field
    answer = store.add_answer(**good)
    assert answer.intent == "faq_gift_cards"
    assert store.add_answer(**good).intent == "faq_gift_cards_2"  # never two intents of one name
    pairs = store.load().training_pairs()
    assert ("gift vouchers?", "faq_gift_cards") in pairs and len(pairs) == 4
    assert faq_intent("礼品卡", set()).startswith("faq_") and len(faq_intent("礼品卡", set())) == 12


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def teach(n: int) -> None:
        try:
            TeachingStore(tmp_path, "shop").add_examples([f"message {n}"], "greet", known=KNOWN)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=teach, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(TeachingStore(tmp_path, "shop").load().examples) == 20


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    store = TeachingStore(tmp_path, "shop")
    store.folder.mkdir(parents=True)
    store.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(TeachingError, match="not valid teaching data"):
        store.load()
    (tmp_path / "answers.json").write_text(json.dumps({"faq_x": {"en": "hi"}, "bad": 3}), encoding="utf-8")
    assert load_answers(tmp_path) == {"faq_x": {"en": "hi"}}
