"""Live human handoff: a shopper's chat is handed to staff, then back to the bot.

Life of a ticket::

    shopper asks (/human, "talk to a person", two fallbacks, upset)
      → WAITING: a card is posted in the staff channel (who, platform, summary,
        last turns masked, Claim / Close buttons); its thread is the ticket's thread
      → CLAIMED: staff replies in the thread reach the shopper, the shopper's
        messages reach the thread, the bot stays silent
      → CLOSED (Close button, or ``!done`` typed in the thread): the bot is back and
        asks for a 1–5 rating (``rate:N`` buttons), recorded on ticket and state
    WAITING for ``handoff_timeout_s`` → EXPIRED (:meth:`HandoffService.sweep`):
        the shopper is told and offered an e-mail follow-up.

The card itself is edited (:meth:`Outbox.update`) at each step: its status line
says who claimed or closed it, and its buttons follow (Close only once claimed,
none once closed or expired). A press that cannot apply (a second Claim, a
Close on a closed ticket) is answered to the presser alone (an ephemeral
reply), naming the ticket. Staff are named with their platform's mention
(``IncomingMessage.mention``) where staff talk, and by display name (never a
raw id) in the shopper's chat.

Every field that leaves the shopper's chat (the card, the queue, relayed lines)
has personal data masked: the ``/human`` reason and the shopper's display name
are masked when the ticket is made. A message that cannot be delivered is
counted as failed (:attr:`HandoffService.relay_observers`, the ticket's
``failed_to_*``) and the other side is told: staff in the thread, the shopper
in their chat.

The service is the dialogue manager's interceptor (:class:`ConversationInterceptor`)
for every bot of the process: it recognises the shopper side by
``state.handoff`` and the staff side by the thread → ticket record.
Everything lives in the session store, so a restart mid-handoff loses nothing.
A ticket is only changed while its shopper conversation's lock is held.

Texts for the shopper are kept here (en, zh) so any customer bot gets them;
nothing here knows which platform a conversation is on.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

from core.commands import parse_command, request_handoff
from core.errors import StorageError
from core.events import Event, EventKind, EventObserver
from core.events import now as event_time
from core.messages import Button, ConversationKey, IncomingMessage, Mention, Platform, Reply
from core.outbox import Outbox, OutboxError
from core.privacy import mask_pii
from core.protocols import SessionStore
from core.settings import Settings
from core.state import ConversationState, HandoffAwaiting, HandoffFlags

logger = logging.getLogger(__name__)

NAMESPACE = "handoff"
THREAD_NAMESPACE = "handoff-thread"
TIMEOUT_QUEUE = "handoff-timeout"
OPEN_QUEUE = "handoff-open"
CLAIM_PAYLOAD = "handoff:claim:"
CLOSE_PAYLOAD = "handoff:close:"
EMAIL_PAYLOAD = "handoff:email:"
RATE_PAYLOAD = "rate:"
#: Typed in the ticket's thread to close it. Slack takes a leading "/" for its own
#: slash commands (``/done`` never arrives as a message), so staff type ``!done``.
DONE_WORDS = frozenset({"!done", "/done"})
CARD_TURNS = 6

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
#: Words that mean the shopper is clearly upset, whatever the intent model says.
STRONG_NEGATIVE = re.compile(
    r"\b(furious|outraged|disgusted|unacceptable|ridiculous|scam|rip[- ]?off|worst|useless|"
    r"fed up|sick of|pathetic|disgrace(?:ful)?|angry|livid|wtf|fuck\w*|shit\w*|crap)\b"
    r"|愤怒|太差|垃圾|骗子|气死",
    re.IGNORECASE,
)

SHOPPER_TEXTS: dict[str, dict[str, str]] = {
    "upset": {
        "en": "I'm sorry about this. I've asked a member of our team to take over; they'll reply here.",
        "zh": "非常抱歉。我已请团队成员接手，他们会在这里回复您。",
    },
    "claimed": {"en": "{name} from our team has joined the chat.", "zh": "我们团队的 {name} 已加入对话。"},
    "claimed_unnamed": {"en": "A member of our team has joined the chat.", "zh": "我们团队的工作人员已加入对话。"},
    "staff_says": {"en": "{name}: {text}", "zh": "{name}：{text}"},
    "staff": {"en": "Our team", "zh": "工作人员"},
    "not_delivered": {
        "en": "Sorry, your message didn't reach our team just now. Please send it again in a moment.",
        "zh": "抱歉，您的消息暂时没能送达我们的团队。请稍后再发一次。",
    },
    "closed": {
        "en": "Thanks for chatting with our team; I'm back if you need anything else. "
              "How would you rate the help you got, from 1 (poor) to 5 (great)?",
        "zh": "感谢您与我们团队的沟通；如有其他需要，我随时在。请为本次服务评分：1（差）到 5（很好）。",
    },
    "rated": {"en": "Thank you for your rating!", "zh": "感谢您的评分！"},
    "timeout": {
        "en": "Sorry, no one from our team is free right now. Would you like us to follow up by e-mail?",
        "zh": "抱歉，目前没有空闲的工作人员。需要我们通过电子邮件跟进吗？",
    },
    "button_email": {"en": "E-mail me", "zh": "给我发邮件"},
    "ask_email": {"en": "Please type the e-mail address we should write to.", "zh": "请输入我们联系您的电子邮箱地址。"},
    "bad_email": {
        "en": "That doesn't look like an e-mail address. Please type one like name@example.com, or /cancel.",
        "zh": "这看起来不像电子邮箱地址。请输入类似 name@example.com 的地址，或输入 /cancel。",
    },
    "email_saved": {
        "en": "Thanks! Our team will write to {email} as soon as they can.",
        "zh": "谢谢！我们的团队会尽快发邮件到 {email}。",
    },
    "email_cancelled": {"en": "OK, no e-mail follow-up.", "zh": "好的，不通过邮件跟进。"},
    "already_waiting": {
        "en": "A member of our team has already been asked to join; they'll reply here.",
        "zh": "已经请团队成员加入了，他们会在这里回复您。",
    },
}

#: Staff-facing texts (the staff channel speaks English). ``{staff}`` is a staff
#: member, rendered as a mention where the platform has them (see :func:`staff_reply`).
STAFF_TEXTS: dict[str, str] = {
    "claimed": "{staff} claimed ticket {id}. Replies in this thread go to the shopper; "
               "press Close on the card or type !done in this thread when finished.",
    "already_claimed": "Ticket {id} is already claimed by {staff}.",
    "not_claimed": "Press Claim on the card of ticket {id} first; until then nothing here reaches the shopper.",
    "closed": "Closed by {staff}. The shopper is back with the bot and was asked for a rating.",
    "is_closed": "Ticket {id} is closed.",
    "expired": "Not claimed within {minutes} min: the shopper was offered an e-mail follow-up.",
    "cannot_claim": "Ticket {id} is {status}; it can no longer be claimed.",
    "email": "The shopper asked for an e-mail follow-up: {email} (kept on ticket {id}).",
    "rating": "The shopper rated the help {rating}/5.",
    "shopper_says": "{name}: {text}",
    "unknown": "I can't find ticket {id} any more.",
    "not_delivered": "⚠ The shopper did not get this ({reason}): “{text}”",
    "card_hint": "Claim takes the ticket; then replies in its thread reach the shopper. "
                 "Press Close, or type !done in the thread, when finished.",
    "status_waiting": "Status: waiting for a claim (until {deadline} UTC).",
    "status_claimed": "Status: claimed by {staff} at {at} UTC.",
    "status_closed": "Status: closed by {staff} at {at} UTC.",
    "status_expired": "Status: not claimed in time; the shopper was offered an e-mail follow-up.",
}


class TicketStatus(str, Enum):
    WAITING = "waiting"
    CLAIMED = "claimed"
    EXPIRED = "expired"
    CLOSED = "closed"


class StaffMember(BaseModel):
    """Who claimed or closed a ticket.

    ``name`` is their display name ("" when the platform sent none, as Slack's
    message events do); ``mention`` links them where staff talk (Slack's
    ``<@U123>``). Texts for the shopper use only ``name``, never the id.
    """

    model_config = ConfigDict(frozen=True)

    user_id: str = ""
    name: str = ""
    mention: str = ""

    @classmethod
    def of(cls, message: IncomingMessage) -> StaffMember:
        return cls(user_id=message.user_id, name=message.user_name or "", mention=message.mention or "")

    @property
    def label(self) -> str:
        """Plain text naming them for staff: their name, else "a colleague"."""
        return self.name or "a colleague"


class Ticket(BaseModel):
    """One handoff, stored as a JSON record (``handoff:<id>``) tied to the shopper.

    ``reason``, ``user_name`` and ``card`` are stored with personal data masked:
    they are shown to staff.
    """

    id: str
    status: TicketStatus = TicketStatus.WAITING
    reason: str
    shopper: ConversationKey
    user_id: str
    user_name: str = ""
    lang: str = "en"
    opened_at: datetime
    deadline: datetime
    staff: ConversationKey | None = None  # the card's thread in the staff channel
    card: str = ""  # the card's text as posted; edits add a status line below it
    claimed_by: StaffMember | None = None
    claimed_at: datetime | None = None
    closed_by: StaffMember | None = None
    closed_at: datetime | None = None
    rating: int | None = None
    email: str | None = None
    relayed_to_staff: int = 0
    relayed_to_shopper: int = 0
    failed_to_staff: int = 0
    failed_to_shopper: int = 0

    @field_validator("claimed_by", "closed_by", mode="before")
    @classmethod
    def _name_only(cls, value: object) -> object:
        # Tickets stored before staff were recorded as people held their name only.
        return StaffMember(name=value) if isinstance(value, str) else value

    @property
    def open(self) -> bool:
        return self.status in (TicketStatus.WAITING, TicketStatus.CLAIMED)


@dataclass(frozen=True, kw_only=True)
class RelayOutcome:
    """One relayed message: which way it went and whether the platform took it (for metrics)."""

    direction: Literal["to_shopper", "to_staff"]
    delivered: bool


class ConversationInterceptor(Protocol):
    """A hook the dialogue manager consults inside the conversation lock.

    ``intercept`` runs before dispatch: replies (even ``[]``) mean "handled,
    skip the bot"; ``None`` means "carry on". ``after`` runs after dispatch on
    the state about to be saved and returns extra replies.
    """

    async def intercept(self, message: IncomingMessage, state: ConversationState) -> list[Reply] | None: ...

    async def after(self, message: IncomingMessage, state: ConversationState) -> list[Reply]: ...


def parse_channel(value: str, *, platform: Platform = Platform.SLACK, bot: str) -> ConversationKey | None:
    """``"T123/C456"`` or ``"C456"`` → the staff channel's conversation key (None when empty)."""
    value = value.strip()
    if not value:
        return None
    workspace, _, channel = value.rpartition("/")
    return ConversationKey(platform=platform, bot=bot, workspace=workspace, chat=channel)


def thread_id(key: ConversationKey) -> str:
    """Channel and thread: the workspace is left out, a bare ``handoff_channel`` id has none."""
    return f"{key.chat}:{key.thread}"


def _now() -> datetime:
    return datetime.now(UTC)


def staff_reply(template: str, *, staff: StaffMember | None = None, ephemeral: bool = False,
                buttons: Sequence[Button] = (), **values: object) -> Reply:
    """A staff-facing reply from ``template``; each ``{staff}`` names ``staff`` as a mention.

    The text shows their name (or "a colleague"); :attr:`Reply.mentions` tells
    a platform that links people which span to replace with their mention.
    """
    label = staff.label if staff is not None else ""
    pieces = template.split("{staff}")
    text, mentions = "", []
    for i, piece in enumerate(pieces):
        text += piece.format(**values)
        if i < len(pieces) - 1:
            if staff is not None and staff.mention:
                mentions.append(Mention(start=len(text), end=len(text) + len(label), markup=staff.mention))
            text += label
    return Reply(text=text, mentions=tuple(mentions), ephemeral=ephemeral, buttons=tuple(buttons))


class HandoffService:
    """Opens, relays, closes and times out handoff tickets.

    Args:
        store: where tickets, thread mappings and the timeout schedule live.
        outbox: sends into conversations other than the current one.
        staff_channel: where cards are posted (``thread`` empty); None disables live handoff.
        staff_bot: the bot whose conversations are staff-side.
        timeout_s: how long a ticket may wait for a claim.
        upset_confidence: a ``complaint`` at least this confident opens a ticket by itself.
        clock: the current time (UTC); injectable for tests.
    """

    def __init__(
        self,
        *,
        store: SessionStore,
        outbox: Outbox,
        staff_channel: ConversationKey | None,
        staff_bot: str = "staff_helpdesk",
        timeout_s: int = 300,
        upset_confidence: float = 0.8,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.staff_channel = staff_channel
        self.staff_bot = staff_bot
        self.timeout_s = timeout_s
        self.upset_confidence = upset_confidence
        self.clock = clock
        #: Called with each relayed message's outcome (the server counts them in metrics).
        self.relay_observers: list[Callable[[RelayOutcome], None]] = []
        #: Told of claims, closes, ratings and staff first responses (the runtime shares its list).
        self.event_observers: list[EventObserver] = []

    def _emit(self, kind: EventKind, ticket: Ticket, value: float = 0.0) -> None:
        if not self.event_observers:
            return
        event = Event(kind=kind, platform=ticket.shopper.platform.value, bot=ticket.shopper.bot, at=event_time(),
                      user=ticket.user_id, conversation=ticket.shopper.tag, reason=ticket.reason, value=value)
        for observe in self.event_observers:
            observe(event)

    @classmethod
    def from_settings(cls, settings: Settings, *, store: SessionStore, outbox: Outbox) -> HandoffService:
        return cls(
            store=store,
            outbox=outbox,
            staff_channel=parse_channel(settings.handoff_channel, bot=settings.staff_bot),
            staff_bot=settings.staff_bot,
            timeout_s=settings.handoff_timeout_s,
            upset_confidence=settings.handoff_upset_confidence,
        )

    # --- records ---------------------------------------------------------------
    async def get(self, ticket_id: str) -> Ticket | None:
        raw = await self.store.get_record(NAMESPACE, ticket_id)
        return None if raw is None else Ticket.model_validate(raw)

    async def _put(self, ticket: Ticket) -> None:
        await self.store.put_record(NAMESPACE, ticket.id, ticket.model_dump(mode="json"),
                                    user=(ticket.shopper.platform, ticket.user_id))

    async def open_tickets(self) -> list[Ticket]:
        """Waiting and claimed tickets, oldest first (the staff queue)."""
        return await open_tickets(self.store)

    # --- the dialogue manager's hook -----------------------------------------
    async def intercept(self, message: IncomingMessage, state: ConversationState) -> list[Reply] | None:
        if message.conversation.bot == self.staff_bot:
            return await self._intercept_staff(message)
        return await self._intercept_shopper(message, state)

    async def after(self, message: IncomingMessage, state: ConversationState) -> list[Reply]:
        if self.staff_channel is None or message.conversation.bot == self.staff_bot:
            return []
        handoff = state.handoff
        if handoff is not None and not handoff.ticket:
            await self.open(message, state)
            return []
        if not (handoff is not None and handoff.active) and self._upset(message, state):
            request_handoff(state, "upset")
            await self.open(message, state)
            return [Reply(text=_shopper(state.lang, "upset"), handoff=True)]
        return []

    def _upset(self, message: IncomingMessage, state: ConversationState) -> bool:
        if not message.text or message.text.startswith("/"):
            return False
        if STRONG_NEGATIVE.search(message.text):
            return True
        d = state.last_decision
        return d is not None and d.intent == "complaint" and d.confidence >= self.upset_confidence

    # --- opening ------------------------------------------------------------------
    async def open(self, message: IncomingMessage, state: ConversationState) -> Ticket:
        """Open a ticket for the shopper's conversation and post its card (inside the shopper's lock)."""
        now = self.clock()
        if state.handoff is None:
            state.handoff = HandoffFlags()
        handoff = state.handoff
        ticket = Ticket(
            id=secrets.token_hex(5),
            reason=mask_pii(handoff.reason or "user_request"),
            shopper=message.conversation,
            user_id=message.user_id,
            user_name=mask_pii(message.user_name or ""),
            lang=state.lang,
            opened_at=now,
            deadline=now + timedelta(seconds=self.timeout_s),
        )
        if self.staff_channel is not None:
            card = self.card(ticket, state)
            ticket.card = card.text
            try:
                ids = await self.outbox.send(self.staff_channel, [self._card_reply(ticket)])
            except OutboxError as e:
                logger.warning("handoff %s: card not posted: %s", ticket.id, e)
            else:
                if ids:
                    ticket.staff = self.staff_channel.model_copy(update={"thread": ids[0]})
        await self._put(ticket)
        if ticket.staff is not None:
            await self.store.put_record(THREAD_NAMESPACE, thread_id(ticket.staff), {"ticket": ticket.id},
                                        user=(ticket.shopper.platform, ticket.user_id))
        await self.store.schedule(TIMEOUT_QUEUE, ticket.id, ticket.deadline.timestamp())
        await self.store.schedule(OPEN_QUEUE, ticket.id, now.timestamp())
        handoff.ticket, handoff.active, handoff.awaiting, handoff.user_id = ticket.id, True, None, message.user_id
        logger.info("handoff %s opened (%s) for %s", ticket.id, ticket.reason, ticket.shopper.tag)
        return ticket

    def card(self, ticket: Ticket, state: ConversationState) -> Reply:
        """The staff card: who, where, why, a summary and the last turns, personal data masked.

        Every field is masked here, whatever the ticket holds: the card leaves the shopper's chat.
        """
        intents = [t.intent for t in state.history if t.role == "user" and t.intent]
        recent = list(dict.fromkeys(reversed(intents)))[:3]
        cart = state.data.get("cart") or []
        items = sum(int(line.get("qty", 1)) for line in cart if isinstance(line, dict))
        orders = state.data.get("verified_orders") or []
        order = orders[-1] if orders else state.slots.get("order_number") or state.form_slots.get("order_number")
        lines = [
            (f"Handoff {ticket.id}: {mask_pii(ticket.user_name) or 'shopper'} ({_contact(state)}) "
            f"on {ticket.shopper.platform.value}, reason: {mask_pii(ticket.reason).replace('_', ' ')}"),
            (f"Summary: last intents {', '.join(recent) or '-'}; cart {items} item(s); "
             f"order {mask_pii(str(order or '-'))}; language {ticket.lang}"),
            "Last turns:",
        ]
        for turn in state.history[-CARD_TURNS:]:
            lines.append(f"> {turn.role}: {mask_pii(turn.text)[:300]}")
        return Reply(text="\n".join(lines), buttons=_card_buttons(ticket))

    def _card_reply(self, ticket: Ticket) -> Reply:
        """The card as it stands: its text, how to work it, its status and the buttons that still apply."""
        time_of = "{:%H:%M}".format
        if ticket.status == TicketStatus.WAITING:
            status = staff_reply(STAFF_TEXTS["status_waiting"], deadline=time_of(ticket.deadline))
        elif ticket.status == TicketStatus.CLAIMED:
            status = staff_reply(STAFF_TEXTS["status_claimed"], staff=ticket.claimed_by,
                                 at=time_of(ticket.claimed_at or ticket.opened_at))
        elif ticket.status == TicketStatus.CLOSED:
            status = staff_reply(STAFF_TEXTS["status_closed"], staff=ticket.closed_by,
                                 at=time_of(ticket.closed_at or ticket.opened_at))
        else:
            status = staff_reply(STAFF_TEXTS["status_expired"])
        head = f"{ticket.card}\n\n{STAFF_TEXTS['card_hint']}\n"
        shift = len(head)
        return Reply(
            text=head + status.text,
            mentions=tuple(m.model_copy(update={"start": m.start + shift, "end": m.end + shift})
                           for m in status.mentions),
            buttons=_card_buttons(ticket),
        )

    async def _update_card(self, ticket: Ticket) -> None:
        """Edit the card in place so the channel shows where the ticket stands (best effort)."""
        if ticket.staff is None or not ticket.staff.thread:
            return
        channel = ticket.staff.model_copy(update={"thread": ""})
        try:
            await self.outbox.update(channel, ticket.staff.thread, self._card_reply(ticket))
        except OutboxError as e:
            logger.warning("handoff %s: card not updated: %s", ticket.id, e)

    # --- shopper side -------------------------------------------------------------
    async def _intercept_shopper(self, message: IncomingMessage, state: ConversationState) -> list[Reply] | None:
        handoff = state.handoff
        payload = message.button_payload or ""
        if payload.startswith(RATE_PAYLOAD):
            return await self._rate(state, handoff, payload[len(RATE_PAYLOAD):])
        if payload.startswith(EMAIL_PAYLOAD) and handoff is not None:
            handoff.awaiting = "email"
            return [Reply(text=_shopper(state.lang, "ask_email"))]
        if handoff is None:
            return None
        if handoff.awaiting == "email" and message.text and not payload:
            return await self._take_email(state, handoff, message.text)
        if not handoff.active or not handoff.ticket:
            return None
        command = parse_command(message.text) if not payload else None
        if command is not None:
            if command[0] == "human":
                return [Reply(text=_shopper(state.lang, "already_waiting"))]
            return None  # /forget, /lang, /help... still work
        ticket = await self.get(handoff.ticket)
        if ticket is None or not ticket.open:
            handoff.active = False
            return None
        text = mask_pii(message.text) if message.text else f"[pressed {payload}]"
        if ticket.staff is None:
            return []
        name = mask_pii(ticket.user_name) or "Shopper"
        delivered = await self._tell_staff(ticket, STAFF_TEXTS["shopper_says"].format(name=name, text=text))
        self._observe("to_staff", delivered)
        if delivered:
            ticket.relayed_to_staff += 1
        else:
            ticket.failed_to_staff += 1
        await self._put(ticket)
        return [] if delivered else [Reply(text=_shopper(state.lang, "not_delivered"))]

    async def _rate(self, state: ConversationState, handoff: HandoffFlags | None, value: str) -> list[Reply]:
        # A literal set, not isdigit(): a pressed "rate:²" passes isdigit() and int() refuses it.
        if value not in ("1", "2", "3", "4", "5") or handoff is None or not handoff.ticket:
            return [Reply(text=_shopper(state.lang, "rated"))] if handoff else []
        rating = int(value)
        handoff.rating, handoff.awaiting = rating, None
        ticket = await self.get(handoff.ticket)
        if ticket is not None:
            ticket.rating = rating
            await self._put(ticket)
            self._emit(EventKind.CSAT, ticket, rating)
            await self._tell_staff(ticket, STAFF_TEXTS["rating"].format(rating=rating))
        return [Reply(text=_shopper(state.lang, "rated"))]

    async def _take_email(self, state: ConversationState, handoff: HandoffFlags, text: str) -> list[Reply]:
        if text.strip().lower() in ("/cancel", "cancel"):
            handoff.awaiting = None
            return [Reply(text=_shopper(state.lang, "email_cancelled"))]
        match = _EMAIL.search(text)
        if match is None:
            return [Reply(text=_shopper(state.lang, "bad_email"))]
        email = match.group(0)
        handoff.awaiting = None
        ticket = await self.get(handoff.ticket or "")
        if ticket is not None:
            ticket.email = email
            await self._put(ticket)
            await self._tell_staff(ticket, STAFF_TEXTS["email"].format(email=mask_pii(email), id=ticket.id))
        return [Reply(text=_shopper(state.lang, "email_saved", email=email))]

    # --- staff side ------------------------------------------------------------------
    async def _intercept_staff(self, message: IncomingMessage) -> list[Reply] | None:
        payload = message.button_payload or ""
        staff = StaffMember.of(message)
        if payload.startswith(CLAIM_PAYLOAD):
            return await self.claim(payload[len(CLAIM_PAYLOAD):], staff=staff)
        if payload.startswith(CLOSE_PAYLOAD):
            return await self.close(payload[len(CLOSE_PAYLOAD):], staff=staff)
        if not message.conversation.thread:
            return None
        record = await self.store.get_record(THREAD_NAMESPACE, thread_id(message.conversation))
        if record is None:
            return None
        ticket_id = str(record.get("ticket", ""))
        if message.text.strip().lower() in DONE_WORDS:
            return await self.close(ticket_id, staff=staff, pressed=False)
        ticket = await self.get(ticket_id)
        if ticket is None:
            return [staff_reply(STAFF_TEXTS["unknown"], id=ticket_id)]
        if ticket.status == TicketStatus.CLAIMED:
            return await self._relay_to_shopper(ticket, message)
        if ticket.status == TicketStatus.WAITING:
            return [staff_reply(STAFF_TEXTS["not_claimed"], id=ticket.id)]
        return [staff_reply(STAFF_TEXTS["is_closed"], id=ticket.id)]

    async def _relay_to_shopper(self, ticket: Ticket, message: IncomingMessage) -> list[Reply]:
        text = message.text or "[attachment]"
        async with self.store.lock(ticket.shopper):
            current = await self.get(ticket.id) or ticket
            name = (current.claimed_by.name if current.claimed_by else "") or _shopper(current.lang, "staff")
            delivered = await self._tell_shopper(current, _shopper(current.lang, "staff_says", name=name, text=text))
            self._observe("to_shopper", delivered)
            if delivered:
                if current.relayed_to_shopper == 0:
                    self._emit(EventKind.FIRST_RESPONSE, current,
                               (self.clock() - current.opened_at).total_seconds())
                current.relayed_to_shopper += 1
            else:
                current.failed_to_shopper += 1
            await self._put(current)
        return []

    async def claim(self, ticket_id: str, *, staff: StaffMember) -> list[Reply]:
        """Staff takes the ticket: the shopper is told who joined, the thread says who claimed,
        the card shows it. A press that cannot claim is answered to the presser alone."""
        ticket = await self.get(ticket_id)
        if ticket is None:
            return [staff_reply(STAFF_TEXTS["unknown"], id=ticket_id, ephemeral=True)]
        async with self.store.lock(ticket.shopper):
            ticket = await self.get(ticket_id) or ticket
            if ticket.status == TicketStatus.CLAIMED:
                return [staff_reply(STAFF_TEXTS["already_claimed"], staff=ticket.claimed_by, id=ticket.id,
                                    ephemeral=True)]
            if ticket.status != TicketStatus.WAITING:
                return [staff_reply(STAFF_TEXTS["cannot_claim"], id=ticket.id, status=ticket.status.value,
                                    ephemeral=True)]
            ticket.status = TicketStatus.CLAIMED
            ticket.claimed_by = staff
            ticket.claimed_at = self.clock()
            await self._put(ticket)
            await self.store.unschedule(TIMEOUT_QUEUE, ticket.id)
            self._emit(EventKind.HANDOFF_CLAIMED, ticket, (ticket.claimed_at - ticket.opened_at).total_seconds())
            if staff.name:
                joined = _shopper(ticket.lang, "claimed", name=staff.name)
            else:
                joined = _shopper(ticket.lang, "claimed_unnamed")
            await self._tell_shopper(ticket, joined)
        await self._update_card(ticket)
        await self._tell_staff(ticket, staff_reply(STAFF_TEXTS["claimed"], staff=staff, id=ticket.id))
        logger.info("handoff %s claimed", ticket.id)
        return []

    async def close(self, ticket_id: str, *, staff: StaffMember, pressed: bool = True) -> list[Reply]:
        """Hand the conversation back to the bot, which asks the shopper for a rating.

        ``pressed``: the Close button (a refusal goes to the presser alone), not ``!done`` in the thread.
        """
        ticket = await self.get(ticket_id)
        if ticket is None:
            return [staff_reply(STAFF_TEXTS["unknown"], id=ticket_id, ephemeral=pressed)]
        async with self.store.lock(ticket.shopper):
            ticket = await self.get(ticket_id) or ticket
            if ticket.status == TicketStatus.CLOSED:
                return [staff_reply(STAFF_TEXTS["is_closed"], id=ticket.id, ephemeral=pressed)]
            ticket.status = TicketStatus.CLOSED
            ticket.closed_by = staff
            ticket.closed_at = self.clock()
            await self._put(ticket)
            await self.store.unschedule(TIMEOUT_QUEUE, ticket.id)
            await self.store.unschedule(OPEN_QUEUE, ticket.id)
            self._emit(EventKind.HANDOFF_CLOSED, ticket)
            await self._update_shopper_state(ticket, active=False, awaiting="rating")
            buttons = tuple(Button(label=str(n), payload=f"{RATE_PAYLOAD}{n}") for n in range(1, 6))
            await self._tell_shopper(ticket, _shopper(ticket.lang, "closed"), buttons=buttons)
        await self._update_card(ticket)
        await self._tell_staff(ticket, staff_reply(STAFF_TEXTS["closed"], staff=staff))
        logger.info("handoff %s closed", ticket.id)
        return []

    # --- timeouts --------------------------------------------------------------------
    async def sweep(self, now: datetime | None = None) -> int:
        """Expire tickets nobody claimed in time; returns how many. Safe to run in several processes."""
        now = now or self.clock()
        expired = 0
        for ticket_id in await self.store.due(TIMEOUT_QUEUE, now.timestamp()):
            if not await self.store.unschedule(TIMEOUT_QUEUE, ticket_id):
                continue  # another process took it
            ticket = await self.get(ticket_id)
            if ticket is None or ticket.status != TicketStatus.WAITING:
                continue
            try:
                async with self.store.lock(ticket.shopper):
                    ticket = await self.get(ticket_id) or ticket
                    if ticket.status != TicketStatus.WAITING:
                        continue
                    ticket.status = TicketStatus.EXPIRED
                    await self._put(ticket)
                    await self.store.unschedule(OPEN_QUEUE, ticket.id)
                    await self._update_shopper_state(ticket, active=False, awaiting=None)
                    button = Button(label=_shopper(ticket.lang, "button_email"), payload=f"{EMAIL_PAYLOAD}{ticket.id}")
                    await self._tell_shopper(ticket, _shopper(ticket.lang, "timeout"), buttons=(button,))
            except StorageError as e:
                logger.warning("handoff %s: timeout not applied, retried next sweep: %s", ticket_id, e)
                await self.store.schedule(TIMEOUT_QUEUE, ticket_id, now.timestamp())
                continue
            minutes = max(1, round(self.timeout_s / 60))
            await self._update_card(ticket)
            await self._tell_staff(ticket, STAFF_TEXTS["expired"].format(minutes=minutes))
            expired += 1
        return expired

    # --- sending -------------------------------------------------------------------------
    async def _update_shopper_state(self, ticket: Ticket, *, active: bool,
                                    awaiting: HandoffAwaiting | None) -> None:
        """Change the shopper's handoff flags (the caller holds the shopper's lock)."""
        state = await self.store.load(ticket.shopper)
        if state is None:
            return
        handoff = state.handoff
        if handoff is not None and handoff.ticket == ticket.id:
            handoff.active, handoff.awaiting = active, awaiting
            await self.store.save(ticket.shopper, state)

    async def _tell_shopper(self, ticket: Ticket, text: str, *, buttons: Sequence[Button] = ()) -> bool:
        """Send into the shopper's chat; on failure the staff thread is told what did not arrive.

        Returns:
            Whether the platform took the message.
        """
        try:
            await self.outbox.send(ticket.shopper, [Reply(text=text, buttons=tuple(buttons))])
        except OutboxError as e:
            logger.warning("handoff %s: could not reach the shopper: %s", ticket.id, e)
            await self._tell_staff(ticket, STAFF_TEXTS["not_delivered"].format(reason=mask_pii(e.reason),
                                                                             text=mask_pii(text)))
            return False
        return True

    async def _tell_staff(self, ticket: Ticket, message: str | Reply) -> bool:
        """Post in the ticket's thread; returns whether the platform took it (False without a thread)."""
        if ticket.staff is None:
            return False
        try:
            await self.outbox.send(ticket.staff, [message if isinstance(message, Reply) else Reply(text=message)])
        except OutboxError as e:
            logger.warning("handoff %s: could not post in the staff thread: %s", ticket.id, e)
            return False
        return True

    def _observe(self, direction: Literal["to_shopper", "to_staff"], delivered: bool) -> None:
        outcome = RelayOutcome(direction=direction, delivered=delivered)
        for observe in self.relay_observers:
            observe(outcome)


async def open_tickets(store: SessionStore, limit: int = 50) -> list[Ticket]:
    """Waiting and claimed tickets, oldest first (the staff queue)."""
    found = []
    for ticket_id in await store.due(OPEN_QUEUE, float("inf"), limit=limit):
        raw = await store.get_record(NAMESPACE, ticket_id)
        ticket = None if raw is None else Ticket.model_validate(raw)
        if ticket is not None and ticket.open:
            found.append(ticket)
    return found


def _card_buttons(ticket: Ticket) -> tuple[Button, ...]:
    """Claim and Close while waiting; Close once claimed; none once closed or expired."""
    claim = Button(label="Claim", payload=f"{CLAIM_PAYLOAD}{ticket.id}")
    close = Button(label="Close", payload=f"{CLOSE_PAYLOAD}{ticket.id}")
    if ticket.status == TicketStatus.WAITING:
        return (claim, close)
    return (close,) if ticket.status == TicketStatus.CLAIMED else ()


def _contact(state: ConversationState) -> str:
    """A masked contact the shopper gave, if any (never their platform id)."""
    values: list[object] = [state.data.get("contact"), *state.slots.values(), *state.form_slots.values()]
    for value in values:
        if isinstance(value, str) and (_EMAIL.search(value) or sum(c.isdigit() for c in value) >= 7):
            return mask_pii(value)
    return "no contact given"


def _shopper(lang: str, key: str, **values: object) -> str:
    texts: Mapping[str, str] = SHOPPER_TEXTS[key]
    return (texts.get(lang) or texts["en"]).format(**values)
