"""A bot is data plus a small actions module; this file loads and checks both.

Layout of ``bots/<name>/``::

    bot.yaml         name, languages, default language, file names, fallback policy
    responses.yaml   key: {en: [variant, ...], zh: [variant, ...]}  (str.format placeholders)
    intents.yaml     training examples (read by the NLU trainer, not here)
    actions.py       ``registry`` (an :class:`~core.actions.ActionRegistry`) and ``async setup(ctx)``

Adding a bot never touches ``core/``: :meth:`Bot.load` imports the actions
module named in ``bot.yaml`` and validates at load time that every template the
core and the actions use exists in every language the bot speaks.
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from core import commands
from core.actions import ActionRegistry, SetupContext
from core.commands import CommandSpec
from core.errors import BotDefinitionError

#: Templates the dialogue core itself renders; every bot must define them.
CORE_TEMPLATES: frozenset[str] = frozenset(
    {
        "start",
        "help",
        "error",
        "storage_error",
        "empty_message",
        "fallback",
        "fallback_handoff",
        "clarify",
        "handoff",
        "lang_set",
        "lang_unsupported",
        "why",
        "why_empty",
        "forgotten",
        "cancelled",
        "nothing_to_cancel",
        "unknown_command",
        "button_talk_to_human",
    }
) | commands.TEMPLATES

_FORMATTER = string.Formatter()


def _fields(template: str) -> frozenset[str]:
    """Top-level placeholder names used by a ``str.format`` template."""
    names = set()
    for _, name, _, _ in _FORMATTER.parse(template):
        if name:
            names.add(name.split(".")[0].split("[")[0])
    return frozenset(names)


class Responses:
    """A bot's reply templates, per key and language, with several variants.

    Variants are picked by rotating on the turn number, so a given conversation
    always gets the same wording (stable tests) while replies still vary.
    """

    def __init__(self, *, templates: Mapping[str, Mapping[str, tuple[str, ...]]], default_lang: str) -> None:
        self._templates = {key: dict(per_lang) for key, per_lang in templates.items()}
        self.default_lang = default_lang

    @classmethod
    def load(cls, path: Path, *, default_lang: str) -> Responses:
        """Read ``responses.yaml``.

        Raises:
            BotDefinitionError: the file is missing or malformed, or a key's
                variants disagree on their placeholders.
        """
        raw = _read_yaml(path)
        templates: dict[str, dict[str, tuple[str, ...]]] = {}
        for key, per_lang in raw.items():
            if not isinstance(per_lang, dict) or not per_lang:
                raise BotDefinitionError(f"{path}: {key!r} must map languages to variants")
            entry: dict[str, tuple[str, ...]] = {}
            for lang, variants in per_lang.items():
                if isinstance(variants, str):
                    variants = [variants]
                if not isinstance(variants, list) or not variants or not all(isinstance(v, str) for v in variants):
                    raise BotDefinitionError(f"{path}: {key}.{lang} must be a non-empty list of strings")
                entry[str(lang)] = tuple(variants)
            fields = {_fields(v) for vs in entry.values() for v in vs}
            if len(fields) > 1:
                raise BotDefinitionError(
                    f"{path}: variants of {key!r} use different placeholders: {sorted(map(sorted, fields))}"
                )
            templates[str(key)] = entry
        return cls(templates=templates, default_lang=default_lang)

    def has(self, key: str) -> bool:
        return key in self._templates

    def languages_of(self, key: str) -> frozenset[str]:
        return frozenset(self._templates.get(key, {}))

    def validate(self, keys: Iterable[str], languages: Iterable[str]) -> None:
        """Fail if any ``keys`` lacks a template in any of ``languages``.

        Raises:
            BotDefinitionError: listing every missing key/language pair.
        """
        langs = tuple(languages)
        missing = sorted(
            f"{key}.{lang}" for key in set(keys) for lang in langs if lang not in self._templates.get(key, {})
        )
        if missing:
            raise BotDefinitionError(f"missing response templates: {', '.join(missing)}")

    def render(self, key: str, lang: str, /, *, turn: int = 0, **values: Any) -> str:
        """Render one template; a language without the key falls back to the default.

        Raises:
            BotDefinitionError: the key does not exist or a placeholder has no value.
        """
        per_lang = self._templates.get(key)
        if per_lang is None:
            raise BotDefinitionError(f"no response template {key!r}")
        variants = per_lang.get(lang) or per_lang.get(self.default_lang) or next(iter(per_lang.values()))
        template = variants[turn % len(variants)]
        values.setdefault("cmd", "/")  # how a command is typed (``{cmd}help``); adapters may say otherwise
        try:
            return template.format(**values)
        except (KeyError, IndexError) as e:
            raise BotDefinitionError(f"template {key!r} needs a value for {e}") from e


@dataclass(frozen=True, kw_only=True)
class FallbackPolicy:
    """How the core reacts when it does not understand.

    Attributes:
        handoff_after: consecutive fallbacks after which a human is offered.
        clarify_max_options: intents offered as buttons when a message is ambiguous.
        clarify_min_confidence: an ambiguous message whose best intent scores below
            this is treated as out of scope (no point offering two poor guesses).
        form_interrupt_confidence: while a form asks for a slot, a message holding
            no value for it but another intent at least this confident leaves the
            form and is answered as that intent ("what are your hours?" mid-return).
    """

    handoff_after: int = 2
    clarify_max_options: int = 3
    clarify_min_confidence: float = 0.0
    form_interrupt_confidence: float = 0.9


@dataclass(frozen=True, kw_only=True)
class Bot:
    """One loaded, validated bot definition."""

    name: str
    root: Path
    languages: tuple[str, ...]
    default_lang: str
    intents_path: Path
    responses: Responses
    registry: ActionRegistry
    fallback: FallbackPolicy = field(default_factory=FallbackPolicy)
    setup_hook: Callable[[SetupContext], Awaitable[Any]] | None = None
    description: str = ""
    #: Every command the bot runs, generic and its own, in menu order (see ``core.commands``).
    commands: Mapping[str, CommandSpec] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        name: str,
        root: Path,
        languages: tuple[str, ...],
        responses: Responses,
        registry: ActionRegistry,
        default_lang: str | None = None,
        intents_path: Path | None = None,
        fallback: FallbackPolicy | None = None,
        setup_hook: Callable[[SetupContext], Awaitable[Any]] | None = None,
        description: str = "",
    ) -> Bot:
        """A validated bot from parts already in memory (:meth:`load` reads them from a folder).

        Raises:
            BotDefinitionError: a template the core or the actions use is missing
                in some language, or a declared command is invalid.
        """
        default = default_lang or languages[0]
        if default not in languages:
            raise BotDefinitionError(f"{name}: default language {default!r} not in {languages}")
        command_specs = commands.bot_commands(registry)
        responses.validate(CORE_TEMPLATES | registry.templates, languages)
        return cls(
            name=name,
            root=root,
            languages=languages,
            default_lang=default,
            intents_path=intents_path or root / "intents.yaml",
            responses=responses,
            registry=registry,
            fallback=fallback or FallbackPolicy(),
            setup_hook=setup_hook,
            description=description,
            commands=command_specs,
        )

    @classmethod
    def load(cls, path: Path) -> Bot:
        """Load ``path/bot.yaml`` with its responses and actions module.

        Raises:
            BotDefinitionError: a file is missing or inconsistent, or a template
                used by the core or the actions is missing in some language.
        """
        path = Path(path)
        spec = _read_yaml(path / "bot.yaml")
        try:
            name = str(spec["name"])
            languages = tuple(str(lang) for lang in spec.get("languages", ["en"]))
            default_lang = str(spec.get("default_language", languages[0]))
        except (KeyError, IndexError, TypeError) as e:
            raise BotDefinitionError(f"{path / 'bot.yaml'}: missing or invalid field {e}") from e
        if default_lang not in languages:
            raise BotDefinitionError(f"{path / 'bot.yaml'}: default_language {default_lang!r} not in {languages}")
        responses = Responses.load(path / str(spec.get("responses", "responses.yaml")), default_lang=default_lang)
        module = _import_actions(str(spec.get("actions", f"bots.{name}.actions")))
        registry = getattr(module, "registry", None)
        if not isinstance(registry, ActionRegistry):
            raise BotDefinitionError(f"{module.__name__} must define `registry = ActionRegistry(...)`")
        fallback_spec = spec.get("fallback") or {}
        try:
            fallback = FallbackPolicy(**fallback_spec)
        except TypeError as e:
            raise BotDefinitionError(f"{path / 'bot.yaml'}: invalid fallback settings: {e}") from e
        return cls.build(
            name=name,
            root=path,
            languages=languages,
            default_lang=default_lang,
            intents_path=path / str(spec.get("intents", "intents.yaml")),
            responses=responses,
            registry=registry,
            fallback=fallback,
            setup_hook=getattr(module, "setup", None),
            description=str(spec.get("description", "")),
        )

    async def setup(self, ctx: SetupContext) -> Any:
        """Build the bot's services (catalogue, search index...) once at start-up."""
        if self.setup_hook is None:
            return None
        return await self.setup_hook(ctx)

    def starting_in(self, lang: str | None) -> Bot:
        """This bot with conversations starting in ``lang`` (a deployment's choice), when it speaks it.

        ``None``, or a language the bot does not speak, leaves it as ``bot.yaml`` says.
        """
        if not lang or lang == self.default_lang or lang not in self.languages:
            return self
        return replace(self, default_lang=lang)

    def pick_lang(self, wanted: str | None) -> str | None:
        """Map a locale such as ``zh-Hans`` or ``en_GB`` to one of the bot's languages."""
        if not wanted:
            return None
        base = wanted.replace("_", "-").split("-")[0].lower()
        return base if base in self.languages else None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BotDefinitionError(f"{path} not found") from e
    except yaml.YAMLError as e:
        raise BotDefinitionError(f"{path}: invalid YAML: {e}") from e
    if not isinstance(data, dict):
        raise BotDefinitionError(f"{path}: expected a mapping at the top level")
    return data


def _import_actions(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ImportError as e:
        raise BotDefinitionError(f"cannot import actions module {module_name!r}: {e}") from e
