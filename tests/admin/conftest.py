"""The dashboard under test: a real ``shopkeep serve`` app on a free port, a real browser.

* ``tiny_artifacts`` trains the tiny shop bot's head once per session with the
  real ``shopkeep nlu train`` (seconds), into a temporary artifacts folder that
  borrows the built encoder and its embedding cache.
* ``dashboard`` runs the real ASGI app under uvicorn in a thread of its own
  (its own event loop) with a real runtime on the real Redis (a key prefix of
  its own), a data directory in ``tmp_path`` and an admin token. Tests drive
  conversations through the runtime's dialogue managers on that loop.
* ``browser`` is Debian's Chromium driven by Playwright (``/usr/bin/chromium``;
  no browser is ever downloaded).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis

from core.keys import KeyBuilder
from core.messages import ConversationKey, IncomingMessage, Platform, Reply
from core.outbox import OutboxError
from core.settings import Settings

REPO = Path(__file__).resolve().parents[2]
TEST_BOTS = Path(__file__).resolve().parent / "bots"
TINY = "tinyshop"
TOKEN = "test-admin-token-" + "x" * 24
CHROMIUM = Path(os.environ.get("SHOPKEEP_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
T = TypeVar("T")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def tiny_artifacts(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifacts folder with the real encoder and the tiny bot's head, trained by the real command."""
    root = tmp_path_factory.mktemp("artifacts")
    (root / "encoder").symlink_to(artifacts_dir / "encoder")
    (artifacts_dir / "cache").mkdir(exist_ok=True)
    (root / "cache").symlink_to(artifacts_dir / "cache")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOPKEEP_DATA_DIR": ""}
    done = subprocess.run(
        [sys.executable, "-m", "bots.cli", "nlu", "train", "--bot", TINY, "--bots-dir", str(TEST_BOTS),
         "--artifacts-dir", str(root)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return root


class RecordingOutbox:
    """Stands in for the Slack adapter's outbox in handoffs: records what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[ConversationKey, list[Reply]]] = []  # sent and updated messages

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        if conversation.platform is not Platform.SLACK:
            raise OutboxError(conversation.platform, "not connected in this test")
        self.sent.append((conversation, list(replies)))
        return [f"1700000000.{len(self.sent):06d}"]

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """The handoff card is updated when claimed and closed (Slack's chat.update)."""
        self.sent.append((conversation, [reply]))


@dataclass
class Dashboard:
    """The running server and handles on its runtime."""

    url: str
    settings: Settings
    loop: asyncio.AbstractEventLoop
    holder: dict[str, Any]
    prefix: str
    data_dir: Path
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)

    @property
    def runtime(self) -> Any:
        return self.holder["runtime"]

    def run(self, coro: Awaitable[T], timeout: float = 60) -> T:
        """Run a coroutine on the server's loop (where the runtime lives)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def say(self, text: str = "", *, chat: str, platform: Platform = Platform.TELEGRAM, user: str | None = None,
            payload: str | None = None) -> list[Reply]:
        key = ConversationKey(platform=platform, bot=TINY, chat=chat)
        message = IncomingMessage(conversation=key, user_id=user or f"user-{chat}", text=text,
                                  button_payload=payload, delivery_id=uuid.uuid4().hex)
        return self.run(self.runtime.managers[TINY].handle(message))

    def flush(self) -> None:
        self.run(self.runtime.recorder.flush())


@pytest.fixture
def dashboard(tiny_artifacts: Path, tmp_path: Path, redis_url: str) -> Iterator[Dashboard]:
    import uvicorn

    from adapters.asgi import create_app
    from bots.runtime import build_runtimes
    from core.sessions import RedisSessionStore

    prefix = f"sktest-admin-{uuid.uuid4().hex[:10]}"
    data_dir = tmp_path / "data"
    settings = Settings(
        redis_url=redis_url, artifacts_dir=tiny_artifacts, data_dir=data_dir, admin_token=TOKEN,
        telegram_bot=TINY, slack_bot=TINY, staff_bot="staff_helpdesk", handoff_channel="C0STAFF",
        head_check_every_s=0.2, events_flush_every_s=0.05, platforms="",
    )
    holder: dict[str, Any] = {}

    async def opener(bots: Sequence[str]) -> Any:
        store = RedisSessionStore.from_url(redis_url, keys=KeyBuilder(prefix=prefix))
        runtime = await build_runtimes(settings, bots=list(bots), store=store, bot_dirs={TINY: TEST_BOTS})
        holder["runtime"] = runtime
        return runtime

    port = _free_port()
    app = create_app(settings, opener)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start within 120 s"
        time.sleep(0.05)
    board = Dashboard(url=f"http://127.0.0.1:{port}", settings=settings, loop=loop, holder=holder, prefix=prefix,
                      data_dir=data_dir)
    board.runtime.outbox.register(Platform.SLACK, board.outbox)
    try:
        yield board
    finally:
        trainer = board.runtime.trainer
        if trainer is not None:
            board.run(trainer.wait(), timeout=300)
        server.should_exit = True
        thread.join(60)
        loop.close()
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            client.delete(key)
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop in this thread while it is open,
    which the async tests of later modules must not find."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install chromium` (.ci/run does it)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(20_000)
    try:
        yield tab
    finally:
        context.close()


def login(page: Any, url: str, token: str = TOKEN) -> Any:
    """Log in through the form with the keyboard only; returns the response to the submit."""
    page.goto(f"{url}/admin/login")
    page.get_by_label("Admin token").fill(token)
    with page.expect_navigation() as nav:
        page.get_by_label("Admin token").press("Enter")
    return nav.value
