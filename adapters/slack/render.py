"""Pure functions: :class:`Reply` → Block Kit message arguments.

Slack's limits are honoured by truncating gracefully rather than failing:
section text ≤ 3000 characters, ≤ 10 fields of ≤ 2000, ≤ 25 elements per
actions block, ≤ 50 blocks per message, button text ≤ 75 and value ≤ 2000.
The plain ``text`` fallback (notifications, screen readers) is always set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from adapters import text as text_helpers
from adapters.text import STOCK_LABELS, format_price
from core.messages import Button, ProductCard, Reply

logger = logging.getLogger(__name__)

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_FALLBACK_TEXT = 3000
ACTION_ID_PREFIX = "shopkeep:"


Block = dict[str, Any]


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def with_mentions(reply: Reply, escape_text: Callable[[str], str] = escape) -> str:
    """The reply's text with each mention span replaced by its Slack markup (``<@U123>``).

    The rest is passed through ``escape_text``: a user's own ``<`` or ``&``
    never becomes markup, only the mentions the core placed.
    """
    parts: list[str] = []
    at = 0
    for mention in reply.mentions:
        parts.append(escape_text(reply.text[at : mention.start]))
        parts.append(mention.markup)
        at = mention.end
    parts.append(escape_text(reply.text[at:]))
    return "".join(parts)


def truncate(text: str, limit: int, ellipsis: str = "…") -> str:
    return text if len(text) <= limit else text[: limit - len(ellipsis)].rstrip() + ellipsis


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split at paragraph, then line, then word boundaries into chunks ≤ ``limit`` characters."""
    return text_helpers.split_text(text, limit)


def button_element(button: Button, index: int) -> Block | None:
    """One button, or ``None`` when its payload cannot fit Slack's value limit."""
    if len(button.payload) > MAX_BUTTON_VALUE:
        logger.warning("slack: dropping button %r, payload of %d chars", button.label, len(button.payload))
        return None
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(button.label, MAX_BUTTON_TEXT) or "…", "emoji": True},
        "value": button.payload,
        "action_id": f"{ACTION_ID_PREFIX}{index}",
    }


def actions_blocks(buttons: tuple[Button, ...], *, start_index: int = 0) -> list[Block]:
    """Buttons as actions blocks of at most 25 elements each."""
    elements = [e for i, b in enumerate(buttons) if (e := button_element(b, start_index + i)) is not None]
    return [
        {"type": "actions", "elements": elements[i : i + MAX_ACTIONS]}
        for i in range(0, len(elements), MAX_ACTIONS)
    ]


def card_text(card: ProductCard) -> str:
    title = escape(card.title)
    head = f"*<{card.url}|{title}>*" if card.url else f"*{title}*"
    price = f"*{format_price(card.price, card.currency)}*"
    if card.compare_at_price is not None and card.compare_at_price > card.price:
        price = f"~{format_price(card.compare_at_price, card.currency)}~ {price}"
    lines = [head, price]
    if card.subtitle:
        lines.append(escape(card.subtitle))
    return truncate("\n".join(lines), MAX_SECTION_TEXT)


def card_blocks(card: ProductCard, *, start_index: int = 0) -> list[Block]:
    """A product card: section (title, price, fields, image accessory) + its buttons."""
    fields = [{"type": "mrkdwn", "text": f"*Stock:* {STOCK_LABELS[card.stock]}"}]
    if card.variant_title:
        fields.append({"type": "mrkdwn", "text": truncate(f"*Variant:* {escape(card.variant_title)}", MAX_FIELD_TEXT)})
    if card.sku:
        fields.append({"type": "mrkdwn", "text": truncate(f"*SKU:* {escape(card.sku)}", MAX_FIELD_TEXT)})
    section: Block = {"type": "section", "text": {"type": "mrkdwn", "text": card_text(card)}, "fields": fields}
    if card.image_url:
        section["accessory"] = {"type": "image", "image_url": card.image_url, "alt_text": truncate(card.title, 2000)}
    return [section, *actions_blocks(card.buttons, start_index=start_index)]


def fallback_text(reply: Reply) -> str:
    """Plain text for notifications: the reply text (mentions as markup), else the card titles."""
    if reply.text.strip():
        return truncate(with_mentions(reply, lambda text: text).strip(), MAX_FALLBACK_TEXT)
    titles = [f"{c.title} ({format_price(c.price, c.currency)})" for c in reply.cards]
    if titles:
        return truncate("\n".join(titles), MAX_FALLBACK_TEXT)
    return truncate(" / ".join(b.label for b in reply.buttons), MAX_FALLBACK_TEXT) or "…"


def render_reply(reply: Reply) -> dict[str, Any]:
    """Keyword arguments for ``chat.postMessage`` (``text`` and ``blocks``)."""
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in split_text(with_mentions(reply), MAX_SECTION_TEXT)
    ]
    button_index = 0
    for position, card in enumerate(reply.cards):
        if position or blocks:
            blocks.append({"type": "divider"})
        blocks.extend(card_blocks(card, start_index=button_index))
        button_index += len(card.buttons)
    blocks.extend(actions_blocks(reply.buttons, start_index=button_index))
    for block in blocks:
        if block["type"] == "section":
            block["text"]["text"] = truncate(block["text"]["text"], MAX_SECTION_TEXT)
    if len(blocks) > MAX_BLOCKS:
        dropped = len(blocks) - (MAX_BLOCKS - 1)
        logger.info("slack: reply has %d blocks, dropping %d", len(blocks), dropped)
        # Keep the trailing reply buttons (they are usually "more", "checkout"...).
        tail = [b for b in blocks[-2:] if b["type"] == "actions"] if reply.buttons else []
        head = blocks[: MAX_BLOCKS - 1 - len(tail)]
        blocks = [*head, *tail, {"type": "context", "elements": [{"type": "mrkdwn", "text": "…more left out"}]}]
    return {"text": fallback_text(reply), "blocks": blocks}
