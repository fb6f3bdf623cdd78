"""What the owner taught a bot from the dashboard, kept as data outside the package.

``<data dir>/<bot>/teaching.json`` holds two lists:

* ``examples``: shopper messages the owner assigned to an existing intent;
* ``answers``: new questions the bot should answer (an FAQ), each a new intent
  ``faq_<slug>`` with its example questions and its answer per language.

The bot's own files stay read-only: ``shopkeep nlu train`` merges this file
into the intents it trains on (:meth:`Teaching.training_pairs`), and a
trained head carries the answers it was trained with (``answers.json``),
so a head and its answers always agree. Writes are atomic (temporary file
and rename) under an exclusive file lock, so several workers can teach at
once without losing an entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ShopkeepError

TEACHING_FILE = "teaching.json"
ANSWERS_FILE = "answers.json"
FAQ_PREFIX = "faq_"
MAX_TEXT = 500
MAX_ANSWER = 2000
_SLUG = re.compile(r"[^a-z0-9]+")


class TeachingError(ShopkeepError):
    """A teaching request is invalid; ``field`` names the form field at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _now() -> datetime:
    return datetime.now(UTC)


class TaughtExample(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str
    intent: str
    at: datetime = Field(default_factory=_now)


class TaughtAnswer(BaseModel):
    """A new FAQ: an intent of its own, its example questions and its answer per language."""

    model_config = ConfigDict(frozen=True)

    intent: str
    title: str
    answers: dict[str, str]
    examples: tuple[str, ...]
    at: datetime = Field(default_factory=_now)

    def answer(self, lang: str, default_lang: str = "en") -> str:
        return self.answers.get(lang) or self.answers.get(default_lang) or next(iter(self.answers.values()))


class Teaching(BaseModel):
    version: int = 1
    examples: list[TaughtExample] = Field(default_factory=list)
    answers: list[TaughtAnswer] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.examples and not self.answers

    def training_pairs(self) -> list[tuple[str, str]]:
        """``(text, intent)`` pairs to add to the bot's own training examples."""
        pairs = [(e.text, e.intent) for e in self.examples]
        pairs += [(text, a.intent) for a in self.answers for text in a.examples]
        return pairs

    def answer_intents(self) -> set[str]:
        return {a.intent for a in self.answers}


def answers_by_intent(answers: Sequence[TaughtAnswer]) -> dict[str, dict[str, str]]:
    """The ``answers.json`` written beside a trained head: intent -> language -> text."""
    return {a.intent: dict(a.answers) for a in answers}


def load_answers(head_dir: Path) -> dict[str, dict[str, str]]:
    """A head's taught answers (empty when it has none)."""
    path = head_dir / ANSWERS_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ShopkeepError(f"{path}: unreadable taught answers: {e}") from e
    if not isinstance(raw, dict):
        raise ShopkeepError(f"{path}: expected an object of intent -> answers")
    return {str(k): {str(lang): str(t) for lang, t in v.items()} for k, v in raw.items() if isinstance(v, dict)}


def clean(text: str, *, limit: int = MAX_TEXT) -> str:
    """One line of text as it will be trained on: control characters gone, spaces collapsed."""
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())[:limit]


def faq_intent(title: str, taken: set[str]) -> str:
    """``faq_<slug>`` for a title, unique among ``taken``."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("_", ascii_title.lower()).strip("_")[:40]
    if not slug:
        slug = hashlib.sha256(title.encode()).hexdigest()[:8]
    name, n = f"{FAQ_PREFIX}{slug}", 2
    while name in taken:
        name, n = f"{FAQ_PREFIX}{slug}_{n}", n + 1
    return name


class TeachingStore:
    """One bot's teaching file under a data directory.

    Args:
        data_dir: the deployment's data directory (``SHOPKEEP_DATA_DIR``).
        bot: the bot's name.
    """

    def __init__(self, data_dir: Path, bot: str) -> None:
        if not bot or "/" in bot or bot.startswith("."):
            raise ValueError(f"invalid bot name {bot!r}")
        self.folder = Path(data_dir) / bot
        self.path = self.folder / TEACHING_FILE
        self.bot = bot

    def load(self) -> Teaching:
        """The current teaching (empty when nothing was taught yet).

        Raises:
            TeachingError: the file exists but is not valid teaching data.
        """
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Teaching()
        try:
            return Teaching.model_validate_json(raw)
        except ValidationError as e:
            raise TeachingError("file", f"{self.path} is not valid teaching data: {e}") from e

    def revision(self) -> str:
        """A hash of the file's bytes ("" when there is none): what a head was trained from."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return ""

    @contextmanager
    def _locked(self) -> Iterator[Teaching]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".teaching.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                teaching = self.load()
                yield teaching
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(teaching.model_dump_json(indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add_examples(self, texts: Sequence[str], intent: str, *, known: set[str]) -> int:
        """Assign shopper messages to an existing intent; returns how many were new.

        Raises:
            TeachingError: the intent is not one the bot knows, or no text is left.
        """
        intent = intent.strip()
        if intent not in known:
            raise TeachingError("intent", f"{intent or '(none)'!r} is not an intent of the {self.bot} bot; "
                                          f"choose one from the list")
        cleaned = [t for t in (clean(t) for t in texts) if t]
        if not cleaned:
            raise TeachingError("examples", "choose at least one message to teach")
        with self._locked() as teaching:
            have = {(e.text.lower(), e.intent) for e in teaching.examples}
            added = [t for t in dict.fromkeys(cleaned) if (t.lower(), intent) not in have]
            teaching.examples.extend(TaughtExample(text=t, intent=intent) for t in added)
        return len(added)

    def add_answer(self, *, title: str, answers: Mapping[str, str], examples: Sequence[str],
                   languages: Sequence[str], known: set[str]) -> TaughtAnswer:
        """Teach a new FAQ; returns it (with its new intent name).

        Raises:
            TeachingError: a missing title or answer, or fewer than two different examples.
        """
        title = clean(title, limit=120)
        if not title:
            raise TeachingError("title", "give the new answer a short title")
        texts: dict[str, str] = {}
        for lang in languages:
            text = (answers.get(lang) or "").strip()[:MAX_ANSWER]
            if not text:
                raise TeachingError(f"answer_{lang}", f"write the answer in {lang!r} too")
            texts[lang] = text
        distinct = list(dict.fromkeys(t for t in (clean(t) for t in examples) if t))
        if len({t.lower() for t in distinct}) < 2:
            raise TeachingError("examples", "a new answer needs at least two different example questions "
                                            "(tick more messages or add other ways to ask)")
        with self._locked() as teaching:
            intent = faq_intent(title, known | teaching.answer_intents())
            answer = TaughtAnswer(intent=intent, title=title, answers=texts, examples=tuple(distinct))
            teaching.answers.append(answer)
        return answer


# --- retraining (the dashboard's Retrain button) -------------------------------------


class TrainingStatus(BaseModel):
    """The latest training run of one bot, as every worker sees it."""

    state: str  # "running", "done" or "failed"
    stage: str = ""
    started_at: float
    finished_at: float | None = None
    version: str | None = None
    detail: str = ""


class HeadTrainer(Protocol):
    """Trains a bot's head with its teaching merged in, in the background, one run at a time."""

    async def start(self, bot: str) -> bool:
        """Start a run; False when one is already running (in any worker)."""
        ...

    async def status(self, bot: str) -> TrainingStatus | None: ...
