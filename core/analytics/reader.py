"""Reads what :mod:`core.analytics.recorder` wrote, for the owner's dashboard.

The overview reads one counter hash per bucket (24 or 168 hours, or 30
days) in one pipeline, whatever the traffic was; the search tables read one
sorted set per day; the unanswered list reads the capped stream.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.analytics import schema
from core.analytics.schema import DAY_S, HOUR_S, Retention
from core.errors import StorageError
from core.events import SESSION_STATUSES, EventKind, now
from core.keys import KeyBuilder


@dataclass(frozen=True)
class Window:
    """A view's time span: ``count`` buckets of one ``grain`` ("h" or "d"), the current one last."""

    name: str
    label: str
    grain: str
    count: int

    @property
    def bucket_s(self) -> int:
        return HOUR_S if self.grain == "h" else DAY_S


WINDOWS: dict[str, Window] = {
    "24h": Window("24h", "last 24 hours", "h", 24),
    "7d": Window("7d", "last 7 days", "h", 168),
    "30d": Window("30d", "last 30 days", "d", 30),
}


def window(name: str) -> Window:
    """The window called ``name``; unknown names get the 24 h one."""
    return WINDOWS.get(name, WINDOWS["24h"])


@dataclass(frozen=True)
class Channel:
    platform: str
    bot: str
    messages: int
    sessions: int


@dataclass(frozen=True)
class TrendPoint:
    start: float  # epoch seconds of the bucket's start
    messages: int
    sessions: int
    handoffs: int
    unanswered: int


@dataclass(frozen=True)
class Overview:
    """Counts over one window; rates are None when there is nothing to divide by."""

    window: Window
    start: float
    end: float
    channels: tuple[Channel, ...]
    statuses: dict[str, int]
    kinds: dict[str, int]
    csat: dict[int, int]
    first_response_s: float | None
    first_responses: int
    intents: tuple[tuple[str, str, int], ...]
    trend: tuple[TrendPoint, ...]

    @property
    def messages(self) -> int:
        return sum(c.messages for c in self.channels)

    @property
    def sessions(self) -> int:
        return sum(c.sessions for c in self.channels)

    @property
    def resolution_rate(self) -> float | None:
        return self.statuses.get("resolved", 0) / self.sessions if self.sessions else None

    @property
    def handoff_rate(self) -> float | None:
        return self.statuses.get("handoff", 0) / self.sessions if self.sessions else None

    @property
    def ratings(self) -> int:
        return sum(self.csat.values())

    @property
    def csat_average(self) -> float | None:
        n = self.ratings
        return sum(r * c for r, c in self.csat.items()) / n if n else None


@dataclass(frozen=True)
class Ranked:
    """One row of a frequency table (``title`` for items)."""

    key: str
    count: int
    title: str = ""


@dataclass(frozen=True)
class SearchReport:
    days: int
    searches: int
    zero_results: int
    queries: tuple[Ranked, ...]
    zero_queries: tuple[Ranked, ...]
    viewed: tuple[Ranked, ...]
    added: tuple[Ranked, ...]


@dataclass(frozen=True)
class UnansweredEntry:
    """One stored unanswered message (masked)."""

    id: str
    kind: str
    platform: str
    bot: str
    text: str
    intent: str
    score: float
    at: float
    embedding: np.ndarray | None = field(default=None, repr=False)


UNANSWERED_KINDS = ("fallback", "out_of_scope", "low_confidence", "not_sure", schema.ZERO_RESULTS)
_UNANSWERED_COUNTED = (EventKind.FALLBACK.value, EventKind.OUT_OF_SCOPE.value, EventKind.LOW_CONFIDENCE.value,
                       EventKind.NOT_SURE.value, schema.ZERO_RESULTS)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class AnalyticsReader:
    """Reads counters, tables and the unanswered stream.

    Args:
        redis: an asyncio client (the caller owns it).
        keys: the deployment's key builder (the recorder's).
        retention: the recorder's retention (for the stream's size).
    """

    def __init__(self, redis: aioredis.Redis, *, keys: KeyBuilder | None = None,
                 retention: Retention | None = None) -> None:
        self.redis = redis
        self.keys = keys or KeyBuilder()
        self.retention = retention or Retention()

    async def overview(self, win: Window, *, at: float | None = None) -> Overview:
        """Counts, rates and trend for ``win`` ending in the bucket holding ``at`` (now).

        An hour window longer than a day reads the hours of its first, partial
        day and then whole day buckets (today's included), so 7 days are about
        30 hashes rather than 168; its trend reads four total fields per hour.

        Raises:
            StorageError: Redis failed.
        """
        end = now() if at is None else at
        last = int(end // win.bucket_s)
        buckets = list(range(last - win.count + 1, last + 1))
        parts = _cover(win, buckets)
        pipe = self.redis.pipeline(transaction=False)
        for grain, b in parts:
            pipe.hgetall(self.keys.stats(grain, b))
        for grain, b in parts:
            pipe.hgetall(self.keys.stats(grain, b, "frt"))
        for b in buckets:
            pipe.hmget(self.keys.stats(win.grain, b), schema.TOTALS)
        try:
            results = await pipe.execute()
        except RedisError as e:
            raise StorageError(f"redis failed to read the overview: {e}") from e
        n = len(parts)
        counters, frts, totals = results[:n], results[n:2 * n], results[2 * n:]
        messages: Counter[tuple[str, str]] = Counter()
        sessions: Counter[tuple[str, str]] = Counter()
        statuses: Counter[str] = Counter()
        kinds: Counter[str] = Counter()
        csat: Counter[int] = Counter()
        intents: Counter[tuple[str, str]] = Counter()
        for raw in counters:
            for name, value in raw.items():
                parts_ = _text(name).split("|")
                head, count = parts_[0], int(value)
                if head == "m" and len(parts_) == 3:
                    messages[(parts_[1], parts_[2])] += count
                elif head == "s" and len(parts_) == 3:
                    sessions[(parts_[1], parts_[2])] += count
                elif head == "st" and len(parts_) == 4:
                    statuses[parts_[1]] += count
                elif head == "k" and len(parts_) == 4:
                    kinds[parts_[1]] += count
                elif head == "i" and len(parts_) == 3:
                    intents[(parts_[1], parts_[2])] += count
                elif head == "c" and len(parts_) == 4 and parts_[1].isdigit():
                    csat[int(parts_[1])] += count
        trend = tuple(
            TrendPoint(start=b * win.bucket_s, **{k: int(v or 0) for k, v in zip(_TREND_FIELDS, values)})
            for b, values in zip(buckets, totals)
        )
        frt: Counter[int] = Counter()
        for raw in frts:
            for name, value in raw.items():
                frt[int(_text(name))] += int(value)
        channels = tuple(
            Channel(platform=p, bot=b, messages=messages[(p, b)], sessions=sessions[(p, b)])
            for p, b in sorted(set(messages) | set(sessions))
        )
        return Overview(
            window=win, start=buckets[0] * win.bucket_s, end=end, channels=channels,
            statuses={s: max(0, statuses[s]) for s in SESSION_STATUSES}, kinds=dict(kinds),
            csat={r: csat[r] for r in range(1, 6)}, first_response_s=_median(frt),
            first_responses=sum(frt.values()),
            intents=tuple((b, i, n) for (b, i), n in intents.most_common(15)), trend=trend,
        )

    async def search(self, days: int, *, at: float | None = None, top: int = 20) -> SearchReport:
        """The most frequent queries, zero-result queries, viewed and added items over ``days`` days.

        Raises:
            StorageError: Redis failed.
        """
        today = int((now() if at is None else at) // DAY_S)
        day_list = range(today - days + 1, today + 1)
        tables = (schema.TABLE_QUERIES, schema.TABLE_ZERO, schema.TABLE_VIEWED, schema.TABLE_ADDED)
        pipe = self.redis.pipeline(transaction=False)
        for table in tables:
            for d in day_list:
                pipe.zrevrange(self.keys.top(table, d), 0, self.retention.top_max - 1, withscores=True)
        try:
            results = await pipe.execute()
            merged: list[Counter[str]] = []
            for t in range(len(tables)):
                total: Counter[str] = Counter()
                for rows in results[t * days:(t + 1) * days]:
                    for member, score in rows:
                        total[_text(member)] += int(score)
                merged.append(total)
            items = [k for k, _ in merged[2].most_common(top)] + [k for k, _ in merged[3].most_common(top)]
            titles = await self.redis.hmget(self.keys.lookup(schema.TITLES), items) if items else []
        except RedisError as e:
            raise StorageError(f"redis failed to read the search tables: {e}") from e
        names = {k: _text(v) for k, v in zip(items, titles) if v is not None}

        def ranked(counter: Counter[str], with_titles: bool = False) -> tuple[Ranked, ...]:
            return tuple(Ranked(key=k, count=n, title=names.get(k, "") if with_titles else "")
                         for k, n in counter.most_common(top))

        return SearchReport(
            days=days, searches=sum(merged[0].values()), zero_results=sum(merged[1].values()),
            queries=ranked(merged[0]), zero_queries=ranked(merged[1]),
            viewed=ranked(merged[2], True), added=ranked(merged[3], True),
        )

    async def unanswered(self, *, bot: str | None = None, since: float | None = None,
                         limit: int | None = None) -> list[UnansweredEntry]:
        """Stored unanswered messages, newest first, of ``bot`` (all bots: None) since ``since``.

        Raises:
            StorageError: Redis failed.
        """
        count = limit or self.retention.unanswered_max
        min_id = f"{int(since * 1000)}-0" if since else "-"
        try:
            rows = await self.redis.xrevrange(self.keys.stream(schema.UNANSWERED_STREAM), "+", min_id,
                                              count=count)
        except RedisError as e:
            raise StorageError(f"redis failed to read unanswered messages: {e}") from e
        entries = (_entry(entry_id, fields) for entry_id, fields in rows or () if entry_id is not None and fields)
        return [e for e in entries if bot is None or e.bot == bot]

    async def entries(self, ids: Sequence[str]) -> list[UnansweredEntry]:
        """The stored entries with these ids (those that still exist), in the order asked.

        Raises:
            StorageError: Redis failed.
        """
        stream = self.keys.stream(schema.UNANSWERED_STREAM)
        pipe = self.redis.pipeline(transaction=False)
        for entry_id in ids:
            pipe.xrange(stream, entry_id, entry_id, count=1)
        try:
            results = await pipe.execute() if ids else []
        except RedisError as e:
            raise StorageError(f"redis failed to read unanswered messages: {e}") from e
        return [_entry(rows[0][0], rows[0][1]) for rows in results if rows]

    async def remove_unanswered(self, ids: Sequence[str]) -> int:
        """Delete reviewed entries (labelled or dismissed); returns how many existed.

        Raises:
            StorageError: Redis failed.
        """
        if not ids:
            return 0
        try:
            return int(await self.redis.xdel(self.keys.stream(schema.UNANSWERED_STREAM), *ids))
        except RedisError as e:
            raise StorageError(f"redis failed to remove reviewed messages: {e}") from e


_TREND_FIELDS = ("messages", "sessions", "handoffs", "unanswered")


def _cover(win: Window, buckets: list[int]) -> list[tuple[str, int]]:
    """The fewest buckets covering ``buckets`` exactly: ``(grain, number)`` pairs.

    Day windows are their days. An hour window of a day or less is its hours;
    a longer one is the hours of its first day (from its first hour on), then
    whole days up to today (today's bucket holds no hour after now).
    """
    if win.grain == "d" or len(buckets) <= 24:
        return [(win.grain, b) for b in buckets]
    first, last = buckets[0], buckets[-1]
    hours_per_day = DAY_S // HOUR_S
    if first % hours_per_day == 0:
        return [("d", d) for d in range(first // hours_per_day, last // hours_per_day + 1)]
    next_day = first // hours_per_day + 1
    hours = [("h", h) for h in range(first, next_day * hours_per_day)]
    return hours + [("d", d) for d in range(next_day, last // hours_per_day + 1)]


def _entry(entry_id: bytes | str, fields: Mapping[bytes | str, bytes | str]) -> UnansweredEntry:
    f = {_text(k): v for k, v in fields.items()}
    try:
        score = float(_text(f.get("s", b"0")))
        at = float(_text(f.get("at", b"0")))
    except ValueError:
        score, at = 0.0, 0.0
    raw = f.get("e")
    return UnansweredEntry(
        id=_text(entry_id), kind=_text(f.get("k", b"")), platform=_text(f.get("p", b"")), bot=_text(f.get("b", b"")),
        text=_text(f.get("t", b"")), intent=_text(f.get("i", b"")), score=score, at=at,
        embedding=schema.unpack_embedding(raw) if isinstance(raw, bytes) else None,
    )


def _median(histogram: Counter[int]) -> float | None:
    """The exact median of values given as value -> count."""
    n = sum(histogram.values())
    if not n:
        return None
    ordered = sorted(histogram.items())
    wanted = [(n - 1) // 2, n // 2]
    found: list[int] = []
    seen = 0
    for value, count in ordered:
        while wanted and wanted[0] < seen + count:
            found.append(value)
            wanted.pop(0)
        seen += count
    return sum(found) / len(found)
