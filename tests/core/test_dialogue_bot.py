"""Bot definitions: loading, template validation at load time, rendering rules."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml

from core.bot import CORE_TEMPLATES, Bot, Responses
from core.errors import BotDefinitionError

ACTIONS = '''
from core.actions import ActionRegistry

registry = ActionRegistry(templates=("greet",))

@registry.intent("greet")
async def greet(ctx):
    ctx.say("greet")
'''


def write_bot(root: Path, monkeypatch: pytest.MonkeyPatch, responses: dict) -> Path:
    """A bot folder with its own importable actions module."""
    module = f"bot_actions_{uuid.uuid4().hex[:8]}"
    (root / f"{module}.py").write_text(ACTIONS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    folder = root / "tiny"
    folder.mkdir()
    (folder / "bot.yaml").write_text(yaml.safe_dump(
        {"name": "tiny", "languages": ["en", "zh"], "actions": module, "fallback": {"handoff_after": 3}}
    ), encoding="utf-8")
    (folder / "responses.yaml").write_text(yaml.safe_dump(responses, allow_unicode=True), encoding="utf-8")
    return folder


def full_responses() -> dict:
    data = {key: {"en": [f"{key} en"], "zh": [f"{key} zh"]} for key in CORE_TEMPLATES}
    data["greet"] = {"en": ["Hi {name}!", "Hello {name}!"], "zh": ["你好 {name}！"]}
    return data


def test_loads_a_bot_from_data_and_its_actions_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = Bot.load(write_bot(tmp_path, monkeypatch, full_responses()))
    assert bot.name == "tiny" and bot.languages == ("en", "zh") and bot.default_lang == "en"
    assert bot.fallback.handoff_after == 3
    assert bot.registry.for_intent("greet") is not None
    assert bot.pick_lang("zh-Hans") == "zh" and bot.pick_lang("en_GB") == "en" and bot.pick_lang("fr") is None


def test_a_template_missing_in_one_language_fails_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = full_responses()
    del data["greet"]["zh"]
    with pytest.raises(BotDefinitionError, match=r"greet\.zh"):
        Bot.load(write_bot(tmp_path, monkeypatch, data))


def test_a_core_template_missing_fails_at_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = full_responses()
    del data["storage_error"]
    with pytest.raises(BotDefinitionError, match="storage_error"):
        Bot.load(write_bot(tmp_path, monkeypatch, data))


def test_variants_with_different_placeholders_are_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = full_responses()
    data["greet"]["zh"] = ["你好 {user}！"]
    with pytest.raises(BotDefinitionError, match="different placeholders"):
        Bot.load(write_bot(tmp_path, monkeypatch, data))


def test_a_missing_actions_module_is_a_definition_error(tmp_path: Path) -> None:
    folder = tmp_path / "ghost"
    folder.mkdir()
    (folder / "bot.yaml").write_text("name: ghost\nactions: no_such_module_here\n", encoding="utf-8")
    (folder / "responses.yaml").write_text("start: {en: [hi]}\n", encoding="utf-8")
    with pytest.raises(BotDefinitionError, match="no_such_module_here"):
        Bot.load(folder)


def test_render_rotates_variants_and_falls_back_to_the_default_language() -> None:
    responses = Responses(
        templates={"hi": {"en": ("A {n}", "B {n}")}, "only_en": {"en": ("just english",)}}, default_lang="en"
    )
    assert [responses.render("hi", "en", turn=t, n=1) for t in range(3)] == ["A 1", "B 1", "A 1"]
    assert responses.render("only_en", "zh") == "just english"
    with pytest.raises(BotDefinitionError, match="needs a value"):
        responses.render("hi", "en")
    with pytest.raises(BotDefinitionError, match="no response template"):
        responses.render("nope", "en")
