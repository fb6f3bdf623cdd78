"""The dashboard over HTTP without a browser: off without a token, no Redis, one Retrain run."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from adapters.admin.auth import AdminAuth
from adapters.asgi import create_app
from bots.runtime import build_runtimes
from core.keys import KeyBuilder
from core.nonces import MemoryNonceStore
from core.sessions import MemorySessionStore, RedisSessionStore
from core.settings import Settings
from tests.admin.conftest import TEST_BOTS, TINY, TOKEN

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _client(settings: Settings, runtime_opener) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime_opener)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            yield client


async def test_without_a_token_the_dashboard_is_off_and_says_how_to_turn_it_on(artifacts_dir: Path) -> None:
    settings = Settings(platforms="", admin_token=None)

    async def opener(bots):
        raise AssertionError("no runtime should be needed")

    app = create_app(settings, opener)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
        for method, path in (("GET", "/admin"), ("GET", "/admin/review"), ("POST", "/admin/retrain")):
            response = await client.request(method, path)
            assert response.status_code == 404
            assert "SHOPKEEP_ADMIN_TOKEN" in response.text


async def test_without_redis_the_dashboard_says_it_needs_it(tiny_artifacts: Path) -> None:
    settings = Settings(platforms="", admin_token=TOKEN, artifacts_dir=tiny_artifacts, telegram_bot=TINY,
                        slack_bot=TINY, redis_url=None)

    async def opener(bots):
        return await build_runtimes(settings, bots=list(bots), store=MemorySessionStore(), bot_dirs={TINY: TEST_BOTS})

    async for client in _client(settings, opener):
        response = await client.get("/admin")
        assert response.status_code == 503
        assert "REDIS_URL" in response.text


@pytest.fixture
async def redis_client(tiny_artifacts: Path, tmp_path: Path, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    prefix = f"sktest-adminhttp-{uuid.uuid4().hex[:8]}"
    settings = Settings(platforms="", admin_token=TOKEN, artifacts_dir=tiny_artifacts, telegram_bot=TINY,
                        slack_bot=TINY, redis_url=redis_url, data_dir=tmp_path / "data")
    opened = {}

    async def opener(bots):
        store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
        opened["runtime"] = await build_runtimes(settings, bots=list(bots), store=store, bot_dirs={TINY: TEST_BOTS})
        return opened["runtime"]

    async for client in _client(settings, opener):
        client.runtime = opened["runtime"]  # type: ignore[attr-defined]
        yield client
        await opened["runtime"].trainer.wait()
    import redis.asyncio as aioredis

    raw = aioredis.Redis.from_url(redis_url)
    async for key in raw.scan_iter(match=f"{prefix}:*"):
        await raw.delete(key)
    await raw.aclose()


async def _login(client: httpx.AsyncClient) -> None:
    page = await client.get("/admin/login")
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    response = await client.post("/admin/login", data={"csrf": token, "token": TOKEN})
    assert response.status_code == 303


async def test_concurrent_retrain_posts_start_one_run(redis_client: httpx.AsyncClient, tmp_path: Path) -> None:
    await _login(redis_client)
    tokens = []
    for _ in range(5):  # five forms, as five tabs would have
        page = await redis_client.get(f"/admin/review?bot={TINY}")
        tokens.append(CSRF.search(page.text).group(1))  # type: ignore[union-attr]
    responses = await asyncio.gather(*(
        redis_client.post("/admin/retrain", data={"csrf": t, "bot": TINY}) for t in tokens))
    outcomes = sorted(r.headers["location"].rsplit("saved=", 1)[1] for r in responses)
    assert outcomes == ["retrain:running:0"] * 4 + ["retrain:started:0"]
    runtime = redis_client.runtime  # type: ignore[attr-defined]
    await runtime.trainer.wait()
    status = await runtime.trainer.status(TINY)
    assert status is not None and status.state == "done", status
    assert len([p for p in (tmp_path / "data" / TINY / "heads").iterdir() if p.is_dir()]) == 1


async def test_a_form_bigger_than_any_dashboard_form_is_refused(redis_client: httpx.AsyncClient) -> None:
    await _login(redis_client)
    response = await redis_client.post("/admin/review/label", content=b"x" * (600 * 1024),
                                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413


async def test_session_cookies_and_csrf_tokens_cannot_be_forged() -> None:
    auth = AdminAuth(token=TOKEN, nonces=MemoryNonceStore())
    other = AdminAuth(token="another-token-" + "y" * 20, nonces=MemoryNonceStore())
    session = auth.new_session(authenticated=True)
    cookie = auth.cookie_value(session)
    assert (await auth.read_cookie(cookie)) == session
    assert await other.read_cookie(cookie) is None  # signed with another token
    body, signature = cookie.split(".")
    assert await auth.read_cookie(body.replace(body[2], "A" if body[2] != "A" else "B") + "." + signature) is None
    csrf = auth.csrf_token(session)
    stranger = auth.new_session(authenticated=True)
    assert not await auth.check_csrf(stranger, csrf)  # made for another session
    assert await auth.check_csrf(session, csrf)
    assert not await auth.check_csrf(session, csrf)  # replayed
    await auth.revoke(session)
    assert await auth.read_cookie(cookie) is None
