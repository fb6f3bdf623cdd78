"""Whole conversations from ``tests/scenarios/*.yaml`` (format: README.md beside this file).

Each scenario runs on a fresh in-memory store through the real dialogue
manager, encoder and trained intent head; every turn's ``expect`` is checked.
A scenario's ``encoder`` key (default ``english``) picks the encoder and the
heads trained for it; each encoder is loaded once per test session.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.messages import Platform, Reply
from core.sessions import MemorySessionStore
from core.settings import ENCODERS
from core.state import ConversationState
from tests.bots.shop_support import ShopParts, message, shop_parts
from tests.conftest import require_encoder_build

HERE = Path(__file__).resolve().parent
_CJK = re.compile(r"[\u4e00-\u9fff]")
_RMA = re.compile(r"RMA-[A-Z0-9]{6}")
KNOWN_EXPECT = {
    "intent", "text_contains", "text_not_contains", "cards_min", "cards_max", "card_type", "cart_size",
    "cart_contains", "return_number", "handoff", "buttons_min", "lang", "form", "request_contact",
}


def load_scenarios() -> list[dict[str, Any]]:
    scenarios = []
    for path in sorted(HERE.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for scenario in data if isinstance(data, list) else [data]:
            scenario["_file"] = path.name
            scenarios.append(scenario)
    return scenarios


SCENARIOS = load_scenarios()


def test_scenario_files_are_well_formed() -> None:
    names = [s.get("name") for s in SCENARIOS]
    assert len(names) >= 10 and all(names), names
    assert len(set(names)) == len(names), "scenario names must be unique"
    for s in SCENARIOS:
        assert s.get("turns"), f"{s['_file']}: no turns"
        for turn in s["turns"]:
            assert "user" in turn or "button" in turn or "contact" in turn, f"{s['name']}: empty turn {turn}"
            unknown = set(turn.get("expect", {})) - KNOWN_EXPECT
            assert not unknown, f"{s['name']}: unknown expectations {unknown}"
        assert s.get("encoder", "english") in ENCODERS, f"{s['name']}: encoder {s['encoder']!r} not in {ENCODERS}"


def _texts(replies: list[Reply]) -> str:
    return "\n".join(r.text for r in replies)


def check(expect: dict[str, Any], replies: list[Reply], state: ConversationState) -> list[str]:
    """Every unmet expectation, as a readable line."""
    errors: list[str] = []
    text = _texts(replies)
    cards = [c for r in replies for c in r.cards]
    buttons = [b for r in replies for b in r.buttons]
    cart = state.data.get("cart", [])
    if "intent" in expect:
        user_turns = [t for t in state.history if t.role == "user"]
        intent = user_turns[-1].intent if user_turns else None
        if intent != expect["intent"]:
            errors.append(f"intent {intent!r}, expected {expect['intent']!r}")
    for needle in expect.get("text_contains", []):
        if str(needle).lower() not in text.lower():
            errors.append(f"reply lacks {needle!r}")
    for needle in expect.get("text_not_contains", []):
        if str(needle).lower() in text.lower():
            errors.append(f"reply contains {needle!r}")
    if len(cards) < expect.get("cards_min", 0):
        errors.append(f"{len(cards)} cards, expected at least {expect['cards_min']}")
    if "cards_max" in expect and len(cards) > expect["cards_max"]:
        errors.append(f"{len(cards)} cards, expected at most {expect['cards_max']}")
    if "card_type" in expect:
        wrong = [c.title for c in cards if c.subtitle != expect["card_type"]]
        if not cards or wrong:
            errors.append(f"cards not all {expect['card_type']!r}: {wrong or 'no cards'}")
    if "cart_size" in expect and sum(line["qty"] for line in cart) != expect["cart_size"]:
        errors.append(f"cart holds {sum(line['qty'] for line in cart)}, expected {expect['cart_size']}")
    if "cart_contains" in expect and expect["cart_contains"] not in [line["handle"] for line in cart]:
        errors.append(f"cart lacks {expect['cart_contains']!r}")
    if expect.get("return_number"):
        booked = state.data.get("returns", [])
        if not booked or not _RMA.fullmatch(booked[-1]["rma"]) or booked[-1]["rma"] not in text:
            errors.append("no return number issued")
    if "handoff" in expect and any(r.handoff for r in replies) != bool(expect["handoff"]):
        errors.append(f"handoff flag is not {expect['handoff']}")
    if len(buttons) < expect.get("buttons_min", 0):
        errors.append(f"{len(buttons)} buttons, expected at least {expect['buttons_min']}")
    if "lang" in expect:
        if state.lang != expect["lang"]:
            errors.append(f"language {state.lang!r}, expected {expect['lang']!r}")
        if expect["lang"] == "zh" and not _CJK.search(text):
            errors.append("reply is not in Chinese")
    if "form" in expect and state.form != expect["form"]:
        errors.append(f"form {state.form!r}, expected {expect['form']!r}")
    if "request_contact" in expect and any(r.request_contact for r in replies) != bool(expect["request_contact"]):
        errors.append(f"request_contact is not {expect['request_contact']}")
    return errors


class PartsByEncoder:
    """Each encoder's shop stack, loaded the first time a scenario asks for it (then kept)."""

    def __init__(self, artifacts_dir: Path) -> None:
        self._artifacts_dir = artifacts_dir
        self._loaded: dict[str, ShopParts] = {}

    def __call__(self, encoder: str) -> ShopParts:
        if encoder not in self._loaded:
            require_encoder_build(self._artifacts_dir, encoder)
            self._loaded[encoder] = shop_parts(self._artifacts_dir, encoder)
        return self._loaded[encoder]


@pytest.fixture(scope="session")
def parts_by_encoder(artifacts_dir: Path) -> PartsByEncoder:
    return PartsByEncoder(artifacts_dir)


def test_encoders_load_once_per_session(parts_by_encoder: PartsByEncoder) -> None:
    used = {s.get("encoder", "english") for s in SCENARIOS}
    assert "multilingual" in used, "no scenario runs on the multilingual encoder"
    for encoder in sorted(used):
        first = parts_by_encoder(encoder)
        assert parts_by_encoder(encoder) is first and first.settings.encoder == encoder
        assert first.encoder is shop_parts(first.settings.artifacts_dir, encoder).encoder
    if len(used) > 1:
        assert parts_by_encoder("english").encoder is not parts_by_encoder("multilingual").encoder


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.get("name", "?") for s in SCENARIOS])
async def test_scenario(scenario: dict[str, Any], parts_by_encoder: PartsByEncoder) -> None:
    assert scenario.get("bot", "shop_assistant") == "shop_assistant", "only shop_assistant is wired here"
    store = MemorySessionStore()
    manager = parts_by_encoder(scenario.get("encoder", "english")).manager(store)
    platform = Platform(scenario.get("platform", "telegram"))
    chat = f"scenario-{scenario['name']}"
    transcript: list[str] = []
    for i, turn in enumerate(scenario["turns"], 1):
        msg = message(
            str(turn.get("user", "")),
            payload=turn.get("button"),
            chat=chat,
            locale=scenario.get("lang"),
            phone=scenario.get("contact") if turn.get("contact") else None,
            platform=platform,
        )
        replies = await manager.handle(msg)
        state = await store.load(msg.conversation) or ConversationState()
        transcript.append(f"  {i}. user: {turn.get('user') or turn.get('button') or '[contact]'}")
        transcript.extend(f"     bot: {r.text[:160]!r} cards={len(r.cards)} buttons={len(r.buttons)}"
                          for r in replies)
        errors = check(turn.get("expect", {}), replies, state)
        if errors:
            pytest.fail(f"{scenario['_file']} turn {i}: " + "; ".join(errors) + "\n" + "\n".join(transcript),
                        pytrace=False)
