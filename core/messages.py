"""The one typed boundary between adapters and the dialogue core.

Adapters translate platform events into :class:`IncomingMessage` and render
:class:`Reply` back into platform calls. Structured data (buttons, product
cards, a shared contact) always has fields of its own; it is never smuggled
inside ``text``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Platform(str, Enum):
    CONSOLE = "console"
    SLACK = "slack"
    TELEGRAM = "telegram"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ConversationKey(_Frozen):
    """Identifies one conversation: a DM, a group chat, or a Slack thread.

    ``workspace`` is the Slack team id (empty elsewhere); ``thread`` is the
    Slack thread timestamp when the conversation is a thread.
    """

    platform: Platform
    bot: str
    chat: str
    workspace: str = ""
    thread: str = ""

    @property
    def tag(self) -> str:
        """Stable id, used inside the Redis hash tag ``{platform:bot:conversation}``."""
        parts = [p for p in (self.workspace, self.chat, self.thread) if p]
        return f"{self.platform.value}:{self.bot}:{'/'.join(parts)}"


class Contact(_Frozen):
    """A phone number the platform vouches for (Telegram's request_contact)."""

    phone: str
    user_id: str | None = None
    first_name: str | None = None


class Attachment(_Frozen):
    kind: str  # "photo", "file", ...
    url: str | None = None
    file_id: str | None = None
    name: str | None = None


#: The longest text the core reads. Telegram caps messages at 4096 characters;
#: Slack allows 40,000, and reading that much would hold the event loop for
#: over a second (a cheap denial of service), so the rest is cut.
MAX_TEXT_CHARS = 4096


def clean_text(value: str) -> str:
    """Replace lone surrogates (valid JSON escapes, invalid Unicode) and cap the length."""
    value = value[:MAX_TEXT_CHARS]
    return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(value) else value


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class IncomingMessage(_Frozen):
    """One message, button press or shared contact, as every adapter hands it to the core.

    ``command_prefix`` is how the sender types one of the bot's commands where
    they are: ``/`` on Telegram and the console; on Slack, whose client keeps a
    leading ``/`` for its own slash commands, ``/shop `` (``/shop cart``). The
    core writes commands that way when it lists them.

    ``mention`` is how to name the sender so that their platform links them
    (Slack's ``<@U123>``), for texts posted where they are (the staff thread);
    ``None`` where the platform has no such markup.
    """

    conversation: ConversationKey
    user_id: str
    text: str = ""
    user_name: str | None = None
    command_prefix: str = "/"
    mention: str | None = None
    locale: str | None = None
    delivery_id: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    button_payload: str | None = None
    contact: Contact | None = None
    attachments: tuple[Attachment, ...] = ()

    @field_validator("text", "user_name", "button_payload", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        return clean_text(value) if isinstance(value, str) else value


class Button(_Frozen):
    label: str
    payload: str


class StockState(str, Enum):
    IN_STOCK = "in_stock"
    LOW_STOCK = "low_stock"
    OUT_OF_STOCK = "out_of_stock"


class ProductCard(_Frozen):
    handle: str
    title: str
    price: Decimal
    currency: str = "USD"
    compare_at_price: Decimal | None = None
    image_url: str | None = None
    url: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    variant_title: str | None = None
    stock: StockState = StockState.IN_STOCK
    subtitle: str | None = None
    buttons: tuple[Button, ...] = ()


class Mention(_Frozen):
    """``text[start:end]`` of a reply names a person; a platform that links people shows ``markup``.

    ``markup`` comes from the adapter that saw the person (:attr:`IncomingMessage.mention`);
    a platform without it shows the plain text.
    """

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    markup: str


class Reply(_Frozen):
    """What the bot says: text, buttons, product cards and flags the adapters render.

    ``ephemeral`` asks for a reply only the sender sees (Slack's ephemeral
    messages); a platform without them sends it as a normal reply.
    """

    text: str = ""
    buttons: tuple[Button, ...] = ()
    cards: tuple[ProductCard, ...] = ()
    handoff: bool = False
    # Ask the platform for the user's verified phone (Telegram request_contact).
    request_contact: bool = False
    ephemeral: bool = False
    mentions: tuple[Mention, ...] = ()

    @model_validator(mode="after")
    def _mentions_inside_text(self) -> Reply:
        previous_end = 0
        for mention in self.mentions:
            if not previous_end <= mention.start < mention.end <= len(self.text):
                raise ValueError("mentions must be ordered, non-overlapping spans of the text")
            previous_end = mention.end
        return self
