"""The analytics recorder and reader on the real Redis: what is written is what the dashboard reads."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import numpy as np
import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.analytics import AnalyticsReader, RedisEventRecorder, Retention, schema, window
from core.errors import StorageError
from core.events import Event, EventKind
from core.keys import KeyBuilder
from core.messages import Platform

NOW = 1_700_000_000.0  # a fixed clock: buckets are deterministic


def ev(kind: EventKind, at: float = NOW, **fields: object) -> Event:
    base: dict[str, object] = {"platform": "telegram", "bot": "shop_assistant", "user": "u1", "conversation": "c1"}
    base.update(fields)
    return Event(kind=kind, at=at, **base)  # type: ignore[arg-type]


@pytest.fixture
async def recorder(raw_redis: aioredis.Redis, key_builder: KeyBuilder) -> AsyncIterator[RedisEventRecorder]:
    rec = RedisEventRecorder(raw_redis, keys=key_builder, retention=Retention(days=30, unanswered_max=50, top_max=3))
    yield rec
    await rec.aclose()


@pytest.fixture
def reader(raw_redis: aioredis.Redis, key_builder: KeyBuilder) -> AnalyticsReader:
    return AnalyticsReader(raw_redis, keys=key_builder, retention=Retention(days=30, unanswered_max=50, top_max=3))


async def test_overview_reads_back_exactly_what_was_recorded(recorder: RedisEventRecorder,
                                                               reader: AnalyticsReader) -> None:
    events = [ev(EventKind.MESSAGE) for _ in range(7)] + [ev(EventKind.MESSAGE, platform="slack") for _ in range(2)]
    # Three sessions: one stays resolved, one becomes unresolved, one is handed off after a fallback.
    events += [ev(EventKind.SESSION, status="resolved", started_at=NOW) for _ in range(3)]
    events += [ev(EventKind.SESSION, previous="resolved", status="unresolved", started_at=NOW)]
    events += [ev(EventKind.SESSION, previous="resolved", status="unresolved", started_at=NOW),
               ev(EventKind.SESSION, previous="unresolved", status="handoff", started_at=NOW)]
    events += [ev(EventKind.CSAT, value=5), ev(EventKind.CSAT, value=4), ev(EventKind.CSAT, value=9)]
    events += [ev(EventKind.FIRST_RESPONSE, value=s) for s in (30, 90, 60, 600)]
    events += [ev(EventKind.HANDOFF_REQUESTED, reason="user_request")]
    events += [ev(EventKind.INTENT, intent="greet", score=0.9), ev(EventKind.INTENT, intent="greet", score=0.8)]
    for e in events:
        recorder(e)
    assert await recorder.flush() == len(events)

    overview = await reader.overview(window("24h"), at=NOW)
    assert overview.messages == 9 and overview.sessions == 3
    assert {(c.platform, c.messages) for c in overview.channels} == {("telegram", 7), ("slack", 2)}
    assert overview.statuses == {"resolved": 1, "unresolved": 1, "handoff": 1}
    assert overview.resolution_rate == pytest.approx(1 / 3)
    assert overview.handoff_rate == pytest.approx(1 / 3)
    assert overview.csat == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}  # a rating of 9 is not a rating
    assert overview.csat_average == pytest.approx(4.5)
    assert overview.first_response_s == pytest.approx(75.0) and overview.first_responses == 4
    assert overview.kinds[EventKind.HANDOFF_REQUESTED.value] == 1
    assert ("shop_assistant", "greet", 2) in overview.intents
    assert sum(p.messages for p in overview.trend) == 9 and len(overview.trend) == 24
    # The same events are in the 7 d (hours) and 30 d (days) views.
    for name in ("7d", "30d"):
        wide = await reader.overview(window(name), at=NOW + 3600)
        assert (wide.messages, wide.sessions, wide.statuses) == (9, 3, overview.statuses)
    # A day later the 24 h view is empty again.
    assert (await reader.overview(window("24h"), at=NOW + 2 * 86400)).messages == 0


async def test_every_key_written_expires(recorder: RedisEventRecorder, raw_redis: aioredis.Redis,
                                         key_builder: KeyBuilder) -> None:
    recorder(ev(EventKind.MESSAGE))
    recorder(ev(EventKind.FALLBACK, text="where is the moon", embedding=np.ones(4, dtype=np.float32)))
    recorder(ev(EventKind.SEARCH, text="Red  Hoodie", count=0))
    recorder(ev(EventKind.CART_ADD, item="sku-1", title="Hoodie", count=2))
    recorder(ev(EventKind.FIRST_RESPONSE, value=12))
    await recorder.flush()
    keys = [k async for k in raw_redis.scan_iter(match=f"{key_builder.prefix}:*")]
    assert len(keys) >= 8
    stream = key_builder.stream(schema.UNANSWERED_STREAM).encode()
    for key in keys:
        if key == stream:
            continue  # capped by length and age instead (MAXLEN / MINID)
        ttl = await raw_redis.ttl(key)
        assert 0 < ttl <= 31 * 86400, (key, ttl)
    assert await raw_redis.zscore(key_builder.top(schema.TABLE_ZERO, schema.day_of(NOW)), "red hoodie") == 1
    assert await raw_redis.zscore(key_builder.top(schema.TABLE_ADDED, schema.day_of(NOW)), "sku-1") == 2


async def test_search_tables_and_their_bound(recorder: RedisEventRecorder, reader: AnalyticsReader) -> None:
    for i in range(10):  # ten distinct queries once each, "hoodie" five times: top_max is 3
        recorder(ev(EventKind.SEARCH, text=f"query {i}", count=1))
    for _ in range(5):
        recorder(ev(EventKind.SEARCH, text="Hoodie", count=0))
    recorder(ev(EventKind.ITEM_VIEWED, item="h1", title="<b>Hoodie</b>"))
    await recorder.flush()
    await recorder.flush()
    report = await reader.search(1, at=NOW)
    assert report.queries[0].key == "hoodie" and report.queries[0].count == 5
    assert len(report.queries) <= 3  # cut back to top_max once it held more than twice as many
    assert report.zero_queries[0].key == "hoodie" and report.zero_results == 5
    assert report.viewed[0].title == "<b>Hoodie</b>"  # stored as given; the page escapes it


async def test_unanswered_entries_and_forget(recorder: RedisEventRecorder, reader: AnalyticsReader) -> None:
    vector = np.linspace(-1, 1, 8).astype(np.float32)
    recorder(ev(EventKind.OUT_OF_SCOPE, text="can you fix my car", embedding=vector, intent="greet", score=0.2))
    recorder(ev(EventKind.NOT_SURE, text="do you sell gift cards", user="u2", embedding=vector))
    recorder(ev(EventKind.SEARCH, text="unicorn saddle", count=0, embedding=vector))
    recorder(ev(EventKind.FALLBACK, text="", embedding=vector))  # a button nobody knows: nothing to review
    await recorder.flush()
    entries = await reader.unanswered(bot="shop_assistant")
    assert {e.kind for e in entries} == {"out_of_scope", "not_sure", "zero_results"}
    first = next(e for e in entries if e.kind == "out_of_scope")
    assert first.text == "can you fix my car" and first.score == pytest.approx(0.2)
    assert first.embedding is not None and np.allclose(first.embedding, vector, atol=1e-3)
    assert await reader.unanswered(bot="staff_helpdesk") == []

    assert await recorder.forget_user(Platform.TELEGRAM, "u1") == 2
    assert [e.text for e in await reader.unanswered()] == ["do you sell gift cards"]


async def test_the_stream_is_capped(recorder: RedisEventRecorder, raw_redis: aioredis.Redis,
                                    key_builder: KeyBuilder) -> None:
    for i in range(400):
        recorder(ev(EventKind.FALLBACK, text=f"message {i}"))
    await recorder.flush()
    length = await raw_redis.xlen(key_builder.stream(schema.UNANSWERED_STREAM))
    # MAXLEN ~ 50: Redis trims whole nodes (100 entries each), so up to one node more.
    assert 50 <= length <= 150


class _Blackhole:
    """A TCP server that accepts connections and never answers (a Redis stuck in a long command)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.1)  # accept() wakes up to notice close()
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.closed = True
        self.thread.join(2)
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def blackhole() -> Iterator[_Blackhole]:
    hole = _Blackhole()
    yield hole
    hole.close()


async def test_a_stuck_redis_never_blocks_the_caller(blackhole: _Blackhole) -> None:
    client = aioredis.Redis(host="127.0.0.1", port=blackhole.port, socket_timeout=0.3, socket_connect_timeout=0.3,
                            retry=Retry(NoBackoff(), 0))
    rec = RedisEventRecorder(client, queue_max=100, flush_every_s=0.05)
    rec.start()
    for _ in range(150):
        rec(ev(EventKind.MESSAGE))  # synchronous: returns without touching the network
    assert rec.pending == 100 and rec.stats.dropped_full == 50
    for _ in range(100):  # the writer tries, times out, keeps the batch
        if rec.stats.failures:
            break
        await asyncio.sleep(0.05)
    assert rec.stats.written == 0 and rec.stats.failures >= 1
    with pytest.raises(StorageError):
        await rec.flush()
    await rec.aclose(timeout_s=0.5)
    await client.aclose()


async def test_seven_days_are_exactly_the_last_168_hours(recorder: RedisEventRecorder,
                                                         reader: AnalyticsReader) -> None:
    # Read from day buckets and the first day's hours: the edges must be exact to the hour.
    hour = 3600.0
    start = (schema.hour_of(NOW) - 167) * hour
    offsets = [-2 * hour, -1, 0, 5 * hour, 30 * hour, 100 * hour, 167 * hour, 167 * hour + 1800]
    for offset in offsets:
        recorder(ev(EventKind.MESSAGE, at=start + offset))
        recorder(ev(EventKind.SESSION, at=start + offset, status="resolved", started_at=start + offset))
    await recorder.flush()
    overview = await reader.overview(window("7d"), at=NOW)
    inside = sum(1 for o in offsets if 0 <= o)
    assert overview.messages == inside == 6 and overview.sessions == 6
    assert sum(p.messages for p in overview.trend) == 6 and len(overview.trend) == 168
    assert overview.trend[0].messages == 1 and overview.trend[-1].messages == 2
