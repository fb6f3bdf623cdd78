"""Block Kit rendering stays within Slack's limits and keeps every fact of the card."""

from __future__ import annotations

from decimal import Decimal

from adapters.slack.render import MAX_BLOCKS, MAX_SECTION_TEXT, render_reply
from core.messages import Button, Mention, ProductCard, Reply, StockState


def card(i: int, **extra: object) -> ProductCard:
    return ProductCard(handle=f"p{i}", title=f"Product <{i}> & co", price=Decimal("10.5"),
                       buttons=(Button(label="Add", payload=f"add:{i}"),), **extra)  # type: ignore[arg-type]


def test_card_has_image_price_struck_compare_at_and_fields() -> None:
    reply = Reply(cards=(card(1, compare_at_price=Decimal(20), image_url="https://img/x.jpg",
                              variant_title="Red / S", stock=StockState.LOW_STOCK),))
    rendered = render_reply(reply)
    section = rendered["blocks"][0]
    assert section["accessory"] == {"type": "image", "image_url": "https://img/x.jpg", "alt_text": "Product <1> & co"}
    assert "~$20.00~ *$10.50*" in section["text"]["text"]
    assert "&lt;1&gt; &amp; co" in section["text"]["text"]
    assert [f["text"] for f in section["fields"]] == ["*Stock:* Low stock", "*Variant:* Red / S"]
    assert rendered["blocks"][1]["elements"][0]["value"] == "add:1"
    assert rendered["text"].startswith("Product <1> & co")


def test_long_text_and_many_buttons_fit_the_limits() -> None:
    reply = Reply(text="paragraph one\n\n" + "x " * 4000, buttons=tuple(Button(label=f"b{i}" * 50, payload=str(i))
                                                                        for i in range(30)))
    blocks = render_reply(reply)["blocks"]
    sections = [b for b in blocks if b["type"] == "section"]
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(sections) >= 3 and all(len(s["text"]["text"]) <= MAX_SECTION_TEXT for s in sections)
    assert [len(a["elements"]) for a in actions] == [25, 5]
    assert all(len(e["text"]["text"]) <= 75 for a in actions for e in a["elements"])
    ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(ids)) == len(ids)


def test_too_many_cards_are_truncated_to_fifty_blocks_keeping_reply_buttons() -> None:
    reply = Reply(text="results", cards=tuple(card(i) for i in range(40)),
                  buttons=(Button(label="Checkout", payload="checkout"),))
    blocks = render_reply(reply)["blocks"]
    assert len(blocks) == MAX_BLOCKS
    assert blocks[-1]["type"] == "context"
    assert blocks[-2]["elements"][0]["value"] == "checkout"


def test_fallback_text_is_always_set() -> None:
    assert render_reply(Reply(buttons=(Button(label="Yes", payload="y"),)))["text"] == "Yes"
    assert render_reply(Reply(text="hi"))["text"] == "hi"


def test_mentions_become_slack_markup_and_nothing_else_does() -> None:
    text = "Closed by lee. The shopper wrote <@U0BOSS> & <!channel>."
    reply = Reply(text=text, mentions=(Mention(start=10, end=13, markup="<@U0LEE>"),))
    rendered = render_reply(reply)
    section = rendered["blocks"][0]["text"]["text"]
    assert section == "Closed by <@U0LEE>. The shopper wrote &lt;@U0BOSS&gt; &amp; &lt;!channel&gt;."
    assert rendered["text"].startswith("Closed by <@U0LEE>.")
