"""Events: what the bot decided and what shoppers did, one typed record each.

The dialogue manager turns every decision it makes into :class:`Event`\\ s and
hands them to its :class:`EventObserver`\\ s (the Prometheus metrics and the
analytics recorder read the same events; there is no second path). Bot
actions report what only they know (a search and how many results it found,
an item viewed or added to the cart, a checkout link, a retrieval answer
below its confidence floor) with :meth:`core.actions.ActionContext.report`
and one of the small :data:`ActionReport` types; they never see where the
events go.

Observers are called synchronously on the reply path, so they must only
count or enqueue (microseconds) and never wait on I/O.

Conversations are measured in *sessions*: a conversation's messages with
less than :data:`SESSION_IDLE_S` between them. Each session has one status,
kept on the conversation state and moved by :func:`track_session`:

* ``resolved`` — no handoff, and the last message was not a fallback;
* ``unresolved`` — the bot's last answer was a fallback nobody recovered from;
* ``handoff`` — a person was asked for (it stays so for the session).

A status change is an event too, so counters per session start stay exact
without keeping a record per conversation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Literal, Protocol, TypedDict

import numpy as np
from pydantic import BaseModel

from core.privacy import mask_pii

if TYPE_CHECKING:
    from core.actions import ActionContext
    from core.messages import IncomingMessage
    from core.state import ConversationState, HandoffFlags

#: A conversation idle this long starts a new session when it speaks again.
SESSION_IDLE_S = 30 * 60

SessionStatus = Literal["resolved", "unresolved", "handoff"]
SESSION_STATUSES: tuple[SessionStatus, ...] = ("resolved", "unresolved", "handoff")


class EventKind(str, Enum):
    """What happened. The value is stored, so it never changes once shipped."""

    MESSAGE = "message"  # any message the dialogue handled (not a dropped redelivery)
    INTENT = "intent"  # the classifier's decision for a typed message
    FALLBACK = "fallback"  # the bot answered "I didn't understand"
    OUT_OF_SCOPE = "out_of_scope"  # the classifier found the text outside the bot's intents
    LOW_CONFIDENCE = "low_confidence"  # two intents too close: the bot asked which one was meant
    NOT_SURE = "not_sure"  # a retrieval answer below its confidence floor ("I'm not sure")
    SEARCH = "search"  # a search, with its result count (``count``)
    ITEM_VIEWED = "item_viewed"
    CART_ADD = "cart_add"
    CHECKOUT = "checkout"  # a checkout link was given (``count`` items, ``value`` total)
    HANDOFF_REQUESTED = "handoff_requested"
    HANDOFF_CLAIMED = "handoff_claimed"
    HANDOFF_CLOSED = "handoff_closed"
    CSAT = "csat"  # a 1-5 rating after a handoff (``value``)
    FIRST_RESPONSE = "first_response"  # seconds from a handoff request to staff's first message
    SESSION = "session"  # a session started or changed status


#: Kinds whose text the owner reviews on the dashboard ("what the bot missed").
UNANSWERED_KINDS: frozenset[EventKind] = frozenset(
    {EventKind.FALLBACK, EventKind.OUT_OF_SCOPE, EventKind.LOW_CONFIDENCE, EventKind.NOT_SURE}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One thing that happened, at ``at`` (epoch seconds), in one bot on one platform.

    ``text`` is always masked (:func:`core.privacy.mask_pii`) before an event
    is made. ``embedding`` is the encoder's vector of ``text`` when the
    dialogue had it (None when the masked text differs from what was
    embedded: the recorder embeds the masked text itself).

    Session events: ``status`` is the new status, ``previous`` the old one
    (``""`` for a session that just started), ``started_at`` the session's start.
    """

    kind: EventKind
    platform: str
    bot: str
    at: float
    user: str = ""
    conversation: str = ""
    intent: str = ""
    score: float = 0.0
    text: str = ""
    count: int = 0
    value: float = 0.0
    item: str = ""
    title: str = ""
    reason: str = ""
    status: str = ""
    previous: str = ""
    started_at: float = 0.0
    embedding: np.ndarray | None = None


class EventObserver(Protocol):
    """Receives every event; called on the reply path, so it must not block."""

    def __call__(self, event: Event) -> None: ...


# --- what actions report -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Searched:
    """A search the action ran (``query`` as the shopper typed it; masked later)."""

    query: str
    results: int


@dataclass(frozen=True, slots=True)
class ItemViewed:
    item_id: str
    title: str


@dataclass(frozen=True, slots=True)
class AddedToCart:
    item_id: str
    title: str
    quantity: int = 1


@dataclass(frozen=True, slots=True)
class CheckoutLinked:
    items: int
    total: Decimal


@dataclass(frozen=True, slots=True)
class NotSure:
    """A retrieval answer below its floor; ``score`` is the best hit's (0 when none)."""

    score: float


ActionReport = Searched | ItemViewed | AddedToCart | CheckoutLinked | NotSure


# --- sessions --------------------------------------------------------------------


class SessionMark(BaseModel):
    """The current session of a conversation, kept on its state."""

    started_at: float
    last_at: float
    status: SessionStatus = "resolved"


def session_status(*, handoff: bool, open_fallback: bool, current: SessionStatus | None) -> SessionStatus:
    """A session's status after one message (``handoff`` sticks for the session)."""
    if handoff or current == "handoff":
        return "handoff"
    return "unresolved" if open_fallback else "resolved"


def track_session(
    mark: SessionMark | None,
    *,
    now: float,
    handoff: bool,
    open_fallback: bool,
) -> tuple[SessionMark, list[tuple[str, SessionStatus, float]]]:
    """Move a conversation's session on by one message.

    Returns:
        The new mark and the changes to record as ``(previous, status, started_at)``:
        a new session is ``("", "resolved", now)`` possibly followed by its first change.
    """
    changes: list[tuple[str, SessionStatus, float]] = []
    if mark is None or now - mark.last_at >= SESSION_IDLE_S:
        mark = SessionMark(started_at=now, last_at=now)
        changes.append(("", "resolved", now))
    status = session_status(handoff=handoff, open_fallback=open_fallback, current=mark.status)
    if status != mark.status:
        changes.append((mark.status, status, mark.started_at))
    return SessionMark(started_at=mark.started_at, last_at=now, status=status), changes


def now() -> float:
    """The events' clock (epoch seconds); one place so tests and benchmarks agree."""
    return time.time()


# --- one turn's events (called by the dialogue manager) ----------------------------

_FALLBACK_ACTIONS = frozenset({"fallback", "fallback_handoff"})


def handoff_marker(handoff: HandoffFlags | None) -> str | None:
    """What identifies the conversation's latest handoff request (its time), or None."""
    if handoff is None:
        return None
    if handoff.requested_at is not None:
        return handoff.requested_at.isoformat()
    return handoff.ticket or None


def handoff_active(handoff: HandoffFlags | None) -> bool:
    """A live handoff is under way (staff may be talking to the shopper)."""
    return handoff is not None and handoff.active


def advance_session(
    state: ConversationState, *, at: float, handoff_before: str | None
) -> list[tuple[str, SessionStatus, float]]:
    """Move ``state.session`` on by this message; returns the status changes to record."""
    marker = handoff_marker(state.handoff)
    handoff = (marker is not None and marker != handoff_before) or handoff_active(state.handoff)
    state.session, changes = track_session(state.session, now=at, handoff=handoff, open_fallback=state.fallbacks > 0)
    return changes


def turn_events(
    ctx: ActionContext | None,
    message: IncomingMessage,
    state: ConversationState,
    *,
    bot: str,
    at: float,
    handoff_before: str | None,
    sessions: Sequence[tuple[str, str, float]],
    is_command: bool,
    failed: bool = False,
) -> list[Event]:
    """Every event one handled message produced (``ctx`` None: the message was intercepted).

    Texts are masked here; an embedding is kept only when the masked text is
    the text that was embedded.
    """
    key = message.conversation
    base = _EventBase(platform=key.platform.value, bot=bot, at=at, user=message.user_id, conversation=key.tag)
    events = [Event(kind=EventKind.MESSAGE, **base)]
    for previous, status, started_at in sessions:
        events.append(Event(kind=EventKind.SESSION, status=status, previous=previous, started_at=started_at, **base))
    marker = handoff_marker(state.handoff)
    if marker is not None and marker != handoff_before:
        reason = state.handoff.reason if state.handoff is not None else ""
        events.append(Event(kind=EventKind.HANDOFF_REQUESTED, reason=reason, **base))
    if ctx is None or is_command:
        return events
    u = ctx.understanding
    decision = state.last_decision  # its text is this message's, masked already by the dialogue
    text = (decision.text if decision is not None else mask_pii(u.text)) if u.text else ""
    embedding = u.embedding if text and text == u.text else None
    if u.via == "classifier":
        events.append(Event(kind=EventKind.INTENT, intent=u.intent, score=u.confidence, **base))
    unanswered = None
    if ctx.action in _FALLBACK_ACTIONS:
        unanswered = EventKind.OUT_OF_SCOPE if u.out_of_scope else EventKind.FALLBACK
    elif ctx.action == "clarify":
        unanswered = EventKind.LOW_CONFIDENCE
    if unanswered is not None:
        best = u.ranking[0][0] if u.ranking else u.intent
        events.append(Event(kind=unanswered, intent=best, score=u.confidence, text=text, embedding=embedding, **base))
    if failed:
        return events
    for report in ctx.reports:
        events.append(_from_report(report, base, text=text, embedding=embedding, intent=u.intent))
    return events


class _EventBase(TypedDict):
    """The fields every event of one message shares."""

    platform: str
    bot: str
    at: float
    user: str
    conversation: str


def _from_report(report: ActionReport, base: _EventBase, *, text: str, embedding: np.ndarray | None,
                 intent: str) -> Event:
    if isinstance(report, Searched):
        query = mask_pii(report.query.strip())
        return Event(kind=EventKind.SEARCH, text=query, count=report.results,
                     embedding=embedding if query == text else None, **base)
    if isinstance(report, ItemViewed):
        return Event(kind=EventKind.ITEM_VIEWED, item=report.item_id, title=report.title, **base)
    if isinstance(report, AddedToCart):
        return Event(kind=EventKind.CART_ADD, item=report.item_id, title=report.title, count=report.quantity, **base)
    if isinstance(report, CheckoutLinked):
        return Event(kind=EventKind.CHECKOUT, count=report.items, value=float(report.total), **base)
    return Event(kind=EventKind.NOT_SURE, intent=intent, score=report.score, text=text, embedding=embedding, **base)
