"""`shopkeep search`: query the catalogue the way the chat does.

The query goes through the same :class:`~core.commerce.entities.EntityExtractor` and
:class:`~core.commerce.search.SearchFilters` as the shopping assistant, so what this
prints is what a customer would be shown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core.settings import REPO_ROOT

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
    import asyncio

    from rich.console import Console
    from rich.table import Table

    from core.commerce.catalog import load_catalog
    from core.commerce.entities import EntityExtractor
    from core.commerce.search import ProductSearch, SearchFilters
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

    entities = EntityExtractor(products.vocabulary()).extract(query)
    filters = SearchFilters.from_entities(entities)
    try:
        index = ProductSearch(catalog=products, encoder=encoder)
        hits = asyncio.run(index.search(query, filters=filters, k=k))
    finally:
        encoder.close()

    if as_json:
        typer.echo(json.dumps({
            "query": query,
            "entities": entities.as_dict(),
            "results": [{"handle": h.product.handle, "score": round(h.score, 4),
                         "sku": h.matched_variant.sku, "price": str(h.matched_variant.price)} for h in hits],
        }, ensure_ascii=False))
        return
    out = Console()
    if entities.as_dict():
        out.print(f"[dim]understood: {entities.as_dict()}[/dim]")
    if not hits:
        out.print("No products match. Try fewer filters.")
        return
    table = Table("handle", "title", "variant", "price", "score")
    for h in hits:
        v = h.matched_variant
        table.add_row(h.product.handle, h.product.title, v.title, f"${v.price}", f"{h.score:.3f}")
    out.print(table)
