"""The Slack adapter: Bolt listeners that verify, drop repeats, translate and answer.

Every request is acknowledged first (``process_before_response=False``:
Bolt answers Slack as soon as ``ack()`` runs and finishes the listener in
the background), so Slack never waits on the dialogue. Redeliveries
(``X-Slack-Retry-Num``) are dropped by ``event_id`` / ``trigger_id`` before
any listener runs, in HTTP and in Socket Mode alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.internals import parse_body
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.dedup import first_delivery
from adapters.metrics import AdapterMetrics
from adapters.slack import extract
from adapters.slack.render import ACTION_ID_PREFIX, render_reply
from adapters.types import MessageHandler
from core.commands import CommandMenu
from core.handoff import parse_channel
from core.messages import ConversationKey, IncomingMessage, Reply
from core.outbox import OutboxError
from core.protocols import SessionStore
from core.settings import Settings

logger = logging.getLogger(__name__)

DEDUP_SCOPE = "adapter:slack"
THREAD_NAMESPACE = "slack-thread"
APOLOGY = "Sorry, something went wrong on our side. Please try again in a moment."
# Slack's errors for a channel the bot cannot post into (a slash command used
# in a channel the app was never invited to); the command's response_url still works.
_NOT_POSTABLE = frozenset({"not_in_channel", "channel_not_found"})


def build_web_client(settings: Settings) -> AsyncWebClient:
    """A Web API client on ``settings.slack_api_url`` that retries 429s and dropped connections."""
    return AsyncWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )


async def post_replies(
    client: AsyncWebClient,
    conversation: ConversationKey,
    replies: Sequence[Reply],
    *,
    store: SessionStore | None,
    thread_ttl_s: int,
) -> list[str]:
    """Post ``replies`` into a channel, DM or thread; returns their ``ts``.

    A top-level post in a channel starts a thread the posting bot takes part
    in: it is remembered in ``store``, where the process serving Slack looks
    it up when someone answers in that thread.

    Raises:
        OutboxError: Slack refused a message.
    """
    sent: list[str] = []
    for reply in replies:
        try:
            response = await client.chat_postMessage(
                channel=conversation.chat, thread_ts=conversation.thread or None, **render_reply(reply)
            )
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else None
            raise OutboxError(conversation.platform, str(code or error)) from error
        ts = str(response.get("ts") or "")
        sent.append(ts)
        if ts and not conversation.thread and not conversation.chat.startswith("D") and store is not None:
            key = f"{conversation.workspace}:{conversation.chat}:{ts}"
            await store.put_record(THREAD_NAMESPACE, key, {"bot": conversation.bot}, thread_ttl_s)
    return sent


async def update_message(client: AsyncWebClient, conversation: ConversationKey, message_id: str,
                         reply: Reply) -> None:
    """Replace the message ``message_id`` (its ``ts``) in ``conversation.chat`` with ``reply`` (``chat.update``).

    Blocks are replaced as a whole: a reply without buttons leaves none.

    Raises:
        OutboxError: Slack refused (``message_not_found``, ``cant_update_message``...).
    """
    try:
        await client.chat_update(channel=conversation.chat, ts=message_id, **render_reply(reply))
    except SlackApiError as error:
        code = error.response.get("error") if error.response is not None else None
        raise OutboxError(conversation.platform, str(code or error)) from error


class SlackOutbox:
    """A send-only Slack outbox for a process that does not serve Slack (``shopkeep telegram-poll``).

    It receives no events: it only posts, with the same client and rendering
    as :class:`SlackAdapter`, and records the threads it starts in ``store``.

    Args:
        settings: Bot token and the Web API base URL.
        store: The shared session store (threads the bot takes part in).
        client: A Web API client; built from ``settings`` when omitted.
    """

    def __init__(
        self, *, settings: Settings, store: SessionStore | None = None, client: AsyncWebClient | None = None
    ) -> None:
        settings.require("slack_bot_token")
        self.client = client if client is not None else build_web_client(settings)
        self._store = store
        self._thread_ttl_s = settings.state_ttl_s

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Post ``replies``; returns their ``ts`` (see :func:`post_replies`).

        Raises:
            OutboxError: Slack refused a message.
        """
        return await post_replies(self.client, conversation, replies, store=self._store,
                                  thread_ttl_s=self._thread_ttl_s)

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Edit a message the bot posted (see :func:`update_message`).

        Raises:
            OutboxError: Slack refused.
        """
        await update_message(self.client, conversation, message_id, reply)


def _malformed(what: str) -> Response:
    logger.info("slack: malformed request body refused (%s)", what)
    return JSONResponse({"ok": False, "error": "malformed_body"}, status_code=400)


class SlackAdapter:
    """Slack ↔ Shopkeep for one bot, plus the staff bot when one is given.

    Routing: messages in ``staff_channels``, the ``staff_command`` and button
    presses or mentions in the handoff channel go to the staff bot; a channel
    thread goes to the bot that posted its first message; the rest to ``bot``.
    In a staff channel the staff bot answers every message, as in a DM.

    Args:
        settings: Tokens, signing secret and the Web API base URL.
        handler: The core's handler (``runtime.manager.handle``).
        bot: Name of the bot this workspace talks to.
        store: The runtime's session store, for redelivery dedup and for
            remembering which channel threads the bot takes part in.
        client: A Web API client; built from ``settings`` when omitted.
        metrics: Where dropped duplicates and errors are counted.
        staff_handler: The staff bot's handler (``settings.staff_bot``); None: no staff routing.
        commands: Each bot's command registry, by bot name. Slack's client keeps a
            leading ``/`` for its own slash commands, so a bot's commands are typed
            after its slash command (``/shop cart``, ``/staff queue``); the core lists
            them that way.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        handler: MessageHandler,
        bot: str,
        store: SessionStore | None = None,
        client: AsyncWebClient | None = None,
        metrics: AdapterMetrics | None = None,
        staff_handler: MessageHandler | None = None,
        commands: Mapping[str, CommandMenu] | None = None,
    ) -> None:
        self._handler = handler
        self._bot = bot
        self._menus: Mapping[str, CommandMenu] = commands or {}
        # How each bot's commands are typed here: after its slash command.
        self._prefixes = {bot: f"{settings.slack_command} ", settings.staff_bot: f"{settings.staff_command} "}
        self._handlers: dict[str, MessageHandler] = {bot: handler}
        self._staff_bot = settings.staff_bot
        self._staff_channels: frozenset[str] = frozenset()
        self._handoff_channel = ""
        if staff_handler is not None:
            self._handlers[self._staff_bot] = staff_handler
            self._staff_channels = frozenset(c.strip() for c in settings.staff_channels.split(",") if c.strip())
            handoff = parse_channel(settings.handoff_channel, bot=self._staff_bot)
            self._handoff_channel = handoff.chat if handoff is not None else ""
        self._store = store
        self._metrics = metrics
        self._settings = settings
        self._dedup_ttl_s = settings.dedup_ttl_s
        self._thread_ttl_s = settings.state_ttl_s
        self.client = client if client is not None else build_web_client(settings)
        secret = settings.slack_signing_secret or ""
        self.app = AsyncApp(
            client=self.client,
            signing_secret=secret,
            request_verification_enabled=bool(secret),
            process_before_response=False,
            name=f"shopkeep-{bot}",
        )
        self.app.middleware(self._drop_redeliveries)
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.command(settings.slack_command)(self._on_command)
        if staff_handler is not None and settings.staff_command != settings.slack_command:
            self.app.command(settings.staff_command)(self._on_staff_command)
        self.app.action(re.compile(rf"^{re.escape(ACTION_ID_PREFIX)}"))(self._on_action)
        self.app.error(self._on_error)
        self._http = AsyncSlackRequestHandler(self.app)

    # --- transports --------------------------------------------------------
    async def handle_http(self, request: Request) -> Response:
        """Events, slash commands and interactivity, all on one URL (as Bolt does).

        Bolt parses the body before it checks the signature, so a body that is
        not JSON (or a form whose ``payload`` is not JSON) raises inside it, and
        JSON that is not an object (``1``, ``true``, ``payload=[]``) breaks its
        field extraction: that is the sender's fault, answered 400 without detail.
        """
        try:
            raw = (await request.body()).decode("utf-8")  # Starlette caches it for Bolt
            content_type = request.headers.get("content-type", "").split(";")[0] or None
            parsed = parse_body(raw, content_type)
        except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError and friends
            return _malformed(type(e).__name__)
        if not isinstance(parsed, dict):
            return _malformed(type(parsed).__name__)
        return await self._http.handle(request)

    def socket_mode_handler(self) -> AsyncSocketModeHandler:
        """A Socket Mode connection (``SLACK_APP_TOKEN``); call ``connect_async()`` on it."""
        token = self._settings.require("slack_app_token")
        return AsyncSocketModeHandler(self.app, str(token))

    # --- middleware and listeners -------------------------------------------
    async def _drop_redeliveries(
        self, body: dict[str, Any], next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        delivery = extract.dedup_id(body)
        if self._store is not None and delivery and not await first_delivery(self._store, DEDUP_SCOPE, delivery):
            logger.info("slack: dropping redelivery %s", delivery)
            if self._metrics is not None:
                self._metrics.duplicates.labels(platform="slack").inc()
            return BoltResponse(status=200, body="")
        return await next()

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        own = getattr(context, "bot_user_id", None)
        bot = self._bot
        text = str(event.get("text") or "")
        if event.get("channel") in self._staff_channels:
            if extract.mentions_user(text, own):
                return  # arrives as app_mention too
            bot = self._staff_bot
        elif event.get("channel_type") not in ("im", "mpim"):
            # In channels the bot answers only inside threads it already takes
            # part in; a message mentioning it arrives as app_mention instead.
            thread = extract.thread_of(event)
            if not thread or extract.mentions_user(text, own):
                return
            followed = await self._follows(body, event)
            if followed is None:
                return
            bot = followed
        message = extract.incoming_from_event(
            event, bot=bot, team_id=self._team(body), event_id=body.get("event_id"), own_user_id=own,
            command_prefix=self._prefix(bot),
        )
        if message is not None:
            await self._converse(message)

    def _bot_for_channel(self, channel: object) -> str:
        staff = channel in self._staff_channels or (self._handoff_channel and channel == self._handoff_channel)
        return self._staff_bot if staff and self._staff_bot in self._handlers else self._bot

    def _prefix(self, bot: str) -> str:
        return self._prefixes.get(bot, "/")

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        bot = self._bot_for_channel(event.get("channel"))
        message = extract.incoming_from_event(
            event,
            bot=bot,
            team_id=self._team(body),
            event_id=body.get("event_id"),
            own_user_id=getattr(context, "bot_user_id", None),
            command_prefix=self._prefix(bot),
        )
        if message is None:
            return
        if message.conversation.thread:
            await self._follow(message)
        await self._converse(message)

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        message = extract.incoming_from_command(body, bot=self._bot, menu=self._menus.get(self._bot))
        if message is not None:
            await self._converse(message, response_url=body.get("response_url"))

    async def _on_staff_command(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        message = extract.incoming_from_command(body, bot=self._staff_bot, menu=self._menus.get(self._staff_bot))
        if message is not None:
            await self._converse(message, response_url=body.get("response_url"))

    async def _on_action(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        bot = self._bot_for_channel(channel)
        message = extract.incoming_from_action(body, bot=bot, command_prefix=self._prefix(bot))
        if message is not None:
            await self._converse(message, response_url=body.get("response_url"))

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        logger.error("slack: listener failed for %s", extract.dedup_id(body), exc_info=error)

    # --- the work, after the acknowledgement --------------------------------
    async def _converse(self, message: IncomingMessage, *, response_url: str | None = None) -> None:
        handler = self._handlers.get(message.conversation.bot, self._handler)
        try:
            replies = await handler(message)
        except Exception:  # the edge: log once, answer politely
            logger.exception("slack: dialogue failed for %s", message.delivery_id)
            replies = [Reply(text=APOLOGY)]
        for reply in replies:
            await self._post(message, reply, response_url=response_url)

    async def _post(self, message: IncomingMessage, reply: Reply, *, response_url: str | None) -> None:
        rendered = render_reply(reply)
        channel = message.conversation.chat
        thread = message.conversation.thread or None
        try:
            if reply.ephemeral:  # only the sender sees it (a button's presser, say)
                await self.client.chat_postEphemeral(channel=channel, user=message.user_id, thread_ts=thread,
                                                     **rendered)
            else:
                await self.client.chat_postMessage(channel=channel, thread_ts=thread, **rendered)
        except SlackApiError as error:
            code = error.response.get("error") if error.response is not None else None
            if code in _NOT_POSTABLE and response_url:
                await AsyncWebhookClient(response_url).send(
                    response_type="ephemeral" if reply.ephemeral else "in_channel", **rendered)
                return
            logger.error("slack: chat.postMessage to %s failed: %s", channel, code or error)
            if self._metrics is not None:
                self._metrics.observe_error("slack", self._bot, error)

    # --- the outbox (core.outbox.Outbox) ------------------------------------------
    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Post ``replies`` into a channel, DM or thread; returns their ``ts`` (see :func:`post_replies`).

        Raises:
            OutboxError: Slack refused a message.
        """
        return await post_replies(self.client, conversation, replies, store=self._store,
                                  thread_ttl_s=self._thread_ttl_s)

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Edit a message the bot posted (see :func:`update_message`).

        Raises:
            OutboxError: Slack refused.
        """
        await update_message(self.client, conversation, message_id, reply)

    # --- channel threads the bot takes part in -------------------------------
    @staticmethod
    def _team(body: dict[str, Any]) -> str:
        return str(body.get("team_id") or (body.get("team") or {}).get("id") or "")

    async def _follow(self, message: IncomingMessage) -> None:
        if self._store is not None:
            key = f"{message.conversation.workspace}:{message.conversation.chat}:{message.conversation.thread}"
            await self._store.put_record(
                THREAD_NAMESPACE, key, {"bot": message.conversation.bot}, self._thread_ttl_s
            )

    async def _follows(self, body: dict[str, Any], event: dict[str, Any]) -> str | None:
        """The bot taking part in the event's thread, or None."""
        if self._store is None:
            return None
        key = f"{event.get('channel')}:{extract.thread_of(event)}"
        # Threads started through the outbox of a bare channel id carry no team.
        record = await self._store.get_record(THREAD_NAMESPACE, f"{self._team(body)}:{key}")
        record = record or await self._store.get_record(THREAD_NAMESPACE, f":{key}")
        if record is None:
            return None
        bot = str(record.get("bot") or self._bot)
        return bot if bot in self._handlers else self._bot
