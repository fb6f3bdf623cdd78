"""Masking of personal data, and the logging set-up that applies it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.logs import PiiMaskingFilter, configure_logging
from core.privacy import mask_pii

# --- e-mail -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jane.doe@example.com", "j***@e***.com"),
        ("write to JOHN+shop@mail.shop.co.uk today", "write to J***@m***.uk today"),
        ("<mailto:a_b-c@sub-domain.io>", "<mailto:a***@s***.io>"),
        ("почта: иван@пример.рф", "почта: и***@п***.рф"),
        ("two: a@b.com, c@d.org.", "two: a***@b***.com, c***@d***.org."),
    ],
)
def test_emails_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


# --- phone numbers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+44 20 7946 0958", "[phone ••58]"),
        ("call me on +44 20 7946 0958 after 5", "call me on [phone ••58] after 5"),
        ("(555) 123-4567", "[phone ••67]"),
        ("555-123-4567", "[phone ••67]"),
        ("555.123.4567", "[phone ••67]"),
        ("555-1234", "[phone ••34]"),
        ("13812345678", "[phone ••78]"),
        ("我的电话是13812345678谢谢", "我的电话是[phone ••78]谢谢"),
        ("+7 (495) 123-45-67", "[phone ••67]"),
        ("tel:+14155552671", "tel:[phone ••71]"),
        ("0044 20 7946 0958", "[phone ••58]"),
        ("020 7946 0958", "[phone ••58]"),
        ("07700 900123", "[phone ••23]"),
        ("06 12 34 56 78", "[phone ••78]"),
        ("1 800 555 1234", "[phone ••34]"),
        ("4155552671", "[phone ••71]"),
        ("qty 2 to 555-123-4567", "qty 2 to [phone ••67]"),
        ("home 555-123-4567, work 555-987-6543", "home [phone ••67], work [phone ••43]"),
    ],
)
def test_phone_numbers_keep_at_most_two_digits(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


# --- payment cards ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "[card •••• 1111]"),
        ("4111-1111-1111-1111", "[card •••• 1111]"),
        ("card 5500000000000004 exp 12/27 cvv 123", "card [card •••• 0004] exp 12/27 cvv 123"),
        ("amex 3782 822463 10005", "amex [card •••• 0005]"),
        ("4111111111111111 12/25", "[card •••• 1111] 12/25"),
        ("卡号4111111111111111", "卡号[card •••• 1111]"),
    ],
)
def test_luhn_valid_cards_are_masked(text: str, expected: str) -> None:
    assert mask_pii(text) == expected


def test_card_like_numbers_failing_luhn_are_not_cards() -> None:
    assert "[card" not in mask_pii("4111 1111 1111 1112")
    assert "[card" not in mask_pii("ref 1234567890123")


# --- what must stay untouched -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Where is my order #1001?",
        "order SK-10045 shipped",
        "orders #1001, #1002 and #1003",
        "It costs $59.99, was $1,299.00 (save 10%)",
        "59,99 € or 1.299,00 €",
        "price 12 500 000",
        "delivered on 2024-05-01 at 10:30",
        "due 15/01/2024 or 01.15.2024 or 15.01.24",
        "qty 3, 2 x 500 ml",
        "sizes 38 40 42 44 46",
        "ids 1001 1002 1003",
        "server 192.168.100.200 v1.2.3",
        "ts 1712345678.123456",
        "chat -1001234567890",
        "user 1234567890",
        "update 123456789",
        "tracking 1Z999AA10123456784",
        "EAN 4006381333931 is a barcode",
        "Slack <@U024BE7LH> in <#C024BE91L>",
        "",
    ],
)
def test_shop_talk_is_not_masked(text: str) -> None:
    assert mask_pii(text) == text


@given(st.text(max_size=80))
def test_masking_is_idempotent_and_total(text: str) -> None:
    once = mask_pii(text)
    assert mask_pii(once) == once


def test_mixed_message() -> None:
    text = (
        "I'm jane@example.com, +44 20 7946 0958, card 4111 1111 1111 1111, order #1001 for $59.99"
    )
    assert mask_pii(text) == (
        "I'm j***@e***.com, [phone ••58], card [card •••• 1111], order #1001 for $59.99"
    )


# --- logging ----------------------------------------------------------------


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Restore the root logger's handlers and level after a test changed them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


def test_log_lines_are_masked(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("DEBUG", stream=out)
    log = logging.getLogger("shopkeep.test")

    log.info("user jane.doe@example.com paid with 4111 1111 1111 1111")
    log.warning(
        "callback from %s, card %s, order %s", "+44 20 7946 0958", "5500-0000-0000-0004", "#1001"
    )

    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("I shopkeep.test: user j***@e***.com paid with [card •••• 1111]")
    assert lines[1].endswith(
        "W shopkeep.test: callback from [phone ••58], card [card •••• 0004], order #1001"
    )
    assert "jane.doe" not in out.getvalue() and "4111" not in out.getvalue()


def test_tracebacks_are_masked_and_json_lines_parse(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("INFO", json=True, stream=out)
    try:
        raise ValueError("no account for jane.doe@example.com")
    except ValueError:
        logging.getLogger("shopkeep.test").exception("lookup failed for %s", "jane.doe@example.com")
    logging.getLogger("shopkeep.test").debug("below the level: jane.doe@example.com")

    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "ERROR" and record["logger"] == "shopkeep.test"
    assert record["msg"] == "lookup failed for j***@e***.com"
    assert "ValueError: no account for j***@e***.com" in record["exc"]
    assert "jane.doe" not in out.getvalue()


def test_configure_logging_replaces_its_own_handler_only(root_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(stream=first)
    handler = configure_logging(stream=second)
    logging.getLogger("shopkeep.test").info("once")
    assert first.getvalue() == "" and second.getvalue().count("once") == 1
    assert sum(1 for h in logging.getLogger().handlers if h.get_name() == "shopkeep") == 1
    assert any(isinstance(f, PiiMaskingFilter) for f in handler.filters)
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("LOUD")


def test_filter_masks_args_of_a_bare_record() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mail %s", ("a.b@c.com",), None)
    assert PiiMaskingFilter().filter(record) is True
    assert record.getMessage() == "mail a***@c***.com"
