"""The dialogue manager: one incoming message in, the bot's replies out.

Per message: drop a repeated delivery, take the conversation lock, load the
state inside it (one store call, :meth:`~core.protocols.SessionStore.hold`), understand the message (one classifier call whose embedding
the actions reuse), run a command, a button handler, the active form or the
intent's action on the state (its JSON kept to restore it on failure),
render the replies, save and unlock (one more store call).

A failing action never reaches the user as a traceback: it becomes the
``error`` template, is logged once with masked personal data, and the stored
state is the pre-action state plus the turn. A storage failure (including a
lock timeout) becomes the ``storage_error`` template.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import traceback
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core import commands, events, forms
from core.actions import ActionContext, Understanding
from core.bot import Bot
from core.errors import StorageError
from core.events import Event, EventObserver
from core.messages import Button, IncomingMessage, Platform, Reply
from core.privacy import mask_pii
from core.protocols import HeldConversation, IntentClassifier, SessionStore
from core.settings import Settings
from core.state import ConversationState, Decision, Turn
from core.textnorm import normalize_message

if TYPE_CHECKING:
    from core.handoff import ConversationInterceptor

logger = logging.getLogger(__name__)

INTENT_PAYLOAD = "intent:"
TAUGHT_ANSWER_ACTION = "taught_answer"
#: Erases what one user left outside the session store (e.g. analytics); returns items removed.
UserEraser = Callable[[Platform, str], Awaitable[int]]
CONTACT_PAYLOAD = "contact:"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORDS = re.compile(r"[A-Za-z]{2,}")
# Tokens that are no language: e-mail addresses, links, and codes holding a digit (SKU, order name,
# tracking number). A Chinese shopper answering "ava.cohen@example.com" keeps being answered in Chinese.
_NOT_LANGUAGE = re.compile(r"\S+@\S+|\b(?:https?://|www\.)\S+|\S*\d\S*")


class DialogueManager:
    """Runs one bot's conversations over a session store.

    Args:
        bot: the loaded bot definition.
        store: where conversation state lives.
        classifier: the bot's intent classifier.
        settings: application settings.
        services: what the bot's ``setup`` returned (catalogue, search...).
        interceptor: consulted inside the lock before and after dispatch
            (e.g. a live human handoff keeps the bot silent); see
            :class:`core.handoff.ConversationInterceptor`.
        answers: answers the owner taught (intent -> language -> text), given
            for intents that have no handler of their own.
        event_observers: where events go; a runtime passes one list to all its
            managers so an observer is added once.
    """

    def __init__(
        self,
        *,
        bot: Bot,
        store: SessionStore,
        classifier: IntentClassifier,
        settings: Settings,
        services: Any = None,
        interceptor: ConversationInterceptor | None = None,
        answers: Mapping[str, Mapping[str, str]] | None = None,
        event_observers: list[EventObserver] | None = None,
    ) -> None:
        self.interceptor = interceptor
        #: Called with each :class:`~core.events.Event` once the message's state is saved
        #: (metrics, the analytics recorder); they must not block.
        self.event_observers: list[EventObserver] = [] if event_observers is None else event_observers
        #: Run when a user asks to be forgotten, after the session store erased its part.
        self.user_erasers: list[UserEraser] = []
        self.answers: Mapping[str, Mapping[str, str]] = answers or {}
        if settings.default_lang and settings.default_lang not in bot.languages:
            logger.warning("SHOPKEEP_DEFAULT_LANG=%s: bot %s speaks only %s; it starts in %s",
                           settings.default_lang, bot.name, ", ".join(bot.languages), bot.default_lang)
        self.bot = bot.starting_in(settings.default_lang)
        self.store = store
        self.classifier = classifier
        self.settings = settings
        self.services = services
        #: The bot's commands per language; the adapters build platform command lists from it.
        self.command_menu: commands.CommandMenu = commands.command_menu(self.bot)

    def use_head(self, classifier: IntentClassifier, answers: Mapping[str, Mapping[str, str]]) -> None:
        """Serve a newly trained intent head from the next message on (no restart)."""
        self.classifier, self.answers = classifier, answers

    async def handle(self, message: IncomingMessage) -> list[Reply]:
        """Handle one message and return the replies to send (``[]`` for a repeat delivery)."""
        key = message.conversation
        try:
            async with self.store.hold(key, delivery_id=message.delivery_id) as held:
                if held.duplicate:
                    logger.debug("dropping repeated delivery", extra={"conversation": key.tag})
                    return []
                replies, forget = await self._handle_locked(message, held)
            if forget:
                await self._forget_sender(message)
            return replies
        except StorageError as e:
            logger.warning("storage unavailable for %s: %s", key.tag, mask_pii(str(e)))
            lang = self._guess_lang(message, None)
            return [Reply(text=self.bot.responses.render("storage_error", lang, cmd=message.command_prefix))]

    async def _forget_sender(self, message: IncomingMessage) -> None:
        """``/forget``: erase the sender from every conversation and record indexed for them.

        Runs after the conversation's lock is released, since the store takes
        the lock of each shared conversation it rewrites (this one included).
        """
        removed = await self.store.forget_user(message.conversation.platform, message.user_id)
        for erase in self.user_erasers:  # what lives outside the store (analytics examples)
            removed += await erase(message.conversation.platform, message.user_id)
        logger.info("forgot a user's data", extra={"conversation": message.conversation.tag, "keys_removed": removed})

    # -- one message, inside the lock -----------------------------------------

    async def _handle_locked(self, message: IncomingMessage, held: HeldConversation) -> tuple[list[Reply], bool]:
        """The replies, and whether the sender asked to be forgotten (done once the lock is released)."""
        state = held.state or ConversationState(user_id=message.user_id, lang=self.bot.default_lang)
        state.join(message.user_id)
        if not state.lang_locked:
            state.lang = self._guess_lang(message, state)
        handoff_before = events.handoff_marker(state.handoff)
        if self.interceptor is not None:
            intercepted = await self.interceptor.intercept(message, state)
            if intercepted is not None:
                self._record_intercepted(state, message, intercepted)
                at = events.now()
                sessions = events.advance_session(state, at=at, handoff_before=handoff_before)
                await held.save(state)
                if self.event_observers:
                    self._emit(events.turn_events(None, message, state, bot=self.bot.name, at=at,
                                                  handoff_before=handoff_before, sessions=sessions,
                                                  is_command=False))
                return intercepted, False
        # Copy-on-error: the action works on the loaded state itself; the
        # pre-action state is kept as its JSON (one fast Rust call) and only
        # rebuilt when the action fails. A deep copy per message cost more
        # than all the rest of the dispatch (the state grows every turn).
        snapshot = state.model_dump_json()
        working = state
        ctx = ActionContext(
            message=message,
            state=working,
            understanding=Understanding(text=message.text, intent="", via="command"),
            lang=working.lang,
            settings=self.settings,
            services=self.services,
            bot=self.bot,
            store=self.store,
        )
        is_command = False
        failed = False
        try:
            is_command = await self._dispatch(ctx)
        except StorageError:
            raise
        except Exception as e:  # noqa: BLE001 - the edge: logged once, answered politely
            self._log_failure(ctx, e)
            failed = True
            final = ConversationState.model_validate_json(snapshot)
            text = self.bot.responses.render("error", final.lang, turn=ctx.turn, cmd=message.command_prefix)
            replies = [Reply(text=text)]
        else:
            final = working
            replies = ctx.replies
        if ctx.forget_sender:
            # Nothing of this message is kept but its delivery id, so that erasing
            # the conversation (after the lock is released) erases its repeat mark too.
            state.note_delivery(message.delivery_id)
            await held.save(state)
            return replies, True
        self._record(final, ctx, replies, is_command=is_command)
        if self.interceptor is not None:
            extra = await self.interceptor.after(message, final)
            for reply in extra:
                if reply.text:
                    final.add_turn(Turn(role="bot", text=mask_pii(reply.text), user_id=message.user_id))
            replies = [*replies, *extra]
        at = events.now()
        sessions = events.advance_session(final, at=at, handoff_before=handoff_before)
        await held.save(final)
        if self.event_observers:
            self._emit(events.turn_events(ctx, message, final, bot=self.bot.name, at=at, handoff_before=handoff_before,
                                          sessions=sessions, is_command=is_command, failed=failed))
        return replies, False

    def _emit(self, emitted: list[Event]) -> None:
        for event in emitted:
            for observe in self.event_observers:
                observe(event)

    async def _dispatch(self, ctx: ActionContext) -> bool:
        """Route the message; returns True when it was a generic command."""
        message = ctx.message
        payload = message.button_payload
        if payload:
            return await self._dispatch_payload(ctx, payload)
        parsed = commands.parse_command(message.text)
        if parsed is not None:
            await commands.run_command(ctx, *parsed)
            return True
        if not message.text.strip():
            form = self.bot.registry.get_form(ctx.state.form) if ctx.state.form else None
            if message.contact is not None and form is not None:
                ctx.understanding = Understanding(text="", intent=form.name, via="form")
                ctx.action = f"form:{form.name}"
                await form.step(ctx)
            elif message.contact is not None and (found := self.bot.registry.for_payload(CONTACT_PAYLOAD)):
                ctx.action = found[0].__name__
                await found[0](ctx, message.contact.phone)
            else:
                ctx.action = "empty_message"
                ctx.say("empty_message")
            return False
        # What understanding reads: full-width forms folded, common traditional characters simplified.
        text = normalize_message(message.text)
        prediction = await self.classifier.predict(text)
        ctx.understanding = Understanding(
            text=text,
            intent=prediction.label,
            confidence=prediction.confidence,
            ranking=tuple(prediction.ranking),
            out_of_scope=prediction.out_of_scope,
            ambiguous=prediction.ambiguous,
            embedding=prediction.embedding,
        )
        self._extract_entities(ctx)
        if ctx.state.form is not None and (form := self.bot.registry.get_form(ctx.state.form)):
            if not await self._interrupts(ctx, form):
                ctx.action = f"form:{form.name}"
                await form.step(ctx)
                return False
            logger.debug("leaving form %s for intent %s", form.name, prediction.label)
        if ctx.state.form is not None:  # interrupted, or a form this bot no longer has
            forms.deactivate(ctx)
        rerouted = await self.bot.registry.reroute(ctx)
        if rerouted:
            ctx.understanding = dataclasses.replace(
                ctx.understanding, intent=rerouted, out_of_scope=False, ambiguous=False
            )
        elif prediction.out_of_scope or (
            prediction.ambiguous and prediction.confidence < self.bot.fallback.clarify_min_confidence
        ):
            self._fallback(ctx)
            return False
        elif prediction.ambiguous:
            self._clarify(ctx)
            return False
        await self._run_intent(ctx)
        return False

    async def _interrupts(self, ctx: ActionContext, form: forms.Form) -> bool:
        """A confident other intent, and no value for the slot being asked: leave the form."""
        u = ctx.understanding
        return (
            not (u.out_of_scope or u.ambiguous)
            and u.confidence >= self.bot.fallback.form_interrupt_confidence
            and u.intent not in ("cancel", form.name)
            and self._handles(u.intent)
            and not forms.is_cancel(ctx)
            and not await form.accepts(ctx)
        )

    async def _dispatch_payload(self, ctx: ActionContext, payload: str) -> bool:
        if payload.startswith(commands.COMMAND_PAYLOAD):
            name, _, arg = payload[len(commands.COMMAND_PAYLOAD) :].partition(" ")
            await commands.run_command(ctx, name, arg)
            return True
        form = self.bot.registry.get_form(ctx.state.form) if ctx.state.form else None
        if payload == forms.CANCEL_PAYLOAD:
            await commands.run_command(ctx, "cancel", "")
            return True
        if payload.startswith(forms.VALUE_PAYLOAD) and form is not None:
            ctx.understanding = Understanding(text="", intent=form.name, via="form")
            ctx.action = f"form:{form.name}"
            await form.step(ctx)
            return False
        if payload.startswith(INTENT_PAYLOAD):
            # A clarifying button: re-read the text the user typed before it.
            intent = payload[len(INTENT_PAYLOAD) :]
            pending = ctx.state.data.pop("clarify", None) or {}
            ctx.understanding = Understanding(text=str(pending.get("text", "")), intent=intent, via="payload")
            self._extract_entities(ctx)
            await self._run_intent(ctx)
            return False
        found = self.bot.registry.for_payload(payload)
        ctx.understanding = Understanding(text="", intent=payload.split(":", 1)[0], via="payload")
        if found is None:
            ctx.action = "unknown_payload"
            ctx.say("fallback")
            return False
        handler, arg = found
        ctx.action = handler.__name__
        await handler(ctx, arg)
        return False

    async def _run_intent(self, ctx: ActionContext) -> None:
        handler = self.bot.registry.for_intent(ctx.intent)
        if handler is None:
            taught = self.answers.get(ctx.intent)
            if taught:
                ctx.state.fallbacks = 0
                ctx.action = TAUGHT_ANSWER_ACTION
                text = taught.get(ctx.lang) or taught.get(self.bot.default_lang) or next(iter(taught.values()))
                ctx.reply(Reply(text=text))  # the owner's text as written: never a template
                return
            self._fallback(ctx)
            return
        ctx.state.fallbacks = 0
        ctx.action = handler.__name__
        await handler(ctx)

    def _handles(self, intent: str) -> bool:
        """The bot can act on ``intent``: a handler of its own or an answer the owner taught."""
        return self.bot.registry.for_intent(intent) is not None or intent in self.answers

    def _extract_entities(self, ctx: ActionContext) -> None:
        hook = self.bot.registry.entity_hook
        if hook is not None and ctx.understanding.text:
            ctx.entities = hook(ctx)

    def _fallback(self, ctx: ActionContext) -> None:
        ctx.state.fallbacks += 1
        if ctx.state.fallbacks >= self.bot.fallback.handoff_after:
            ctx.action = "fallback_handoff"
            commands.request_handoff(ctx.state, "repeated_fallback")
            ctx.state.fallbacks = 0
            ctx.say("fallback_handoff", handoff=True)
        else:
            ctx.action = "fallback"
            ctx.say("fallback", buttons=[ctx.button("button_talk_to_human", "cmd:human")])

    def _clarify(self, ctx: ActionContext) -> None:
        options = [
            name
            for name, _ in ctx.understanding.ranking[: self.bot.fallback.clarify_max_options]
            if self._handles(name)
        ]
        if len(options) < 2:
            if options:
                ctx.understanding = dataclasses.replace(ctx.understanding, intent=options[0])
            self._fallback(ctx)
            return
        ctx.action = "clarify"
        ctx.state.data["clarify"] = {"text": mask_pii(ctx.understanding.text)}
        buttons = [Button(label=self._intent_label(ctx, name), payload=f"{INTENT_PAYLOAD}{name}") for name in options]
        ctx.say("clarify", buttons=buttons)

    def _intent_label(self, ctx: ActionContext, intent: str) -> str:
        key = f"intent_{intent}"
        if self.bot.responses.has(key):
            return ctx.text(key)
        return intent.replace("_", " ").capitalize()

    # -- bookkeeping -----------------------------------------------------------

    def _guess_lang(self, message: IncomingMessage, state: ConversationState | None) -> str:
        """Locale first (``zh*``/``en*``); without one, the script of the text."""
        current = state.lang if state is not None else self.bot.default_lang
        if state is not None and state.lang_locked:
            return state.lang
        by_locale = self.bot.pick_lang(message.locale)
        if by_locale:
            return by_locale
        if "zh" in self.bot.languages and _CJK.search(message.text):
            return "zh"
        if "en" in self.bot.languages and len(_LATIN_WORDS.findall(_NOT_LANGUAGE.sub(" ", message.text))) >= 2:
            return "en"
        return current

    def _record(self, state: ConversationState, ctx: ActionContext, replies: list[Reply], *, is_command: bool) -> None:
        message = ctx.message
        user_text = mask_pii(message.text) if message.text else f"[button] {message.button_payload or ''}".strip()
        who = message.user_id
        state.note_delivery(message.delivery_id)
        state.add_turn(Turn(role="user", text=user_text, intent=ctx.intent or None, user_id=who))
        for reply in replies:
            if reply.text:
                state.add_turn(Turn(role="bot", text=mask_pii(reply.text), user_id=who))
        if not is_command:
            u = ctx.understanding
            state.last_decision = Decision(
                text=mask_pii(u.text),
                intent=u.intent or ctx.action,
                confidence=u.confidence,
                ranking=[(name, float(score)) for name, score in u.ranking[:5]],
                out_of_scope=u.out_of_scope,
                ambiguous=u.ambiguous,
                entities=_as_dict(ctx.entities),
                slots={**state.slots, **state.form_slots},
                action=ctx.action,
                sources=list(ctx.sources),
                user_id=who,
            )
        state.updated_at = datetime.now(UTC)

    @staticmethod
    def _record_intercepted(state: ConversationState, message: IncomingMessage, replies: list[Reply]) -> None:
        user_text = mask_pii(message.text) if message.text else f"[button] {message.button_payload or ''}".strip()
        state.note_delivery(message.delivery_id)
        state.add_turn(Turn(role="user", text=user_text, user_id=message.user_id))
        for reply in replies:
            if reply.text:
                state.add_turn(Turn(role="bot", text=mask_pii(reply.text), user_id=message.user_id))
        state.updated_at = datetime.now(UTC)

    def _log_failure(self, ctx: ActionContext, error: BaseException) -> None:
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        logger.error(
            "action failed: conversation=%s intent=%s action=%s text=%r\n%s",
            ctx.message.conversation.tag,
            ctx.intent or "-",
            ctx.action or "-",
            mask_pii(ctx.message.text),
            mask_pii(trace),
        )


def _as_dict(entities: Any) -> dict[str, Any]:
    """Non-empty entity fields as a JSON-friendly dict (for ``/why``)."""
    if entities is None:
        return {}
    if hasattr(entities, "model_dump"):
        raw = entities.model_dump(mode="json")
    elif dataclasses.is_dataclass(entities) and not isinstance(entities, type):
        raw = dataclasses.asdict(entities)
    elif isinstance(entities, Mapping):
        raw = dict(entities)
    else:
        return {"value": mask_pii(str(entities))}
    return {k: _jsonable(v) for k, v in raw.items() if v not in (None, "", [], (), {}, set(), frozenset())}


def _jsonable(value: Any) -> Any:
    """JSON-friendly, with personal data in strings masked (the decision is stored)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return mask_pii(str(value))
