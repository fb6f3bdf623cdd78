"""Conversation state, stored as JSON (never pickle) by a session store."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.events import SessionMark


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Turn(BaseModel):
    """One line of history. ``text`` is stored with personal data masked."""

    role: Literal["user", "bot", "staff"]
    text: str
    intent: str | None = None
    at: datetime = Field(default_factory=_now)


class Decision(BaseModel):
    """Why the bot did what it did last; shown by ``/why``."""

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


class ConversationState(BaseModel):
    """Everything the bot remembers about one conversation.

    ``data`` belongs to the bot's own actions (cart, last search results,
    return form...); the core only reads and writes the other fields.
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
    data: dict[str, Any] = Field(default_factory=dict)
    session: SessionMark | None = None  # the current session, for the owner's dashboard
    updated_at: datetime = Field(default_factory=_now)

    MAX_HISTORY: int = 40

    def add_turn(self, turn: Turn) -> None:
        self.history.append(turn)
        if len(self.history) > self.MAX_HISTORY:
            del self.history[: len(self.history) - self.MAX_HISTORY]
