"""``make bench`` (Shopify part): a connected shop against the Admin API stand-in, over HTTP, on Redis.

    python -m bench.shopify                   # every part
    python -m bench.shopify --part sync       # sync | update | storm | lookup

* **sync**: initial catalogue sync of a synthetic shop (default 5,000 products × 4 variants) from the
  stand-in (its own process, HTTP), into Redis, then loading it with every offered product embedded by the
  real ONNX encoder: wall time and peak RSS of the syncing process (and its RSS with only the encoder
  loaded, as the baseline).
* **update**: two serve-like worker processes (uvicorn, the real webhook route, the live catalogue
  following Redis) on one Redis; a ``products/update`` webhook posted to worker A; the time until a search
  on worker B returns the changed product. p50/p95 over repeated updates.
* **storm**: 1,000 distinct webhooks (product updates, inventory updates that restock subscribed variants,
  fulfilments and ``orders/fulfilled`` for subscribed orders), each delivered 3 times to either worker,
  plus forged deliveries: how many were applied, duplicate shopper messages, forged refused.
* **lookup**: order look-up through the backend with 50 ms injected API latency, and the whole answer of
  the shop assistant (real encoder and intent head) to "status of order #…, email …".

Writes ``bench/results/shopify.json``. Figures from the 2-core development machine are noisy when other
work runs; the script says how many samples each figure has.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import resource
import socket
import statistics
import sys
import time
import uuid
from datetime import UTC
from pathlib import Path
from typing import Annotated, Any, Self

import typer
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "shopify.json"
TOKEN = "shpat_bench"
SECRET = "shpss_bench"
DOMAIN = "standin-shop.myshopify.com"
console = Console()


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --------------------------------------------------------------------------- the stand-in, in its own process


def _standin_shop(products: int, variants: int, orders: int) -> Any:
    from datetime import datetime, timedelta
    from decimal import Decimal

    from core.commerce.shopdata import Customer, LineItem, Order, OrderStatus
    from tests.adapters.standins.shopify import FakeShop, synthetic_shop

    if products <= 0:
        from core.commerce.shopdata import load_orders
        from tests.core.catalog_support import SHOP_DATA, demo_catalog

        return FakeShop.from_catalog(demo_catalog().products(), load_orders(SHOP_DATA / "orders.yaml").orders)
    shop = synthetic_shop(products, variants)
    now = datetime.now(UTC)
    for i in range(orders):
        shop.add_order(Order(number=f"#{5000 + i}", customer=Customer(name=f"Shopper {i}", email=f"s{i}@example.com"),
                             created_at=now - timedelta(days=1), status=OrderStatus.PAID,
                             line_items=(LineItem(handle="syn-00000", sku="SYN-00000-0", title="Item", quantity=1,
                                                  price=Decimal(10)),)))
    return shop


def _run_standin(products: int, variants: int, orders: int, latency_s: float, port: int, ready: Any) -> None:
    sys.path.insert(0, str(REPO))
    from tests.adapters.standins.shopify import ShopifyAdminStandin

    async def main() -> None:
        shop = _standin_shop(products, variants, orders)
        server = ShopifyAdminStandin(shop, token=TOKEN, bucket_max=1e9, restore_rate=1e9)
        server.latency_s = latency_s
        from aiohttp import web

        runner = web.AppRunner(server.app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


class StandinProcess:
    def __init__(self, *, products: int, variants: int = 4, orders: int = 0, latency_s: float = 0.0) -> None:
        self.port = _free_port()
        ctx = mp.get_context("spawn")
        self.ready = ctx.Event()
        self.process = ctx.Process(target=_run_standin, args=(products, variants, orders, latency_s, self.port,
                                                              self.ready), daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/admin/api/2025-01/graphql.json"

    def __enter__(self) -> Self:
        self.process.start()
        if not self.ready.wait(600):
            raise RuntimeError("the stand-in did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.join(10)


def _settings(api_url: str, redis_url: str) -> Any:
    from core.settings import Settings

    return Settings(shopify_shop_domain=DOMAIN, shopify_admin_token=TOKEN, shopify_webhook_secret=SECRET,
                    shopify_api_url=api_url, redis_url=redis_url, notify_min_interval_s=0.0,
                    shop_url="https://standin-shop.example")


async def _cleanup(redis_url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    async for name in client.scan_iter(match=f"{prefix}:*", count=1000):
        await client.delete(name)
    await client.aclose()


# --------------------------------------------------------------------------- sync


def _sync_child(api_url: str, redis_url: str, prefix: str, out: Any) -> None:
    sys.path.insert(0, str(REPO))

    async def main() -> dict[str, Any]:
        from bots.runtime import load_encoder
        from core.commerce.shopify.backend import ShopifyBackend
        from core.commerce.shopify.snapshot import RedisCatalogSnapshot
        from core.keys import KeyBuilder
        from core.sessions import RedisSessionStore

        settings = _settings(api_url, redis_url)
        encoder = load_encoder(settings)
        encoder.embed_sync(["warm up"])
        baseline = _current_rss_mib()
        store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
        snapshot = RedisCatalogSnapshot(store.redis, keys=store.keys, shop="standin-shop")
        backend = ShopifyBackend.from_settings(settings, encoder=encoder, snapshot=snapshot)
        started = time.perf_counter()
        await backend.start()
        seconds = time.perf_counter() - started
        report = backend.last_sync
        result = {"seconds": seconds, "peak_rss_mib": _rss_mib(), "encoder_only_rss_mib": baseline,
                  "products": report.products if report else 0, "variants": report.variants if report else 0,
                  "requests": report.requests if report else 0,
                  "api_seconds": report.seconds if report else 0.0,
                  "offered": len(backend.catalog.offered())}
        await backend.aclose()
        await store.aclose()
        return result

    out.put(asyncio.run(main()))


def bench_sync(redis_url: str, products: int, variants: int) -> dict[str, Any]:
    prefix = f"bench-shopify-{uuid.uuid4().hex[:8]}"
    with StandinProcess(products=products, variants=variants) as api:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        child = ctx.Process(target=_sync_child, args=(api.api_url, redis_url, prefix, out))
        child.start()
        result = out.get(timeout=1800)
        child.join(60)
    asyncio.run(_cleanup(redis_url, prefix))
    return result


# --------------------------------------------------------------------------- two serve-like workers


def _worker(api_url: str, redis_url: str, prefix: str, port: int, ready: Any) -> None:
    """A serve-like process: the real webhook route, a live catalogue on Redis, a search endpoint."""
    sys.path.insert(0, str(REPO))

    async def main() -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        from adapters import shopify as shopify_webhooks
        from bots.runtime import load_encoder
        from core.commerce.notify import Notifier
        from core.commerce.shopify.connect import connect_shopify
        from core.keys import KeyBuilder
        from core.messages import ConversationKey, Reply
        from core.sessions import RedisSessionStore

        sent: list[tuple[str, str]] = []

        class CountingOutbox:
            async def send(self, conversation: ConversationKey, replies: list[Reply]) -> list[str]:
                sent.extend((conversation.tag, r.text) for r in replies)
                return [str(len(sent))]

        settings = _settings(api_url, redis_url)
        store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
        encoder = load_encoder(settings)
        notifier = Notifier(store=store, outbox=CountingOutbox(), min_interval_s=0.0)
        shop = await connect_shopify(settings, store=store, encoder=encoder, notifier=notifier)
        delivery = asyncio.create_task(notifier.run(every_s=0.2))

        async def webhook(request: Request) -> Any:
            return await shopify_webhooks.handle_webhook(request, shop.events)

        async def search(request: Request) -> Any:
            hits = await shop.backend.live.search.search(request.query_params["q"], k=1)
            return JSONResponse({"handle": hits[0].product.handle if hits else None,
                                 "title": hits[0].product.title if hits else None})

        async def product(request: Request) -> Any:
            # The catalogue and its search index are swapped together: what this returns, search has.
            found = shop.backend.live.catalog.get(request.query_params["handle"])
            return JSONResponse({"title": found.title if found else None})

        async def stats(request: Request) -> Any:
            return JSONResponse({"counts": shop.events.counts, "sent": sent, "rebuilds": shop.backend.live.rebuilds,
                                 "pending": len(shop.events._tasks)})

        app = Starlette(routes=[Route(shopify_webhooks.PATH, webhook, methods=["POST"]),
                                Route("/search", search), Route("/product", product), Route("/stats", stats)])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               log_config=None))
        ready.set()
        try:
            await server.serve()
        finally:
            delivery.cancel()
            await shop.aclose()

    asyncio.run(main())


class Workers:
    def __init__(self, api_url: str, redis_url: str, prefix: str, n: int = 2) -> None:
        ctx = mp.get_context("spawn")
        self.ports = [_free_port() for _ in range(n)]
        self.events = [ctx.Event() for _ in range(n)]
        self.processes = [ctx.Process(target=_worker, args=(api_url, redis_url, prefix, port, ev), daemon=True)
                          for port, ev in zip(self.ports, self.events)]

    def __enter__(self) -> Self:
        for p in self.processes:
            p.start()
            time.sleep(1.0)  # the first one syncs; the second loads what it stored
        for ev in self.events:
            if not ev.wait(1800):
                raise RuntimeError("a worker did not start")
        return self

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def __exit__(self, *exc: object) -> None:
        for p in self.processes:
            p.terminate()
            p.join(15)


async def _wait_up(client: Any, url: str) -> None:
    for _ in range(3000):
        with contextlib.suppress(Exception):  # not listening yet
            if (await client.get(f"{url}/stats")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


async def _update_latencies(workers: Workers, rounds: int) -> dict[str, Any]:
    import httpx

    from tests.adapters.standins.shopify import rest_product
    from tests.adapters.standins.shopify.server import webhook_headers

    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(len(workers.ports)):
            await _wait_up(client, workers.url(i))
        offered = [p for p in _SHOP_FOR_UPDATES.products
                   if p["status"] == "ACTIVE" and p["publishedAt"] and p["variants"]]
        latencies_b, latencies_a = [], []
        for n in range(rounds):
            token = f"zq{uuid.uuid4().hex[:6]}x"
            product = random.choice(offered)
            product["title"] = f"{product['title'].split(' zq')[0]} {token}"
            product["updatedAt"] = f"2031-01-01T00:{n // 60:02d}:{n % 60:02d}Z"
            body = json.dumps(rest_product(product)).encode()
            headers = webhook_headers("products/update", body, secret=SECRET, shop_domain=DOMAIN)
            started = time.perf_counter()
            response = await client.post(f"{workers.url(0)}/shopify/webhooks", content=body, headers=headers)
            assert response.status_code == 200, response.text
            seen: dict[int, float] = {}
            while len(seen) < 2:
                for i in (0, 1):
                    if i in seen:
                        continue
                    view = (await client.get(f"{workers.url(i)}/product", params={"handle": product["handle"]}))
                    if token in (view.json()["title"] or ""):
                        seen[i] = time.perf_counter() - started
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"update {n} not searchable after 30 s")
                await asyncio.sleep(0.01)
            for i in (0, 1):  # and a search by the new word finds it (not timed: it embeds the query)
                hit = (await client.get(f"{workers.url(i)}/search", params={"q": token})).json()
                assert hit["handle"] == product["handle"], (hit, product["handle"])
            latencies_a.append(seen[0])
            latencies_b.append(seen[1])
    return {"rounds": rounds,
            "other_process_p50_s": statistics.median(latencies_b), "other_process_p95_s": _pct(latencies_b, 0.95),
            "receiving_process_p95_s": _pct(latencies_a, 0.95), "max_s": max(latencies_b)}


_SHOP_FOR_UPDATES: Any = None


def bench_update(redis_url: str, products: int, rounds: int) -> dict[str, Any]:
    global _SHOP_FOR_UPDATES
    prefix = f"bench-shopify-{uuid.uuid4().hex[:8]}"
    _SHOP_FOR_UPDATES = _standin_shop(products, 4, 0)  # the same synthetic shop the stand-in serves (seeded)
    with StandinProcess(products=products) as api, Workers(api.api_url, redis_url, prefix) as workers:
        result = asyncio.run(_update_latencies(workers, rounds))
    asyncio.run(_cleanup(redis_url, prefix))
    return {"products": products if products > 0 else 157, **result}


# --------------------------------------------------------------------------- storm


async def _storm(workers: Workers, redis_url: str, prefix: str, shop: Any, total: int) -> dict[str, Any]:
    import httpx

    from core.commerce.notify import Notifier
    from core.keys import KeyBuilder
    from core.messages import ConversationKey, Platform
    from core.sessions import RedisSessionStore
    from tests.adapters.standins.shopify import rest_product
    from tests.adapters.standins.shopify.server import webhook_headers

    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))

    class Nowhere:
        async def send(self, *args: Any) -> list[str]:
            raise AssertionError("the bench's own notifier never sends")

    notifier = Notifier(store=store, outbox=Nowhere())
    rng = random.Random(11)
    sold_out = [v for v in shop.variants() if v["inventoryQuantity"] <= 0][: total // 5]
    orders = shop.orders[: total // 10]
    for i, v in enumerate(sold_out):
        await notifier.subscribe(kind="stock", target=v["id"].rsplit("/", 1)[1], label=v["sku"],
                                 conversation=ConversationKey(platform=Platform.TELEGRAM, bot="shop", chat=f"s{i}"),
                                 user_id=f"s{i}", lang="en")
    for i, o in enumerate(orders):
        await notifier.subscribe(kind="ship", target=o["id"].rsplit("/", 1)[1], label=o["name"],
                                 conversation=ConversationKey(platform=Platform.SLACK, bot="shop", chat=f"D{i}",
                                                              workspace="T1"), user_id=f"U{i}", lang="en")
    deliveries: list[tuple[str, bytes]] = []
    for v in sold_out:  # restock, as the shop would
        deliveries.append(("inventory_levels/update", json.dumps(shop.set_available(v, 5)).encode()))
    for o in orders:
        fulfilment = shop.fulfil(o, tracking=f"1Z{o['name'][1:]}")
        deliveries.append(("fulfillments/create", json.dumps(fulfilment).encode()))
        deliveries.append(("orders/fulfilled", json.dumps({"id": int(o["id"].rsplit("/", 1)[1]), "name": o["name"],
                                                           "fulfillments": [fulfilment]}).encode()))
    while len(deliveries) < total:
        product = rng.choice(shop.products)
        product["updatedAt"] = f"2032-01-01T00:00:{len(deliveries) % 60:02d}Z"
        deliveries.append(("products/update", json.dumps(rest_product(product)).encode()))
    signed = []
    for topic, body in deliveries:
        headers = webhook_headers(topic, body, secret=SECRET, shop_domain=DOMAIN)
        signed.extend([(headers, body)] * 3)
    rng.shuffle(signed)
    forged = [(webhook_headers("products/update", body, secret="forged", shop_domain=DOMAIN), body)
              for _, body in deliveries[: total // 4]]
    statuses: list[int] = []
    resent: list[int] = []
    semaphore = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=30) as client:
        async def post(headers: dict[str, str], body: bytes) -> None:
            async with semaphore:
                for attempt in range(4):  # Shopify, too, retries a delivery whose connection dropped
                    url = workers.url(rng.randrange(2))
                    try:
                        response = await client.post(f"{url}/shopify/webhooks", content=body, headers=headers)
                    except httpx.TransportError:
                        resent.append(attempt)
                        await asyncio.sleep(0.1)
                        continue
                    statuses.append(response.status_code)
                    return
                statuses.append(0)

        started = time.perf_counter()
        await asyncio.gather(*(post(h, b) for h, b in signed))
        took = time.perf_counter() - started
        forged_statuses: list[int] = []
        for headers, body in forged:
            forged_statuses.append((await client.post(f"{workers.url(0)}/shopify/webhooks", content=body,
                                                      headers=headers)).status_code)
        expected_messages = len(sold_out) + len(orders)
        stats: list[dict[str, Any]] = []
        for _ in range(600):
            stats = [(await client.get(f"{workers.url(i)}/stats")).json() for i in (0, 1)]
            if sum(len(s["sent"]) for s in stats) >= expected_messages and not any(s["pending"] for s in stats):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let any duplicate show itself
        stats = [(await client.get(f"{workers.url(i)}/stats")).json() for i in (0, 1)]
    await store.aclose()
    sent = [tuple(m) for s in stats for m in s["sent"]]
    per_conversation: dict[str, int] = {}
    for conversation, _text in sent:
        per_conversation[conversation] = per_conversation.get(conversation, 0) + 1
    accepted = sum(s["counts"]["accepted"] for s in stats)
    return {
        "webhooks": len(deliveries), "deliveries": len(signed), "seconds": took,
        "accepted_once": accepted, "duplicates_dropped": sum(s["counts"]["duplicate"] for s in stats),
        "applied": sum(s["counts"]["applied"] for s in stats), "failed": sum(s["counts"]["failed"] for s in stats),
        "non_200": sum(1 for s in statuses if s != 200), "connection_retries": len(resent),
        "messages_expected": expected_messages, "messages_sent": len(sent),
        "duplicate_messages": sum(n - 1 for n in per_conversation.values() if n > 1),
        "forged": len(forged), "forged_refused": sum(1 for s in forged_statuses if s == 401),
    }


def bench_storm(redis_url: str, products: int, total: int) -> dict[str, Any]:
    """The stand-in runs in this process here: the storm changes its stock and orders as the shop would."""
    from tests.adapters.standins.shopify import ShopifyAdminStandin

    prefix = f"bench-shopify-{uuid.uuid4().hex[:8]}"
    shop = _standin_shop(products, 4, total // 10)

    async def main() -> dict[str, Any]:
        async with ShopifyAdminStandin(shop, token=TOKEN, bucket_max=1e9, restore_rate=1e9) as api:
            loop = asyncio.get_running_loop()
            workers = Workers(api.api_url, redis_url, prefix)
            await loop.run_in_executor(None, workers.__enter__)
            try:
                return await _storm(workers, redis_url, prefix, shop, total)
            finally:
                await loop.run_in_executor(None, workers.__exit__, None, None, None)

    result = asyncio.run(main())
    asyncio.run(_cleanup(redis_url, prefix))
    return result


# --------------------------------------------------------------------------- lookup


async def _lookup(api_url: str, redis_url: str, rounds: int) -> dict[str, Any]:
    from bots.runtime import build_runtime
    from core.messages import ConversationKey, IncomingMessage, Platform
    from core.sessions import MemorySessionStore

    settings = _settings(api_url, redis_url).model_copy(update={"redis_url": None})
    runtime = await build_runtime(settings, bot="shop_assistant", store=MemorySessionStore())
    backend = runtime.shopify.backend
    try:
        api_times = []
        for _ in range(rounds):
            started = time.perf_counter()
            order = await backend.find_order("#1013")
            api_times.append(time.perf_counter() - started)
            assert order is not None
        turn_times = []
        for i in range(rounds):
            message = IncomingMessage(conversation=ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant",
                                                                   chat=f"bench-{i}"), user_id=f"u{i}",
                                      text="status of order #1013, my email is priya.brown@example.com")
            started = time.perf_counter()
            replies = await runtime.manager.handle(message)
            turn_times.append(time.perf_counter() - started)
            assert any("#1013" in r.text for r in replies), [r.text for r in replies]
    finally:
        await runtime.aclose()
    return {"rounds": rounds, "injected_latency_ms": 50,
            "backend_p50_ms": statistics.median(api_times) * 1000, "backend_p95_ms": _pct(api_times, 0.95) * 1000,
            "answer_p50_ms": statistics.median(turn_times) * 1000, "answer_p95_ms": _pct(turn_times, 0.95) * 1000}


def bench_lookup(redis_url: str, rounds: int) -> dict[str, Any]:
    with StandinProcess(products=0, latency_s=0.05) as api:
        return asyncio.run(_lookup(api.api_url, redis_url, rounds))


# --------------------------------------------------------------------------- main


def run(
    part: Annotated[str, typer.Option(help="all, sync, update, storm or lookup")] = "all",
    products: Annotated[int, typer.Option(help="synthetic shop size (products) for sync")] = 5000,
    variants: Annotated[int, typer.Option(help="variants per product")] = 4,
    update_products: Annotated[str, typer.Option(help="shop sizes for the update part; 0 = the demo shop")] = "0,5000",
    rounds: Annotated[int, typer.Option(help="updates / look-ups measured")] = 40,
    storm: Annotated[int, typer.Option(help="distinct webhooks in the storm")] = 1000,
) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    table = Table(title="Shopify connection")
    table.add_column("what")
    table.add_column("figure")
    table.add_column("target")
    if part in ("all", "sync"):
        r = bench_sync(redis_url, products, variants)
        results["sync"] = r
        table.add_row(f"initial sync {r['products']} products / {r['variants']} variants (+ embedding {r['offered']})",
                      f"{r['seconds']:.1f} s (API {r['api_seconds']:.1f} s, {r['requests']} requests), "
                      f"peak RSS {r['peak_rss_mib']:.0f} MiB (encoder alone {r['encoder_only_rss_mib']:.0f})",
                      "≤ 60 s, ≤ 500 MB")
    if part in ("all", "update"):
        results["update"] = []
        for size in (int(x) for x in update_products.split(",")):
            r = bench_update(redis_url, size, rounds)
            results["update"].append(r)
            table.add_row(f"products/update → searchable in the other process ({r['products']} products)",
                          f"p50 {r['other_process_p50_s'] * 1000:.0f} ms, p95 {r['other_process_p95_s'] * 1000:.0f} ms"
                          f" ({r['rounds']} updates)", "p95 ≤ 1 s")
    if part in ("all", "storm"):
        r = bench_storm(redis_url, 200, storm)
        results["storm"] = r
        table.add_row(f"storm: {r['webhooks']} webhooks × 3 over 2 processes",
                      f"accepted once {r['accepted_once']}, applied {r['applied']}, failed {r['failed']}, "
                      f"messages {r['messages_sent']}/{r['messages_expected']}, duplicates {r['duplicate_messages']}, "
                      f"forged refused {r['forged_refused']}/{r['forged']}", "each once, 0 duplicates, 100 % refused")
    if part in ("all", "lookup"):
        r = bench_lookup(redis_url, rounds)
        results["lookup"] = r
        table.add_row("order look-up, 50 ms API latency",
                      f"backend p95 {r['backend_p95_ms']:.0f} ms; whole answer p50 {r['answer_p50_ms']:.0f} ms, "
                      f"p95 {r['answer_p95_ms']:.0f} ms ({r['rounds']} each)", "p95 ≤ 300 ms")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    console.print(table)


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
