"""The bots' intent training data: names, sizes, languages and no overlaps.

The intent heads learn only from these files, so a missing intent, a thin one,
or the same sentence filed under two intents shows up later as a confused bot.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from core.bot import CORE_TEMPLATES, Bot
from models.intent import load_bot_intents

BOTS_DIR = Path(__file__).resolve().parents[2] / "bots"

SHOP_INTENTS = frozenset(
    {
        "greet", "goodbye", "thanks", "help", "affirm", "deny", "bot_challenge",
        "product_search", "show_more", "refine_cheaper", "product_details", "recommend",
        "similar_products", "goes_with", "add_to_cart", "remove_from_cart", "view_cart",
        "checkout", "order_status", "return_request", "exchange_request", "cancel",
        "store_hours", "store_locations", "policy_question", "size_help", "human_handoff",
        "complaint", "stock_check",
    }
)  # fmt: skip
STAFF_ONLY_INTENTS = frozenset(
    {"procedure_question", "stock_lookup", "order_lookup", "handoff_queue"}
)
STAFF_INTENTS = STAFF_ONLY_INTENTS | {"greet", "thanks", "goodbye", "help", "cancel", "out_of_scope"}
MIN_EXAMPLES = 20
MIN_CHINESE_EXAMPLES = 3


def _intents(bot: str) -> dict[str, list[str]]:
    data = yaml.safe_load((BOTS_DIR / bot / "intents.yaml").read_text(encoding="utf-8"))
    out = {}
    for name, body in data["intents"].items():
        extra = body.get("examples_from")
        more = yaml.safe_load((BOTS_DIR / bot / extra).read_text(encoding="utf-8")) if extra else {}
        more = more.get("questions", more) if isinstance(more, dict) else more
        flat = [q for group in more.values() for q in group] if isinstance(more, dict) else list(more or [])
        out[name] = [*body["examples"], *flat]
    return out


def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


BotIntents = tuple[str, dict[str, list[str]]]


@pytest.fixture(scope="module", params=["shop_assistant", "staff_helpdesk"])
def bot_intents(request: pytest.FixtureRequest) -> BotIntents:
    return request.param, _intents(request.param)


def test_shop_intent_names_match_the_dialogue_contract() -> None:
    assert set(_intents("shop_assistant")) == SHOP_INTENTS


def test_staff_intent_names() -> None:
    assert set(_intents("staff_helpdesk")) == STAFF_INTENTS


def test_staff_only_intents_are_absent_from_the_shop_bot() -> None:
    assert not STAFF_ONLY_INTENTS & set(_intents("shop_assistant"))


def test_every_intent_has_enough_distinct_examples(bot_intents: BotIntents) -> None:
    bot, intents = bot_intents
    counts = {name: len({_fold(e) for e in ex}) for name, ex in intents.items()}
    thin = {name: n for name, n in counts.items() if n < MIN_EXAMPLES}
    assert not thin, f"{bot}: intents with fewer than {MIN_EXAMPLES} distinct examples: {thin}"


def test_examples_are_non_empty_strings(bot_intents: BotIntents) -> None:
    bot, intents = bot_intents
    bad = [
        (name, ex)
        for name, examples in intents.items()
        for ex in examples
        if not isinstance(ex, str) or not ex.strip()
    ]
    assert not bad, f"{bot}: non-text or blank examples: {bad}"


def test_no_example_repeats_within_or_across_intents(bot_intents: BotIntents) -> None:
    bot, intents = bot_intents
    owners: dict[str, list[str]] = defaultdict(list)
    for name, examples in intents.items():
        for ex in examples:
            owners[_fold(ex)].append(name)
    repeated = {text: names for text, names in owners.items() if len(names) > 1}
    assert not repeated, f"{bot}: examples filed more than once: {repeated}"


def test_every_shop_intent_has_chinese_examples() -> None:
    intents = _intents("shop_assistant")
    counts = {name: sum(map(_is_chinese, ex)) for name, ex in intents.items()}
    thin = {name: n for name, n in counts.items() if n < MIN_CHINESE_EXAMPLES}
    assert not thin, f"shop intents with fewer than {MIN_CHINESE_EXAMPLES} Chinese examples: {thin}"


def test_english_stays_the_bulk_of_the_shop_data() -> None:
    # The encoder is English-only (most CJK characters are unknown tokens), so the
    # English examples carry the intent head; Chinese ones must not crowd them out.
    intents = _intents("shop_assistant")
    counts = {name: sum(not _is_chinese(e) for e in ex) for name, ex in intents.items()}
    short = {name: n for name, n in counts.items() if n < 25}
    assert not short, f"shop intents with fewer than 25 English examples: {short}"


def test_the_trainer_reads_every_example(bot_intents: BotIntents) -> None:
    bot, intents = bot_intents
    split = load_bot_intents(BOTS_DIR / bot / "intents.yaml")
    assert set(split.labels) == set(intents)
    assert len(split.texts) == sum(len(ex) for ex in intents.values())


def test_the_shopping_assistant_definition_is_complete() -> None:
    """Every intent it is trained on has an action, and every template it uses exists in both languages."""
    bot = Bot.load(BOTS_DIR / "shop_assistant")
    assert set(bot.languages) == {"en", "zh"}
    bot.responses.validate(bot.registry.templates | CORE_TEMPLATES, ("en", "zh"))
    intents = yaml.safe_load(bot.intents_path.read_text(encoding="utf-8"))["intents"]
    unhandled = set(intents) - bot.registry.intents
    assert not unhandled, f"intents without an action: {unhandled}"
