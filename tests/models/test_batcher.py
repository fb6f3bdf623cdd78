"""MicroBatcher: coalescing, routing, ordering, errors and shutdown."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from models.batcher import BatcherClosed, MicroBatcher


class RecordingModel:
    """A deterministic stand-in for inference: row i is [len(text), hash-ish]. Records calls."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on = fail_on

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.threads.add(threading.current_thread().name)
        if self.fail_on is not None and self.fail_on in texts:
            raise ValueError(f"cannot embed {self.fail_on!r}")
        return np.array([[len(t), sum(map(ord, t))] for t in texts], dtype=np.float32)


def expected(text: str) -> np.ndarray:
    return np.array([len(text), sum(map(ord, text))], dtype=np.float32)


async def test_concurrent_submits_share_batches_and_get_their_own_rows() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(run_batch=model, max_batch_size=16, max_wait_ms=20)
    texts = [f"message number {i} " + "x" * (i % 7) for i in range(40)]
    try:
        rows = await asyncio.gather(*(batcher.submit(t) for t in texts))
    finally:
        await batcher.aclose()
    for text, row in zip(texts, rows):
        np.testing.assert_array_equal(row, expected(text))
    assert batcher.items_run == 40
    assert len(model.calls) == batcher.batches_run
    assert batcher.batches_run < 40
    assert max(len(c) for c in model.calls) <= 16
    assert threading.main_thread().name not in model.threads


async def test_each_batch_is_sorted_by_length() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(run_batch=model, max_batch_size=64, max_wait_ms=20)
    texts = ["a much longer text than the others", "hi", "medium text", "x"]
    try:
        await asyncio.gather(*(batcher.submit(t) for t in texts))
    finally:
        await batcher.aclose()
    for call in model.calls:
        assert call == sorted(call, key=len)


async def test_submit_many_keeps_input_order() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(run_batch=model, max_batch_size=8, max_wait_ms=5)
    texts = ["zzzzzzzzzz", "a", "bbbbb", "cc", "dddddddd"] * 3
    try:
        rows = await batcher.submit_many(texts)
    finally:
        await batcher.aclose()
    np.testing.assert_array_equal(rows, np.stack([expected(t) for t in texts]))


async def test_a_failing_batch_raises_in_every_caller_of_that_batch() -> None:
    model = RecordingModel(fail_on="boom")
    batcher = MicroBatcher(run_batch=model, max_batch_size=64, max_wait_ms=50)
    try:
        results = await asyncio.gather(
            batcher.submit("fine"), batcher.submit("boom"), batcher.submit("also fine"),
            return_exceptions=True,
        )
        assert all(isinstance(r, ValueError) and "boom" in str(r) for r in results)
        # The worker survives a failed batch.
        np.testing.assert_array_equal(await batcher.submit("after"), expected("after"))
    finally:
        await batcher.aclose()


async def test_wrong_row_count_is_an_error_not_a_misrouting() -> None:
    batcher = MicroBatcher(run_batch=lambda texts: np.zeros((1, 2), np.float32), max_wait_ms=20)
    try:
        results = await asyncio.gather(batcher.submit("a"), batcher.submit("b"), return_exceptions=True)
    finally:
        await batcher.aclose()
    assert all(isinstance(r, RuntimeError) for r in results)


async def test_closed_batcher_refuses_new_work_and_finishes_queued_work() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(run_batch=model, max_batch_size=4, max_wait_ms=1)
    pending = [asyncio.ensure_future(batcher.submit(f"t{i}")) for i in range(10)]
    await asyncio.sleep(0)  # let every submit enqueue
    await batcher.aclose()
    rows = await asyncio.gather(*pending)
    assert [r[0] for r in rows] == [len(f"t{i}") for i in range(10)]
    with pytest.raises(BatcherClosed):
        await batcher.submit("late")


def test_callers_on_separate_event_loops_share_one_batcher() -> None:
    model = RecordingModel()
    batcher = MicroBatcher(run_batch=model, max_batch_size=64, max_wait_ms=10)
    results: dict[int, list[np.ndarray]] = {}

    def client(n: int) -> None:
        async def go() -> list[np.ndarray]:
            return list(await asyncio.gather(*(batcher.submit(f"loop {n} item {i}") for i in range(5))))

        results[n] = asyncio.run(go())

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    batcher.close()
    assert sorted(results) == [0, 1, 2, 3]
    for n, rows in results.items():
        for i, row in enumerate(rows):
            np.testing.assert_array_equal(row, expected(f"loop {n} item {i}"))


def test_rejects_nonsense_configuration() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(run_batch=RecordingModel(), max_batch_size=0)
    with pytest.raises(ValueError):
        MicroBatcher(run_batch=RecordingModel(), max_wait_ms=-1)


async def test_real_encoder_micro_batches_match_embed_sync(served_encoder) -> None:
    texts = [
        "where is my order", "I want a refund for the shoes I bought last week",
        "hi", "can I change the delivery address on order 1234?", "cancel it",
        "do you ship to Canada", "my invoice is wrong, the VAT number is missing", "thanks!",
    ] * 3
    rows = await asyncio.gather(*(served_encoder.embed([t]) for t in texts))
    batcher = served_encoder.batcher
    assert batcher.items_run == len(texts)
    assert batcher.batches_run < len(texts)
    got = np.concatenate(rows)
    want = served_encoder.embed_sync(texts)
    assert got.shape == (len(texts), served_encoder.dim)
    np.testing.assert_allclose(np.sum(got * want, axis=1), 1.0, atol=1e-4)
