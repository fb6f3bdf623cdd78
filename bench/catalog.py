"""Catalogue benchmark: load + index time and search latency on a synthetic 1,000-product export.

Writes a Shopify CSV of ``--products`` products (several option layouts, drafts,
sold-out variants) to a temporary folder, then measures:

* **load + index**: reading the CSV, embedding every offered product and deriving
  the vocabulary (what ``shopkeep chat --catalog`` does before the first message);
* **search latency** of :meth:`ProductFinder.find` over a mix of shopper queries,
  p50/p95 per query, (a) with the query embedding given, as the chat does (the
  intent model's forward pass already embedded the message) and (b) embedding
  the query too, as ``shopkeep search`` does.

Run: ``python -m bench.catalog`` (part of ``make bench``). Timings on a shared
machine are noisy; run it twice when a figure is close to a target.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import tempfile
import time
from pathlib import Path

from core.settings import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"

_KINDS = ["Ring", "Necklace", "Bracelet", "Earrings", "Pendant", "Watch", "Hoodie", "T-Shirt", "Dress", "Jacket",
          "Planter", "Tray", "Serum", "Moisturizer", "Soap", "Sauce", "Steak", "Fries", "Links", "Juice"]
_MATERIALS = ["gold", "silver", "cotton", "linen", "concrete", "ceramic", "leather", "wool", "organic", "natural"]
_COLOURS = ["Black", "White", "Navy", "Rose Gold", "Sage", "Terracotta", "Chryso Black", "Champagne", "Red", "Khaki"]
_SIZES = ["XS", "S", "M", "L", "XL"]
_WORDS = ["classic", "vintage", "premium", "handmade", "everyday", "deluxe", "mini", "large", "soft", "bold",
          "elegant", "rustic", "modern", "retro", "signature", "essential", "travel", "family", "party", "gift"]
QUERIES = ["gold ring", "navy hoodie in XL", "silver bracelet under 50", "cheap planter", "black dress not red",
           "something for my wife", "organic soap", "rose gold necklace between 100 and 300", "serum in stock",
           "vintage watch", "concrete tray", "sauce without sugar", "premium steak", "linen t-shirt size M",
           "travel juice", "handmade earrings", "leather jacket over 200", "retro pendant", "fries", "mini links"]

HEADER = ["Handle", "Title", "Body (HTML)", "Vendor", "Product Category", "Type", "Tags", "Published",
          "Option1 Name", "Option1 Value", "Option2 Name", "Option2 Value", "Variant SKU",
          "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy", "Variant Price",
          "Image Src", "Status"]


def write_catalog(path: Path, products: int, seed: int = 7) -> None:
    """A synthetic export: one to six variants per product, 5 % drafts, some sold out."""
    rnd = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        for n in range(products):
            kind = rnd.choice(_KINDS)
            title = f"{rnd.choice(_WORDS).title()} {rnd.choice(_MATERIALS).title()} {kind} {n}"
            handle = title.lower().replace(" ", "-")
            body = f"<p>A {rnd.choice(_WORDS)} {kind.lower()} made of {rnd.choice(_MATERIALS)}.</p>"
            status = "draft" if rnd.random() < 0.05 else "active"
            colours = rnd.sample(_COLOURS, rnd.randint(1, 3))
            sizes = rnd.sample(_SIZES, rnd.randint(1, 2))
            first = True
            for colour in colours:
                for size in sizes:
                    qty = rnd.choice([0, 2, 5, 10])
                    out.writerow([
                        handle, title if first else "", body if first else "", "Bench Co" if first else "",
                        f"Apparel & Accessories > {kind}" if first else "", kind if first else "",
                        f"{rnd.choice(_WORDS)}, {kind.lower()}" if first else "", "TRUE" if first else "",
                        "Color" if first else "", colour, "Size" if first else "", size,
                        f"SKU-{n}-{colour[:3]}-{size}", "shopify", qty, "deny", f"{rnd.randint(5, 900)}.00",
                        "", status if first else ""])
                    first = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    from bots.commands.search import build_finder
    from core.commerce.catalog import load_catalog
    from core.settings import Settings
    from models.encoder import OnnxEncoder

    settings = Settings()
    encoder = OnnxEncoder.from_artifacts(settings.artifacts_dir / "encoder", max_seq_len=settings.max_seq_len)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench_products.csv"
            write_catalog(path, args.products)
            start, cpu_start = time.perf_counter(), time.process_time()
            catalog = load_catalog(path)
            loaded = time.perf_counter()
            finder = build_finder(catalog, encoder)
            built, cpu_built = time.perf_counter(), time.process_time()
        embeddings = encoder.embed_sync(QUERIES)
        finder.find(QUERIES[0], query_embedding=embeddings[0])  # warm caches once, as a running bot has
        given: list[float] = []
        embedded: list[float] = []
        for _ in range(args.repeats):
            for q, e in zip(QUERIES, embeddings):
                t0 = time.perf_counter()
                finder.find(q, k=5, query_embedding=e)
                given.append(time.perf_counter() - t0)
        for q in QUERIES:
            t0 = time.perf_counter()
            finder.find(q, k=5)
            embedded.append(time.perf_counter() - t0)
    finally:
        encoder.close()

    def pct(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    report = {
        "products": args.products, "offered": len(finder.products),
        "load_s": round(loaded - start, 3), "index_s": round(built - loaded, 3),
        "load_and_index_s": round(built - start, 3),
        "load_and_index_cpu_s": round(cpu_built - cpu_start, 3),
        "search_ms_p50": round(pct(given, 50), 2), "search_ms_p95": round(pct(given, 95), 2),
        "search_with_embedding_ms_p50": round(pct(embedded, 50), 2),
        "search_with_embedding_ms_p95": round(pct(embedded, 95), 2),
        "queries": len(given),
    }
    print(f"catalogue of {args.products} products ({report['offered']} offered): load {report['load_s']} s, "
          f"index (embeddings + vocabulary) {report['index_s']} s, total {report['load_and_index_s']} s "
          f"(CPU time of this process, all threads: {report['load_and_index_cpu_s']} s)")
    print(f"search (query embedding given, as in chat): p50 {report['search_ms_p50']} ms, "
          f"p95 {report['search_ms_p95']} ms over {len(given)} queries")
    print(f"search embedding the query too (shopkeep search): p50 {report['search_with_embedding_ms_p50']} ms, "
          f"p95 {report['search_with_embedding_ms_p95']} ms")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "catalog.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
