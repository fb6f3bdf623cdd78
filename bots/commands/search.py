"""`shopkeep search`: query the catalogue the way the chat does.

The query goes through the same :class:`~core.commerce.entities.EntityExtractor` and
:class:`~core.commerce.search.SearchFilters` as the shopping assistant, so what this
prints is what a customer would be shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from core.settings import REPO_ROOT

if TYPE_CHECKING:
    from collections.abc import Callable

    from core.commerce.catalog import Catalog
    from core.commerce.finder import ProductFinder
    from core.protocols import TextEncoder

DEFAULT_CATALOG = REPO_ROOT / "bots" / "shop_assistant" / "data" / "products.csv"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command(name="search")(search)


def search(
    query: Annotated[str, typer.Argument(help="What a customer would type, e.g. 'red hoodie under 60'.")],
    catalog: Annotated[Path, typer.Option("--catalog", help="Shopify product CSV or JSON export.")] = DEFAULT_CATALOG,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="How many results.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print handles and scores as JSON.")] = False,
) -> None:
    """Search the catalogue with the chat's query understanding."""
    from rich.console import Console
    from rich.table import Table

    from core.commerce.catalog import load_catalog
    from core.errors import CatalogError, ModelNotBuilt
    from core.settings import Settings
    from models.encoder import OnnxEncoder

    err = Console(stderr=True)
    settings = Settings()
    try:
        products = load_catalog(catalog)
        encoder = OnnxEncoder.from_artifacts(settings.encoder_artifacts_dir / "encoder", max_seq_len=settings.max_seq_len)
    except (CatalogError, ModelNotBuilt) as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(code=1) from e
    for warning in getattr(products, "warnings", ()):
        err.print(f"[yellow]warning:[/yellow] {warning}")
    try:
        if err.is_terminal:  # a progress bar while the catalogue is embedded
            from rich.progress import Progress

            with Progress(console=err, transient=True) as bar:
                task = bar.add_task("indexing the catalogue", total=len(products.offered()))
                finder = build_finder(products, encoder,
                                      on_progress=lambda done, total: bar.update(task, completed=done, total=total))
        else:
            finder = build_finder(products, encoder)
        result = search_json(finder, query, k=k)
    finally:
        encoder.close()

    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    out = Console()
    if result["understood"]:
        out.print(f"[dim]understood: {result['understood']}[/dim]")
    if result["none_buyable"]:
        out.print("Nothing buyable matches; closest alternatives:" if result["results"] else "No products match.")
    if not result["results"]:
        return
    table = Table("handle", "title", "variant", "price", "match", "score")
    for r in result["results"]:
        table.add_row(r["handle"], r["title"], r["variant"], r["price"], r["match"], f"{r['score']:.3f}")
    out.print(table)


def build_finder(catalog: Catalog, encoder: TextEncoder,
                 on_progress: Callable[[int, int], None] | None = None) -> ProductFinder:
    """The finder the chat uses, over one loaded catalogue (embeds every offered product)."""
    from bots.shop_assistant.services import BOT_DATA, ShopWords
    from core.commerce.finder import ProductFinder
    from core.commerce.search import ProductSearch

    words = ShopWords.load(BOT_DATA / "vocabulary.yaml")
    return ProductFinder(search=ProductSearch(catalog=catalog, encoder=encoder, complements=words.complements,
                                              on_progress=on_progress),
                         type_synonyms=words.type_synonyms)


def search_json(finder: ProductFinder, query: str, *, k: int = 5) -> dict[str, Any]:
    """What ``shopkeep search --json`` prints for one query (the eval scores exactly this)."""
    return finder.find(query, k=k).as_json()
