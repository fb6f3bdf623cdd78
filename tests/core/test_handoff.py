"""The handoff service on its own: card contents, upset detection, outbox failures, the queue."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from core.handoff import HandoffService, TicketStatus, open_tickets, parse_channel
from core.messages import ConversationKey, IncomingMessage, Platform, Reply
from core.outbox import OutboxError, OutboxRouter
from core.sessions import MemorySessionStore
from core.state import ConversationState, Decision, Turn

SHOPPER = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="42")
STAFF = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T1", chat="C1")


class RecordingOutbox:
    """Collects what the service sends; the service, not this, is under test."""

    def __init__(self) -> None:
        self.sent: list[tuple[ConversationKey, Reply]] = []

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        self.sent += [(conversation, r) for r in replies]
        return [f"17000000{len(self.sent)}.0001" for _ in replies]


def service(outbox: object, store: MemorySessionStore) -> HandoffService:
    return HandoffService(store=store, outbox=outbox, staff_channel=STAFF, timeout_s=300,  # type: ignore[arg-type]
                          clock=lambda: datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc))


def shopper_says(text: str) -> IncomingMessage:
    return IncomingMessage(conversation=SHOPPER, user_id="u42", user_name="ada", text=text)


async def test_upset_shopper_opens_a_ticket_with_a_masked_card() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    state = ConversationState(user_id="u42", data={"cart": [{"sku": "A", "qty": 2}], "verified_orders": ["#1002"]})
    state.add_turn(Turn(role="user", text="call me on +1 206 555 1001 or ada@example.com", intent="order_status"))
    extra = await service(outbox, store).after(shopper_says("this is ridiculous, where is my parcel"), state)
    assert extra and extra[0].handoff
    (where, card), = outbox.sent
    assert where == STAFF
    assert "ada@example.com" not in card.text and "555 1001" not in card.text
    assert "cart 2 item(s)" in card.text and "order #1002" in card.text and "order_status" in card.text
    assert state.data["handoff"]["active"] is True and state.data["handoff"]["reason"] == "upset"
    queue = await open_tickets(store)
    assert [t.status for t in queue] == [TicketStatus.WAITING]
    assert queue[0].staff is not None and queue[0].staff.thread == "170000001.0001"


async def test_a_mild_complaint_alone_does_not_page_anyone() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    state = ConversationState(user_id="u42")
    state.last_decision = Decision(intent="complaint", confidence=0.5)
    assert await service(outbox, store).after(shopper_says("the zip is a bit stiff"), state) == []
    state.last_decision = Decision(intent="complaint", confidence=0.95)
    assert await service(outbox, store).after(shopper_says("the zip broke on day one"), state)
    assert len(outbox.sent) == 1


async def test_card_failure_keeps_the_ticket_so_the_timeout_still_offers_email() -> None:
    class DownOutbox:
        async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
            raise OutboxError(conversation.platform, "down")

    store = MemorySessionStore()
    state = ConversationState(user_id="u42", data={"handoff": {"reason": "user_request"}})
    await service(DownOutbox(), store).after(shopper_says("/human"), state)
    ticket_id = state.data["handoff"]["ticket"]
    assert await store.due("handoff-timeout", 1e12) == [ticket_id]


async def test_router_without_the_platform_is_an_outbox_error() -> None:
    router = OutboxRouter()
    try:
        await router.send(SHOPPER, [Reply(text="hi")])
    except OutboxError as e:
        assert e.platform == Platform.TELEGRAM
    else:
        raise AssertionError("expected OutboxError")


def test_parse_channel() -> None:
    assert parse_channel("T1/C9", bot="staff") == ConversationKey(platform=Platform.SLACK, bot="staff",
                                                                  workspace="T1", chat="C9")
    assert parse_channel("C9", bot="staff").workspace == ""  # type: ignore[union-attr]
    assert parse_channel("  ", bot="staff") is None
