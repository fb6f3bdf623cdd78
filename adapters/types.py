"""Type aliases and small contracts shared by the platform adapters.

Adapters never see the dialogue manager's concrete class: they get a
:data:`MessageHandler` (usually ``runtime.managers[bot].handle``) and,
optionally, the runtime's :class:`~core.protocols.SessionStore` for delivery
dedup and server-side button payloads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from core.commands import CommandMenu
from core.messages import IncomingMessage, Reply
from core.protocols import IntentClassifier, SessionStore, TextEncoder

if TYPE_CHECKING:
    from adapters.admin.auth import NonceStore
    from core.analytics import AnalyticsReader, RedisEventRecorder
    from core.bot import Bot
    from core.commerce.notify import Notifier
    from core.commerce.shopify.connect import ShopifyConnection
    from core.events import EventObserver
    from core.handoff import HandoffService
    from core.outbox import OutboxRouter
    from core.teaching import HeadTrainer

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


class ServedBot(DialogueHandler, Protocol):
    """A dialogue manager as the app serves it; the dashboard also reads what the bot understands.

    ``classifier.labels`` and ``answers`` are the intents it serves now, ``bot.languages`` the
    languages it answers in.
    """

    @property
    def bot(self) -> Bot: ...

    @property
    def classifier(self) -> IntentClassifier: ...

    @property
    def answers(self) -> Mapping[str, Mapping[str, str]]: ...


class ServingRuntime(Protocol):
    """What the ASGI app needs from ``bots.runtime.Runtime``.

    ``managers`` maps bot names to their dialogue managers; all share ``store``
    and report to ``event_observers``, the process's one list of event observers.
    The optional parts are ``None`` when the runtime lacks them: ``outbox`` (no
    live handoff or notifications), ``handoff`` (no handoff channel),
    ``notifier``, ``shopify`` (the offline catalogue), and, off Redis,
    ``analytics``, ``nonces``, ``recorder`` and ``trainer`` (the dashboard).
    """

    @property
    def store(self) -> SessionStore: ...

    @property
    def managers(self) -> Mapping[str, ServedBot]: ...

    @property
    def encoder(self) -> TextEncoder | None: ...

    @property
    def event_observers(self) -> list[EventObserver]: ...

    @property
    def outbox(self) -> OutboxRouter | None: ...

    @property
    def handoff(self) -> HandoffService | None: ...

    @property
    def notifier(self) -> Notifier | None: ...

    @property
    def shopify(self) -> ShopifyConnection | None: ...

    @property
    def analytics(self) -> AnalyticsReader | None: ...

    @property
    def nonces(self) -> NonceStore | None: ...

    @property
    def recorder(self) -> RedisEventRecorder | None: ...

    @property
    def trainer(self) -> HeadTrainer | None: ...

    async def aclose(self) -> None: ...


RuntimeOpener = Callable[[Sequence[str]], Awaitable[ServingRuntime]]
"""Builds one runtime serving the named bots (called from the app's lifespan)."""
