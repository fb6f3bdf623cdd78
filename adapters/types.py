"""Type aliases and small contracts shared by the platform adapters.

Adapters never see the dialogue manager's concrete class: they get a
:data:`MessageHandler` (usually ``runtime.managers[bot].handle``) and,
optionally, the runtime's :class:`~core.protocols.SessionStore` for delivery
dedup and server-side button payloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol, runtime_checkable

from core.commands import CommandMenu
from core.messages import IncomingMessage, Reply
from core.protocols import SessionStore

MessageHandler = Callable[[IncomingMessage], Awaitable[list[Reply]]]
"""The core's boundary: one incoming message in, the replies to send out."""


@runtime_checkable
class DialogueHandler(Protocol):
    """What the adapters use of a dialogue manager: ``handle``, and the bot's command registry.

    ``command_menu`` is where each platform's command list comes from
    (Telegram's menu, Slack's ``/shop <command>``).
    """

    command_menu: CommandMenu

    async def handle(self, message: IncomingMessage) -> list[Reply]: ...


class ServingRuntime(Protocol):
    """What the ASGI app needs from ``bots.runtime.Runtime``.

    ``managers`` maps bot names to their dialogue managers; all share ``store``.
    """

    @property
    def store(self) -> SessionStore: ...

    @property
    def managers(self) -> Mapping[str, DialogueHandler]: ...

    async def aclose(self) -> None: ...


RuntimeOpener = Callable[[Sequence[str]], Awaitable[ServingRuntime]]
"""Builds one runtime serving the named bots (called from the app's lifespan)."""
