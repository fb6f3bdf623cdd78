"""The handoff service on its own: card contents, upset detection, outbox failures, the queue.

Where a whole conversation is needed, the tiny inline bot and a scripted
classifier stand in for a real bot (tests/core/engine_support.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from core.handoff import (
    CLAIM_PAYLOAD,
    CLOSE_PAYLOAD,
    HandoffService,
    RelayOutcome,
    StaffMember,
    Ticket,
    TicketStatus,
    open_tickets,
    parse_channel,
    staff_reply,
)
from core.messages import ConversationKey, IncomingMessage, Mention, Platform, Reply
from core.outbox import OutboxError, OutboxRouter
from core.sessions import MemorySessionStore
from core.state import ConversationState, Decision, Turn
from tests.core.engine_support import says, tiny_manager

SHOPPER = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="42")
STAFF = ConversationKey(platform=Platform.SLACK, bot="staff_helpdesk", workspace="T1", chat="C1")


class RecordingOutbox:
    """Collects what the service sends; the service, not this, is under test.

    ``down`` lists platforms that refuse every message (as a blocked bot does).
    """

    def __init__(self, *, down: frozenset[Platform] = frozenset()) -> None:
        self.sent: list[tuple[ConversationKey, Reply]] = []
        self.updates: list[tuple[ConversationKey, str, Reply]] = []
        self.down = down

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        if conversation.platform in self.down:
            raise OutboxError(conversation.platform, "Forbidden: bot was blocked by the user")
        self.sent += [(conversation, r) for r in replies]
        return [f"17000000{len(self.sent)}.0001" for _ in replies]

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        self.updates.append((conversation, message_id, reply))

    def to(self, conversation: ConversationKey) -> list[str]:
        return [r.text for c, r in self.sent if c == conversation]


def service(outbox: object, store: MemorySessionStore) -> HandoffService:
    return HandoffService(store=store, outbox=outbox, staff_channel=STAFF, timeout_s=300,  # type: ignore[arg-type]
                          clock=lambda: datetime(2026, 11, 28, 12, 0, tzinfo=UTC))


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
    assert state.handoff is not None and state.handoff.active is True and state.handoff.reason == "upset"
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
    assert state.handoff is not None and state.handoff.ticket is not None
    ticket_id = state.handoff.ticket
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


LEE = StaffMember(user_id="U0LEE", name="lee", mention="<@U0LEE>")
KIM = StaffMember(user_id="U0KIM", mention="<@U0KIM>")  # a typed message: no name, only the id


async def claimed_ticket(outbox: RecordingOutbox) -> tuple[HandoffService, Ticket, ConversationState,
                                                           list[RelayOutcome]]:
    """A ticket Lee claimed, the shopper's state, and the relay outcomes the service reports."""
    handoff = service(outbox, MemorySessionStore())
    outcomes: list[RelayOutcome] = []
    handoff.relay_observers.append(outcomes.append)
    state = ConversationState(user_id="u42", data={"handoff": {"reason": "user_request"}})
    ticket = await handoff.open(shopper_says("/human"), state)
    await handoff.claim(ticket.id, staff=LEE)
    return handoff, ticket, state, outcomes


def staff_presses(payload: str, staff: StaffMember) -> IncomingMessage:
    return IncomingMessage(conversation=STAFF, user_id=staff.user_id, user_name=staff.name or None,
                           mention=staff.mention or None, button_payload=payload)


def test_staff_reply_marks_each_staff_name_as_a_mention() -> None:
    reply = staff_reply("{staff} took ticket {id}; ask {staff}.", staff=LEE, id="t1")
    assert reply.text == "lee took ticket t1; ask lee."
    assert reply.mentions == (Mention(start=0, end=3, markup="<@U0LEE>"), Mention(start=24, end=27, markup="<@U0LEE>"))
    nameless = staff_reply("Closed by {staff}.", staff=KIM)
    assert nameless.text == "Closed by a colleague." and nameless.mentions[0].markup == "<@U0KIM>"
    assert staff_reply("Closed by {staff}.", staff=StaffMember(name="sam")).mentions == ()


async def test_the_human_reason_and_the_name_are_masked_on_the_card_and_the_ticket() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    manager = tiny_manager(store)
    manager.interceptor = service(outbox, store)
    await manager.handle(says("/human please call me back on +44 7700 900123 or e-mail ada@example.com",
                              user="u42", chat="42", user_name="ada@example.com"))
    ((where, card),) = outbox.sent
    assert where == STAFF
    assert "reason: please call me back on [phone ••23] or e-mail a***@e***.com" in card.text
    assert "Handoff " in card.text and ": a***@e***.com (no contact given) on telegram" in card.text
    (ticket,) = await open_tickets(store)
    assert "7700" not in ticket.model_dump_json() and "ada@example.com" not in ticket.model_dump_json()
    state = await store.load(says(chat="42").conversation)
    assert state is not None and "7700" not in state.model_dump_json()


async def test_claim_edits_the_card_and_a_second_claim_answers_the_presser_alone() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    handoff = service(outbox, store)
    state = ConversationState(user_id="u42", data={"handoff": {"reason": "user_request"}})
    ticket = await handoff.open(shopper_says("/human"), state)
    assert ticket.staff is not None
    assert await handoff.intercept(staff_presses(f"{CLAIM_PAYLOAD}{ticket.id}", LEE), state) == []
    ((where, message_id, card),) = outbox.updates
    assert where == STAFF and message_id == ticket.staff.thread
    assert "Status: claimed by lee at 12:00 UTC." in card.text
    assert [m.markup for m in card.mentions] == ["<@U0LEE>"] and card.text[card.mentions[0].start:].startswith("lee")
    assert [b.payload for b in card.buttons] == [f"{CLOSE_PAYLOAD}{ticket.id}"]
    assert outbox.to(SHOPPER) == ["lee from our team has joined the chat."]

    (refusal,) = await handoff.intercept(staff_presses(f"{CLAIM_PAYLOAD}{ticket.id}", KIM), state) or []
    assert refusal.ephemeral and refusal.text == f"Ticket {ticket.id} is already claimed by lee."
    assert len(outbox.updates) == 1

    assert await handoff.intercept(staff_presses(f"{CLOSE_PAYLOAD}{ticket.id}", KIM), state) == []
    closed = outbox.updates[-1][2]
    assert closed.buttons == () and "Status: closed by a colleague" in closed.text
    assert outbox.to(ticket.staff)[-1] == "Closed by a colleague. The shopper is back with the bot and was asked for a rating."
    (again,) = await handoff.intercept(staff_presses(f"{CLOSE_PAYLOAD}{ticket.id}", LEE), state) or []
    assert again.ephemeral and again.text == f"Ticket {ticket.id} is closed."


async def test_a_nameless_staff_member_is_never_shown_to_the_shopper_by_id() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    handoff = service(outbox, store)
    state = ConversationState(user_id="u42", data={"handoff": {"reason": "user_request"}})
    ticket = await handoff.open(shopper_says("/human"), state)
    await handoff.claim(ticket.id, staff=KIM)
    assert outbox.to(SHOPPER) == ["A member of our team has joined the chat."]
    assert all("U0KIM" not in text for text in outbox.to(SHOPPER))


async def test_a_relay_the_shopper_never_got_is_told_to_staff_and_counted_failed() -> None:
    outbox = RecordingOutbox()
    handoff, ticket, _, outcomes = await claimed_ticket(outbox)
    assert ticket.staff is not None
    thread = ticket.staff
    outbox.down = frozenset({Platform.TELEGRAM})  # the shopper blocked the bot
    said = IncomingMessage(conversation=thread, user_id=LEE.user_id, text="Your refund is on its way.")
    assert await handoff.intercept(said, ConversationState()) == []
    assert outbox.to(thread)[-1] == ("⚠ The shopper did not get this (Forbidden: bot was blocked by the user): "
                                     "“lee: Your refund is on its way.”")
    assert outcomes == [RelayOutcome(direction="to_shopper", delivered=False)]
    stored = await handoff.get(ticket.id)
    assert stored is not None and (stored.relayed_to_shopper, stored.failed_to_shopper) == (0, 1)


async def test_a_relay_staff_never_got_is_told_to_the_shopper_and_counted_failed() -> None:
    outbox = RecordingOutbox()
    handoff, ticket, state, outcomes = await claimed_ticket(outbox)
    outbox.down = frozenset({Platform.SLACK})
    (apology,) = await handoff.intercept(shopper_says("are you there?"), state) or []
    assert "didn't reach our team" in apology.text
    outbox.down = frozenset()
    assert await handoff.intercept(shopper_says("hello?"), state) == []
    assert outcomes == [RelayOutcome(direction="to_staff", delivered=False),
                        RelayOutcome(direction="to_staff", delivered=True)]
    stored = await handoff.get(ticket.id)
    assert stored is not None and (stored.relayed_to_staff, stored.failed_to_staff) == (1, 1)


async def test_a_ticket_stored_with_names_only_still_loads() -> None:
    store, outbox = MemorySessionStore(), RecordingOutbox()
    handoff = service(outbox, store)
    state = ConversationState(user_id="u42", data={"handoff": {"reason": "user_request"}})
    ticket = await handoff.open(shopper_says("/human"), state)
    raw = ticket.model_dump(mode="json") | {"status": "claimed", "claimed_by": "lee"}
    await store.put_record("handoff", ticket.id, raw)
    loaded = await handoff.get(ticket.id)
    assert loaded is not None and loaded.claimed_by == StaffMember(name="lee")
