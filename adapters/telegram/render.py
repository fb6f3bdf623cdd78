"""Pure functions: :class:`Reply` → the Telegram messages that show it.

Telegram's limits: message text ≤ 4096 and photo captions ≤ 1024 characters
(counted in UTF-16 code units), callback data ≤ 64 bytes (handled by
:mod:`adapters.telegram.callbacks`). Long texts are split at paragraph, then
line, then word boundaries. Product cards become photos with an HTML
caption, or an HTML text message when there is no image or the caption is too long.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from adapters import text as text_helpers
from adapters.text import STOCK_LABELS, format_price
from core.messages import Button, ProductCard, Reply

MAX_TEXT = 4096
MAX_CAPTION = 1024
HTML = "HTML"
# Shown when a reply has buttons but nothing else to attach them to.
BUTTONS_ONLY_TEXT = "👇"
CONTACT_BUTTON_LABEL = "📱 Share my phone number"



@dataclass(frozen=True, kw_only=True)
class OutgoingPart:
    """One Telegram call: ``sendMessage`` (``photo is None``) or ``sendPhoto``.

    ``text`` is the message text or the photo caption; ``parse_mode`` is
    ``"HTML"`` for cards and ``None`` for the dialogue's plain text.
    """

    text: str
    photo: str | None = None
    parse_mode: str | None = None
    buttons: tuple[Button, ...] = ()
    request_contact: bool = False


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` UTF-16 units, at natural boundaries."""
    return text_helpers.split_text(text, limit, measure=tg_len)


def card_caption(card: ProductCard) -> tuple[str, str]:
    """The card as ``(html, plain)``; ``plain`` is what Telegram counts against the limits."""
    title_html = f"<b>{html.escape(card.title)}</b>"
    if card.url:
        title_html = f'<a href="{html.escape(card.url, quote=True)}">{title_html}</a>'
    price = format_price(card.price, card.currency)
    price_html, price_plain = f"<b>{price}</b>", price
    if card.compare_at_price is not None and card.compare_at_price > card.price:
        was = format_price(card.compare_at_price, card.currency)
        price_html, price_plain = f"<s>{was}</s> {price_html}", f"{was} {price}"
    details = " · ".join(p for p in (card.variant_title, STOCK_LABELS[card.stock]) if p)
    html_lines = [title_html, price_html]
    plain_lines = [card.title, price_plain]
    if card.subtitle:
        html_lines.append(html.escape(card.subtitle))
        plain_lines.append(card.subtitle)
    html_lines.append(f"<i>{html.escape(details)}</i>")
    plain_lines.append(details)
    return "\n".join(html_lines), "\n".join(plain_lines)


def card_part(card: ProductCard) -> OutgoingPart:
    caption, plain = card_caption(card)
    if card.image_url and tg_len(plain) <= MAX_CAPTION:
        return OutgoingPart(text=caption, photo=card.image_url, parse_mode=HTML, buttons=card.buttons)
    if tg_len(plain) > MAX_TEXT:  # only an absurd subtitle gets here
        card = card.model_copy(update={"subtitle": (card.subtitle or "")[: MAX_TEXT - 300] + "…"})
        caption, _ = card_caption(card)
    return OutgoingPart(text=caption, parse_mode=HTML, buttons=card.buttons)


def plan_reply(reply: Reply) -> list[OutgoingPart]:
    """Every message needed to show ``reply``, in order.

    The reply's own buttons ride on its (last) text message; with no text
    they follow the cards. A contact request shows a one-time reply keyboard
    on the last text message (Telegram allows one keyboard per message, so
    inline buttons then move to a message of their own).
    """
    parts: list[OutgoingPart] = [OutgoingPart(text=chunk) for chunk in split_text(reply.text)]
    pending_buttons = reply.buttons
    if parts:
        last = parts[-1]
        if reply.request_contact:
            parts[-1] = OutgoingPart(text=last.text, request_contact=True)
        elif pending_buttons:
            parts[-1] = OutgoingPart(text=last.text, buttons=pending_buttons)
            pending_buttons = ()
    elif reply.request_contact:
        parts.append(OutgoingPart(text=CONTACT_BUTTON_LABEL, request_contact=True))
    parts.extend(card_part(card) for card in reply.cards)
    if pending_buttons:
        parts.append(OutgoingPart(text=BUTTONS_ONLY_TEXT, buttons=pending_buttons))
    return parts


def keyboard_rows(buttons: tuple[Button, ...], *, per_row: int = 2, wide: int = 18) -> list[list[Button]]:
    """Lay buttons out two per row; a long label gets a row of its own."""
    rows: list[list[Button]] = []
    row: list[Button] = []
    for button in buttons:
        if len(button.label) > wide:
            if row:
                rows.append(row)
                row = []
            rows.append([button])
            continue
        row.append(button)
        if len(row) == per_row:
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return rows
