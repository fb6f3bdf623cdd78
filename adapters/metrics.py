"""Prometheus metrics for the serving path.

Each :class:`AdapterMetrics` owns its own registry, so several apps (tests,
one per bot) never collide on metric names. ``/metrics`` renders that
registry; nothing here reads the environment or touches the network.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.types import MessageHandler
from core.events import Event, EventKind
from core.handoff import RelayOutcome
from core.messages import IncomingMessage, Reply
from core.protocols import CacheStats

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AdapterMetrics:
    """Counters and histograms for messages, latency, intents and failures.

    Args:
        registry: Where the metrics are registered; a fresh one by default.
    """

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "shopkeep_messages_total", "Incoming messages handed to the dialogue.",
            ("platform", "bot"), registry=self.registry,
        )
        self.latency = Histogram(
            "shopkeep_message_latency_seconds", "Time from hand-off to the dialogue until replies are ready.",
            ("platform", "bot"), buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.intents = Counter(
            "shopkeep_intents_total", "Recognised intents.", ("bot", "intent"), registry=self.registry,
        )
        self.fallbacks = Counter(
            "shopkeep_fallbacks_total", "Messages understood as out of scope.", ("bot",), registry=self.registry,
        )
        self.handoffs = Counter(
            "shopkeep_handoffs_total", "Conversations handed to a person.", ("platform", "bot"),
            registry=self.registry,
        )
        self.events = Counter(
            "shopkeep_events_total", "Dialogue events by kind (searches, cart adds, fallbacks, ratings...).",
            ("platform", "bot", "kind"), registry=self.registry,
        )
        self.errors = Counter(
            "shopkeep_errors_total", "Failures while handling or answering a message.",
            ("platform", "bot", "kind"), registry=self.registry,
        )
        self.handoff_relays = Counter(
            "shopkeep_handoff_relays_total",
            "Messages relayed during a live handoff, by direction and whether the platform took them.",
            ("direction", "outcome"), registry=self.registry,
        )
        self.duplicates = Counter(
            "shopkeep_duplicate_deliveries_total", "Platform redeliveries dropped by the adapter.",
            ("platform",), registry=self.registry,
        )

    def watch_embedding_cache(self, stats: Callable[[], CacheStats | None]) -> None:
        """Export the encoder's embedding cache (hits, misses, hit rate, entries), read at each scrape."""
        self.registry.register(_EmbeddingCacheCollector(stats))

    def observe_event(self, event: Event) -> None:
        """Count one dialogue event (a :class:`~core.events.EventObserver`)."""
        kind = event.kind
        if kind is EventKind.MESSAGE or kind is EventKind.SESSION:
            return  # messages are counted by :meth:`instrument`, sessions only mean something over time
        self.events.labels(platform=event.platform, bot=event.bot, kind=kind.value).inc()
        if kind is EventKind.INTENT:
            self.intents.labels(bot=event.bot, intent=event.intent).inc()
        elif kind is EventKind.OUT_OF_SCOPE:
            self.fallbacks.labels(bot=event.bot).inc()
        elif kind is EventKind.HANDOFF_REQUESTED:
            self.handoffs.labels(platform=event.platform, bot=event.bot).inc()

    def observe_relay(self, outcome: RelayOutcome) -> None:
        """Count one relayed handoff message (``HandoffService.relay_observers`` calls this)."""
        self.handoff_relays.labels(direction=outcome.direction,
                                   outcome="delivered" if outcome.delivered else "failed").inc()

    def observe_error(self, platform: str, bot: str, error: BaseException) -> None:
        self.errors.labels(platform=platform, bot=bot, kind=type(error).__name__).inc()

    def instrument(self, handler: MessageHandler, *, platform: str, bot: str) -> MessageHandler:
        """Wrap ``handler`` so every call is counted, timed and its failures recorded."""

        async def instrumented(message: IncomingMessage) -> list[Reply]:
            self.messages.labels(platform=platform, bot=bot).inc()
            started = time.perf_counter()
            try:
                replies = await handler(message)
            except BaseException as error:
                self.observe_error(platform, bot, error)
                raise
            finally:
                self.latency.labels(platform=platform, bot=bot).observe(time.perf_counter() - started)
            return replies

        return instrumented

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type, for ``/metrics``."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _EmbeddingCacheCollector(Collector):
    """Reads the cache's counters when ``/metrics`` is rendered (nothing to update per message)."""

    def __init__(self, stats: Callable[[], CacheStats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        yield CounterMetricFamily("shopkeep_embedding_cache_hits", "Texts whose embedding came from the cache.",
                                  value=stats.hits)
        yield CounterMetricFamily("shopkeep_embedding_cache_misses", "Texts the encoder had to embed.",
                                  value=stats.misses)
        yield GaugeMetricFamily("shopkeep_embedding_cache_hit_ratio", "Hits / lookups since start-up.",
                                value=stats.hit_rate)
        yield GaugeMetricFamily("shopkeep_embedding_cache_entries", "Texts held in the cache now.",
                                value=stats.entries)
