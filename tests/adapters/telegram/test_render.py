"""Telegram rendering: limits, splitting, cards, keyboards."""

from __future__ import annotations

from decimal import Decimal

from adapters.telegram.extract import normalize_command
from adapters.telegram.render import MAX_CAPTION, keyboard_rows, plan_reply, split_text, tg_len
from core.messages import Button, ProductCard, Reply


def test_split_prefers_line_boundaries_and_counts_utf16() -> None:
    text = ("😀" * 1500 + "\n") * 3  # 3001 code units per line
    chunks = split_text(text)
    assert all(tg_len(c) <= 4096 for c in chunks)
    assert all(set(c) == {"😀"} for c in chunks)
    assert "".join(chunks) == text.replace("\n", "").strip()


def test_unbreakable_text_is_cut_hard() -> None:
    chunks = split_text("a" * 9000)
    assert [len(c) for c in chunks] == [4096, 4096, 808]


def test_card_with_long_subtitle_falls_back_to_text() -> None:
    card = ProductCard(handle="h", title="T", price=Decimal(1), image_url="https://x/y.jpg", subtitle="s" * MAX_CAPTION)
    (part,) = plan_reply(Reply(cards=(card,)))
    assert part.photo is None and part.parse_mode == "HTML"
    short = card.model_copy(update={"subtitle": "nice <b>"})
    (photo,) = plan_reply(Reply(cards=(short,)))
    assert photo.photo == "https://x/y.jpg" and "nice &lt;b&gt;" in photo.text


def test_buttons_without_text_follow_the_cards() -> None:
    card = ProductCard(handle="h", title="T", price=Decimal(1))
    parts = plan_reply(Reply(cards=(card,), buttons=(Button(label="More", payload="more"),)))
    assert [p.buttons for p in parts][-1] == (Button(label="More", payload="more"),)


def test_keyboard_rows() -> None:
    buttons = tuple(Button(label=label, payload=label) for label in ("a", "b", "c", "a much longer label here"))
    assert [[b.label for b in row] for row in keyboard_rows(buttons)] == [["a", "b"], ["c"], ["a much longer label here"]]


def test_normalize_command() -> None:
    assert normalize_command("/Lang@ShopBot   fr ") == "/lang fr"
    assert normalize_command("hello /cart") == "hello /cart"
