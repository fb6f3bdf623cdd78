"""A tiny inline bot and a scripted classifier: the engine tested without any trained model.

The bot has a few intents (a greeting, a "notes" list it keeps in
``state.data``, a help intent, a handoff request), one declared command
(``/notes``) and templates for everything the core renders, in English and
Chinese. The classifier reads its answer from a table of phrases, so a test
says exactly what the "model" predicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from core.actions import ActionContext, ActionRegistry
from core.bot import CORE_TEMPLATES, Bot, Responses
from core.commands import request_handoff, show_help
from core.dialogue import DialogueManager
from core.messages import ConversationKey, IncomingMessage, Platform
from core.protocols import IntentPrediction, SessionStore
from core.settings import Settings

DIM = 8


class ScriptedClassifier:
    """An :class:`~core.protocols.IntentClassifier` whose predictions come from a table.

    Args:
        answers: lower-cased text → intent; any other text is out of scope.
        labels: the intents it knows (the table's values by default).
    """

    def __init__(self, answers: Mapping[str, str], *, labels: Sequence[str] | None = None) -> None:
        self._answers = {text.lower(): intent for text, intent in answers.items()}
        self.labels: Sequence[str] = tuple(labels or dict.fromkeys(self._answers.values()))
        self.calls: list[str] = []

    def _predict(self, text: str) -> IntentPrediction:
        self.calls.append(text)
        intent = self._answers.get(text.strip().lower())
        embedding = np.zeros(DIM, dtype=np.float32)
        if intent is None:
            return IntentPrediction(label="out_of_scope", confidence=0.1, ranking=(("out_of_scope", 0.1),),
                                    out_of_scope=True, ambiguous=False, embedding=embedding)
        return IntentPrediction(label=intent, confidence=0.95, ranking=((intent, 0.95),), out_of_scope=False,
                                ambiguous=False, embedding=embedding)

    async def predict(self, text: str) -> IntentPrediction:
        return self._predict(text)

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]:
        return [self._predict(text) for text in texts]


def _registry() -> ActionRegistry:
    registry = ActionRegistry(templates=("greet", "notes", "noted"))
    registry.replies({"greet": "greet"})
    registry.intent("help", templates=("help",))(show_help)

    @registry.intent("note")
    async def note(ctx: ActionContext) -> None:
        notes = ctx.state.data.setdefault("notes", [])
        notes.append(ctx.understanding.text)
        ctx.say("noted", count=len(notes))

    @registry.intent("list_notes")
    async def list_notes(ctx: ActionContext) -> None:
        ctx.say("notes", notes="; ".join(ctx.state.data.get("notes", [])) or "-")

    @registry.intent("human_handoff")
    async def human_handoff(ctx: ActionContext) -> None:
        request_handoff(ctx.state, "user_request")
        ctx.say("handoff", handoff=True)

    registry.command("notes", intent="list_notes", description="command_notes")
    return registry


def _responses() -> Responses:
    templates: dict[str, dict[str, tuple[str, ...]]] = {
        key: {"en": (f"[{key}]",), "zh": (f"【{key}】",)} for key in CORE_TEMPLATES
    }
    templates.update({
        "unknown_command": {"en": ("I don't know that command. Try: {commands}",),
                            "zh": ("我不认识这个命令。可用命令：{commands}",)},
        "command_list": {"en": ("Commands:\n{commands}",), "zh": ("命令：\n{commands}",)},
        "help": {"en": ("I keep notes. Type {cmd}notes to see them.",), "zh": ("我记笔记。输入 {cmd}notes 查看。",)},
        "forgotten": {"en": ("Deleted what I stored about you.",), "zh": ("已删除。",)},
        "greet": {"en": ("Hello!",), "zh": ("你好！",)},
        "noted": {"en": ("Noted ({count}).",), "zh": ("记下了（{count}）。",)},
        "notes": {"en": ("Notes: {notes}",), "zh": ("笔记：{notes}",)},
        "command_notes": {"en": ("Show the notes",), "zh": ("查看笔记",)},
        "command_start": {"en": ("Say hello",), "zh": ("打招呼",)},
    })
    return Responses(templates=templates, default_lang="en")


def tiny_bot(name: str = "tiny", *, languages: tuple[str, ...] = ("en", "zh")) -> Bot:
    """The inline bot, validated like any bot loaded from a folder."""
    return Bot.build(name=name, root=Path(__file__).parent, languages=languages, responses=_responses(),
                     registry=_registry())


#: What the scripted classifier predicts for the tiny bot.
ANSWERS = {
    "hello": "greet",
    "help": "help",
    "what are my notes": "list_notes",
    "buy milk": "note",
    "call the plumber": "note",
    "my phone is +44 7700 900123": "note",
    "i want a person": "human_handoff",
}


def tiny_manager(store: SessionStore, *, bot: Bot | None = None, settings: Settings | None = None) -> DialogueManager:
    """A dialogue manager for the tiny bot over ``store``."""
    return DialogueManager(bot=bot or tiny_bot(), store=store, classifier=ScriptedClassifier(ANSWERS),
                           settings=settings or Settings(redis_url=None))


def says(text: str = "", *, user: str = "u1", chat: str = "c1", platform: Platform = Platform.TELEGRAM,
         bot: str = "tiny", thread: str = "", payload: str | None = None, command_prefix: str = "/",
         user_name: str | None = None, delivery_id: str | None = None) -> IncomingMessage:
    """One message to the tiny bot."""
    return IncomingMessage(
        conversation=ConversationKey(platform=platform, bot=bot, chat=chat, thread=thread),
        user_id=user, user_name=user_name, text=text, button_payload=payload, command_prefix=command_prefix,
        delivery_id=delivery_id,
    )
