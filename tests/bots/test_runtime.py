"""Start-up wiring: one encoder and one store shared by the bots of a process."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.runtime import Runtime, build_runtimes, load_encoder
from core.errors import BotDefinitionError
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.bots.shop_support import message


async def test_runtime_opens_answers_and_closes(artifacts_dir: Path) -> None:
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None)
    async with Runtime.open(settings, bot="shop_assistant") as runtime:
        assert runtime.manager.bot.name == "shop_assistant"
        assert runtime.classifier is runtime.manager.classifier
        assert await runtime.store.ping()
        replies = await runtime.manager.handle(message("where are your stores?"))
        assert "Our stores" in replies[0].text


async def test_an_unknown_bot_fails_clearly_and_closes_what_it_opened(artifacts_dir: Path) -> None:
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None)
    store = MemorySessionStore()
    encoder = load_encoder(settings)
    await encoder.embed(["warm up"])  # its micro-batcher thread is running
    batcher = encoder.batcher
    with pytest.raises(BotDefinitionError, match="no_such_bot"):
        await build_runtimes(settings, bots=["no_such_bot"], store=store, encoder=encoder)
    assert not await store.ping(), "the session store was left open"
    assert batcher.closed, "the encoder's micro-batcher (a thread) was left running"


async def test_bots_of_one_runtime_share_the_catalogue_index(artifacts_dir: Path) -> None:
    """The staff helpdesk reads the shop's catalogue: its products are embedded once, not per bot."""
    settings = Settings(artifacts_dir=artifacts_dir)
    runtime = await build_runtimes(settings, bots=["shop_assistant", "staff_helpdesk"])
    try:
        shop = runtime.managers["shop_assistant"].services
        staff = runtime.managers["staff_helpdesk"].services
        assert staff.search is shop.search
        assert staff.catalog is shop.catalog
    finally:
        await runtime.aclose()
