"""The owner's dashboard at scale: 30 days at 200,000 messages a day.

    python -m bench.dashboard                 # full: 30 days x 200,000 messages
    python -m bench.dashboard --quick         # 3 days x 20,000 messages

1. **Load**: generates each day's events (messages, sessions and their
   outcomes, intents, searches with a long tail of distinct queries, views,
   cart adds, checkouts, fallbacks with 384-d embeddings, handoffs, ratings,
   first responses) and writes them through the recorder's own folding and
   writing code (:class:`core.analytics.RedisEventRecorder`), under a key
   prefix of its own on the real Redis.
2. **Overview**: the real ``/admin`` route for 24 h, 7 d and 30 d, logged in,
   through the ASGI app in-process; the server time is the route's own
   ``Server-Timing`` (reading Redis, charts, template), median and p95.
3. **Memory**: ``MEMORY USAGE`` of every key the load wrote, by kind, and the
   retention that bounds it.
4. **Clustering**: 10,000 unanswered messages, real sentences (CLINC150
   train, embedded by the real encoder, cached) and a worst case of 10,000
   unrelated random vectors.

Writes ``bench/results/dashboard.json``.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from core.analytics import AnalyticsReader, RedisEventRecorder, Retention, UnansweredEntry
from core.analytics.cluster import cluster_entries
from core.events import Event, EventKind
from core.keys import KeyBuilder

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_OVERVIEW_MS = 300.0
TARGET_CLUSTER_S = 5.0
console = Console()
PLATFORMS = ("telegram", "slack")
BOTS = ("shop_assistant", "staff_helpdesk")
INTENTS = tuple(f"intent_{i}" for i in range(30))
WORDS = ("red", "blue", "black", "hoodie", "jeans", "dress", "mug", "jacket", "linen", "wool", "size", "cheap",
         "socks", "scarf", "kids", "summer", "winter", "gift", "boots", "cap", "tee", "shirt", "sale", "new")


def _day_events(day: int, messages: int, rng: np.random.Generator, dim: int = 384) -> Iterator[Event]:
    """One day's events at ``messages`` messages, in the proportions a shop sees (roughly)."""
    start = day * 86400.0
    at = np.sort(rng.uniform(start, start + 86400.0, messages))
    conversation_len = 5
    vocabulary = len(WORDS)
    for i, t in enumerate(at):
        p = PLATFORMS[i % 3 == 0]
        b = BOTS[1] if i % 10 == 0 else BOTS[0]
        base = {"platform": p, "bot": b, "at": float(t), "user": f"u{day}-{i // conversation_len}"}
        yield Event(kind=EventKind.MESSAGE, **base)
        if i % conversation_len == 0:
            yield Event(kind=EventKind.SESSION, status="resolved", started_at=float(t), **base)
            roll = rng.random()
            if roll < 0.08:
                yield Event(kind=EventKind.SESSION, previous="resolved", status="unresolved", started_at=float(t),
                            **base)
            elif roll < 0.12:
                yield Event(kind=EventKind.SESSION, previous="resolved", status="handoff", started_at=float(t), **base)
                yield Event(kind=EventKind.HANDOFF_REQUESTED, reason="user_request", **base)
                yield Event(kind=EventKind.HANDOFF_CLAIMED, **base)
                yield Event(kind=EventKind.FIRST_RESPONSE, value=float(rng.gamma(2.0, 60.0)), **base)
                yield Event(kind=EventKind.HANDOFF_CLOSED, **base)
                yield Event(kind=EventKind.CSAT, value=float(rng.integers(1, 6)), **base)
        yield Event(kind=EventKind.INTENT, intent=INTENTS[int(rng.zipf(1.6)) % len(INTENTS)], score=0.9, **base)
        roll = rng.random()
        if roll < 0.15:  # a search: queries follow a long tail (Zipf over word pairs)
            a, c = int(rng.zipf(1.3)) % vocabulary, int(rng.zipf(1.2)) % (vocabulary * 40)
            query = f"{WORDS[a]} {WORDS[c % vocabulary]} {c}" if c >= vocabulary else f"{WORDS[a]} {WORDS[c]}"
            found = int(rng.integers(0, 6))
            yield Event(kind=EventKind.SEARCH, text=query, count=found, **base)
            if found:
                item = f"product-{int(rng.zipf(1.4)) % 400}"
                yield Event(kind=EventKind.ITEM_VIEWED, item=item, title=f"Product {item}", **base)
                if rng.random() < 0.25:
                    yield Event(kind=EventKind.CART_ADD, item=item, title=f"Product {item}", count=1, **base)
        elif roll < 0.20:  # not understood: stored with its embedding
            vector = rng.normal(size=dim).astype(np.float32)
            yield Event(kind=EventKind.OUT_OF_SCOPE, text=f"unanswered message {day}-{i}", intent="out_of_scope",
                        score=0.2, embedding=vector / np.linalg.norm(vector), **base)
        elif roll < 0.205:
            yield Event(kind=EventKind.CHECKOUT, count=2, value=80.0, **base)


async def load(redis_url: str, prefix: str, *, days: int, per_day: int, end_day: int,
               retention: Retention) -> dict[str, Any]:
    """Write ``days`` days of events ending on ``end_day`` through the recorder's writing code."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    recorder = RedisEventRecorder(client, keys=KeyBuilder(prefix=prefix), retention=retention, batch_max=50_000,
                                  queue_max=10**9)
    rng = np.random.default_rng(7)
    started = time.perf_counter()
    events = 0
    try:
        for day in range(end_day - days + 1, end_day + 1):
            for event in _day_events(day, per_day, rng):
                recorder(event)
                events += 1
            await recorder.flush()
            console.print(f"  day {day - end_day + days}/{days}: {events:,} events so far", highlight=False)
    finally:
        await client.aclose()
    return {"events": events, "messages": days * per_day, "seconds": time.perf_counter() - started}


async def memory(redis_url: str, prefix: str) -> dict[str, Any]:
    """``MEMORY USAGE`` of every key under ``prefix``, summed by kind."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_url)
    by_kind: dict[str, int] = {}
    keys = 0
    try:
        async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            name = key.decode()
            kind = re.sub(r"[0-9]+", "N", name[len(prefix) + 1:])
            used = await client.memory_usage(key, samples=0) or 0
            by_kind[kind] = by_kind.get(kind, 0) + int(used)
            keys += 1
    finally:
        await client.aclose()
    return {"keys": keys, "bytes": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items()))}


async def overview_timings(redis_url: str, prefix: str, *, at: float, runs: int) -> dict[str, dict[str, float]]:
    """The real ``/admin`` route's own server time (``Server-Timing``) per window."""
    import httpx
    import redis.asyncio as aioredis
    from starlette.applications import Starlette

    from adapters.admin.app import AdminBackend, AdminState, BotView, admin_routes
    from core.nonces import RedisNonceStore

    client = aioredis.Redis.from_url(redis_url)
    keys = KeyBuilder(prefix=prefix)
    token = uuid.uuid4().hex
    state = AdminState(backend=AdminBackend(
        analytics=_FixedClockReader(client, keys=keys, at=at), nonces=RedisNonceStore(client, keys=keys),
        bots={b: BotView(name=b, languages=("en",), intents=lambda: frozenset(INTENTS)) for b in BOTS}))
    app = Starlette(routes=admin_routes(token=token, state=state))
    out: dict[str, dict[str, float]] = {}
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            login = await http.get("/admin/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)  # type: ignore[union-attr]
            assert (await http.post("/admin/login", data={"csrf": csrf, "token": token})).status_code == 303
            for name in ("24h", "7d", "30d"):
                server_ms, wall_ms = [], []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    response = await http.get(f"/admin?window={name}")
                    wall_ms.append(1000 * (time.perf_counter() - t0))
                    assert response.status_code == 200, response.text[:300]
                    server_ms.append(float(response.headers["server-timing"].split("dur=")[1]))
                out[name] = {"median_ms": statistics.median(server_ms), "p95_ms": _p95(server_ms),
                             "wall_median_ms": statistics.median(wall_ms), "runs": runs}
    finally:
        await client.aclose()
    return out


class _FixedClockReader(AnalyticsReader):
    """The real reader, its clock pinned to the end of the generated data."""

    def __init__(self, redis: Any, *, keys: KeyBuilder, at: float) -> None:
        super().__init__(redis, keys=keys)
        self._at = at

    async def overview(self, win, *, at=None):
        return await super().overview(win, at=self._at if at is None else at)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def clustering(artifacts_dir: Path, datasets_dir: Path, n: int = 10_000) -> dict[str, Any]:
    """Time :func:`cluster_entries` on ``n`` real sentences and on ``n`` random vectors."""
    from models.encoder import OnnxEncoder
    from models.intent import cached_embeddings, file_sha256

    rows = json.loads((datasets_dir / "clinc150" / "data_full.json").read_text())["train"]
    texts = [text for text, _ in rows][:n]
    encoder = OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    key = f"{file_sha256(artifacts_dir / 'encoder' / 'manifest.json')}:{encoder.variant}"
    try:
        vectors = cached_embeddings(texts, encoder.embed_sync, cache_dir=artifacts_dir / "cache" / "embeddings",
                                    key=key)
    finally:
        encoder.close()
    out: dict[str, Any] = {}
    rng = np.random.default_rng(3)
    for name, data in (("real sentences (CLINC150 train)", vectors),
                       ("worst case: unrelated random vectors", rng.normal(size=(len(texts), vectors.shape[1])))):
        entries = [UnansweredEntry(id=f"{i}-0", kind="fallback", platform="telegram", bot="b", text=t, intent="",
                                   score=0.0, at=float(i), embedding=np.asarray(v, dtype=np.float32))
                   for i, (t, v) in enumerate(zip(texts, data))]
        timings, groups = [], 0
        for _ in range(2):
            t0 = time.perf_counter()
            groups = len(cluster_entries(entries))
            timings.append(time.perf_counter() - t0)
        out[name] = {"messages": len(entries), "groups": groups, "seconds": min(timings), "runs": timings}
    return out


async def _drop(redis_url: str, prefix: str) -> None:
    from bench.e2e import _delete_prefix

    await _delete_prefix(redis_url, f"{prefix}:")


def run(
    quick: Annotated[bool, typer.Option("--quick", help="3 days of 20,000 messages.")] = False,
    days: Annotated[int, typer.Option(help="Days of events.")] = 30,
    per_day: Annotated[int, typer.Option(help="Messages a day.")] = 200_000,
    runs: Annotated[int, typer.Option(help="Overview requests per window.")] = 20,
    out: Annotated[Path, typer.Option(help="JSON results.")] = RESULTS / "dashboard.json",
) -> None:
    """Overview render time, Redis memory and clustering time at a shop's real scale."""
    from core.settings import Settings

    settings = Settings()
    if quick:
        days, per_day, runs = 3, 20_000, 5
    url = settings.redis_url or "redis://127.0.0.1:6379/0"
    retention = Retention.from_settings(settings)
    prefix = f"bench-dash-{uuid.uuid4().hex[:8]}"
    end_day = int(time.time() // 86400)
    at = (end_day + 1) * 86400.0 - 1
    payload: dict[str, Any] = {"days": days, "messages_per_day": per_day, "retention": {
        "days": retention.days, "unanswered_max": retention.unanswered_max, "top_max": retention.top_max,
        "hour_buckets_kept_days": 8}}
    try:
        console.rule(f"load: {days} days x {per_day:,} messages")
        payload["load"] = asyncio.run(load(url, prefix, days=days, per_day=per_day, end_day=end_day,
                                           retention=retention))
        console.rule("overview (/admin, server time)")
        payload["overview"] = asyncio.run(overview_timings(url, prefix, at=at, runs=runs))
        console.rule("memory")
        payload["memory"] = asyncio.run(memory(url, prefix))
    finally:
        asyncio.run(_drop(url, prefix))
    console.rule("clustering")
    payload["clustering"] = clustering(settings.artifacts_dir, settings.datasets_dir)
    _print(payload)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {out}")


def _print(payload: dict[str, Any]) -> None:
    load_ = payload["load"]
    console.print(f"loaded {load_['messages']:,} messages ({load_['events']:,} events) in {load_['seconds']:.0f} s")
    table = Table(title=f"overview, {payload['days']} days at {payload['messages_per_day']:,} messages/day")
    for column in ("window", "server median ms", "server p95 ms", "wall median ms", "target"):
        table.add_column(column, justify="right")
    for name, t in payload["overview"].items():
        met = "met" if t["p95_ms"] <= TARGET_OVERVIEW_MS else "MISSED"
        table.add_row(name, f"{t['median_ms']:.1f}", f"{t['p95_ms']:.1f}", f"{t['wall_median_ms']:.1f}",
                      f"<= {TARGET_OVERVIEW_MS:.0f} ms p95: {met}")
    console.print(table)
    mem = payload["memory"]
    r = payload["retention"]
    console.print(f"Redis memory: {mem['bytes'] / 2**20:.1f} MiB in {mem['keys']:,} keys; bounded by: day buckets "
                  f"and tables {r['days']} days (+1), hour buckets {r['hour_buckets_kept_days']} days, unanswered "
                  f"stream {r['unanswered_max']:,} entries, each daily table cut to {r['top_max']:,} entries")
    for kind, used in sorted(mem["by_kind"].items(), key=lambda kv: -kv[1]):
        console.print(f"  {kind:45} {used / 2**20:8.2f} MiB", highlight=False)
    for name, c in payload["clustering"].items():
        met = "met" if c["seconds"] <= TARGET_CLUSTER_S else "MISSED"
        console.print(f"clustering {c['messages']:,} {name}: {c['seconds']:.2f} s -> {c['groups']:,} groups "
                      f"(target <= {TARGET_CLUSTER_S:.0f} s: {met})")


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
