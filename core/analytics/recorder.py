"""Writes dialogue events to Redis off the reply path.

The dialogue manager calls the recorder (an :class:`~core.events.EventObserver`)
synchronously for every event; all it does is append to a bounded in-process
queue (a full queue drops the event and counts it). A background task wakes
every ``flush_every_s`` (or as soon as a batch is full), folds the queued
events into counter increments (one ``HINCRBY`` per distinct field and
bucket, whatever the number of events) and writes them in one pipeline. A
slow or absent Redis therefore delays the dashboard, never a reply.

Writes are at least once: a batch whose pipeline failed is tried again
(up to ``MAX_ATTEMPTS``), so a failure half-way through a pipeline can count
some events twice; a batch failing every attempt is dropped and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from core.analytics import schema
from core.analytics.schema import Retention, day_of, hour_of
from core.errors import StorageError
from core.events import Event, EventKind, now
from core.keys import KeyBuilder
from core.messages import Platform
from core.protocols import TextEncoder

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
_UNANSWERED = {
    EventKind.FALLBACK: "fallback",
    EventKind.OUT_OF_SCOPE: "out_of_scope",
    EventKind.LOW_CONFIDENCE: "low_confidence",
    EventKind.NOT_SURE: "not_sure",
}
#: Counted per kind in the bucket hashes (messages, sessions and intents have fields of their own).
_KIND_COUNTED = frozenset(EventKind) - {EventKind.MESSAGE, EventKind.SESSION, EventKind.INTENT}


@dataclass
class RecorderStats:
    """What the recorder did since it started (shown on the dashboard)."""

    queued: int = 0
    written: int = 0
    dropped_full: int = 0
    dropped_failed: int = 0
    flushes: int = 0
    failures: int = 0


@dataclass
class _Batch:
    """A batch folded into Redis writes."""

    counters: dict[str, Counter[str]] = field(default_factory=dict)
    tops: dict[str, Counter[str]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    entries: list[tuple[Event, str]] = field(default_factory=list)  # (event, stream kind)

    def incr(self, at: float, name: str, by: int = 1) -> None:
        for grain, bucket in (("h", hour_of(at)), ("d", day_of(at))):
            self.counters.setdefault(f"{grain}:{bucket}", Counter())[name] += by

    def frt(self, at: float, seconds: int) -> None:
        for grain, bucket in (("h", hour_of(at)), ("d", day_of(at))):
            self.counters.setdefault(f"{grain}:{bucket}:frt", Counter())[str(seconds)] += 1

    def top(self, table: str, at: float, member: str, by: int = 1) -> None:
        if member:
            self.tops.setdefault(f"{table}:{day_of(at)}", Counter())[member] += by


class RedisEventRecorder:
    """Queues events and writes them to Redis in the background.

    Args:
        redis: an asyncio client; closed by :meth:`aclose` only if :meth:`from_url` made it.
        keys: the deployment's key builder.
        retention: what bounds memory (TTLs, stream length, table sizes).
        encoder: embeds masked texts that came without an embedding (None: stored without one).
        queue_max: events waiting at most; more are dropped and counted.
        batch_max: events written per pipeline at most.
        flush_every_s: the longest an event waits before it is written.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        keys: KeyBuilder | None = None,
        retention: Retention | None = None,
        encoder: TextEncoder | None = None,
        queue_max: int = 20_000,
        batch_max: int = 2_000,
        flush_every_s: float = 0.5,
    ) -> None:
        if queue_max < 1 or batch_max < 1 or flush_every_s <= 0:
            raise ValueError("queue_max, batch_max and flush_every_s must be positive")
        self.redis = redis
        self.keys = keys or KeyBuilder()
        self.retention = retention or Retention()
        self.encoder = encoder
        self.queue_max = queue_max
        self.batch_max = batch_max
        self.flush_every_s = flush_every_s
        self.stats = RecorderStats()
        self._queue: deque[Event] = deque()
        self._retry: list[Event] = []
        self._attempts = 0
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._owns_client = False
        self._failing = False

    @classmethod
    def from_url(cls, url: str, **kwargs: object) -> RedisEventRecorder:
        """A recorder with its own small connection pool (closed by :meth:`aclose`)."""
        # Short timeouts and no client-side retries: the recorder retries whole batches itself.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=4, timeout=5, socket_timeout=5,
                                                        socket_connect_timeout=5, retry=Retry(NoBackoff(), 0))
        recorder = cls(aioredis.Redis.from_pool(pool), **kwargs)  # type: ignore[arg-type]
        recorder._owns_client = True
        return recorder

    # --- the reply path ------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Queue one event (never blocks, never raises)."""
        if len(self._queue) >= self.queue_max:
            self.stats.dropped_full += 1
            return
        self._queue.append(event)
        self.stats.queued += 1
        if len(self._queue) >= self.batch_max:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._retry)

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the background writer on the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="event recorder")

    async def aclose(self, *, timeout_s: float = 5.0) -> None:
        """Write what is queued (for at most ``timeout_s``), stop, and close an owned client."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            async with asyncio.timeout(timeout_s):
                await self.flush()
        except (TimeoutError, StorageError) as e:
            logger.warning("event recorder closed with %d event(s) unwritten: %s", self.pending, e)
        if self._owns_client:
            with contextlib.suppress(RedisError):
                await self.redis.aclose()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_every_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except StorageError as e:
                if not self._failing:
                    logger.warning("analytics events not written (will retry): %s", e)
                self._failing = True
            else:
                if self._failing:
                    logger.info("analytics events written again")
                self._failing = False

    # --- writing -----------------------------------------------------------------------
    async def flush(self) -> int:
        """Write everything queued now; returns how many events were written.

        Raises:
            StorageError: Redis failed; the batch stays queued for another attempt.
        """
        written = 0
        async with self._write_lock:
            while self._retry or self._queue:
                if not self._retry:
                    take = min(self.batch_max, len(self._queue))
                    self._retry = [self._queue.popleft() for _ in range(take)]
                    self._attempts = 0
                batch = self._retry
                try:
                    await self._write(batch)
                except (RedisError, OSError) as e:
                    self._attempts += 1
                    self.stats.failures += 1
                    if self._attempts >= MAX_ATTEMPTS:
                        self.stats.dropped_failed += len(batch)
                        self._retry = []
                    raise StorageError(f"redis failed to write analytics events: {e}") from e
                self._retry = []
                written += len(batch)
                self.stats.written += len(batch)
                self.stats.flushes += 1
        return written

    def _fold(self, events: Iterable[Event]) -> _Batch:
        batch = _Batch()
        for e in events:
            p, b, kind = e.platform, e.bot, e.kind
            if kind is EventKind.MESSAGE:
                batch.incr(e.at, schema.messages_field(p, b))
                batch.incr(e.at, schema.TOTAL_MESSAGES)
                continue
            if kind is EventKind.SESSION:
                if not e.previous:
                    batch.incr(e.started_at, schema.sessions_field(p, b))
                    batch.incr(e.started_at, schema.TOTAL_SESSIONS)
                else:
                    batch.incr(e.started_at, schema.status_field(e.previous, p, b), -1)
                batch.incr(e.started_at, schema.status_field(e.status, p, b))
                continue
            if kind is EventKind.INTENT:
                batch.incr(e.at, schema.intent_field(b, e.intent))
                continue
            batch.incr(e.at, schema.kind_field(kind.value, p, b))
            if kind is EventKind.HANDOFF_REQUESTED:
                batch.incr(e.at, schema.TOTAL_HANDOFFS)
            if kind in _UNANSWERED:
                batch.incr(e.at, schema.TOTAL_UNANSWERED)
                if e.text:
                    batch.entries.append((e, _UNANSWERED[kind]))
            elif kind is EventKind.SEARCH:
                query = schema.normalize_query(e.text)
                batch.top(schema.TABLE_QUERIES, e.at, query)
                if e.count == 0:
                    batch.incr(e.at, schema.kind_field(schema.ZERO_RESULTS, p, b))
                    batch.incr(e.at, schema.TOTAL_UNANSWERED)
                    batch.top(schema.TABLE_ZERO, e.at, query)
                    if e.text:
                        batch.entries.append((e, schema.ZERO_RESULTS))
            elif kind is EventKind.ITEM_VIEWED or kind is EventKind.CART_ADD:
                table = schema.TABLE_VIEWED if kind is EventKind.ITEM_VIEWED else schema.TABLE_ADDED
                batch.top(table, e.at, e.item, max(1, e.count) if kind is EventKind.CART_ADD else 1)
                if e.item and e.title:
                    batch.titles[e.item] = e.title[:200]
            elif kind is EventKind.CSAT:
                rating = int(e.value)
                if 1 <= rating <= 5:
                    batch.incr(e.at, schema.csat_field(rating, p, b))
            elif kind is EventKind.FIRST_RESPONSE:
                batch.frt(e.at, schema.response_seconds(e.value))
        return batch

    async def _write(self, events: list[Event]) -> None:
        batch = self._fold(events)
        embeddings = await self._embeddings(batch.entries)
        pipe = self.redis.pipeline(transaction=False)
        hour_ttl, day_ttl = schema.HOUR_BUCKETS_KEPT_S, self.retention.day_ttl_s
        for name, counts in batch.counters.items():
            grain, _, rest = name.partition(":")
            bucket, _, part = rest.partition(":")
            key = self.keys.stats(grain, int(bucket), part)
            for fld, by in counts.items():
                if by:
                    pipe.hincrby(key, fld, by)
            pipe.expire(key, hour_ttl if grain == "h" else day_ttl)
        cards: list[tuple[str, int]] = []  # (table key, index of its ZCARD reply)
        for name, counts in batch.tops.items():
            table, _, day = name.partition(":")
            key = self.keys.top(table, int(day))
            for member, by in counts.items():
                pipe.zincrby(key, by, member)
            pipe.expire(key, day_ttl)
            cards.append((key, len(pipe)))
            pipe.zcard(key)
        if batch.titles:
            titles = self.keys.lookup(schema.TITLES)
            mapping: dict[FieldT, EncodableT] = {k: v for k, v in batch.titles.items()}  # retyped for redis-py
            pipe.hset(titles, mapping=mapping)
            pipe.expire(titles, day_ttl)
        stream = self.keys.stream(schema.UNANSWERED_STREAM)
        added: list[tuple[Event, int]] = []  # (event, index of its XADD reply)
        for (event, kind), vector in zip(batch.entries, embeddings):
            fields: dict[FieldT, EncodableT] = {
                "k": kind, "p": event.platform, "b": event.bot, "t": event.text, "i": event.intent,
                "s": f"{event.score:.4f}", "at": f"{event.at:.3f}",
            }
            if vector is not None:
                fields["e"] = schema.pack_embedding(vector)
            added.append((event, len(pipe)))
            pipe.xadd(stream, fields, maxlen=self.retention.unanswered_max, approximate=True)
        if batch.entries:
            oldest_ms = int((now() - self.retention.seconds) * 1000)
            pipe.xtrim(stream, minid=f"{max(oldest_ms, 0)}-0", approximate=True)
        results = await pipe.execute()
        await self._after([(e, results[i]) for e, i in added], [(k, results[i]) for k, i in cards])

    async def _after(self, added: list[tuple[Event, object]], cards: list[tuple[str, object]]) -> None:
        """Index stream ids by user (for /forget), trimmed like the stream; cut oversized tables."""
        pipe = self.redis.pipeline(transaction=False)
        users = self.keys.index(schema.UNANSWERED_USERS)
        written = now()  # the stream's ids carry the write time too, and both are trimmed by it
        members = {f"{schema.user_tag(e.platform, e.user)}:{_text(i)}": written for e, i in added if e.user and i}
        if members:
            pipe.zadd(users, members)
            pipe.zremrangebyscore(users, "-inf", written - self.retention.seconds)
            pipe.zremrangebyrank(users, 0, -(self.retention.unanswered_max + 1))
            pipe.expire(users, self.retention.day_ttl_s)
        for key, card in cards:
            if isinstance(card, int) and card > 2 * self.retention.top_max:
                pipe.zremrangebyrank(key, 0, -(self.retention.top_max + 1))
        if len(pipe):
            await pipe.execute()

    async def _embeddings(self, entries: list[tuple[Event, str]]) -> list[np.ndarray | None]:
        vectors: list[np.ndarray | None] = [e.embedding for e, _ in entries]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing and self.encoder is not None:
            try:
                found = await self.encoder.embed([entries[i][0].text for i in missing])
            except Exception as e:  # noqa: BLE001 - an example without a vector is still worth keeping
                logger.warning("could not embed %d unanswered example(s): %s", len(missing), e)
            else:
                for i, vector in zip(missing, found):
                    vectors[i] = vector
        return vectors

    # --- erasure ---------------------------------------------------------------------------
    async def forget_user(self, platform: Platform, user_id: str) -> int:
        """Delete every stored example of this user (queued ones first written, then removed).

        Counters and frequency tables hold no user link and stay.

        Returns:
            How many stream entries were deleted.

        Raises:
            StorageError: Redis failed.
        """
        with contextlib.suppress(StorageError):
            await self.flush()  # so nothing of theirs lands after the erasure
        users = self.keys.index(schema.UNANSWERED_USERS)
        tag = schema.user_tag(platform.value, user_id)
        try:
            found = [_text(m) async for m, _ in self.redis.zscan_iter(users, match=f"{tag}:*", count=1000)]
            removed = 0
            if found:
                ids = [m.split(":", 1)[1] for m in found]
                removed = await self.redis.xdel(self.keys.stream(schema.UNANSWERED_STREAM), *ids)
                await self.redis.zrem(users, *found)
        except RedisError as e:
            raise StorageError(f"redis failed to forget analytics events: {e}") from e
        return removed


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
