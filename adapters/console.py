"""Terminal adapter: lines in, replies out; the embedded demo (``shopkeep chat``).

Buttons are numbered across a turn's replies and their cards; typing a number
presses that button. Product cards print as compact blocks. With ``json_mode``
every reply is one JSON object per line (text, buttons with payloads, cards
with handle and variant id), for scripts. Reads stdin line by line whether or
not it is a terminal; end of input (Ctrl-D) ends the chat.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from itertools import count
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from core.messages import Button, ConversationKey, IncomingMessage, Platform, ProductCard, Reply

Handler = Callable[[IncomingMessage], Awaitable[list[Reply]]]

# ASCII digits only: str.isdigit() also accepts "²" and "①", which int() refuses,
# and a few digits are plenty (int() refuses more than 4,300 anyway).
_BUTTON_NUMBER = re.compile(r"[0-9]{1,6}")


def reply_to_json(reply: Reply) -> dict[str, Any]:
    """A reply as plain JSON (what ``--json`` prints)."""
    return {
        "text": reply.text,
        "buttons": [{"label": b.label, "payload": b.payload} for b in reply.buttons],
        "cards": [
            {
                "handle": c.handle,
                "title": c.title,
                "price": str(c.price),
                "currency": c.currency,
                "variant_id": c.variant_id,
                "sku": c.sku,
                "stock": c.stock.value,
                "url": c.url,
                "buttons": [{"label": b.label, "payload": b.payload} for b in c.buttons],
            }
            for c in reply.cards
        ],
        "handoff": reply.handoff,
        "request_contact": reply.request_contact,
    }


def all_buttons(replies: Sequence[Reply]) -> list[Button]:
    """Every button of a turn in display order: each reply's cards' buttons, then its own."""
    buttons: list[Button] = []
    for reply in replies:
        for card in reply.cards:
            buttons.extend(card.buttons)
        buttons.extend(reply.buttons)
    return buttons


class ConsoleChat:
    """One console conversation.

    Args:
        handle: usually ``DialogueManager.handle``.
        bot: bot name, part of the conversation key.
        user_id: the console user.
        locale: sent with every message (``zh`` for Chinese), or None.
        json_mode: print JSON lines instead of formatted text.
        stdin: where lines come from.
        console: where output goes.
    """

    def __init__(
        self,
        *,
        handle: Handler,
        bot: str,
        user_id: str = "console-user",
        locale: str | None = None,
        json_mode: bool = False,
        stdin: IO[str] | None = None,
        console: Console | None = None,
    ) -> None:
        self._handle = handle
        self._key = ConversationKey(platform=Platform.CONSOLE, bot=bot, chat=user_id)
        self._user_id = user_id
        self._locale = locale
        self._json = json_mode
        self._stdin = stdin or sys.stdin
        self._console = console or Console(highlight=False)
        self._buttons: list[Button] = []
        self._ids = count(1)

    def message_for(self, line: str) -> IncomingMessage | None:
        """Turn one typed line into a message; a number presses the matching shown button."""
        text = line.strip()
        if not text:
            return None
        payload = None
        if _BUTTON_NUMBER.fullmatch(text) and 1 <= int(text) <= len(self._buttons):
            payload = self._buttons[int(text) - 1].payload
            text = ""
        return IncomingMessage(
            conversation=self._key,
            user_id=self._user_id,
            text=text,
            button_payload=payload,
            locale=self._locale,
            delivery_id=f"console-{next(self._ids)}",
        )

    async def send(self, line: str) -> list[Reply]:
        """Handle one line and print the replies."""
        message = self.message_for(line)
        if message is None:
            return []
        replies = await self._handle(message)
        self._buttons = all_buttons(replies)
        self.show(replies)
        return replies

    async def run(self) -> None:
        """Chat until end of input."""
        interactive = self._stdin.isatty() and not self._json
        if interactive:
            self._console.print("[dim]Type a message; a number presses a button; Ctrl-D quits.[/dim]")
        while True:
            if interactive:
                self._console.print("[bold cyan]you ›[/bold cyan] ", end="")
            line = await asyncio.to_thread(self._stdin.readline)
            if not line:  # EOF
                if interactive:
                    self._console.print()
                return
            await self.send(line)

    def show(self, replies: Sequence[Reply]) -> None:
        if self._json:
            for reply in replies:
                self._console.print_json(json.dumps(reply_to_json(reply), ensure_ascii=False), indent=None)
            return
        numbers = count(1)
        for reply in replies:
            if reply.text:
                self._console.print(f"[bold green]bot ›[/bold green] {escape(reply.text)}")
            for card in reply.cards:
                self._print_card(card, numbers)
            if reply.buttons:
                self._console.print("   " + "  ".join(self._fmt(b, next(numbers)) for b in reply.buttons))
            if reply.handoff:
                self._console.print("[yellow]   (a person from the team will take over)[/yellow]")

    def _print_card(self, card: ProductCard, numbers: count[int]) -> None:
        price = f"{card.currency} {card.price}"
        if card.compare_at_price:
            price += f" [strike]{card.compare_at_price}[/strike]"
        variant = f" · {escape(card.variant_title)}" if card.variant_title else ""
        self._console.print(
            f"  [bold]┃ {escape(card.title)}[/bold]{variant}  {price}  [dim]{card.stock.value.replace('_', ' ')}[/dim]"
        )
        if card.subtitle:
            self._console.print(f"  ┃ [dim]{escape(card.subtitle)}[/dim]")
        if card.buttons:
            self._console.print("  ┃ " + "  ".join(self._fmt(b, next(numbers)) for b in card.buttons))

    @staticmethod
    def _fmt(button: Button, number: int) -> str:
        return f"[cyan][{number}][/cyan] {escape(button.label)}"
