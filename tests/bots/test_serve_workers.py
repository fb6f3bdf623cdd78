"""`shopkeep serve --workers N`: several processes on one port, sharing Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from bench.coldstart import ServeProcess, serve_env
from bots.cli import app
from bots.commands.serve import threads_per_worker
from models.encoder import default_threads
from tests.adapters.conftest import SIGNING_SECRET, event_body, slack_headers
from tests.adapters.standins import SlackApiStandin


def test_threads_are_shared_out() -> None:
    assert threads_per_worker(2, 2) == 1
    assert threads_per_worker(2, 8) == 4
    assert threads_per_worker(4, 2) == 1  # never 0


def test_several_workers_need_redis(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("REDIS_URL", "SHOPKEEP_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(app, ["serve", "--workers", "2", "--port", "1"])
    assert result.exit_code == 2
    assert "REDIS_URL" in result.output


@pytest.mark.slow  # two model loads: ~5 s on a quiet machine, minutes on a busy one; `make soak` runs workers too
async def test_two_workers_serve_one_port(redis_url: str) -> None:
    async with SlackApiStandin() as slack_api:
        env = serve_env(redis_url=redis_url, slack_api_url=slack_api.api_url, signing_secret=SIGNING_SECRET)
        server = ServeProcess(env=env, args=("--workers", "2"))
        server.start()
        try:
            await asyncio.to_thread(server.wait_ready)
            pids = server.worker_pids()
            assert len(pids) == 2 and server.process is not None and server.process.pid not in pids
            want = f"SHOPKEEP_INTRA_OP_THREADS={threads_per_worker(2, default_threads())}"
            for pid in pids:
                assert want in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
            async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
                statuses = []
                for i in range(6):  # new connections: the kernel spreads them over both workers
                    event = {"type": "message", "channel": f"DWORK{i}", "user": "U0001", "text": "hi there",
                             "ts": f"1700000000.{i:06d}", "channel_type": "im", "event_ts": f"1700000000.{i:06d}"}
                    body = event_body(event, event_id=f"EvWorkers{i}{server.port}")
                    statuses.append((await client.post("/slack/events", content=body,
                                                        headers=slack_headers(body))).status_code)
                assert statuses == [200] * 6
                for _ in range(200):
                    if len(slack_api.recorder.of("chat.postMessage")) >= 6:
                        break
                    await asyncio.sleep(0.1)
            posts = slack_api.recorder.of("chat.postMessage")
            assert sorted(str(c.params["channel"]) for c in posts) == [f"DWORK{i}" for i in range(6)]
        finally:
            await asyncio.to_thread(server.stop)
