"""The real shopping-assistant stack for tests: encoder, trained head, services.

Built once per test process (the catalogue and policies are embedded at
set-up) and shared by tests/core/test_dialogue*, tests/bots and tests/scenarios.
Each test gets its own store and therefore its own conversations.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bots.runtime import BOTS_DIR, load_classifier, load_encoder
from core.actions import SetupContext
from core.bot import Bot
from core.dialogue import DialogueManager
from core.messages import Contact, ConversationKey, IncomingMessage, Platform
from core.protocols import IntentClassifier, SessionStore, TextEncoder
from core.settings import Settings


@dataclass(frozen=True)
class ShopParts:
    settings: Settings
    bot: Bot
    encoder: TextEncoder
    classifier: IntentClassifier
    services: Any

    def manager(self, store: SessionStore, **overrides: Any) -> DialogueManager:
        return DialogueManager(
            bot=overrides.get("bot", self.bot),
            store=store,
            classifier=overrides.get("classifier", self.classifier),
            settings=self.settings,
            services=self.services,
        )


@functools.cache
def shop_parts(artifacts_dir: Path, encoder: str = "english") -> ShopParts:
    """Load ``encoder`` (``Settings.encoder``), its shop_assistant head and the bot's services once."""
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None, encoder=encoder)
    encoder = load_encoder(settings)
    classifier = load_classifier(settings, "shop_assistant", encoder)
    bot = Bot.load(BOTS_DIR / "shop_assistant")
    setup = SetupContext(settings=settings, bot_dir=bot.root, encoder=encoder)
    # May be first called from inside an async test: run set-up on a loop of its own.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        services = pool.submit(asyncio.run, bot.setup(setup)).result()
    return ShopParts(settings=settings, bot=bot, encoder=encoder, classifier=classifier, services=services)


def message(
    text: str = "",
    *,
    payload: str | None = None,
    chat: str = "chat-1",
    user: str = "user-1",
    locale: str | None = None,
    phone: str | None = None,
    delivery_id: str | None = None,
    platform: Platform = Platform.TELEGRAM,
    at: datetime | None = None,
) -> IncomingMessage:
    """An incoming message for the shopping assistant (sent ``at``, default now)."""
    return IncomingMessage(
        **({"timestamp": at} if at is not None else {}),
        conversation=ConversationKey(platform=platform, bot="shop_assistant", chat=chat),
        user_id=user,
        text=text,
        button_payload=payload,
        locale=locale,
        contact=Contact(phone=phone, user_id=user) if phone else None,
        delivery_id=delivery_id,
    )
