"""Chinese and odd input, through the real dialogue manager, for both bots and both encoders.

Each message goes through ``DialogueManager.handle`` with the bot's trained head and
services on a real Redis store: Chinese staff questions are answered in Chinese; full-width
forms ("订单＃１００１"), traditional characters ("訂單"), emoji, mixed script, kana and
Korean get a reply in a supported language (en or zh), never the error reply.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bots.runtime import BOTS_DIR, load_classifier, load_encoder
from core.actions import SetupContext
from core.bot import Bot
from core.dialogue import DialogueManager
from core.keys import KeyBuilder
from core.messages import ConversationKey, IncomingMessage, Platform, Reply
from core.protocols import IntentClassifier, TextEncoder
from core.sessions import RedisSessionStore
from core.settings import Settings

STAFF = "U0ZHLEAD"
ENCODERS = ("english", "multilingual")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_ERROR = ("Sorry, something went wrong", "抱歉，我这边出了点问题", "Traceback")

ODD = [
    "👍🔥🎉",  # emoji only
    "🔥🔥 查一下订单 #1002 🙏🙏",  # emoji-laden
    "how many 连帽衫 in Midtown?",  # mixed script
    "订单＃１００１",  # full-width digits and sign
    "有ＸＬ码的吗？",  # full-width letters and punctuation
    "紅色連帽衫有貨嗎",  # traditional characters
    "訂單 #1001 到哪了",
    "レシートなしで返品できますか",  # Japanese (kana and kanji)
    "ありがとう",  # kana only
    "영수증 없이 반품할 수 있나요?",  # Korean
    "\u3000\u3000",  # ideographic spaces only
]


@dataclass(frozen=True)
class Parts:
    settings: Settings
    bot: Bot
    encoder: TextEncoder
    classifier: IntentClassifier
    services: Any


@functools.cache
def parts(artifacts_dir: Path, encoder_name: str, bot_name: str) -> Parts:
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None, encoder=encoder_name, staff_allowlist=STAFF)
    if not (settings.encoder_artifacts_dir / "encoder" / "manifest.json").exists():
        pytest.fail(f"{encoder_name} encoder not built under {settings.encoder_artifacts_dir}", pytrace=False)
    encoder = _encoder(artifacts_dir, encoder_name)
    classifier = load_classifier(settings, bot_name, encoder)
    bot = Bot.load(BOTS_DIR / bot_name)
    setup = SetupContext(settings=settings, bot_dir=bot.root, encoder=encoder)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        services = pool.submit(asyncio.run, bot.setup(setup)).result()
    return Parts(settings=settings, bot=bot, encoder=encoder, classifier=classifier, services=services)


@functools.cache
def _encoder(artifacts_dir: Path, encoder_name: str) -> TextEncoder:
    """One encoder per kind, shared by both bots (as ``serve`` shares it)."""
    return load_encoder(Settings(artifacts_dir=artifacts_dir, redis_url=None, encoder=encoder_name))


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisSessionStore]:
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=f"sktest-zh-{uuid.uuid4().hex[:10]}"))
    yield store
    await store.aclose()


def _manager(p: Parts, store: RedisSessionStore) -> DialogueManager:
    return DialogueManager(bot=p.bot, store=store, classifier=p.classifier, settings=p.settings, services=p.services)


async def _ask(manager: DialogueManager, bot: str, text: str, *, chat: str | None = None,
               user: str = STAFF) -> str:
    key = ConversationKey(platform=Platform.SLACK, bot=bot, chat=chat or f"C-{uuid.uuid4().hex[:8]}")
    replies: list[Reply] = await manager.handle(IncomingMessage(conversation=key, user_id=user, text=text))
    return "\n".join(r.text for r in replies)


def _no_error(text: str) -> None:
    assert text.strip(), "no reply"
    assert not any(marker in text for marker in _ERROR), text


@pytest.mark.parametrize("encoder_name", ENCODERS)
async def test_a_chinese_procedure_question_is_answered_in_chinese(
        artifacts_dir: Path, redis_store: RedisSessionStore, encoder_name: str) -> None:
    manager = _manager(parts(artifacts_dir, encoder_name, "staff_helpdesk"), redis_store)
    said = await _ask(manager, "staff_helpdesk", "收银系统卡住了怎么办")
    _no_error(said)
    assert _HAN.search(said) and "Sorry" not in said, said
    if encoder_name == "multilingual":  # e5 reads Chinese: the right SOP, in Chinese
        assert "SOP `pos_frozen`" in said and "Shopify POS 应用" in said, said


@pytest.mark.parametrize("encoder_name", ENCODERS)
async def test_lang_zh_answers_an_english_question_with_the_chinese_procedure(
        artifacts_dir: Path, redis_store: RedisSessionStore, encoder_name: str) -> None:
    manager = _manager(parts(artifacts_dir, encoder_name, "staff_helpdesk"), redis_store)
    chat = f"C-{uuid.uuid4().hex[:8]}"
    assert "中文" in await _ask(manager, "staff_helpdesk", "/lang zh", chat=chat)
    said = await _ask(manager, "staff_helpdesk", "the POS app is frozen and not responding, what do I do?", chat=chat)
    assert "（SOP `pos_frozen`）" in said and "IT 服务热线" in said, said


@pytest.mark.parametrize("encoder_name", ENCODERS)
async def test_full_width_and_traditional_order_numbers_are_looked_up(
        artifacts_dir: Path, redis_store: RedisSessionStore, encoder_name: str) -> None:
    manager = _manager(parts(artifacts_dir, encoder_name, "staff_helpdesk"), redis_store)
    for text in ("订单＃１００１", "訂單 #1001 到哪了", "🔥 查一下订单1001 🙏"):
        said = await _ask(manager, "staff_helpdesk", text)
        assert "*订单 #1001*" in said and "商品：" in said, (text, said)
    refused = await _ask(manager, "staff_helpdesk", "订单＃１００１", user="U0SOMEONE")
    assert "仅限授权员工" in refused and "#1001*" not in refused, refused


@pytest.mark.parametrize("encoder_name", ENCODERS)
async def test_a_full_width_sku_gets_the_chinese_stock_table(
        artifacts_dir: Path, redis_store: RedisSessionStore, encoder_name: str) -> None:
    manager = _manager(parts(artifacts_dir, encoder_name, "staff_helpdesk"), redis_store)
    said = await _ask(manager, "staff_helpdesk", "ＮＷ－ＴＥＥ－００１－ＮＶＹ－ＸＳ 中城店还有几件")
    assert "的库存（可售）" in said and "NW-TEE-001-NVY-XS" in said and "Northwind Midtown" in said, said


@pytest.mark.parametrize("bot_name", ["staff_helpdesk", "shop_assistant"])
@pytest.mark.parametrize("encoder_name", ENCODERS)
async def test_odd_input_gets_a_reply_in_a_supported_language(
        artifacts_dir: Path, redis_store: RedisSessionStore, encoder_name: str, bot_name: str) -> None:
    p = parts(artifacts_dir, encoder_name, bot_name)
    manager = _manager(p, redis_store)
    for text in ODD:
        key = ConversationKey(platform=Platform.SLACK, bot=bot_name, chat=f"C-{uuid.uuid4().hex[:8]}")
        replies = await manager.handle(IncomingMessage(conversation=key, user_id=STAFF, text=text))
        said = "\n".join(r.text for r in replies)
        _no_error(said)
        state = await redis_store.load(key)
        assert state is not None and state.lang in p.bot.languages, (text, state)
        if _HAN.search(text) and not re.search(r"[\u3040-\u30ff]", text):  # Chinese: answered in Chinese
            assert state.lang == "zh" and _HAN.search(said), (text, said)


@pytest.mark.parametrize("encoder_name", ENCODERS)
def test_the_chinese_blend_and_floor_come_from_the_encoder(artifacts_dir: Path, encoder_name: str) -> None:
    services = parts(artifacts_dir, encoder_name, "staff_helpdesk").services
    index, calibration = services.procedure_index, services.answer_calibration
    assert calibration.cjk is not None and calibration.cjk.size >= 200
    if encoder_name == "english":  # MiniLM cannot read Han: keywords decide, retrieval overrules the head
        assert index.cjk_semantic_weight == 0.0 and index.background == 0.0
        assert calibration.cjk.overrules_head and not calibration.overrules_head
    else:  # e5 reads Chinese; its cosines sit high and are read above their background
        assert index.cjk_semantic_weight >= 0.5 and index.background > 0.5
        assert not calibration.cjk.overrules_head
