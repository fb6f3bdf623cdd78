"""The engine tested without any trained model: a tiny inline bot, a scripted classifier, a hashing encoder.

The bot has a few intents (a greeting, a "notes" list it keeps in
``state.data``, a help intent, a handoff request), one declared command
(``/notes``) and templates for everything the core renders, in English and
Chinese. The classifier reads its answer from a table of phrases, so a test
says exactly what the "model" predicts. The encoder hashes character
trigrams: deterministic vectors for ranking plumbing, never for meaning.
"""

from __future__ import annotations

import hashlib
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


class HashingEncoder:
    """Bag of character trigrams hashed into a normalised vector."""

    dim = 256

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                h = int.from_bytes(hashlib.blake2b(padded[i:i + 3].encode(), digest_size=4).digest(), "little")
                out[row, h % self.dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_sync(texts)


class ScriptedClassifier:
    """An :class:`~core.protocols.IntentClassifier` whose predictions come from a table.

    Args:
        answers: lower-cased text → intent; any other text is out of scope.
        labels: the intents it knows (the table's values by default).
        ambiguous: lower-cased text → the intents it hesitates between, best first
            (an ambiguous prediction at ``ambiguous_confidence``).
        ambiguous_confidence: the top score of an ambiguous prediction.
    """

    def __init__(self, answers: Mapping[str, str], *, labels: Sequence[str] | None = None,
                 ambiguous: Mapping[str, Sequence[str]] | None = None, ambiguous_confidence: float = 0.5) -> None:
        self._answers = {text.lower(): intent for text, intent in answers.items()}
        self._ambiguous = {text.lower(): tuple(intents) for text, intents in (ambiguous or {}).items()}
        self._ambiguous_confidence = ambiguous_confidence
        self.labels: Sequence[str] = tuple(labels or dict.fromkeys(self._answers.values()))
        self.calls: list[str] = []

    def _predict(self, text: str) -> IntentPrediction:
        self.calls.append(text)
        key = text.strip().lower()
        intent = self._answers.get(key)
        embedding = np.zeros(DIM, dtype=np.float32)
        if key in self._ambiguous:
            top = self._ambiguous_confidence
            ranking = tuple((name, round(top - 0.05 * i, 2)) for i, name in enumerate(self._ambiguous[key]))
            return IntentPrediction(label=ranking[0][0], confidence=top, ranking=ranking, out_of_scope=False,
                                    ambiguous=True, embedding=embedding)
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

    @registry.entities
    def first_word(ctx: ActionContext) -> dict[str, str]:
        return {"first_word": ctx.understanding.text.split()[0]} if ctx.understanding.text.split() else {}

    @registry.intent("note")
    async def note(ctx: ActionContext) -> None:
        notes = ctx.state.data.setdefault("notes", [])
        notes.append(ctx.understanding.text)
        ctx.cite(f"note:{len(notes)}")
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
        "error": {"en": ("Something went wrong; type {cmd}human.",), "zh": ("出错了；输入 {cmd}human。",)},
        "storage_error": {"en": ("Try again in a moment.",), "zh": ("请稍后再试。",)},
        "empty_message": {"en": ("I only read text.",), "zh": ("我只读文字。",)},
        "fallback": {"en": ("I can't help with that.",), "zh": ("这个我帮不上。",)},
        "fallback_handoff": {"en": ("Still lost; a person will take over.",), "zh": ("还是不懂；转人工。",)},
        "clarify": {"en": ("Which did you mean?",), "zh": ("您指的是哪个？",)},
        "lang_set": {"en": ("English it is.",), "zh": ("好的，用中文。",)},
        "lang_unsupported": {"en": ("I speak {languages}.",), "zh": ("我会说 {languages}。",)},
        "why": {"en": ("intent {intent} ({confidence}); ranking {ranking}; flags {flags}; entities {entities}; "
                       + "action {action}; sources {sources}",),
                "zh": ("意图 {intent}（{confidence}）；候选 {ranking}；标记 {flags}；实体 {entities}；"
                       + "动作 {action}；来源 {sources}",)},
        "why_empty": {"en": ("Nothing to explain yet.",), "zh": ("还没有可解释的。",)},
        "intent_note": {"en": ("Take a note",), "zh": ("记笔记",)},
        "intent_list_notes": {"en": ("Show the notes",), "zh": ("查看笔记",)},
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
#: Texts the scripted classifier hesitates on: the intents it hesitates between, best first.
AMBIGUOUS = {"notes": ("list_notes", "note", "greet")}


def tiny_manager(store: SessionStore, *, bot: Bot | None = None, settings: Settings | None = None,
                 classifier: ScriptedClassifier | None = None) -> DialogueManager:
    """A dialogue manager for the tiny bot over ``store``."""
    return DialogueManager(bot=bot or tiny_bot(), store=store,
                           classifier=classifier or ScriptedClassifier(ANSWERS, ambiguous=AMBIGUOUS),
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
