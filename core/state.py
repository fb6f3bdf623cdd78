"""Conversation state, stored as JSON (never pickle) by a session store.

A conversation may have several participants (a Telegram group, a Slack
thread). Every line of history records whose it is, and every participant is
listed, so that one of them can be erased without touching the others (see
:meth:`ConversationState.without_participant`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from core.events import SessionMark


def _now() -> datetime:
    return datetime.now(UTC)


class Turn(BaseModel):
    """One line of history. ``text`` is stored with personal data masked.

    ``user_id`` is the participant the line belongs to: who spoke, or whom
    the bot was answering. ``None`` on lines stored before turns were
    attributed (they are treated as anyone's when someone is erased).
    """

    role: Literal["user", "bot", "staff"]
    text: str
    intent: str | None = None
    user_id: str | None = None
    at: datetime = Field(default_factory=_now)


class Decision(BaseModel):
    """Why the bot did what it did last; shown by ``/why``. ``user_id``: whose message it was."""

    text: str = ""
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = Field(default_factory=list)
    out_of_scope: bool = False
    ambiguous: bool = False
    entities: dict[str, Any] = Field(default_factory=dict)
    slots: dict[str, Any] = Field(default_factory=dict)
    action: str = ""
    sources: list[str] = Field(default_factory=list)
    user_id: str | None = None


class Participant(BaseModel):
    """Someone who spoke in the conversation.

    ``index_until`` is the session store's bookkeeping: until when (its own
    clock, seconds) this conversation is known to stay in the participant's
    user index, the set ``forget_user`` reads. The store refreshes it only when
    it runs low, so indexing costs nothing on most messages.
    """

    user_id: str
    index_until: float = 0.0


#: What the handoff waits for from the shopper: an e-mail address, or a rating once staff closed the chat.
HandoffAwaiting = Literal["email", "rating"]


class HandoffFlags(BaseModel):
    """Where the conversation stands with a human: requested, live, or over.

    Written by ``/human`` (and the fallback and upset rules) with ``requested_at``
    and ``reason``; the handoff service adds the ``ticket`` it opened, whether it is
    ``active`` (staff may be talking: the bot keeps quiet), what it is ``awaiting``
    from the shopper, who opened it (``user_id``) and the shopper's ``rating``.
    """

    requested_at: datetime | None = None
    reason: str = ""
    ticket: str | None = None
    active: bool = False
    awaiting: HandoffAwaiting | None = None
    user_id: str | None = None
    rating: int | None = None


class ConversationState(BaseModel):
    """Everything the bot remembers about one conversation.

    ``data`` belongs to the bot's own actions (cart, last search results,
    return form...), JSON only; the core only reads and writes the other fields.
    ``user_id`` is the first participant; ``participants`` lists them all.
    """

    version: int = 1
    user_id: str = ""
    lang: str = "en"
    lang_locked: bool = False
    slots: dict[str, Any] = Field(default_factory=dict)
    form: str | None = None
    form_slots: dict[str, Any] = Field(default_factory=dict)
    history: list[Turn] = Field(default_factory=list)
    last_decision: Decision | None = None
    fallbacks: int = 0
    handoff: HandoffFlags | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    session: SessionMark | None = None  # the current session, for the owner's dashboard
    participants: list[Participant] = Field(default_factory=list)
    #: Ids of the latest deliveries handled here: erasing the conversation erases their repeat marks.
    deliveries: list[str] = Field(default_factory=list)
    updated_at: datetime = Field(default_factory=_now)

    # ClassVar: limits, not stored fields (a stored MAX_HISTORY from older states is ignored on load).
    MAX_HISTORY: ClassVar[int] = 40
    MAX_DELIVERIES: ClassVar[int] = 20

    @model_validator(mode="before")
    @classmethod
    def _handoff_out_of_data(cls, stored: Any) -> Any:
        # States stored before the flags had a field of their own kept them in ``data["handoff"]``.
        if isinstance(stored, dict) and stored.get("handoff") is None:
            data = stored.get("data")
            if isinstance(data, dict) and isinstance(data.get("handoff"), dict):
                rest = {name: value for name, value in data.items() if name != "handoff"}
                return {**stored, "handoff": data["handoff"], "data": rest}
        return stored

    @model_validator(mode="after")
    def _first_speaker_takes_part(self) -> ConversationState:
        # States stored before participants were listed knew only their first speaker.
        if self.user_id and not self.participants:
            self.participants.append(Participant(user_id=self.user_id))
        return self

    def add_turn(self, turn: Turn) -> None:
        self.history.append(turn)
        if len(self.history) > self.MAX_HISTORY:
            del self.history[: len(self.history) - self.MAX_HISTORY]

    def note_delivery(self, delivery_id: str | None) -> None:
        """Remember a delivery's id (the last :attr:`MAX_DELIVERIES`; older marks lapse with the dedup TTL)."""
        if delivery_id:
            self.deliveries.append(delivery_id)
            if len(self.deliveries) > self.MAX_DELIVERIES:
                del self.deliveries[: len(self.deliveries) - self.MAX_DELIVERIES]

    def join(self, user_id: str) -> None:
        """List ``user_id`` as a participant (the first one also becomes ``user_id``)."""
        if not user_id or any(p.user_id == user_id for p in self.participants):
            return
        self.participants.append(Participant(user_id=user_id))
        if not self.user_id:
            self.user_id = user_id

    def due_for_index(self, now: float, ttl_s: float) -> list[str]:
        """Participants whose user index must (re)list this conversation now; marks them done.

        A participant is due when the index may expire before half the state's
        new lifetime is over: the first time they speak, then about once every
        ``ttl_s / 2``. The caller writes the index in the same round trip as the state.
        """
        due = []
        for participant in self.participants:
            if participant.index_until < now + ttl_s / 2:
                participant.index_until = now + ttl_s
                due.append(participant.user_id)
        return due

    def without_participant(self, user_id: str) -> ConversationState | None:
        """What remains after erasing ``user_id`` from the conversation (``/forget``).

        ``None`` when nobody else took part: the whole conversation goes.
        Otherwise the others keep their lines of history and their place, and
        ``user_id`` loses theirs: what they said, what the bot answered them,
        and lines stored before lines were attributed (they may be theirs). The
        conversation's working memory — slots, an open form and its answers,
        the last decision, the bot's data (a cart, search context, orders
        proved by e-mail) — may hold what they typed or proved and cannot be
        split by person, so it is cleared too; the language setting stays, and
        so does a live handoff that another participant opened.
        """
        others = [p for p in self.participants if p.user_id != user_id]
        if not others:
            return None
        kept = self.model_copy(deep=True)
        kept.participants = [p.model_copy() for p in others]
        kept.history = [t for t in kept.history if t.user_id is not None and t.user_id != user_id]
        if kept.user_id == user_id:
            kept.user_id = others[0].user_id
        kept.slots, kept.form, kept.form_slots, kept.last_decision, kept.fallbacks = {}, None, {}, None, 0
        opened_by = self.handoff.user_id if self.handoff is not None else None
        if opened_by is None or opened_by == user_id:
            kept.handoff = None
        kept.data = {}
        kept.updated_at = _now()
        return kept
