"""Chinese shoppers over an English catalogue: hit@3 of labelled Chinese queries.

The labelled sets ship in the repository (``data/zh_queries.yaml``, measured, and
``data/zh_queries_dev.yaml``, tuned on) over the demo catalogue, so this part needs nothing from
``../shared``. Each query goes through :func:`bots.commands.search.search_json` (what
``shopkeep search --json`` prints, and the chat's finder) and is scored as in the catalogue benchmark
(:func:`bots.evaluation.catalogs.score_query`), with two more constraint keys: ``colour`` (a variant of
that colour) and ``size`` (a variant of that size).

``main`` runs every encoder whose artifacts are built and prints them side by side.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from core.commerce.catalog import InMemoryCatalog, Product, load_catalog

DATA = Path(__file__).resolve().parent / "data"
SETS = {"measured": DATA / "zh_queries.yaml", "dev": DATA / "zh_queries_dev.yaml"}
DEMO_CATALOG = Path(__file__).resolve().parents[1] / "shop_assistant" / "data" / "products.csv"


def load_queries(path: Path) -> list[dict[str, Any]]:
    """The labelled queries of one set file."""
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["queries"])


def satisfies(product: Product, constraint: dict[str, Any]) -> bool:
    """The catalogue benchmark's constraint, plus ``colour`` and ``size`` (some variant has them)."""
    from bots.evaluation.catalogs import satisfies as base

    if not base(product, constraint):
        return False
    if (colour := constraint.get("colour")) and not any((v.color or "").lower() == str(colour).lower()
                                                       for v in product.variants):
        return False
    size = constraint.get("size")
    return not size or any((v.size or "").lower() == str(size).lower() for v in product.variants)


def score(query: dict[str, Any], result: dict[str, Any], catalog: InMemoryCatalog) -> dict[str, Any]:
    """One query's row: hit, what was shown (the top 3 handles)."""
    top = result["results"][:3]
    handles = [r["handle"] for r in top]
    if query.get("none_buyable"):
        hit = bool(result["none_buyable"])
    elif "relevant" in query:
        hit = not result["none_buyable"] and any(h in query["relevant"] for h in handles)
    else:
        products = [catalog.get(h) for h in handles]
        hit = bool(products) and not result["none_buyable"] and all(
            p is not None and satisfies(p, query["constraint"]) for p in products)
    return {"q": query["q"], "kind": query["kind"], "hit": hit, "top3": handles,
            "none_reported": bool(result["none_buyable"]), "understood": result["understood"]}


def run_set(finder: Any, catalog: InMemoryCatalog, queries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """hit@3 overall and per kind for one set through one finder."""
    from bots.commands.search import search_json

    rows = [score(q, search_json(finder, q["q"], k=3), catalog) for q in queries]
    kinds: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        kinds[r["kind"]].append(r["hit"])
    return {"hit_at_3": sum(r["hit"] for r in rows) / max(len(rows), 1), "hits": sum(r["hit"] for r in rows),
            "queries": len(rows), "per_kind": {k: {"hits": sum(v), "n": len(v)} for k, v in sorted(kinds.items())},
            "rows": rows}


def evaluate_encoder(encoder_name: str, *, catalog_path: Path = DEMO_CATALOG,
                     sets: dict[str, Path] | None = None) -> dict[str, Any]:
    """Every set through the finder built on ``encoder_name``'s artifacts (raises ModelNotBuilt without them)."""
    from bots.commands.search import build_finder
    from core.settings import Settings, encoder_artifacts_dir
    from models.encoder import OnnxEncoder

    settings = Settings()
    encoder = OnnxEncoder.from_artifacts(encoder_artifacts_dir(settings.artifacts_dir, encoder_name) / "encoder",
                                         max_seq_len=settings.max_seq_len)
    try:
        catalog = load_catalog(catalog_path)
        finder = build_finder(catalog, encoder)
        return {name: run_set(finder, catalog, load_queries(path)) for name, path in (sets or SETS).items()}
    finally:
        encoder.close()


def main(out: Path, encoders: Sequence[str] = ("english", "multilingual")) -> dict[str, Any]:
    """Run every built encoder, print them side by side, write ``out/zh_search.json``."""
    from rich.console import Console
    from rich.table import Table

    from core.errors import ModelNotBuilt

    console = Console()
    report: dict[str, Any] = {}
    for name in encoders:
        try:
            report[name] = evaluate_encoder(name)
        except ModelNotBuilt as e:
            console.print(f"[yellow]{name}: not built ({e}); skipped[/yellow]")
    table = Table("set", "kind", *report, title="Chinese queries → English demo catalogue (hit@3)")
    for set_name in SETS:
        kinds = sorted({k for r in report.values() for k in r[set_name]["per_kind"]})
        for kind in kinds:
            table.add_row(set_name, kind, *(
                f"{r[set_name]['per_kind'][kind]['hits']}/{r[set_name]['per_kind'][kind]['n']}" for r in report.values()))
        table.add_row(f"[bold]{set_name}[/bold]", "[bold]all[/bold]", *(
            f"[bold]{r[set_name]['hits']}/{r[set_name]['queries']} = {r[set_name]['hit_at_3']:.3f}[/bold]"
            for r in report.values()))
    console.print(table)
    for name, r in report.items():
        for set_name in SETS:
            for row in r[set_name]["rows"]:
                if not row["hit"]:
                    console.print(f"  [red]miss[/red] {name} {set_name} {row['kind']}: {row['q']!r} → {row['top3']}"
                                  f"{' (none_buyable)' if row['none_reported'] else ''} {row['understood']}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "zh_search.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"[dim]written {out / 'zh_search.json'}[/dim]")
    return report
