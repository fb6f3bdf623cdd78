"""Coalesce concurrent embedding requests into batched inference calls.

Many coroutines each ``await batcher.submit(text)``; a single worker thread
takes the first waiting request, collects whatever else arrives within
``max_wait_ms`` (up to ``max_batch_size``), sorts the batch by length so
similar lengths sit together, runs one inference call off the event loop and
hands each row back to its own future. Because the worker is a thread and
results go back with ``loop.call_soon_threadsafe``, callers on different event
loops (or threads running their own loops) can share one batcher.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import ShopkeepError

logger = logging.getLogger(__name__)

RunBatch = Callable[[list[str]], np.ndarray]


class BatcherClosed(ShopkeepError):
    """The micro-batcher was closed; no more requests are accepted."""


@dataclass
class _Request:
    text: str
    future: asyncio.Future[np.ndarray]
    loop: asyncio.AbstractEventLoop


_STOP = object()


class MicroBatcher:
    """Asyncio front, worker-thread back: batches ``submit`` calls for ``run_batch``.

    Args:
        run_batch: blocking function mapping ``n`` texts to an ``(n, dim)`` array,
            rows in input order. Called only from the worker thread.
        max_batch_size: most texts per ``run_batch`` call.
        max_wait_ms: how long the first request of a batch waits for company.
        sort_key: length proxy used to order a batch (default: character length).
        name: worker thread name, for debugging.
    """

    def __init__(
        self,
        *,
        run_batch: RunBatch,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        sort_key: Callable[[str], int] = len,
        name: str = "shopkeep-encoder-batcher",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be >= 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must be >= 0")
        self._run_batch = run_batch
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_ms / 1000.0
        self._sort_key = sort_key
        self._queue: queue.SimpleQueue[_Request | object] = queue.SimpleQueue()
        self._closed = False
        self._state_lock = threading.Lock()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()
        self.batches_run = 0
        self.items_run = 0

    @property
    def closed(self) -> bool:
        return self._closed

    async def submit(self, text: str) -> np.ndarray:
        """Embed one text; resolves to its ``(dim,)`` row.

        Raises:
            BatcherClosed: the batcher has been closed.
            Exception: whatever ``run_batch`` raised for the batch this text was in.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        with self._state_lock:
            if self._closed:
                raise BatcherClosed("micro-batcher is closed")
            self._queue.put(_Request(text=text, future=future, loop=loop))
        return await future

    async def submit_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embed several texts (each may share a batch with other callers' texts)."""
        rows = await asyncio.gather(*(self.submit(text) for text in texts))
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def close(self, *, timeout_s: float | None = 10.0) -> None:
        """Stop accepting requests, finish queued ones, stop the worker thread."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout=timeout_s)

    async def aclose(self) -> None:
        """Async :meth:`close`: waits for the worker without blocking the loop."""
        await asyncio.to_thread(self.close)

    # --- worker thread ----------------------------------------------------
    def _work(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Request] = [first]  # type: ignore[list-item]
            deadline = time.monotonic() + self._max_wait_s
            while len(batch) < self._max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True  # serve what we hold, then leave
                    break
                batch.append(item)  # type: ignore[arg-type]
            self._run(batch)
        self._drain_after_stop()

    def _run(self, batch: list[_Request]) -> None:
        live = [r for r in batch if not r.future.cancelled()]
        if not live:
            return
        live.sort(key=lambda r: self._sort_key(r.text))
        try:
            rows = self._run_batch([r.text for r in live])
            if len(rows) != len(live):
                raise RuntimeError(f"run_batch returned {len(rows)} rows for {len(live)} texts")
        except Exception as e:  # noqa: BLE001 - handed to every waiting caller, not swallowed
            logger.debug("micro-batch of %d failed: %r", len(live), e)
            for request in live:
                _deliver(request, _set_exception, e)
            return
        self.batches_run += 1
        self.items_run += len(live)
        for request, row in zip(live, rows):
            _deliver(request, _set_result, row)

    def _drain_after_stop(self) -> None:
        # Requests queued after _STOP cannot exist (submit checks _closed under
        # the same lock), but be strict: fail anything left rather than hang it.
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Request):
                _deliver(item, _set_exception, BatcherClosed("micro-batcher is closed"))


def _deliver(request: _Request, setter: Callable[..., None], value: object) -> None:
    try:
        request.loop.call_soon_threadsafe(setter, request.future, value)
    except RuntimeError:
        # The caller's event loop is closed: nobody is left to receive this.
        logger.debug("micro-batch result dropped: caller's event loop is closed")


def _set_result(future: asyncio.Future[np.ndarray], value: np.ndarray) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[np.ndarray], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
