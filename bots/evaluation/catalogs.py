"""The catalogue benchmark: labelled shopper queries and scripted conversations over real exports.

``main(folder, out)`` reads ``queries.json`` and ``conversations.yaml`` (their
meaning is in that folder's README) and the exports beside them:

* every query goes through :func:`bots.commands.search.search_json`, exactly
  what ``shopkeep search --json`` prints, and is scored as hit@3 per kind
  (a ``relevant`` hit, every top-3 result meeting a ``constraint``, or
  ``none_buyable`` reported when the honest answer is that nothing fits),
  with the count of inactive products shown;
* every conversation goes through the chat path (the shop assistant's
  dialogue manager, as ``shopkeep chat --json``), turn by turn, each turn's
  expectations checked on its replies.

A table is printed and the figures are written to ``<out>/catalogs.json``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from core.commerce.catalog import InMemoryCatalog, Product, load_catalog

#: The bot's answers that decline a request outside what it does (its fallback templates, any language).
DECLINE_RE = re.compile(r"(?i)outside what I can help|not sure I can help|can't help with|cannot help with"
                        r"|only help with|超出了我能帮忙|帮不上忙")
VERIFY_RE = re.compile(r"(?i)e-?mail|phone|邮箱|电话")
CART_QUESTION = "what's in my cart?"


def main(folder: Path, out: Path) -> dict[str, Any]:
    """Run both parts, print the tables, write ``out/catalogs.json``; returns the figures."""
    from rich.console import Console

    console = Console()
    queries = json.loads((folder / "queries.json").read_text(encoding="utf-8"))["queries"]
    conversations = yaml.safe_load((folder / "conversations.yaml").read_text(encoding="utf-8"))
    sets = {"search": queries}
    if zh_queries := load_zh_queries(folder):
        sets["search_zh"] = zh_queries  # reported apart: Chinese shoppers over the English exports
    report: dict[str, Any] = run_query_sets(folder, sets)
    report["conversations"] = asyncio.run(run_conversations(folder, conversations))
    print_report(console, report)
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalogs.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]written {out / 'catalogs.json'}[/dim]")
    return report


# ---------------------------------------------------------------------------- search


def load_zh_queries(folder: Path) -> list[dict[str, Any]]:
    """Chinese shopper queries over the exports, when ``folder/zh_queries/`` holds them (one
    ``<catalogue>.json`` each, labelled like ``queries.json``; they stay outside the repository)."""
    rows: list[dict[str, Any]] = []
    zh = folder / "zh_queries"
    if not zh.is_dir():
        return rows
    for path in sorted(zh.glob("*.json")):
        for q in json.loads(path.read_text(encoding="utf-8"))["queries"]:
            rows.append({"catalog": f"{path.stem}.csv", **q})
    return rows


def _encoder() -> Any:
    from core.settings import Settings
    from models.encoder import OnnxEncoder

    settings = Settings()
    return OnnxEncoder.from_artifacts(settings.encoder_artifacts_dir / "encoder", max_seq_len=settings.max_seq_len)


def satisfies(product: Product, constraint: dict[str, Any]) -> bool:
    """The README's constraint semantics (title_re, type_re, price bounds, buyable)."""
    if not product.offered:
        return False
    if constraint.get("buyable") and not product.in_stock:
        return False
    if "title_re" in constraint and not re.search(constraint["title_re"], product.title, re.IGNORECASE):
        return False
    if "type_re" in constraint and not re.search(constraint["type_re"], product.product_type or product.title, re.IGNORECASE):
        return False
    prices = [v.price for v in product.variants]
    if "max_price" in constraint and (not prices or float(min(prices)) > constraint["max_price"]):
        return False
    return not ("min_price" in constraint and (not prices or float(max(prices)) < constraint["min_price"]))


def score_query(query: dict[str, Any], result: dict[str, Any], catalog: InMemoryCatalog) -> dict[str, Any]:
    top = result["results"][:3]
    handles = [r["handle"] for r in top]
    inactive = [h for h in handles if (p := catalog.get(h)) is None or not p.offered]
    if query.get("none_buyable"):
        hit = bool(result["none_buyable"])
    elif "relevant" in query:
        hit = not result["none_buyable"] and any(h in query["relevant"] for h in handles)
    else:
        products = [catalog.get(h) for h in handles]
        hit = bool(products) and not result["none_buyable"] and all(
            p is not None and satisfies(p, query["constraint"]) for p in products)
    return {"catalog": query["catalog"], "kind": query["kind"], "q": query["q"], "hit": hit,
            "none_expected": bool(query.get("none_buyable")), "none_reported": bool(result["none_buyable"]),
            "top3": handles, "inactive_shown": inactive}


def run_queries(folder: Path, queries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Score one set of labelled queries (see :func:`run_query_sets`)."""
    return run_query_sets(folder, {"search": queries})["search"]


def run_query_sets(folder: Path, sets: dict[str, Sequence[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Score each named set of labelled queries; each catalogue is loaded and indexed once for all sets."""
    from bots.commands.search import build_finder, search_json

    encoder = _encoder()
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in sets}
    latencies: dict[str, list[float]] = {name: [] for name in sets}
    try:
        by_catalog: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for name, queries in sets.items():
            for q in queries:
                by_catalog[q["catalog"]].append((name, q))
        for catalog_name, items in by_catalog.items():
            catalog = load_catalog(folder / catalog_name)
            finder = build_finder(catalog, encoder)
            for name, q in items:
                start = time.perf_counter()
                result = search_json(finder, q["q"], k=3)
                latencies[name].append(time.perf_counter() - start)
                rows[name].append(score_query(q, result, catalog))
    finally:
        encoder.close()
    return {name: _summary(rows[name], latencies[name]) for name in sets}


def _summary(rows: list[dict[str, Any]], latencies: list[float]) -> dict[str, Any]:
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r["hit"])
    none_rows = [r for r in rows if r["kind"] == "none"]
    return {
        "hit_at_3": sum(r["hit"] for r in rows) / max(len(rows), 1),
        "hits": sum(r["hit"] for r in rows),
        "queries": len(rows),
        "per_kind": {k: {"hits": sum(v), "n": len(v), "hit_at_3": sum(v) / len(v)} for k, v in sorted(kinds.items())},
        "none_answers": {"right": sum(r["hit"] for r in none_rows), "n": len(none_rows)},
        "none_buyable_all": {"right": sum(r["hit"] for r in rows if r["none_expected"]),
                             "n": sum(r["none_expected"] for r in rows)},
        "false_none": sum(r["none_reported"] and not r["none_expected"] for r in rows),
        "inactive_shown": sum(len(r["inactive_shown"]) for r in rows),
        "latency_ms_p50": _percentile(latencies, 50) * 1000,
        "latency_ms_p95": _percentile(latencies, 95) * 1000,
        "rows": rows,
    }


def _percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


# ---------------------------------------------------------------------------- conversations


async def run_conversations(folder: Path, conversations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from bots.runtime import Runtime
    from core.settings import Settings

    settings = Settings().model_copy(update={"redis_url": None})
    by_catalog: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in conversations:
        by_catalog[c["catalog"]].append(c)
    rows: list[dict[str, Any]] = []
    for name, convs in by_catalog.items():
        catalog = load_catalog(folder / name)
        async with Runtime.open(settings, bot="shop_assistant", catalog=folder / name) as runtime:
            for n, conv in enumerate(convs):
                rows.append(await _converse(runtime.manager.handle, conv, catalog, user=f"eval-{name}-{n}"))
    passed = sum(r["passed"] for r in rows)
    return {"passed": passed, "n": len(rows), "turns_passed": sum(t["passed"] for r in rows for t in r["turns"]),
            "turns": sum(len(r["turns"]) for r in rows), "rows": rows}


async def _converse(handle: Any, conv: dict[str, Any], catalog: InMemoryCatalog, *, user: str) -> dict[str, Any]:
    from core.messages import ConversationKey, IncomingMessage, Platform

    key = ConversationKey(platform=Platform.CONSOLE, bot="shop_assistant", chat=user)
    counter = iter(range(1, 10_000))

    async def say(text: str) -> list[Any]:
        message = IncomingMessage(conversation=key, user_id=user, text=text,
                                  delivery_id=f"{user}-{next(counter)}")
        return await handle(message)

    turns = []
    for turn in conv["turns"]:
        replies = await say(turn["say"])
        expect = turn.get("expect") or {}
        cart_text = None
        if any(k.startswith("cart_") for k in expect):
            cart_text = _shown_text(await say(CART_QUESTION))
        failures = check_turn(expect, replies, catalog, cart_text)
        turns.append({"say": turn["say"], "passed": not failures, "failures": failures,
                      "text": _shown_text(replies)[:400], "cards": [c.handle for r in replies for c in r.cards]})
    return {"name": conv["name"], "catalog": conv["catalog"], "passed": all(t["passed"] for t in turns),
            "turns": turns}


def _shown_text(replies: Sequence[Any]) -> str:
    parts: list[str] = []
    for r in replies:
        parts.append(r.text or "")
        parts.extend(b.label for b in r.buttons)
        parts.extend(c.title for c in r.cards)
    return "\n".join(p for p in parts if p)


def check_turn(expect: dict[str, Any], replies: Sequence[Any], catalog: InMemoryCatalog,
               cart_text: str | None) -> list[str]:
    """The expectation keys of conversations.yaml (README: 'What each expectation means')."""
    cards = [c for r in replies for c in r.cards]
    text = _shown_text(replies)
    fails: list[str] = []

    def need(ok: bool, what: str) -> None:
        if not ok:
            fails.append(what)

    if expect.get("nonempty"):
        need(bool(text.strip()), "nonempty")
    if expect.get("no_cards"):
        need(not cards, "no_cards")
    if expect.get("decline"):
        need(not cards and bool(DECLINE_RE.search(text)), "decline")
    if rx := expect.get("cards_type_re"):
        need(bool(cards) and all(
            re.search(rx, ((p := catalog.get(c.handle)) and p.product_type) or c.title, re.IGNORECASE) for c in cards),
            f"cards_type_re {rx}")
    if rx := expect.get("cards_title_re"):
        need(bool(cards) and all(re.search(rx, c.title, re.IGNORECASE) for c in cards), f"cards_title_re {rx}")
    if (cap := expect.get("cards_max_price")) is not None:
        need(bool(cards) and all(float(c.price) <= cap for c in cards), f"cards_max_price {cap}")
    if include := expect.get("cards_include"):
        need(any(c.handle in include for c in cards), "cards_include")
    if expect.get("no_inactive_cards"):
        need(all((p := catalog.get(c.handle)) is not None and p.offered for c in cards), "no_inactive_cards")
    if rx := expect.get("text_re"):
        need(bool(re.search(rx, text)), f"text_re {rx}")
    if expect.get("link"):
        need(bool(re.search(r"https?://", text + " ".join(c.url or "" for c in cards))), "link")
    if expect.get("asks_verification"):
        need(not cards and bool(VERIFY_RE.search(text)), "asks_verification")
    if has := expect.get("cart_has"):
        product = catalog.get(has["handle"])
        title_ok = product is not None and product.title in (cart_text or "")
        option = has.get("option")
        option_ok = option is None or bool(re.search(rf"\b{re.escape(str(option))}\b", cart_text or ""))
        need(title_ok and option_ok, f"cart_has {has}")
    if expect.get("cart_empty"):
        need(bool(re.search(r"(?i)empty|空", cart_text or "")), "cart_empty")
    if lacks := expect.get("cart_lacks"):
        product = catalog.get(lacks)
        need(product is None or product.title not in (cart_text or ""), f"cart_lacks {lacks}")
    return fails


# ---------------------------------------------------------------------------- report


def print_report(console: Any, report: dict[str, Any]) -> None:
    _print_search(console, report["search"], "catalogue search (queries.json, top 3)")
    if "search_zh" in report:
        _print_search(console, report["search_zh"], "Chinese queries (zh_queries/, top 3)")
    _print_conversations(console, report["conversations"])


def _print_search(console: Any, s: dict[str, Any], title: str) -> None:
    from rich.table import Table

    table = Table("kind", "hits", "n", "hit@3", title=title)
    for kind, v in s["per_kind"].items():
        table.add_row(kind, str(v["hits"]), str(v["n"]), f"{v['hit_at_3']:.3f}")
    table.add_row("[bold]all[/bold]", str(s["hits"]), str(s["queries"]), f"[bold]{s['hit_at_3']:.3f}[/bold]")
    console.print(table)
    console.print(f"none answers (kind none): {s['none_answers']['right']}/{s['none_answers']['n']}; "
                  f"none_buyable overall: {s['none_buyable_all']['right']}/{s['none_buyable_all']['n']}; "
                  f"false 'none': {s['false_none']}; inactive products shown: {s['inactive_shown']}; "
                  f"latency p50 {s['latency_ms_p50']:.1f} ms, p95 {s['latency_ms_p95']:.1f} ms (query embedding "
                  "included)")
    misses = [r for r in s["rows"] if not r["hit"]]
    for r in misses:
        console.print(f"  [red]miss[/red] {r['catalog']} {r['kind']}: {r['q']!r} → {r['top3']}"
                      f"{' (none_buyable)' if r['none_reported'] else ''}")


def _print_conversations(console: Any, c: dict[str, Any]) -> None:
    console.print(f"conversations: {c['passed']}/{c['n']} passed ({c['turns_passed']}/{c['turns']} turns)")
    for row in c["rows"]:
        if row["passed"]:
            continue
        for t in row["turns"]:
            if not t["passed"]:
                console.print(f"  [red]fail[/red] {row['name']}: {t['say']!r} {t['failures']} → cards {t['cards'][:3]}"
                              f" text {t['text'][:160]!r}")
