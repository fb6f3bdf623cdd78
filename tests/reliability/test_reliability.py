"""Short versions of ``make soak``: retry storm, racing cart updates, a Redis outage, two processes.

The scenarios live in :mod:`bench.soak`; here they run small and assert the
outcomes (never the speed).
"""

from __future__ import annotations

import shutil

import pytest

from bench.e2e import add_payloads_from
from bench.soak import (
    cart_race,
    in_process_app,
    in_process_poster,
    redis_outage,
    retry_storm,
    scale_out,
)
from bots.runtime import Runtime

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_slack_retry_storm_yields_no_duplicate_replies(real_runtime: Runtime) -> None:
    async with in_process_app(real_runtime.settings, real_runtime) as served:
        result = await retry_storm([in_process_poster(served.client)], served.slack_api.recorder, events=15)
    assert result["statuses"] == {200: 60}
    assert all(n >= 1 for n in result["baseline_posts_per_text"].values())
    assert result["duplicate_replies"] == 0
    assert result["missing_replies"] == 0


async def test_fifty_concurrent_cart_additions_are_all_kept(real_runtime: Runtime) -> None:
    payloads = add_payloads_from(real_runtime.manager)
    assert payloads, "the demo catalogue has buyable variants"
    result = await cart_race(real_runtime.manager.handle, real_runtime.store, payloads, n=50)
    assert result["exceptions"] == 0
    assert result["added_replies"] == 50
    assert result["items_in_cart"] == 50


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_redis_outage_every_message_answered_and_nothing_acknowledged_lost(real_runtime: Runtime) -> None:
    result = await redis_outage(real_runtime.settings, real_runtime.encoder, outage_s=2.5, before_s=1.5,
                                after_s=2.0, conversations=4)
    assert result["messages_during_outage"] > 0
    assert result["apologies_during_outage"] > 0
    assert result["unanswered"] == 0
    # Every conversation (the shoppers' and the cart's) answers normally again: none is left stuck
    # behind a lock the outage interrupted. How fast is `make soak`'s figure, not this test's.
    assert result["conversations_probed"] == 5
    assert result["conversations_recovered"] == result["conversations_probed"]
    assert result["acknowledged_cart_adds"] > 0
    assert result["acknowledged_lost"] == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
async def test_two_server_processes_share_one_redis_without_duplicates() -> None:
    result = await scale_out(events=10, presses=10)
    assert result["all_alive"]
    assert result["storm"]["statuses"] == {200: 40}
    assert result["storm"]["duplicate_replies"] == 0
    assert result["storm"]["missing_replies"] == 0
    assert result["items_in_cart"] == 10
