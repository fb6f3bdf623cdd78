"""Console adapter: only an ASCII number presses a button; any other "digit" is plain text, never an error."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from adapters.console import ConsoleChat
from core.messages import MAX_TEXT_CHARS, Button, IncomingMessage, Reply
from core.sessions import MemorySessionStore
from tests.bots.shop_support import shop_parts

SHOWN = Reply(text="pick one", buttons=tuple(Button(label=f"b{i}", payload=f"press:{i}") for i in range(1, 4)))


class Echo:
    """A stand-in dialogue: shows three buttons every turn and keeps what it was sent."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []

    async def __call__(self, message: IncomingMessage) -> list[Reply]:
        self.messages.append(message)
        return [SHOWN]


@pytest.fixture
async def chat_and_echo() -> tuple[ConsoleChat, Echo]:
    echo = Echo()
    chat = ConsoleChat(handle=echo, bot="shop_assistant", console=Console(file=io.StringIO()))
    await chat.send("hello")  # three buttons are now on screen
    return chat, echo


@pytest.mark.parametrize("line", ["1", " 2 ", "3", "03"])
async def test_ascii_number_presses_the_shown_button(chat_and_echo: tuple[ConsoleChat, Echo], line: str) -> None:
    chat, echo = chat_and_echo
    await chat.send(line)
    pressed = echo.messages[-1]
    assert pressed.button_payload == f"press:{int(line)}" and pressed.text == ""


@pytest.mark.parametrize(
    "line",
    ["²", "¹9", "③", "٣", "१", "0", "4", "99", "1" * 5000, "-1", "+2", "2.0", "1 2"],
)
async def test_other_digits_are_text(chat_and_echo: tuple[ConsoleChat, Echo], line: str) -> None:
    chat, echo = chat_and_echo
    replies = await chat.send(line)
    assert replies == [SHOWN]
    sent = echo.messages[-1]
    # Long lines arrive capped at the boundary's limit (core.messages.MAX_TEXT_CHARS).
    assert sent.button_payload is None and sent.text == line.strip()[:MAX_TEXT_CHARS]


@pytest.mark.parametrize("line", ["³", "¹9", "²"])
async def test_shop_assistant_takes_odd_digits_after_a_list_without_failing(
    artifacts_dir: Path, caplog: pytest.LogCaptureFixture, line: str
) -> None:
    manager = shop_parts(artifacts_dir).manager(MemorySessionStore())
    chat = ConsoleChat(handle=manager.handle, bot="shop_assistant", console=Console(file=io.StringIO()))
    assert (await chat.send("show me jeans"))[0].cards  # a list is shown: a bare number would pick from it
    error_reply = manager.bot.responses.render("error", "en")
    with caplog.at_level(logging.ERROR):
        replies = await chat.send(line)
    assert replies and all(r.text != error_reply for r in replies)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
