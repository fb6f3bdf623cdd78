"""Staff data stays with staff: the shop assistant never answers staff intents; the helpdesk checks its allowlist."""

from __future__ import annotations

from pathlib import Path

from bots.runtime import build_runtimes
from bots.staff_helpdesk.actions import allowlist, short_location, stock_table
from core.commerce.inventory import InventoryItem, StockLevel
from core.messages import ConversationKey, IncomingMessage, Platform
from core.settings import Settings

STAFF_QUESTIONS = [
    "look up order #1001 for jane@example.com",
    "how many hoodies in the downtown store",
    "show the handoff queue",
    "what's the procedure for a return without a receipt at the till?",
    "stock of NW-TEE-001-NVY-XS at midtown",
]


STAFF_ONLY_INTENTS = {"order_lookup", "stock_lookup", "procedure_question", "handoff_queue"}


def _said(bot: str, user: str, chat: str, text: str) -> IncomingMessage:
    return IncomingMessage(conversation=ConversationKey(platform=Platform.SLACK, bot=bot, chat=chat), user_id=user,
                           text=text)


async def test_the_shop_assistant_says_nothing_the_staff_helpdesk_tells_staff(artifacts_dir: Path) -> None:
    # Both bots wired as `serve` wires them (one runtime, shared catalogue and services): each
    # staff question is answered by the helpdesk to an allowlisted member of staff, then asked of
    # the shop assistant; no line of staff data the helpdesk gave may appear in the shop's answer.
    settings = Settings(artifacts_dir=artifacts_dir, redis_url=None, staff_allowlist="U0LEAD")
    runtime = await build_runtimes(settings, bots=["shop_assistant", "staff_helpdesk"])
    try:
        staff, shop = runtime.managers["staff_helpdesk"], runtime.managers["shop_assistant"]
        order = await shop.services.backend.find_order("#1001")
        assert order is not None and order.customer.email != "jane@example.com"
        for i, text in enumerate(STAFF_QUESTIONS):
            asked = _said("staff_helpdesk", "U0LEAD", f"C-staff-{i}", text)
            told = "\n".join(r.text for r in await staff.handle(asked))
            decision = (await runtime.store.load(asked.conversation)).last_decision
            assert decision is not None and decision.intent in STAFF_ONLY_INTENTS, (text, decision)
            staff_lines = {line.strip() for line in told.splitlines() if len(line.strip()) >= 12}
            assert staff_lines, told

            shop_replies = await shop.handle(_said("shop_assistant", "u-x", f"D-shop-{i}", text))
            said = "\n".join(r.text for r in shop_replies) + " ".join(c.title for r in shop_replies for c in r.cards)
            assert shop_replies and not [line for line in staff_lines if line in said], (text, said)
            if decision.intent == "order_lookup":  # the order belongs to someone else than the e-mail given
                for secret in (order.customer.name, order.tracking_number, *(li.title for li in order.line_items)):
                    assert secret and secret not in said, (text, secret)
    finally:
        await runtime.aclose()


def test_allowlist_parses_team_channel_and_user_ids() -> None:
    settings = Settings(redis_url=None, staff_allowlist=" T0001, C0STAFF ,,U0LEAD ")
    assert allowlist(settings) == frozenset({"T0001", "C0STAFF", "U0LEAD"})
    assert allowlist(Settings(redis_url=None)) == frozenset()


def test_stock_table_has_a_row_per_variant_and_a_column_per_store() -> None:
    stores = ("Northwind Harbourfront", "Northwind Midtown")
    item = InventoryItem(handle="cap", title="Cap", sku="CAP-1", options=(("Color", "Red"),),
                         levels=(StockLevel(location=stores[0], available=3, on_hand=3),))
    table = stock_table([item], stores, stores).splitlines()
    assert table[0].split() == ["Variant", "/", "SKU", "Harbourfront", "Midtown"]
    assert table[1].split() == ["Red", "CAP-1", "3", "-"]
    assert short_location("Northwind Midtown", stores) == "Midtown"
