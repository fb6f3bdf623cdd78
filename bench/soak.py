"""Reliability soak: retry storms, racing cart updates, a Redis outage, two processes, fuzzing, a cluster failover.

    python -m bench.soak                 # full soak (~10 min): 10 s outage, 10,000 fuzz cases
    python -m bench.soak --quick         # short version of everything

Every scenario runs against the real runtime (encoder, intent head, shop
actions) and real Redis; the platforms are the local stand-ins from
``tests/adapters/standins``. The scenario functions are reused by the short
versions in ``tests/reliability`` and ``tests/fuzz``. Writes
``bench/results/soak.json``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import typer
from rich.console import Console

from adapters.slack.app import APOLOGY as SLACK_APOLOGY
from bench.coldstart import RedisServer, ServeProcess, serve_env
from bench.e2e import RESULTS_DIR, add_payloads_from, rss_mb, shopper_messages
from core.messages import ConversationKey, IncomingMessage, Platform, Reply
from core.settings import Settings
from tests.adapters.conftest import (
    SIGNING_SECRET,
    TG_TOKEN,
    WEBHOOK_SECRET,
    command_body,
    event_body,
    slack_headers,
    tg_callback,
    tg_headers,
    tg_message,
)
from tests.adapters.standins import Recorder, SlackApiStandin, TelegramApiStandin

console = Console()
logger = logging.getLogger(__name__)
BOT = "shop_assistant"
STORM_TEXTS = ("hi there", "what is your return policy?", "when are you open on sunday?", "thanks", "show me a hoodie")


# --- shared plumbing -----------------------------------------------------------


def serving_settings(base: Settings, *, slack_api_url: str, telegram_api_url: str, redis_url: str | None) -> Settings:
    """Settings serving Slack (HTTP) and the Telegram webhook against the stand-ins."""
    return base.model_copy(update={
        "platforms": "slack,telegram", "slack_bot_token": "xoxb-test-token", "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack_api_url, "telegram_bot_token": TG_TOKEN, "telegram_api_url": telegram_api_url,
        "telegram_webhook_secret": WEBHOOK_SECRET, "telegram_mode": "webhook", "redis_url": redis_url,
    })


@dataclass
class InProcessApp:
    """The real ASGI app on a runtime, spoken to in-process, with both stand-ins."""

    app: Any
    client: httpx.AsyncClient
    slack_api: SlackApiStandin
    telegram_api: TelegramApiStandin

    async def drain(self) -> None:
        """Wait for background Telegram work (Slack work is awaited by :func:`settle`)."""
        await self.app.state.serving.telegram.drain()


@asynccontextmanager
async def in_process_app(settings: Settings, runtime: Any) -> AsyncIterator[InProcessApp]:
    """Run ``adapters.asgi.create_app`` over ``runtime`` with fresh Slack and Telegram stand-ins."""
    from adapters.asgi import create_app

    async with SlackApiStandin() as slack_api, TelegramApiStandin(token=TG_TOKEN) as telegram_api:
        served = serving_settings(settings, slack_api_url=slack_api.api_url, telegram_api_url=telegram_api.api_url,
                                  redis_url=settings.redis_url)
        app = create_app(served, runtime)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shopkeep.test") as client:
                yield InProcessApp(app=app, client=client, slack_api=slack_api, telegram_api=telegram_api)


async def settle(recorder: Recorder, *, quiet_s: float = 0.5, limit_s: float = 60.0) -> int:
    """Wait until no new call arrived for ``quiet_s`` (at most ``limit_s``); returns the call count."""
    deadline = time.monotonic() + limit_s
    seen, since = len(recorder.calls), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if len(recorder.calls) != seen:
            seen, since = len(recorder.calls), time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return seen


def dm(text: str, channel: str, ts: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "user": "U0001", "text": text, "ts": ts,
            "channel_type": "im", "event_ts": ts}


def block_action(value: str, *, channel: str, n: int) -> str:
    """A signed-able ``block_actions`` form body pressing a button with ``value`` in ``channel``."""
    ts = f"1700000100.{n:06d}"
    payload = {
        "type": "block_actions", "user": {"id": "U0001", "username": "ada", "team_id": "T0001"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "trigger_id": f"trigger-{uuid.uuid4().hex}", "team": {"id": "T0001"}, "channel": {"id": channel},
        "message": {"type": "message", "ts": ts, "text": "results"},
        "actions": [{"action_id": "shopkeep:0", "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": "press"}, "action_ts": f"1700000200.{n:06d}"}],
    }
    return urlencode({"payload": json.dumps(payload)})


PostSlack = Callable[[str, dict[str, str]], Awaitable[int]]


def _posts_by_channel(recorder: Recorder) -> Counter[str]:
    return Counter(str(c.params.get("channel")) for c in recorder.of("chat.postMessage"))


# --- retry storm ---------------------------------------------------------------


async def retry_storm(posters: Sequence[PostSlack], recorder: Recorder, *, events: int,
                      concurrency: int = 8) -> dict[str, Any]:
    """Deliver every event 4 times (retry headers 1..3), round robin over ``posters``; count duplicate replies.

    A baseline first delivers each distinct text once (fresh channel) to learn
    how many ``chat.postMessage`` calls one delivery makes; then every storm
    event goes to a fresh channel, so a channel holding more posts than its
    text's baseline got a duplicate reply.
    """
    run = uuid.uuid4().hex[:6]
    baseline: dict[str, int] = {}
    for i, text in enumerate(STORM_TEXTS):
        channel = f"DBASE{run}{i}"
        body = event_body(dm(text, channel, f"1700000000.{i:06d}"), event_id=f"EvBase{run}{i}")
        await posters[i % len(posters)](body, slack_headers(body))
        await settle(recorder)
        baseline[text] = _posts_by_channel(recorder)[channel]
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(concurrency)
    rr = iter(range(10**9))

    async def storm(k: int) -> None:
        text = STORM_TEXTS[k % len(STORM_TEXTS)]
        body = event_body(dm(text, f"DSTORM{run}{k}", f"1700000001.{k:06d}"), event_id=f"EvStorm{run}{k}")

        async def deliver(attempt: int) -> int:
            headers = slack_headers(body)
            if attempt:
                headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
            return await posters[next(rr) % len(posters)](body, headers)

        async with gate:
            for status in await asyncio.gather(*(deliver(a) for a in range(4))):
                statuses[status] += 1

    await asyncio.gather(*(storm(k) for k in range(events)))
    await settle(recorder, quiet_s=1.0)
    posts = _posts_by_channel(recorder)
    duplicates = missing = 0
    for k in range(events):
        expected = baseline[STORM_TEXTS[k % len(STORM_TEXTS)]]
        got = posts[f"DSTORM{run}{k}"]
        duplicates += max(0, got - expected)
        missing += max(0, expected - got)
    return {"events": events, "deliveries": events * 4, "statuses": dict(statuses), "duplicate_replies": duplicates,
            "missing_replies": missing, "baseline_posts_per_text": baseline}


def in_process_poster(client: httpx.AsyncClient) -> PostSlack:
    async def post(body: str, headers: dict[str, str]) -> int:
        if body.startswith("payload="):
            headers = headers | {"Content-Type": "application/x-www-form-urlencoded"}
        return (await client.post("/slack/events", content=body, headers=headers)).status_code

    return post


# --- 50 concurrent cart additions ----------------------------------------------


async def cart_race(handle: Callable[[IncomingMessage], Awaitable[list[Reply]]], store: Any, payloads: Sequence[str],
                    *, n: int = 50) -> dict[str, Any]:
    """``n`` concurrent button presses adding a variant into ONE conversation; the cart must hold all ``n``."""
    key = ConversationKey(platform=Platform.TELEGRAM, bot=BOT, chat=f"race-{uuid.uuid4().hex[:8]}")
    presses = [payloads[i % len(payloads)].replace("add:", "variant:", 1) for i in range(n)]
    results = await asyncio.gather(*(
        handle(IncomingMessage(conversation=key, user_id="racer", button_payload=p, delivery_id=uuid.uuid4().hex))
        for p in presses
    ), return_exceptions=True)
    state = await store.load(key)
    cart = (state.data.get("cart") if state else None) or []
    return {"concurrent_messages": n, "items_in_cart": sum(int(line["qty"]) for line in cart),
            "distinct_lines": len(cart), "exceptions": sum(isinstance(r, BaseException) for r in results),
            "added_replies": sum(1 for r in results if isinstance(r, list) and r and r[0].text.startswith("Added"))}


# --- Redis outage --------------------------------------------------------------


@dataclass
class _Outcome:
    sent: float
    done: float
    kind: str  # ok | apology | empty | error


@dataclass
class OutageTimeline:
    stopped_at: float = 0.0
    back_at: float = 0.0
    outcomes: list[_Outcome] = field(default_factory=list)


async def redis_outage(settings: Settings, encoder: Any, *, outage_s: float, before_s: float, after_s: float,
                       conversations: int = 8) -> dict[str, Any]:
    """Load on a private Redis that is stopped for ``outage_s`` in the middle, then restarted.

    Every message must get a reply (the apology while Redis is down), answers
    must be normal again within 1 s of Redis answering PING, and every cart
    addition acknowledged with "Added" must still be in the cart at the end.
    Once the load stops, every conversation is sent one more message until it
    gets a normal answer (at most ``RECOVERY_DEADLINE_S``): a conversation whose
    lock the outage left behind must be usable again, not stuck.
    """
    from bots.runtime import build_manager
    from core.keys import KeyBuilder
    from core.sessions import RedisSessionStore

    server = RedisServer()
    server.start()
    store = RedisSessionStore.from_url(server.url, keys=KeyBuilder(prefix="outage"), lock_wait_s=2.0)
    timeline = OutageTimeline()
    try:
        manager = await build_manager(settings.model_copy(update={"redis_url": server.url}), bot=BOT, store=store,
                                      encoder=encoder)
        apology = manager.bot.responses.render("storage_error", "en")
        payloads = add_payloads_from(manager)
        stop = asyncio.Event()
        acknowledged = 0
        cart_key = ConversationKey(platform=Platform.TELEGRAM, bot=BOT, chat=f"outage-cart-{uuid.uuid4().hex[:6]}")

        async def send(message: IncomingMessage) -> list[Reply]:
            t0 = time.monotonic()
            try:
                replies = await asyncio.wait_for(manager.handle(message), 15.0)
            except (TimeoutError, Exception) as error:  # noqa: BLE001 - counted: the figure under test
                logger.warning("message raised during outage run: %r", error)
                timeline.outcomes.append(_Outcome(t0, time.monotonic(), "error"))
                return []
            kind = "empty" if not replies else "apology" if replies[0].text == apology else "ok"
            timeline.outcomes.append(_Outcome(t0, time.monotonic(), kind))
            return replies

        async def shopper(script: Iterator[IncomingMessage]) -> None:
            while not stop.is_set():
                await send(next(script).model_copy(update={"delivery_id": uuid.uuid4().hex}))
                await asyncio.sleep(0.02)

        async def cart_writer() -> None:
            nonlocal acknowledged
            i = 0
            while not stop.is_set():
                payload = payloads[i % len(payloads)].replace("add:", "variant:", 1)
                replies = await send(IncomingMessage(conversation=cart_key, user_id="writer", button_payload=payload,
                                                     delivery_id=uuid.uuid4().hex))
                acknowledged += bool(replies) and replies[0].text.startswith("Added")
                i += 1
                await asyncio.sleep(0.05)

        scripts = [shopper_messages(i, bot=BOT, add_payloads=payloads, run_id=uuid.uuid4().hex[:6])
                   for i in range(conversations)]
        tasks = [asyncio.create_task(shopper(script)) for script in scripts] + [asyncio.create_task(cart_writer())]
        await asyncio.sleep(before_s)
        await asyncio.to_thread(server.stop)
        timeline.stopped_at = time.monotonic()
        await asyncio.sleep(outage_s)
        timeline.back_at = await asyncio.to_thread(server.start)
        await asyncio.sleep(after_s)
        stop.set()
        await asyncio.gather(*tasks)
        greeting = [IncomingMessage(conversation=next(script).conversation, user_id="prober", text="hello")
                    for script in scripts]
        cart_add = IncomingMessage(conversation=cart_key, user_id="writer",
                                   button_payload=payloads[0].replace("add:", "variant:", 1))
        recovery_s = [await _recovered_after(manager, message, apology) for message in (*greeting, cart_add)]
        state = await store.load(cart_key)
        in_cart = sum(int(line["qty"]) for line in (state.data.get("cart", []) if state else []))
    finally:
        await store.aclose()
        await asyncio.to_thread(server.cleanup)
    out = timeline.outcomes
    during = [o for o in out if timeline.stopped_at <= o.sent < timeline.back_at]
    after = [o for o in out if o.sent >= timeline.back_at]
    first_ok = min((o.done for o in after if o.kind == "ok"), default=None)
    late_apologies = [o for o in after if o.kind != "ok" and o.sent >= timeline.back_at + 1.0]
    return {
        "outage_s": outage_s, "messages": len(out), "kinds": dict(Counter(o.kind for o in out)),
        "messages_during_outage": len(during), "apologies_during_outage": sum(o.kind == "apology" for o in during),
        "unanswered": sum(o.kind in ("empty", "error") for o in out),
        "resume_s": None if first_ok is None else max(0.0, first_ok - timeline.back_at),
        "non_normal_after_1s": len(late_apologies),
        "last_non_normal_after_back_s": max((o.done - timeline.back_at for o in after if o.kind != "ok"), default=0.0),
        "acknowledged_cart_adds": acknowledged, "cart_items_after": in_cart,
        "acknowledged_lost": max(0, acknowledged - in_cart),
        "conversations_probed": len(recovery_s),
        "conversations_recovered": sum(r is not None for r in recovery_s),
        "slowest_recovery_s": max((r for r in recovery_s if r is not None), default=None),
    }


#: How long a conversation may take to answer normally again after an outage: past a
#: lock's whole lease (``lock_heartbeat_ms``, 10 s) with room to spare. A safety net,
#: not a figure: the release of a lock Redis missed is retried as soon as it is back.
RECOVERY_DEADLINE_S = 30.0


async def _recovered_after(manager: Any, message: IncomingMessage, apology: str) -> float | None:
    """Seconds until ``message`` (a fresh delivery each try) gets a normal answer; None past the deadline."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_DEADLINE_S:
        try:
            replies = await asyncio.wait_for(manager.handle(message.model_copy(update={"delivery_id": uuid.uuid4().hex})),
                                             RECOVERY_DEADLINE_S)
        except (TimeoutError, Exception) as error:  # noqa: BLE001 - counted as not yet recovered
            logger.warning("probe after the outage raised: %r", error)
            replies = []
        if replies and replies[0].text != apology:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


# --- two server processes ------------------------------------------------------


async def scale_out(*, events: int, presses: int) -> dict[str, Any]:
    """Two ``shopkeep serve`` subprocesses on one private Redis; deliveries spread round robin.

    Runs the retry storm across both, then ``presses`` concurrent add-to-cart
    presses into one channel spread over both; the cart must hold them all.
    """
    from core.sessions import RedisSessionStore

    server = RedisServer()
    server.start()
    processes: list[ServeProcess] = []
    try:
        async with SlackApiStandin() as slack_api:
            env = serve_env(redis_url=server.url, slack_api_url=slack_api.api_url, signing_secret=SIGNING_SECRET)
            processes = [ServeProcess(env=env), ServeProcess(env=env)]
            for p in processes:
                p.start()
            ready = [await asyncio.to_thread(p.wait_ready) for p in processes]
            async with httpx.AsyncClient(timeout=30.0) as client:

                def poster(base: str) -> PostSlack:
                    async def post(body: str, headers: dict[str, str]) -> int:
                        if body.startswith("payload="):
                            headers = headers | {"Content-Type": "application/x-www-form-urlencoded"}
                        return (await client.post(f"{base}/slack/events", content=body, headers=headers)).status_code

                    return post

                posters = [poster(p.url) for p in processes]
                storm = await retry_storm(posters, slack_api.recorder, events=events)
                channel = f"DCART{uuid.uuid4().hex[:6]}"
                store = RedisSessionStore.from_url(server.url)
                skus = await _catalog_skus(presses)
                statuses = await asyncio.gather(*(
                    posters[i % 2](body := block_action(f"variant:{skus[i % len(skus)]}", channel=channel, n=i),
                                   slack_headers(body, content_type="application/x-www-form-urlencoded"))
                    for i in range(presses)
                ))
                await settle(slack_api.recorder, quiet_s=1.0)
                key = ConversationKey(platform=Platform.SLACK, bot=BOT, workspace="T0001", chat=channel)
                state = await store.load(key)
                await store.aclose()
                in_cart = sum(int(line["qty"]) for line in (state.data.get("cart", []) if state else []))
                alive = all(p.alive() for p in processes)
                rss = [p.rss()[0] for p in processes]
    finally:
        for p in processes:
            await asyncio.to_thread(p.stop)
        await asyncio.to_thread(server.cleanup)
    return {"processes": 2, "ready_s": ready, "rss_mb": rss, "storm": storm, "cart_presses": presses,
            "cart_statuses": dict(Counter(statuses)), "items_in_cart": in_cart, "all_alive": alive}


# --- Redis Cluster failover under two workers -----------------------------------


@dataclass
class _Sent:
    channel: str
    sent: float
    done: float = 0.0
    kind: str = "pending"  # ok | apology | unanswered


async def cluster_failover(*, shoppers: int, before_s: float, after_s: float,
                           answer_timeout_s: float = 20.0) -> dict[str, Any]:
    """``serve --workers 2`` on a private 3+3 Redis Cluster under load; the cart's master is SIGKILLed mid-run.

    Shoppers (one Slack DM channel each) send messages one after another,
    a quarter of them delivered twice (Slack's retry header on the second),
    and a 5xx answer is redelivered as Slack does; a cart writer presses
    add-to-cart buttons in its own channel. Every delivery must get exactly
    its one reply (normal, or the polite "try again" while the cluster fails
    over), and every "Added" reply must still be in the cart at the end.
    """
    from bench.redis_cluster import LocalRedisCluster
    from bots.runtime import BOTS_DIR
    from core.bot import Bot
    from core.keys import KeyBuilder
    from core.sessions import RedisSessionStore

    cluster = LocalRedisCluster()
    cluster_start_s = await asyncio.to_thread(cluster.start)
    server: ServeProcess | None = None
    bot = Bot.load(BOTS_DIR / BOT)
    apologies = {bot.responses.render("storage_error", lang) for lang in bot.languages} | {SLACK_APOLOGY}
    records: list[_Sent] = []
    duplicates: Counter[str] = Counter()
    try:
        async with SlackApiStandin() as slack_api:
            env = serve_env(redis_url=cluster.url, slack_api_url=slack_api.api_url, signing_secret=SIGNING_SECRET)
            env |= {"SHOPKEEP_REDIS_WAIT_REPLICAS": "1", "SHOPKEEP_LOCK_WAIT_S": "3"}
            server = ServeProcess(env=env, args=("--workers", "2"))
            server.start()
            ready_s = await asyncio.to_thread(server.wait_ready)
            workers = server.worker_pids()
            recorder = slack_api.recorder
            async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:

                async def post(body: str, headers: dict[str, str]) -> int:
                    for attempt in range(4):  # Slack redelivers a failed delivery up to 3 times
                        if attempt:
                            headers = headers | {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_error"}
                        try:
                            status = (await client.post("/slack/events", content=body, headers=headers)).status_code
                        except httpx.HTTPError:
                            status = 599
                        if status < 500:
                            return status
                        await asyncio.sleep(0.2)
                    return status

                def posts_in(channel: str) -> list[Any]:
                    return [c for c in recorder.of("chat.postMessage") if c.params.get("channel") == channel]

                async def deliver(record: _Sent, body: str, headers: dict[str, str], *, twice: bool) -> None:
                    before = len(posts_in(record.channel))
                    retry = headers | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
                    await asyncio.gather(post(body, headers), *([post(body, retry)] if twice else []))
                    deadline = time.monotonic() + answer_timeout_s
                    while time.monotonic() < deadline and len(posts_in(record.channel)) <= before:
                        await asyncio.sleep(0.02)
                    record.done = time.monotonic()
                    got = posts_in(record.channel)[before:]
                    if not got:
                        record.kind = "unanswered"
                        return
                    record.kind = "apology" if str(got[0].params.get("text")) in apologies else "ok"

                stop = asyncio.Event()
                acknowledged = 0
                cart_channel = f"DCLCART{uuid.uuid4().hex[:6]}"
                skus = await _catalog_skus(40)

                async def shopper(i: int) -> None:
                    channel = f"DCL{uuid.uuid4().hex[:6]}{i}"
                    n = 0
                    while not stop.is_set():
                        text = STORM_TEXTS[(i + n) % len(STORM_TEXTS)]
                        ts = f"1700001000.{n:06d}"
                        body = event_body(dm(text, channel, ts), event_id=f"EvCl{channel}{n}")
                        record = _Sent(channel, time.monotonic())
                        records.append(record)
                        await deliver(record, body, slack_headers(body), twice=n % 4 == 0)
                        n += 1
                        await asyncio.sleep(0.05)

                async def cart_writer() -> None:
                    nonlocal acknowledged
                    n = 0
                    while not stop.is_set():
                        body = block_action(f"variant:{skus[n % len(skus)]}", channel=cart_channel, n=n)
                        record = _Sent(cart_channel, time.monotonic())
                        records.append(record)
                        before = len(posts_in(cart_channel))
                        await deliver(record, body, slack_headers(body, content_type="application/x-www-form-urlencoded"),
                                      twice=False)
                        got = posts_in(cart_channel)[before:]
                        acknowledged += bool(got) and str(got[0].params.get("text", "")).startswith("Added")
                        n += 1
                        await asyncio.sleep(0.05)

                tasks = [asyncio.create_task(shopper(i)) for i in range(shoppers)]
                tasks.append(asyncio.create_task(cart_writer()))
                await asyncio.sleep(before_s)
                cart_key = ConversationKey(platform=Platform.SLACK, bot=BOT, workspace="T0001", chat=cart_channel)
                cart_state_key = KeyBuilder().state(cart_key)
                killed_port, killed_at = await asyncio.to_thread(cluster.kill_master_of, cart_state_key)
                failover_at = await asyncio.to_thread(cluster.wait_failover, killed_port, cart_state_key)
                await asyncio.sleep(after_s)
                stop.set()
                await asyncio.gather(*tasks)
                await settle(recorder, quiet_s=1.0)
                per_channel = Counter(str(c.params.get("channel")) for c in recorder.of("chat.postMessage"))
                sent_per_channel = Counter(r.channel for r in records)
                for channel, sent in sent_per_channel.items():
                    if per_channel[channel] > sent:
                        duplicates[channel] = per_channel[channel] - sent
                store = RedisSessionStore.from_url(cluster.url)
                try:
                    state = await store.load(cart_key)
                finally:
                    await store.aclose()
                in_cart = sum(int(line["qty"]) for line in (state.data.get("cart", []) if state else []))
                alive = server.alive()
                rss = [rss_mb(pid)[0] for pid in workers]
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        await asyncio.to_thread(cluster.stop)
    after_kill = [r for r in records if r.done >= killed_at]
    # Hit by the failover: answered other than normally, or normally but late (> 1 s).
    hit = [r for r in after_kill if r.kind != "ok" or r.done - r.sent > 1.0]
    recovery_s = max((r.done - killed_at for r in hit), default=0.0)
    return {
        "cluster": "3 masters + 3 replicas, cluster-node-timeout 1000 ms, WAIT 1 replica after each save",
        "cluster_start_s": cluster_start_s, "serve": "shopkeep serve --workers 2", "ready_s": ready_s,
        "worker_rss_mb": rss, "shoppers": shoppers, "messages": len(records),
        "kinds": dict(Counter(r.kind for r in records)),
        "unanswered": sum(r.kind in ("unanswered", "pending") for r in records),
        "duplicate_replies": sum(duplicates.values()),
        "killed_master_port": killed_port, "failover_s": failover_at - killed_at,
        "recovery_s": recovery_s,
        "hit_by_failover": [{"sent_s": round(r.sent - killed_at, 2), "answered_s": round(r.done - killed_at, 2),
                             "kind": r.kind} for r in hit],
        "max_latency_s": max((r.done - r.sent for r in records), default=0.0),
        "recovery_rule": "from the kill to the last answer that was not normal or took over 1 s (times from the kill)",
        "acknowledged_cart_adds": acknowledged, "cart_items_after": in_cart,
        "acknowledged_lost": max(0, acknowledged - in_cart), "server_alive": alive,
    }


async def _catalog_skus(n: int) -> list[str]:
    from bots.runtime import BOTS_DIR
    from core.commerce.catalog import load_catalog

    catalog = await asyncio.to_thread(load_catalog, BOTS_DIR / BOT / "data" / "products.csv")
    skus = [v.sku for p in catalog.offered() for v in p.variants if v.buyable and v.sku]
    return skus[:n]


# --- fuzzing -------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects ERROR records that carry a traceback: an exception nothing handled on purpose."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)

    def summary(self, limit: int = 5) -> list[str]:
        return [f"{r.name}: {r.getMessage()[:200]} ({r.exc_info[1]!r})" for r in self.records[:limit] if r.exc_info]


def nasty_texts() -> Any:
    """A hypothesis strategy of texts, tilted towards what breaks chat code."""
    from hypothesis import strategies as st

    specials = st.sampled_from([
        "", " ", "\n\n\t", "\x00", "\ufeff", "مرحبا، أريد حذاء أسود", "שלום \u202eevil\u202c", "👍", "🛒🛒🛒🧥👖",
        "<script>alert(1)</script>", "<b>bold</b> <a href='x'>", "<!channel> <@U0001> <#C01|x>", "*bold* _it_ ~s~ `c`",
        "```\ncode\n```", "&lt;&gt;&amp;", "[link](javascript:alert(1))", "/cart", "/reset", "/why", "/help me",
        "add:", "variant:", "intent:", "%s %d {0} {name}", "${jndi:ldap://x}", "'; DROP TABLE carts;--",
        "a" * 40_000, "🙂" * 5_000, "x " * 3_000, "show me a hoodie", "add it to my cart", "#1001", "订单 #1001 在哪里",
    ])
    binary = st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    return st.one_of(specials, st.text(max_size=300), binary, st.text(alphabet=st.characters(codec="utf-8"), max_size=50))


def fuzz_cases(*, malformed_slack_bodies: bool = True) -> Any:
    """A strategy of ``(path, body, headers)`` requests over every inbound path.

    Args:
        malformed_slack_bodies: include signed Slack bodies that are not valid
            JSON/form data (Bolt parses the body before any check).
    """
    from hypothesis import strategies as st

    def slack_event(text: str, n: int, threaded: bool) -> tuple[str, str, dict[str, str]]:
        event = dm(text, f"DFUZZ{n % 7}", f"1700000000.{n:06d}")
        if threaded:
            event["thread_ts"] = "1700000000.000001"
        body = event_body(event, event_id=f"EvFuzz{uuid.uuid4().hex}")
        return "/slack/events", body, slack_headers(body)

    def slack_command(text: str) -> tuple[str, str, dict[str, str]]:
        body = command_body(text, trigger_id=uuid.uuid4().hex)
        return "/slack/events", body, slack_headers(body, content_type="application/x-www-form-urlencoded")

    def slack_button(value: str, n: int) -> tuple[str, str, dict[str, str]]:
        body = block_action(value, channel=f"DFUZZ{n % 7}", n=n)
        return "/slack/events", body, slack_headers(body, content_type="application/x-www-form-urlencoded")

    def slack_garbage(raw: str, form: bool) -> tuple[str, str, dict[str, str]]:
        ctype = "application/x-www-form-urlencoded" if form else "application/json"
        return "/slack/events", raw, slack_headers(raw, content_type=ctype)

    def tg_text(text: str, n: int) -> tuple[str, str, dict[str, str]]:
        update = tg_message(n, text)
        update["message"]["chat"]["id"] = 700 + n % 5
        return "/telegram/webhook", json.dumps(update), tg_headers()

    def tg_button(data: str, n: int) -> tuple[str, str, dict[str, str]]:
        return "/telegram/webhook", json.dumps(tg_callback(n, data[:64])), tg_headers()

    def tg_garbage(value: Any) -> tuple[str, str, dict[str, str]]:
        return "/telegram/webhook", json.dumps(value), tg_headers()

    ids = st.integers(min_value=1, max_value=2**31 - 1)
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                               max_leaves=12)
    garbage = st.builds(slack_garbage, nasty_texts(), st.booleans())
    if not malformed_slack_bodies:
        garbage = garbage.filter(lambda case: _bolt_parses(case[1], case[2]["Content-Type"]))
    return st.one_of(
        st.builds(slack_event, nasty_texts(), ids, st.booleans()),
        st.builds(slack_command, nasty_texts()),
        st.builds(slack_button, nasty_texts(), ids),
        garbage,
        st.builds(tg_text, nasty_texts(), ids),
        st.builds(tg_button, nasty_texts(), ids),
        st.builds(tg_garbage, json_values | st.fixed_dictionaries({"update_id": ids, "message": json_values})),
    )


def _bolt_parses(body: str, content_type: str) -> bool:
    """Whether Bolt's body parser accepts ``body`` (it raises on malformed JSON before any check)."""
    from slack_bolt.request.internals import parse_body

    try:
        parse_body(body, content_type)
    except ValueError:
        return False
    return True


async def fuzz(served: InProcessApp, manager: Any, *, examples: int, console_examples: int = 0,
               seed: int | None = None, malformed_slack_bodies: bool = True) -> dict[str, Any]:
    """Hypothesis-generated requests into every inbound path of the running app (and console lines).

    Hypothesis drives from a worker thread; each case is posted on this event
    loop. Counts 5xx answers and ERROR log records carrying a traceback.
    """
    from hypothesis import HealthCheck, given
    from hypothesis import seed as hyp_seed
    from hypothesis import settings as hyp_settings
    from rich.console import Console as RichConsole

    from adapters.console import ConsoleChat

    loop = asyncio.get_running_loop()
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    statuses: Counter[int] = Counter()
    server_errors: list[str] = []
    chat = ConsoleChat(handle=manager.handle, bot=BOT, console=RichConsole(file=io.StringIO()))
    console_failures: list[str] = []

    async def post(case: tuple[str, str, dict[str, str]]) -> None:
        path, body, headers = case
        try:
            response = await served.client.post(path, content=body.encode("utf-8", "surrogatepass"), headers=headers)
        except Exception as error:  # noqa: BLE001 - an exception out of the app is a 500 in production
            statuses[500] += 1
            server_errors.append(f"{path} raised {error!r} for {body[:120]!r}")
            return
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            server_errors.append(f"{path} {response.status_code} {body[:120]!r}")
        if path.startswith("/telegram"):
            await served.drain()

    async def type_line(line: str) -> None:
        try:
            await chat.send(line)
        except Exception as error:  # noqa: BLE001 - the figure under test
            console_failures.append(f"{line[:60]!r}: {error!r}")

    config = hyp_settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
                          suppress_health_check=list(HealthCheck))

    @config
    @given(fuzz_cases(malformed_slack_bodies=malformed_slack_bodies))
    def requests(case: tuple[str, str, dict[str, str]]) -> None:
        asyncio.run_coroutine_threadsafe(post(case), loop).result(60)

    @hyp_settings(config, max_examples=max(1, console_examples))
    @given(nasty_texts())
    def lines(line: str) -> None:
        asyncio.run_coroutine_threadsafe(type_line(line), loop).result(60)

    if seed is not None:
        requests = hyp_seed(seed)(requests)
    started = time.monotonic()
    try:
        await asyncio.to_thread(requests)
        if console_examples:
            await asyncio.to_thread(lines)
        await settle(served.slack_api.recorder, quiet_s=1.0)
    finally:
        root.removeHandler(errors)
    return {"cases": sum(statuses.values()), "console_lines": console_examples if console_examples else 0,
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "server_errors_5xx": len(server_errors),
            "server_error_samples": server_errors[:5], "unhandled_exceptions": len(errors.records) + len(console_failures),
            "exception_samples": errors.summary() + console_failures[:5], "seconds": time.monotonic() - started}


# --- the soak run --------------------------------------------------------------


async def soak(*, quick: bool) -> dict[str, Any]:
    """Every scenario once; long versions unless ``quick``."""
    from bots.runtime import build_runtime, load_encoder
    from core.keys import KeyBuilder
    from core.sessions import RedisSessionStore

    base = Settings()
    url = base.redis_url or "redis://127.0.0.1:6379/0"
    results: dict[str, Any] = {"quick": quick, "machine": {"cpu_count": os.cpu_count()}}
    encoder = load_encoder(base)
    store = RedisSessionStore.from_url(url, keys=KeyBuilder(prefix=f"soak-{uuid.uuid4().hex[:8]}"))
    runtime = await build_runtime(base.model_copy(update={"redis_url": url}), store=store, encoder=encoder)
    try:
        async with in_process_app(runtime.settings, runtime) as served:
            console.print("retry storm (in-process app)…")
            results["retry_storm"] = await retry_storm([in_process_poster(served.client)], served.slack_api.recorder,
                                                       events=40 if quick else 200)
            console.print("50 concurrent cart additions…")
            results["cart_race"] = await cart_race(runtime.manager.handle, runtime.store,
                                                   add_payloads_from(runtime.manager), n=50)
            console.print("fuzzing…")
            results["fuzz"] = await fuzz(served, runtime.manager, examples=1000 if quick else 10_000,
                                         console_examples=200 if quick else 1000)
        console.print("Redis outage…")
        results["redis_outage"] = await redis_outage(
            runtime.settings, encoder, outage_s=3.0 if quick else 10.0, before_s=2.0 if quick else 5.0,
            after_s=3.0 if quick else 5.0,
        )
        console.print("scale-out (two shopkeep serve processes)…")
        results["scale_out"] = await scale_out(events=20 if quick else 100, presses=20 if quick else 50)
        console.print("Redis Cluster failover (serve --workers 2, a master killed)…")
        results["cluster_failover"] = await cluster_failover(shoppers=6 if quick else 12, before_s=4.0 if quick else 10.0,
                                                             after_s=6.0 if quick else 10.0)
        cf = results["cluster_failover"]
        console.print(f"cluster: failover {cf['failover_s']:.2f} s after the kill, time to recovery "
                      f"{cf['recovery_s']:.2f} s; {cf['duplicate_replies']} duplicate replies, "
                      f"{cf['unanswered']} unanswered, {cf['acknowledged_lost']} acknowledged cart adds lost")
    finally:
        await runtime.aclose()
    return results


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    """Each target as pass/fail."""
    storm, race, outage = results["retry_storm"], results["cart_race"], results["redis_outage"]
    scale, fz = results["scale_out"], results["fuzz"]
    return {
        "retry storm: 0 duplicate replies": storm["duplicate_replies"] == 0 and storm["missing_replies"] == 0,
        "50 concurrent cart additions: all 50 in cart": race["items_in_cart"] == race["concurrent_messages"],
        "outage: every message answered": outage["unanswered"] == 0,
        "outage: normal answers within 1 s": outage["resume_s"] is not None and outage["resume_s"] <= 1.0
        and outage["non_normal_after_1s"] == 0,
        "outage: no acknowledged state lost": outage["acknowledged_lost"] == 0,
        "outage: every conversation usable again": outage["conversations_recovered"] == outage["conversations_probed"],
        "scale-out: 0 duplicate replies": scale["storm"]["duplicate_replies"] == 0 and scale["all_alive"],
        "scale-out: cart consistent": scale["items_in_cart"] == scale["cart_presses"],
        "fuzz: 0 unhandled exceptions, 0 5xx": fz["unhandled_exceptions"] == 0 and fz["server_errors_5xx"] == 0,
        **cluster_verdicts(results["cluster_failover"]),
    }


def cluster_verdicts(cf: dict[str, Any]) -> dict[str, bool]:
    """The cluster failover targets as pass/fail."""
    return {
        "cluster: 0 duplicate replies": cf["duplicate_replies"] == 0,
        "cluster: every message answered": cf["unanswered"] == 0,
        "cluster: 0 acknowledged cart adds lost": cf["acknowledged_lost"] == 0 and cf["acknowledged_cart_adds"] > 0,
        "cluster: recovery <= 5 s after a master is killed": cf["recovery_s"] <= 5.0 and cf["server_alive"],
    }


def run(
    quick: Annotated[bool, typer.Option("--quick", help="Short outage, fewer events and fuzz cases.")] = False,
    out: Annotated[Path | None, typer.Option(help="JSON output (default soak.json, or soak_cluster.json).")] = None,
    cluster_only: Annotated[bool, typer.Option("--cluster-only", help="Only the Redis Cluster failover run.")] = False,
) -> None:
    """Run the reliability soak and write ``bench/results/soak.json``; exit 1 if a target is missed."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("slack_bolt").setLevel(logging.ERROR)  # "Unhandled request" per fuzzed garbage body
    started = time.monotonic()
    if cluster_only:
        out = out or RESULTS_DIR / "soak_cluster.json"
        failover = asyncio.run(cluster_failover(shoppers=6 if quick else 12, before_s=4.0 if quick else 10.0,
                                                after_s=6.0 if quick else 10.0))
        results: dict[str, Any] = {"quick": quick, "cluster_failover": failover,
                                   "verdicts": cluster_verdicts(failover)}
        console.print(json.dumps(failover, indent=2, default=str), markup=False)
    else:
        out = out or RESULTS_DIR / "soak.json"
        results = asyncio.run(soak(quick=quick))
        results["verdicts"] = verdicts(results)
    results["seconds"] = time.monotonic() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    from bench.charts import soak_chart

    soak_chart(results["verdicts"], out.with_suffix(".png"))
    for name, ok in results["verdicts"].items():
        console.print(f"{'[green]PASS' if ok else '[red]FAIL'}[/] {name}")
    console.print(f"wrote {out}")
    if out.parent == RESULTS_DIR:
        from bench.report import update_doc

        update_doc()
    if not all(results["verdicts"].values()):
        raise typer.Exit(1)


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
