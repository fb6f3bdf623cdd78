"""Contracts the core depends on. Concrete classes are wired at start-up.

The dialogue manager calls these; ``models/`` and ``core/sessions`` provide
the implementations. Keeping them here lets the core be tested against any
implementation that honours the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from core.messages import ConversationKey, Platform
from core.state import ConversationState


@dataclass(frozen=True)
class CacheStats:
    """Counters of a cache since start-up (hits and misses of lookups, entries held now)."""

    hits: int
    misses: int
    entries: int
    capacity: int

    @property
    def hit_rate(self) -> float:
        """Share of lookups answered from the cache (0.0 before any lookup)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@runtime_checkable
class TextEncoder(Protocol):
    """Turns sentences into L2-normalised float32 embeddings of shape (n, dim)."""

    dim: int

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed off the event loop; concurrent calls may be micro-batched."""
        ...

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking variant for CLIs, training and index building."""
        ...


@runtime_checkable
class CachingTextEncoder(TextEncoder, Protocol):
    """An encoder that keeps an embedding cache (the metrics report its counters)."""

    def cache_stats(self) -> CacheStats | None:
        """The cache's counters; ``None`` when caching is off."""
        ...


@runtime_checkable
class NamedEncoder(TextEncoder, Protocol):
    """An encoder that names its weights, so that vectors it made are never mistaken for another model's."""

    @property
    def fingerprint(self) -> str:
        """Changes whenever the vectors could (another model, graph, variant or prefix)."""
        ...


@runtime_checkable
class DescribedEncoder(TextEncoder, Protocol):
    """An encoder that says which model it runs (similarity thresholds differ per model)."""

    @property
    def model_name(self) -> str:
        """The model's name as published (``sentence-transformers/all-MiniLM-L6-v2``); "" when unknown."""
        ...


def encoder_model_name(encoder: TextEncoder) -> str:
    """The model ``encoder`` runs, or "" when it does not say."""
    return encoder.model_name if isinstance(encoder, DescribedEncoder) else ""


def encoder_fingerprint(encoder: TextEncoder) -> str:
    """``encoder``'s fingerprint; an encoder that names no weights is known by its type and width."""
    if isinstance(encoder, NamedEncoder):
        return encoder.fingerprint
    return f"{type(encoder).__name__}-{encoder.dim}"


@runtime_checkable
class PassageEncoder(TextEncoder, Protocol):
    """A :class:`TextEncoder` that embeds documents differently from queries.

    Asymmetric encoders (e5: ``query: `` / ``passage: ``) want product documents,
    policy and procedure passages marked as passages; ``embed``/``embed_sync``
    embed queries (user messages, intent examples). Use :func:`embed_passages`
    and :func:`embed_passages_sync`, which fall back to the plain methods for
    encoders without the distinction.
    """

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents off the event loop."""
        ...

    def embed_passages_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking variant for index building."""
        ...


def embed_passages_sync(encoder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
    """Embed documents (not queries) with ``encoder``, blocking."""
    if isinstance(encoder, PassageEncoder):
        return encoder.embed_passages_sync(texts)
    return encoder.embed_sync(texts)


async def embed_passages(encoder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
    """Embed documents (not queries) with ``encoder`` off the event loop."""
    if isinstance(encoder, PassageEncoder):
        return await encoder.embed_passages(texts)
    return await encoder.embed(texts)


@dataclass(frozen=True)
class IntentPrediction:
    """What the intent model made of one text.

    ``label`` is the top intent, or ``"out_of_scope"`` when its confidence is
    below the calibrated threshold. ``ambiguous`` is set when top-1 and
    top-2 are within the calibrated margin. ``embedding`` is the sentence
    embedding from the same forward pass, reused for retrieval.
    """

    label: str
    confidence: float
    ranking: tuple[tuple[str, float], ...]
    out_of_scope: bool
    ambiguous: bool
    embedding: np.ndarray = field(repr=False)


@runtime_checkable
class IntentClassifier(Protocol):
    @property
    def labels(self) -> Sequence[str]: ...

    async def predict(self, text: str) -> IntentPrediction: ...

    def predict_batch_sync(self, texts: Sequence[str]) -> list[IntentPrediction]: ...


@runtime_checkable
class HeldConversation(Protocol):
    """A conversation under its lock, as :meth:`SessionStore.hold` hands it out.

    ``duplicate`` is True when the delivery was seen before: then nothing is
    locked or loaded and the caller drops the message. Otherwise ``state`` is
    what was stored (None for a new conversation), read inside the lock.
    """

    duplicate: bool
    state: ConversationState | None

    async def save(self, state: ConversationState) -> None:
        """Store ``state`` and release the lock (one round trip on Redis).

        Raises:
            StorageError: the store failed, or the lock was lost before the save
                (another holder may have written since: nothing is stored).
        """
        ...


@runtime_checkable
class SessionStore(Protocol):
    """Where conversation state lives. Called by the dialogue manager only.

    Implementations: ``RedisSessionStore`` (production) and
    ``MemorySessionStore`` (embedded default). Both pass
    ``tests/core/test_session_contract.py``.
    """

    async def load(self, key: ConversationKey) -> ConversationState | None: ...

    async def save(self, key: ConversationKey, state: ConversationState) -> None: ...

    def lock(self, key: ConversationKey) -> AbstractAsyncContextManager[None]:
        """Exclusive per-conversation lock; state must be loaded inside it."""
        ...

    def hold(
        self, key: ConversationKey, *, delivery_id: str | None = None
    ) -> AbstractAsyncContextManager[HeldConversation]:
        """The dialogue's hot path: drop a repeat, lock, load; ``save`` then stores and unlocks.

        One round trip on Redis for the first three (a script in the
        conversation's slot), one for the save and release. A delivery is
        marked seen only once its lock is taken, so a repeat that arrives while
        the first is still waiting for the lock is dropped, and a delivery that
        timed out waiting is handled when the platform sends it again. Leaving
        the block without ``save`` releases the lock.

        Raises:
            LockTimeout: another holder kept the lock longer than the store waits.
            StorageError: the store failed.
        """
        ...

    async def first_delivery(self, scope: str, delivery_id: str) -> bool:
        """True the first time (scope, delivery_id) is seen within the dedup TTL."""
        ...

    async def put_record(
        self,
        namespace: str,
        record_id: str,
        value: dict[str, Any],
        ttl_s: int | None = None,
        *,
        user: tuple[Platform, str] | None = None,
    ) -> None:
        """Auxiliary JSON records (handoffs, long button payloads...); ``user`` ties one to a user,
        so that ``forget_user`` erases it."""
        ...

    async def get_record(self, namespace: str, record_id: str) -> dict[str, Any] | None: ...

    async def delete_record(self, namespace: str, record_id: str) -> None: ...

    async def forget_user(self, platform: Platform, user_id: str) -> int:
        """Erase the user from every conversation and record indexed for them; returns how many
        states and records were deleted or rewritten.

        A conversation they had alone is deleted; a shared one keeps the other participants'
        part (``ConversationState.without_participant``), rewritten under its lock, so call it
        outside any conversation lock.
        """
        ...

    async def schedule(self, queue: str, member: str, at: float) -> None:
        """Put ``member`` in ``queue``, due at ``at`` (epoch seconds); re-scheduling moves it."""
        ...

    async def due(self, queue: str, until: float, limit: int = 100) -> list[str]:
        """Members of ``queue`` due at or before ``until``, earliest first (not removed)."""
        ...

    async def unschedule(self, queue: str, member: str) -> bool:
        """Remove ``member``; True only for the one caller that removed it (claims a due item)."""
        ...

    async def ping(self) -> bool: ...

    async def aclose(self) -> None: ...
