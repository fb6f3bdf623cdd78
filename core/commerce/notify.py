"""Opt-in messages: "tell me when it ships" and "tell me when it's back in stock".

Nobody is messaged who did not ask. A subscription is a record tied to the
user (so ``/forget`` erases it) and a member of a per-target queue::

    record  notify-sub:<id>             {"kind", "target", "label", "conversation", "user_id", "lang"}
    record  notify-user:<platform:user> {"subs": [ids]}            (for /notify off)
    queue   notify-ship:<order id>      members: subscription ids
    queue   notify-stock:<variant id>   members: subscription ids
    record  notify-job:<id>             one message to send, with its attempt count
    queue   notify-outbox               jobs, scored by when they are due

When the event happens, each subscription is *claimed* by removing it from
its queue (only one process can remove it), so a webhook delivered three
times, or handled by two processes, still sends one message. Messages go
through the platform outboxes from a durable queue: a refused send (a rate
limit, an outage) is retried later with backoff, never dropped until
``max_attempts``; sends are paced per platform.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import StorageError
from core.messages import ConversationKey, Platform, Reply
from core.outbox import Outbox, OutboxError
from core.protocols import SessionStore

logger = logging.getLogger(__name__)

SUB = "notify-sub"
USER = "notify-user"
JOB = "notify-job"
OUTBOX_QUEUE = "notify-outbox"
SHIP = "ship"
STOCK = "stock"

TEXTS: dict[str, dict[str, str]] = {
    "shipped": {
        "en": "Good news: your order {order} has shipped{carrier}. Track it here: {url}",
        "zh": "好消息：您的订单 {order} 已发货{carrier}。物流查询：{url}",
    },
    "shipped_no_link": {
        "en": "Good news: your order {order} has shipped{carrier}. Tracking number: {number}",
        "zh": "好消息：您的订单 {order} 已发货{carrier}。运单号：{number}",
    },
    "shipped_plain": {
        "en": "Good news: your order {order} has shipped.",
        "zh": "好消息：您的订单 {order} 已发货。",
    },
    "carrier": {"en": " with {carrier}", "zh": "（{carrier}）"},
    "back_in_stock": {
        "en": "{title} is back in stock. {url}",
        "zh": "{title} 已到货。{url}",
    },
}


def text(key: str, lang: str, **values: Any) -> str:
    texts = TEXTS[key]
    return (texts.get(lang) or texts["en"]).format(**values)


def _sub_id(kind: str, target: str, conversation: ConversationKey) -> str:
    return hashlib.sha1(f"{kind}|{target}|{conversation.tag}".encode()).hexdigest()[:24]


def _queue(kind: str, target: str) -> str:
    return f"notify-{kind}:{target}"


class Notifier:
    """Keeps opt-in subscriptions and delivers their messages once.

    Args:
        store: the shared session store (records, queues, the user index).
        outbox: the platform outboxes (registered by the adapters).
        max_attempts: sends tried per message before it is given up (logged).
        retry_s: first retry delay; doubles per attempt, capped at 15 minutes.
        min_interval_s: the least time between two sends on one platform (pacing under the
            platforms' rate limits; Telegram allows about 30 messages a second in all).
        clock: epoch seconds (tests move it).
    """

    def __init__(self, *, store: SessionStore, outbox: Outbox, max_attempts: int = 8, retry_s: float = 5.0,
                 min_interval_s: float = 0.05, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.outbox = outbox
        self.max_attempts = max_attempts
        self.retry_s = retry_s
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last_send: dict[Platform, float] = {}
        self.sent = 0
        self.failed = 0

    # --- subscriptions ------------------------------------------------------------
    async def subscribe(self, *, kind: str, target: str, label: str, url: str = "", conversation: ConversationKey,
                        user_id: str, lang: str) -> str:
        """Subscribe a conversation to one event (idempotent); returns the subscription id."""
        sub_id = _sub_id(kind, target, conversation)
        user = (conversation.platform, user_id)
        await self.store.put_record(SUB, sub_id, {
            "kind": kind, "target": target, "label": label, "url": url, "user_id": user_id, "lang": lang,
            "conversation": conversation.model_dump(mode="json"),
        }, user=user)
        index_id = f"{conversation.platform.value}:{user_id}"
        index = await self.store.get_record(USER, index_id) or {}
        subs = [s for s in index.get("subs", []) if isinstance(s, str)]
        if sub_id not in subs:
            subs.append(sub_id)
        await self.store.put_record(USER, index_id, {"subs": subs}, user=user)
        await self.store.schedule(_queue(kind, target), sub_id, self.clock())
        return sub_id

    async def unsubscribe_all(self, platform: Platform, user_id: str) -> int:
        """``/notify off``: drop every subscription of this user; returns how many there were."""
        index_id = f"{platform.value}:{user_id}"
        index = await self.store.get_record(USER, index_id) or {}
        removed = 0
        for sub_id in index.get("subs", []):
            record = await self.store.get_record(SUB, sub_id)
            if record is not None:
                await self.store.unschedule(_queue(record["kind"], record["target"]), sub_id)
                await self.store.delete_record(SUB, sub_id)
                removed += 1
        await self.store.delete_record(USER, index_id)
        return removed

    async def subscriptions(self, platform: Platform, user_id: str) -> list[dict[str, Any]]:
        index = await self.store.get_record(USER, f"{platform.value}:{user_id}") or {}
        found = []
        for sub_id in index.get("subs", []):
            record = await self.store.get_record(SUB, sub_id)
            if record is not None:
                found.append(record)
        return found

    # --- events ---------------------------------------------------------------------
    async def shipped(self, *, order_id: str, order_name: str, company: str = "", number: str = "",
                      url: str = "") -> int:
        """An order shipped: queue one message per subscriber; returns how many."""
        def render(record: Mapping[str, Any]) -> str:
            lang = str(record.get("lang") or "en")
            order = order_name or str(record.get("label") or "")
            carrier = text("carrier", lang, carrier=company) if company else ""
            if url:
                return text("shipped", lang, order=order, carrier=carrier, url=url)
            if number:
                return text("shipped_no_link", lang, order=order, carrier=carrier, number=number)
            return text("shipped_plain", lang, order=order)

        return await self._fire(SHIP, order_id, render)

    async def back_in_stock(self, *, variant_id: str, title: str = "", url: str = "") -> int:
        """A variant can be bought again: queue one message per subscriber; returns how many."""
        def render(record: Mapping[str, Any]) -> str:
            lang = str(record.get("lang") or "en")
            return text("back_in_stock", lang, title=title or str(record.get("label") or ""),
                        url=url or str(record.get("url") or "")).strip()

        return await self._fire(STOCK, variant_id, render)

    async def waiting(self, kind: str, target: str) -> int:
        """How many subscriptions wait for this event (cheap: the queue's members)."""
        return len(await self.store.due(_queue(kind, target), float("inf"), limit=1000))

    async def _fire(self, kind: str, target: str, render: Callable[[Mapping[str, Any]], str]) -> int:
        queue = _queue(kind, target)
        queued = 0
        for sub_id in await self.store.due(queue, float("inf"), limit=1000):
            if not await self.store.unschedule(queue, sub_id):
                continue  # another delivery of this event (or another process) claimed it
            record = await self.store.get_record(SUB, sub_id)
            if record is None:
                continue  # forgotten or switched off since
            await self.store.delete_record(SUB, sub_id)
            conversation = ConversationKey.model_validate(record["conversation"])
            job_id = secrets.token_hex(8)
            await self.store.put_record(JOB, job_id, {
                "conversation": record["conversation"], "text": render(record), "attempt": 0,
            }, user=(conversation.platform, str(record.get("user_id") or "")) if record.get("user_id") else None)
            await self.store.schedule(OUTBOX_QUEUE, job_id, self.clock())
            queued += 1
        if queued:
            logger.info("notify: %d message(s) queued for %s %s", queued, kind, target)
        return queued

    # --- delivery ----------------------------------------------------------------------
    async def deliver_due(self, limit: int = 100) -> int:
        """Send the messages that are due (safe in several processes); returns how many were sent."""
        sent = 0
        for job_id in await self.store.due(OUTBOX_QUEUE, self.clock(), limit=limit):
            if not await self.store.unschedule(OUTBOX_QUEUE, job_id):
                continue
            job = await self.store.get_record(JOB, job_id)
            if job is None:
                continue
            conversation = ConversationKey.model_validate(job["conversation"])
            await self._pace(conversation.platform)
            try:
                await self.outbox.send(conversation, [Reply(text=str(job["text"]))])
            except OutboxError as error:
                await self._retry(job_id, job, conversation, error)
                continue
            await self.store.delete_record(JOB, job_id)
            self.sent += 1
            sent += 1
        return sent

    async def _retry(self, job_id: str, job: dict[str, Any], conversation: ConversationKey, error: OutboxError) -> None:
        attempt = int(job.get("attempt", 0)) + 1
        if attempt >= self.max_attempts:
            self.failed += 1
            logger.error("notify: message to %s given up after %d attempts: %s", conversation.tag, attempt, error)
            await self.store.delete_record(JOB, job_id)
            return
        delay = min(self.retry_s * (2 ** (attempt - 1)), 900.0)
        job["attempt"] = attempt
        await self.store.put_record(JOB, job_id, job)
        await self.store.schedule(OUTBOX_QUEUE, job_id, self.clock() + delay)
        logger.warning("notify: send to %s failed (%s); retry %d in %.0f s", conversation.tag, error, attempt, delay)

    async def _pace(self, platform: Platform) -> None:
        last = self._last_send.get(platform)
        now = time.monotonic()
        if last is not None and now - last < self.min_interval_s:
            await asyncio.sleep(self.min_interval_s - (now - last))
        self._last_send[platform] = time.monotonic()

    async def run(self, every_s: float = 1.0) -> None:
        """Deliver due messages every ``every_s`` seconds until cancelled."""
        while True:
            try:
                while await self.deliver_due():
                    pass
            except StorageError as error:
                logger.warning("notify: store unavailable, retrying: %s", error)
            await asyncio.sleep(every_s)
