"""Loaders for stores, policies, procedures and orders, on the demo files and broken ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from catalog_support import SHOP_DATA, STAFF_DATA, demo_catalog

from core.commerce.shopdata import (
    OrderStatus,
    load_orders,
    load_policies,
    load_procedures,
    load_stores,
    normalize_order_number,
    procedure_passages,
)
from core.errors import CatalogError


@pytest.fixture(scope="module")
def stores():
    return {s.id: s for s in load_stores(SHOP_DATA / "stores.yaml")}


def test_stores(stores) -> None:
    assert len(stores) >= 3
    midtown = stores["midtown"]
    assert midtown.phone.startswith("+") and "click_and_collect" in midtown.services
    # Saturday 2026-11-28, 12:00 in Seattle (20:00 UTC).
    assert midtown.is_open(datetime(2026, 11, 28, 20, 0, tzinfo=UTC))
    assert not midtown.is_open(datetime(2026, 11, 28, 5, 0, tzinfo=UTC))  # 21:00 Friday local
    assert not midtown.is_open(datetime(2026, 11, 29, 12, 0))  # naive = local; closed on Sundays
    assert not stores["harbourfront"].is_open(datetime(2026, 12, 25, 12, 0))  # holiday
    assert stores["riverside"].opening(date(2026, 11, 30)) is None  # Monday


def test_special_days_replace_the_weekly_hours(stores) -> None:
    harbourfront = stores["harbourfront"]
    eve = date(2026, 12, 24)  # a Thursday: 10:00-21:00 on the weekly table
    assert harbourfront.opening(eve) == (time(10), time(16))
    assert harbourfront.holidays[eve].name_in("zh") == "平安夜"
    assert harbourfront.holidays[eve].name_in("fr") == "Christmas Eve"
    assert harbourfront.opening(date(2026, 12, 25)) is None
    # 23:30 UTC on the 24th is 15:30 in Seattle: open until the special 16:00 closing.
    assert harbourfront.is_open(datetime(2026, 12, 24, 23, 30, tzinfo=UTC))
    assert not harbourfront.is_open(datetime(2026, 12, 25, 0, 30, tzinfo=UTC))
    ahead = harbourfront.special_days(date(2026, 12, 24), 8)
    assert [day for day, _ in ahead] == [date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 31)]
    assert harbourfront.local(datetime(2026, 12, 1, 5, 0)).date() == date(2026, 11, 30)  # naive = UTC


def test_special_days_accept_a_bare_spec_or_a_named_entry(tmp_path: Path) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text(
        "stores:\n  - id: x\n    name: X\n    address: a\n    city: c\n    timezone: Europe/London\n"
        "    holidays:\n      '2026-12-25': closed\n      '2026-12-24': {hours: '10:00-14:00', name: Xmas Eve}\n",
        encoding="utf-8")
    (store,) = load_stores(path)
    assert store.holidays[date(2026, 12, 25)].hours == "closed" and store.holidays[date(2026, 12, 25)].name == {}
    assert store.holidays[date(2026, 12, 24)].name_in("en") == "Xmas Eve"
    assert store.opening(date(2026, 12, 24)) == (time(10), time(14))


def test_hours_text(stores) -> None:
    en = stores["midtown"].hours_text("en").splitlines()
    assert len(en) == 7 and en[0].startswith("Mon 09:00") and en[-1] == "Sun closed"
    zh = stores["midtown"].hours_text("zh")
    assert "周日 休息" in zh and "周一 09:00" in zh
    assert stores["midtown"].hours_text("fr") == "\n".join(en)  # unknown language → English


def test_policies() -> None:
    book = load_policies(SHOP_DATA / "policies.yaml")
    assert len(book.policies) >= 30
    assert book.returns.window_days == 30 and "final-sale" in book.returns.final_sale_tags
    for p in book.policies:
        assert p.questions and p.answer["en"] and p.answer.get("zh"), p.id
    assert book.get("returns_window").answer_in("zh") != book.get("returns_window").answer_in("en")
    assert book.get("returns_window").answer_in("de") == book.get("returns_window").answer["en"]
    passages = book.passages()
    assert len(passages) == len(book.policies) and passages[0].keys == book.policies[0].questions


def test_final_sale_tags_exist_in_catalogue() -> None:
    tags = set(load_policies(SHOP_DATA / "policies.yaml").returns.final_sale_tags)
    assert any(tags & {t for t in p.tags} for p in demo_catalog().products())


def test_procedures() -> None:
    procs = load_procedures(STAFF_DATA / "procedures.yaml")
    assert len(procs) >= 40
    assert all(len(p.steps) >= 3 for p in procs)
    assert not procs[0].steps[0][0].isdigit()  # numbering stripped
    assert len(procedure_passages(procs)) == len(procs)


def test_orders() -> None:
    book = load_orders(SHOP_DATA / "orders.yaml")
    assert len(book.orders) >= 20
    assert {s for s in OrderStatus} <= {o.status for o in book.orders}
    assert book.demo_today == date(2026, 11, 28)
    assert book.find("#1001") is book.find("SK-1001") is book.find("1001") is book.find("order 1001")
    assert book.find("#9999") is None and book.find("hello") is None
    today = book.today()
    delivered = [o for o in book.orders if o.status == OrderStatus.DELIVERED]
    inside = [o for o in delivered if o.within_return_window(today, 30)]
    assert inside and len(inside) < len(delivered)  # some inside, some outside the window
    assert book.today(date(2027, 1, 1)) == date(2027, 1, 1)
    for o in book.orders:
        assert o.customer.phone.startswith("+") and o.customer.phone[1:].isdigit()
        for item in o.line_items:
            found = demo_catalog().find_variant(item.sku)
            assert found is not None and found[0].handle == item.handle, item.sku


def test_order_contact_matching() -> None:
    book = load_orders(SHOP_DATA / "orders.yaml")
    order = book.find("#1001")
    assert order.matches_contact(order.customer.email.upper())
    assert order.matches_contact(order.customer.phone[-10:])
    assert not order.matches_contact("someone@else.com") and not order.matches_contact("123")
    assert book.for_contact(order.customer.email)[0].number == "#1001"


def test_normalize_order_number() -> None:
    assert normalize_order_number(" #1001 ") == "#1001"
    assert normalize_order_number("sk-1001") == "#1001"
    assert normalize_order_number("12") is None
    # A shop's own order-name prefix is part of the name Shopify looks the order up by.
    assert normalize_order_number("#r-2231") == normalize_order_number("order #R-2231 ") == "#R-2231"
    assert normalize_order_number("R-2231") is None


@pytest.mark.parametrize(("text", "loader", "match"), [
    ("stores: [\n  - id: x\n  bad", load_stores, "invalid YAML"),
    ("stores:\n  - id: x\n    name: X\n    address: a\n    city: c\n    hours: {monday: '9-5'}\n", load_stores,
     "weekday"),
    ("stores:\n  - id: x\n    name: X\n    address: a\n    city: c\n    timezone: Mars/Base\n", load_stores,
     "time zone"),
    ("stores:\n  - id: x\n    name: X\n    address: a\n    city: c\n    holidays: {'2026-12-24': 'noon-ish'}\n",
     load_stores, "special day must be 'HH:MM-HH:MM'"),
    ("policies:\n  - {id: a, title: A, answer: {zh: 好}}\n", load_policies, "English"),
    ("policies:\n  - {id: a, title: A, answer: {en: x}}\n  - {id: a, title: B, answer: {en: y}}\n",
     load_policies, "duplicate"),
    ("- just a list\n", load_orders, "mapping"),
])
def test_bad_files(tmp_path: Path, text: str, loader, match: str) -> None:
    path = tmp_path / "data.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=match):
        loader(path)


def test_yaml_error_has_line(tmp_path: Path) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text("stores:\n  - id: x\n    name: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_stores(path)
    assert info.value.line is not None and info.value.line >= 3
