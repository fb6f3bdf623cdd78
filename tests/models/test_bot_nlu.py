"""Bot-level understanding on the real heads built by `make models`.

Chinese goes to the character head (the English encoder reads it as [UNK]s),
off-topic text in either language is out of scope, and in-scope messages are
neither rejected nor flagged ambiguous. No message here is in intents.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from models.encoder import OnnxEncoder
from models.intent import load_bot_intents
from models.intent_runtime import OUT_OF_SCOPE, OnnxIntentClassifier
from models.multilingual import ScriptRouter, char_ngrams, train_char_head

BOTS = Path(__file__).resolve().parents[2] / "bots"

ZH_MESSAGES = {
    "你们星期天几点开门": "store_hours",
    "我想退掉这件外套": "return_request",
    "帮我查查订单到哪了": "order_status",
    "把这个加进购物车吧": "add_to_cart",
    "我想找一条黑色牛仔裤": "product_search",
    "太感谢你了": "thanks",
    "给我转接人工客服": "human_handoff",
    "这个尺码我该怎么选": "size_help",
    "你们的店在什么地方": "store_locations",
    "现在去结账": "checkout",
}
OFF_TOPIC = [
    "what's the weather like in paris tomorrow",
    "how do I transfer money to my savings account",
    "book me a flight to chicago",
    "how long should I boil an egg",
    "后天会下雪吗",
    "帮我预订一家酒店",
    "怎么煮米饭",
]
IN_SCOPE_EN = {
    "do you have any rain jackets?": "product_search",
    "where's my package for order 1004": "order_status",
    "what are your opening hours on saturday": "store_hours",
    "I'd like to speak to a real person": "human_handoff",
}


@pytest.fixture(scope="module")
def encoder(artifacts_dir: Path) -> Iterator[OnnxEncoder]:
    enc = OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    yield enc
    enc.close()


@pytest.fixture(scope="module")
def shop(artifacts_dir: Path, encoder: OnnxEncoder) -> OnnxIntentClassifier:
    return OnnxIntentClassifier.from_artifacts(artifacts_dir / "intents" / "shop_assistant", encoder)


def test_test_messages_are_not_training_examples() -> None:
    texts = set(load_bot_intents(BOTS / "shop_assistant" / "intents.yaml").texts)
    assert not texts & (set(ZH_MESSAGES) | set(OFF_TOPIC) | set(IN_SCOPE_EN))


def test_chinese_goes_to_the_character_head_and_english_does_not(shop: OnnxIntentClassifier) -> None:
    assert all(shop.uses_char_head(t) for t in ZH_MESSAGES)
    assert not any(shop.uses_char_head(t) for t in IN_SCOPE_EN)


def test_chinese_messages_get_their_intents(shop: OnnxIntentClassifier) -> None:
    preds = shop.predict_batch_sync(list(ZH_MESSAGES))
    got = {t: p.label for t, p in zip(ZH_MESSAGES, preds)}
    wrong = {t: (got[t], want) for t, want in ZH_MESSAGES.items() if got[t] != want}
    assert len(set(ZH_MESSAGES.values())) >= 8
    assert len(wrong) <= 1, f"misread Chinese messages (got, wanted): {wrong}"


async def test_async_chinese_prediction_keeps_a_valid_embedding(shop: OnnxIntentClassifier) -> None:
    pred = await shop.predict("你们星期天几点开门")
    assert pred.label == "store_hours"
    assert pred.embedding.shape == (384,)
    assert np.isclose(np.linalg.norm(pred.embedding), 1.0, atol=1e-3)
    assert all(label != OUT_OF_SCOPE for label, _ in pred.ranking)


def test_off_topic_messages_are_out_of_scope(shop: OnnxIntentClassifier) -> None:
    preds = shop.predict_batch_sync(OFF_TOPIC)
    accepted = {t: p.label for t, p in zip(OFF_TOPIC, preds) if not p.out_of_scope}
    assert len(accepted) <= 1, f"off-topic messages taken as intents: {accepted}"
    assert all(p.label == OUT_OF_SCOPE for p in preds if p.out_of_scope)


def test_in_scope_english_is_neither_rejected_nor_ambiguous(shop: OnnxIntentClassifier) -> None:
    preds = shop.predict_batch_sync(list(IN_SCOPE_EN))
    got = {t: (p.label, p.ambiguous) for t, p in zip(IN_SCOPE_EN, preds)}
    assert got == {t: (label, False) for t, label in IN_SCOPE_EN.items()}


def test_router_keeps_text_the_encoder_can_read() -> None:
    router = ScriptRouter(unknown=frozenset("退货"), min_unk_ratio=0.3)
    assert router.use_char_head("我要退货")  # 2 of 4 tokens unknown
    assert not router.use_char_head("我要")  # the tokenizer knows both characters
    assert not router.use_char_head("return 退 please now thanks")  # 1 of 5
    assert router.unk_ratio("") == 0.0


def test_char_ngrams_fold_digits_and_mark_ends() -> None:
    assert char_ngrams("订单12", n_max=2) == ["订", "单", "0", "^订", "订单", "单0", "0$"]
    assert char_ngrams("   ") == []


def test_character_head_round_trips_through_its_files(tmp_path: Path) -> None:
    head = train_char_head(["你好", "您好", "再见", "拜拜"], ["greet", "greet", "bye", "bye"], negatives=["天气"])
    head.save(tmp_path)
    loaded = type(head).load(tmp_path)
    assert loaded.labels == ("bye", "greet", OUT_OF_SCOPE)
    np.testing.assert_allclose(loaded.probs(["你好呀"]), head.probs(["你好呀"]), rtol=1e-6)
    assert loaded.probs(["你好呀"]).argmax() == 1


def test_router_fast_path_agrees_with_the_character_ranges() -> None:
    """The regex that skips non-CJK text matches exactly the characters ``is_cjk`` accepts."""
    from models.multilingual import _CJK_CHAR, ScriptRouter, is_cjk

    disagree = [cp for cp in range(0x10000) if not 0xD800 <= cp <= 0xDFFF
                and bool(_CJK_CHAR.match(chr(cp))) != is_cjk(chr(cp))]
    assert disagree == []
    router = ScriptRouter(unknown=frozenset("你好"))
    assert router.unk_ratio("hello there, 42 socks!") == 0.0
    assert router.unk_ratio("你好") == 1.0
