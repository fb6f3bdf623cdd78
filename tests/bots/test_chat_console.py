"""`shopkeep chat`'s console adapter: piped lines in, JSON or text out, numbers press buttons."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from adapters.console import ConsoleChat
from core.sessions import MemorySessionStore
from tests.bots.shop_support import ShopParts, shop_parts


@pytest.fixture(scope="module")
def parts(artifacts_dir: Path) -> ShopParts:
    return shop_parts(artifacts_dir)


def run_chat(parts: ShopParts, lines: str, *, json_mode: bool) -> str:
    out = io.StringIO()
    chat = ConsoleChat(
        handle=parts.manager(MemorySessionStore()).handle,
        bot="shop_assistant",
        json_mode=json_mode,
        stdin=io.StringIO(lines),
        console=Console(file=out, width=200, color_system=None),
    )
    asyncio.run(chat.run())
    return out.getvalue()


def test_json_mode_prints_one_object_per_reply_and_numbers_press_buttons(parts: ShopParts) -> None:
    output = run_chat(parts, "show me jeans\n2\n", json_mode=True)
    replies = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert len(replies) == 2
    cards = replies[0]["cards"]
    assert cards and all(c["handle"] and c["sku"] for c in cards)
    # "2" pressed the second button shown: the first card's "Add to cart".
    assert cards[0]["buttons"][1]["payload"].startswith("add:")
    assert "Which option" in replies[1]["text"] or "Added" in replies[1]["text"]


def test_text_mode_shows_cards_and_numbered_buttons_and_stops_at_eof(parts: ShopParts) -> None:
    output = run_chat(parts, "hoodies\n", json_mode=False)
    assert "bot ›" in output and "┃" in output and "[1] Details" in output


def test_blank_lines_are_ignored(parts: ShopParts) -> None:
    assert run_chat(parts, "\n   \n", json_mode=True) == ""
