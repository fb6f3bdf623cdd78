"""What a bot's actions see (:class:`ActionContext`) and how they are registered.

A bot's ``actions.py`` builds one :class:`ActionRegistry` and decorates plain
async functions::

    registry = ActionRegistry(templates=("greet",))

    @registry.intent("greet")
    async def greet(ctx: ActionContext) -> None:
        ctx.say("greet", name=ctx.message.user_name or "")

    @registry.payload("add:")
    async def add(ctx: ActionContext, sku: str) -> None: ...

Handlers mutate ``ctx.state`` (a working copy: discarded if the handler
raises) and queue replies with :meth:`ActionContext.say`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from core.events import ActionReport
from core.messages import Button, IncomingMessage, ProductCard, Reply
from core.settings import Settings
from core.state import ConversationState

if TYPE_CHECKING:
    from core.bot import Bot
    from core.forms import Form
    from core.protocols import SessionStore, TextEncoder

IntentHandler = Callable[["ActionContext"], Awaitable[None]]
PayloadHandler = Callable[["ActionContext", str], Awaitable[None]]
#: Returns another intent to run instead of the predicted one, or None.
IntentOverride = Callable[["ActionContext"], Awaitable[str | None]]
#: Extracts the bot's entities from ``ctx.understanding.text``.
EntityHook = Callable[["ActionContext"], Any]


_T = TypeVar("_T")
_SHARE_LOCK = threading.Lock()

@dataclass(frozen=True, kw_only=True)
class Understanding:
    """What the core made of one message (one classifier call, at most)."""

    text: str
    intent: str
    confidence: float = 1.0
    ranking: tuple[tuple[str, float], ...] = ()
    out_of_scope: bool = False
    ambiguous: bool = False
    embedding: np.ndarray | None = None
    via: Literal["classifier", "payload", "command", "form"] = "classifier"


@dataclass(frozen=True, kw_only=True)
class CommandDeclaration:
    """A slash command a bot adds to the generic ones: ``/name [text]`` runs ``intent``'s handler.

    Attributes:
        name: what follows the ``/`` (lowercase letters, digits, ``_``; at most 32).
        intent: the intent whose handler runs; the command's text (``/orders 1002``)
            is read for entities as if the user had typed it.
        description: template key of its one-line description, in every language
            the bot speaks (command menus and ``/help`` list it).
        accepts_text: whether text after the name means something (``/orders 1002``);
            a platform that reads commands from plain words (Slack's ``/shop cart``)
            only treats ``name`` followed by more words as this command when it does.
    """

    name: str
    intent: str
    description: str
    accepts_text: bool = False


@dataclass(frozen=True, kw_only=True)
class SetupContext:
    """Handed to a bot's ``async setup(ctx)`` once at start-up.

    ``shared`` is one dict for every bot of a runtime: what several bots
    build from the same inputs (a catalogue's search index, say) is built
    once through :meth:`share`.
    """

    settings: Settings
    bot_dir: Path
    encoder: TextEncoder | None = None
    catalog: Path | None = None
    shared: dict[Hashable, Any] = field(default_factory=dict)

    def share(self, key: Hashable, build: Callable[[], _T]) -> _T:
        """``build()`` once per runtime for ``key``; later calls (any bot) get the same object."""
        with _SHARE_LOCK:  # setups build in worker threads
            if key not in self.shared:
                self.shared[key] = build()
            built: _T = self.shared[key]  # put there by this method, by ``build()`` for this key
            return built


class ActionContext:
    """Everything one action may read or change while handling one message.

    Attributes:
        message: the incoming message.
        state: a working copy of the conversation state.
        understanding: intent, scores and embedding.
        entities: the bot's entities for this message (whatever its extractor returns).
        lang: the language replies are rendered in.
        services: what the bot's ``setup`` returned.
        replies: replies queued so far.
        sources: catalogue items or passages used, for ``/why``.
        reports: what the action reported (:meth:`report`), turned into events
            by the dialogue manager once the action succeeded.
    """

    def __init__(
        self,
        *,
        message: IncomingMessage,
        state: ConversationState,
        understanding: Understanding,
        lang: str,
        settings: Settings,
        services: Any,
        bot: Bot,
        store: SessionStore,
        entities: Any = None,
    ) -> None:
        self.message = message
        self.state = state
        self.understanding = understanding
        self.entities = entities
        self.lang = lang
        self.settings = settings
        self.services = services
        self.bot = bot
        self.store = store
        self.action = ""
        self.replies: list[Reply] = []
        self.sources: list[str] = []
        self.reports: list[ActionReport] = []
        #: Set by ``/forget``: erase the sender everywhere once the conversation's lock is released.
        self.forget_sender = False

    @property
    def intent(self) -> str:
        return self.understanding.intent

    @property
    def turn(self) -> int:
        """Number of user turns so far; rotates template variants deterministically."""
        return sum(1 for t in self.state.history if t.role == "user")

    def text(self, key: str, /, **values: Any) -> str:
        """Render a template in the conversation's language without sending it.

        Every template may write a command as ``{cmd}help``: ``cmd`` is how the
        user types a command here (``/``, or ``/shop `` on Slack).
        """
        values.setdefault("cmd", self.message.command_prefix)
        return self.bot.responses.render(key, self.lang, turn=self.turn, **values)

    def button(self, key: str, payload: str, /, **values: Any) -> Button:
        """A button whose label is the template ``key``."""
        return Button(label=self.text(key, **values), payload=payload)

    def say(
        self,
        key: str,
        /,
        *,
        buttons: Sequence[Button] = (),
        cards: Sequence[ProductCard] = (),
        handoff: bool = False,
        request_contact: bool = False,
        **values: Any,
    ) -> Reply:
        """Render ``key`` and queue it as a reply."""
        reply = Reply(
            text=self.text(key, **values),
            buttons=tuple(buttons),
            cards=tuple(cards),
            handoff=handoff,
            request_contact=request_contact,
        )
        self.replies.append(reply)
        return reply

    def reply(self, reply: Reply) -> None:
        """Queue a reply built by hand."""
        self.replies.append(reply)

    def report(self, report: ActionReport) -> None:
        """Tell the owner's analytics what happened (a search and its result count...).

        Reports are dropped if the action later fails, like its state changes.
        """
        self.reports.append(report)

    def cite(self, source: str) -> None:
        """Record a catalogue item or passage used; ``/why`` lists them."""
        if source not in self.sources:
            self.sources.append(source)


class ActionRegistry:
    """A bot's handlers: by intent name, by button-payload prefix, and its forms."""

    def __init__(self, *, templates: Iterable[str] = ()) -> None:
        self._intents: dict[str, IntentHandler] = {}
        self._payloads: dict[str, PayloadHandler] = {}
        self._forms: dict[str, Form] = {}
        self._templates: set[str] = set(templates)
        self._overrides: list[IntentOverride] = []
        self._commands: dict[str, CommandDeclaration] = {}
        self.entity_hook: EntityHook | None = None

    @property
    def templates(self) -> frozenset[str]:
        """Every template key the handlers declared; validated at bot load."""
        return frozenset(self._templates)

    @property
    def intents(self) -> frozenset[str]:
        return frozenset(self._intents)

    def uses(self, *keys: str) -> None:
        """Declare templates used outside a decorated handler."""
        self._templates.update(keys)

    def intent(self, *names: str, templates: Iterable[str] = ()) -> Callable[[IntentHandler], IntentHandler]:
        """Register a handler for one or more intents."""

        def decorate(fn: IntentHandler) -> IntentHandler:
            for name in names:
                if name in self._intents:
                    raise ValueError(f"intent {name!r} already has a handler")
                self._intents[name] = fn
            self._templates.update(templates)
            return fn

        return decorate

    def replies(self, answers: Mapping[str, str]) -> None:
        """Intents answered by one template each and nothing else (small talk).

        Args:
            answers: intent name -> template key, e.g. ``{"greet": "greet", "cancel": "nothing_to_cancel"}``.
        """
        for name, template in answers.items():
            self.intent(name, templates=(template,))(_say_template(name, template))

    def payload(self, prefix: str, *, templates: Iterable[str] = ()) -> Callable[[PayloadHandler], PayloadHandler]:
        """Register a handler for button payloads starting with ``prefix`` (e.g. ``"add:"``)."""

        def decorate(fn: PayloadHandler) -> PayloadHandler:
            if prefix in self._payloads:
                raise ValueError(f"payload prefix {prefix!r} already has a handler")
            self._payloads[prefix] = fn
            self._templates.update(templates)
            return fn

        return decorate

    def command(self, name: str, *, intent: str, description: str, accepts_text: bool = False) -> None:
        """Declare ``/name``, which runs ``intent``'s handler (see :class:`CommandDeclaration`).

        Raises:
            ValueError: ``name`` was declared already.
        """
        if name in self._commands:
            raise ValueError(f"command /{name} already declared")
        self._commands[name] = CommandDeclaration(
            name=name, intent=intent, description=description, accepts_text=accepts_text
        )
        self._templates.add(description)

    @property
    def commands(self) -> tuple[CommandDeclaration, ...]:
        """The bot's own commands, in declaration order (the generic ones are the core's)."""
        return tuple(self._commands.values())

    def override(self, fn: IntentOverride) -> IntentOverride:
        """Register a hook that may re-route a classified message (e.g. follow-ups)."""
        self._overrides.append(fn)
        return fn

    def entities(self, fn: EntityHook) -> EntityHook:
        """Register the bot's entity extractor: ``fn(ctx) -> entities``."""
        self.entity_hook = fn
        return fn

    def form(self, form: Form) -> Form:
        """Register a slot-filling form; its prompts become required templates."""
        if form.name in self._forms:
            raise ValueError(f"form {form.name!r} already registered")
        self._forms[form.name] = form
        self._templates.update(form.templates)
        return form

    def get_form(self, name: str) -> Form | None:
        return self._forms.get(name)

    def for_intent(self, name: str) -> IntentHandler | None:
        return self._intents.get(name)

    def for_payload(self, payload: str) -> tuple[PayloadHandler, str] | None:
        """The handler whose prefix is the longest match, with the rest of the payload."""
        best = max((p for p in self._payloads if payload.startswith(p)), key=len, default=None)
        if best is None:
            return None
        return self._payloads[best], payload[len(best) :]

    async def reroute(self, ctx: ActionContext) -> str | None:
        for hook in self._overrides:
            intent = await hook(ctx)
            if intent:
                return intent
        return None


def _say_template(intent: str, template: str) -> IntentHandler:
    async def reply(ctx: ActionContext) -> None:
        ctx.say(template)

    reply.__name__ = intent  # shown as the action in /why
    return reply
