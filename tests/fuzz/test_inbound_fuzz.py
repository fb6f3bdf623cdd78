"""Hypothesis fuzzing of every inbound path (short; ``make soak`` runs 10,000 cases).

Correctly signed Slack events, slash commands and button presses, garbage
bodies, Telegram updates with the right webhook secret, and console lines,
all into the real app on the real runtime: no 5xx and no unhandled exception.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench.soak import fuzz, in_process_app
from bots.runtime import Runtime, build_runtime
from core.keys import KeyBuilder
from core.sessions import RedisSessionStore
from core.settings import Settings
from tests.adapters.conftest import slack_headers

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_runtime(redis_url: str, artifacts_dir: Path) -> AsyncIterator[Runtime]:
    settings = Settings(redis_url=redis_url, artifacts_dir=artifacts_dir)
    store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=f"test-fuzz-{uuid.uuid4().hex[:8]}"))
    runtime = await build_runtime(settings, store=store)
    try:
        yield runtime
    finally:
        await runtime.aclose()


async def test_fuzzed_inbound_requests_never_5xx_or_raise(real_runtime: Runtime) -> None:
    async with in_process_app(real_runtime.settings, real_runtime) as served:
        result = await fuzz(served, real_runtime.manager, examples=300, console_examples=60,
                            malformed_slack_bodies=False)
    assert result["cases"] == 300
    assert "200" in result["statuses"]  # the fuzz reached past signature and secret checks
    assert result["server_errors_5xx"] == 0, result["server_error_samples"]
    assert result["unhandled_exceptions"] == 0, result["exception_samples"]


async def test_malformed_slack_body_is_a_client_error(real_runtime: Runtime) -> None:
    async with in_process_app(real_runtime.settings, real_runtime) as served:
        body = "{not json"
        response = await served.client.post("/slack/events", content=body, headers=slack_headers(body))
    assert 400 <= response.status_code < 500
