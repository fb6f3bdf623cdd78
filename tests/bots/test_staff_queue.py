"""The staff queue (``/queue``) masks what tickets hold, even tickets stored before reasons were masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bots.runtime import BOTS_DIR
from core.bot import Bot
from core.dialogue import DialogueManager
from core.handoff import NAMESPACE, OPEN_QUEUE
from core.messages import ConversationKey, IncomingMessage, Platform
from core.sessions import MemorySessionStore
from core.settings import Settings
from tests.core.engine_support import ScriptedClassifier

LEAD = "U0LEAD"


async def test_queue_listing_masks_a_legacy_ticket() -> None:
    store = MemorySessionStore()
    opened = datetime(2026, 11, 30, 9, 15, tzinfo=UTC)
    await store.put_record(NAMESPACE, "t1", {  # as stored before this change: raw reason and name, staff as a name
        "id": "t1", "status": "claimed", "reason": "call +44 7700 900123 or ada@example.com",
        "shopper": {"platform": "telegram", "bot": "shop_assistant", "chat": "777"}, "user_id": "777",
        "user_name": "ada@example.com", "opened_at": opened.isoformat(),
        "deadline": (opened + timedelta(minutes=5)).isoformat(), "claimed_by": "lee",
    })
    await store.schedule(OPEN_QUEUE, "t1", opened.timestamp())
    manager = DialogueManager(bot=Bot.load(BOTS_DIR / "staff_helpdesk"), store=store,
                              classifier=ScriptedClassifier({}), settings=Settings(staff_allowlist=LEAD))
    staff = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T1", chat="C1")
    (listing,) = await manager.handle(IncomingMessage(conversation=staff, user_id=LEAD, text="/queue",
                                                      command_prefix="/staff "))
    assert listing.text.startswith("Shoppers waiting for or talking to a person (1):")
    assert "• t1: a***@e***.com on telegram, call [phone ••23] or a***@e***.com, claimed, claimed by lee" in listing.text
    assert "7700" not in listing.text and "ada@example.com" not in listing.text
