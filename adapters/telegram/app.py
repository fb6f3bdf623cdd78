"""The Telegram adapter: python-telegram-bot handlers that drop repeats, translate and answer.

Works in both of Telegram's delivery modes: long polling (``shopkeep
telegram-poll``, :meth:`TelegramAdapter.run_polling`) and webhooks (the ASGI
app hands each verified update to :meth:`TelegramAdapter.submit`). Flood
control is PTB's :class:`~telegram.ext.AIORateLimiter`, which also retries a
``RetryAfter`` answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    TypeHandler,
    filters,
)
from telegram.ext import (
    MessageHandler as PTBMessageHandler,
)

from adapters.dedup import first_delivery
from adapters.metrics import AdapterMetrics
from adapters.telegram import extract
from adapters.telegram.callbacks import CallbackCodec, CallbackExpired
from adapters.telegram.commands import command_lists
from adapters.telegram.render import (
    BUTTONS_ONLY_TEXT,
    CONTACT_BUTTON_LABEL,
    OutgoingPart,
    keyboard_rows,
    plan_reply,
    split_text,
)
from adapters.types import MessageHandler
from core.commands import CommandMenu
from core.messages import ConversationKey, IncomingMessage, Reply
from core.outbox import OutboxError
from core.protocols import SessionStore
from core.settings import Settings

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. Please try again in a moment."
EXPIRED = "This button has expired. Please ask again."
FOREIGN_CONTACT = "Please share your own number with the button below the chat."
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


class TelegramAdapter:
    """Telegram ↔ Shopkeep for one bot.

    Args:
        settings: Token, API base URL, webhook secret and URL, callback TTL.
        handler: The core's handler (``runtime.manager.handle``).
        bot: Name of the bot this Telegram bot serves.
        store: The runtime's session store (update dedup, long button payloads).
        metrics: Where dropped duplicates and errors are counted.
        polling: Build an updater for long polling (else webhook mode).
        commands: The bot's command registry; its lists become the chat's command
            menu (``setMyCommands``) when the adapter starts. None: the menu is left as it is.

    Commands need no handler of their own: a command is a text message
    (``filters.TEXT`` accepts them), and the core's registry runs it or
    answers that it does not know it.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        handler: MessageHandler,
        bot: str,
        store: SessionStore | None = None,
        metrics: AdapterMetrics | None = None,
        polling: bool = False,
        commands: CommandMenu | None = None,
    ) -> None:
        self._settings = settings
        self._commands = commands
        self._handler = handler
        self._bot = bot
        self._store = store
        self._metrics = metrics
        self._codec = CallbackCodec(store=store, ttl_s=settings.telegram_callback_ttl_s)
        self._tasks: set[asyncio.Task[None]] = set()
        builder = (
            Application.builder()
            .token(str(settings.require("telegram_bot_token")))
            .base_url(settings.telegram_api_url)
            .rate_limiter(AIORateLimiter(max_retries=3))
        )
        if not polling:
            builder = builder.updater(None)
        self.application = builder.build()
        self.application.add_handler(TypeHandler(Update, self._drop_repeats), group=-1)
        self.application.add_handler(
            PTBMessageHandler(
                filters.UpdateType.MESSAGE & (filters.TEXT | filters.CONTACT | filters.PHOTO | filters.CAPTION),
                self._on_message,
            )
        )
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        self.application.add_error_handler(self._on_error)
        self._sender = TelegramSender(bot=self.application.bot, codec=self._codec, bot_name=bot, metrics=metrics)

    @property
    def bot(self) -> Bot:
        return self.application.bot

    # --- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        """Open the HTTP client and check the token (``getMe``); publish the command menu;
        register the webhook if configured."""
        await self.application.initialize()
        await self.publish_commands()
        url = self._settings.telegram_webhook_url
        if url:
            await self.bot.set_webhook(
                url,
                secret_token=self._settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )

    async def stop(self) -> None:
        """Let in-flight updates finish, then close the HTTP client."""
        await self.drain()
        await self.application.shutdown()

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long-poll ``getUpdates`` until ``stop`` is set (drops any webhook first)."""
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("TelegramAdapter was built for webhooks; pass polling=True")
        async with self.application:
            await self.publish_commands()
            await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            await self.application.start()
            try:
                await stop.wait()
            finally:
                await updater.stop()
                await self.application.stop()

    async def publish_commands(self) -> None:
        """Set the chat's command menu from the bot's registry: ``setMyCommands`` for every
        user, then once per other language the bot speaks (``language_code``).

        A refusal is logged and counted, not raised: the bot still answers
        every command typed by hand.
        """
        if self._commands is None:
            return
        for listed in command_lists(self._commands):
            try:
                await self.bot.set_my_commands(listed.commands, language_code=listed.language_code)
            except TelegramError as error:
                logger.warning("telegram: setMyCommands (%s) refused: %s", listed.language_code or "default", error)
                if self._metrics is not None:
                    self._metrics.observe_error("telegram", self._bot, error)

    # --- webhook entry -------------------------------------------------------
    def parse_update(self, data: dict[str, Any]) -> Update:
        """``Update.de_json`` with this bot attached.

        Raises:
            ValueError: If ``data`` is not shaped like an update.
        """
        if type(data.get("update_id")) is not int:  # exactly: a JSON true is no update id
            raise ValueError("update_id must be an integer")
        try:
            update = Update.de_json(data, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"not a Telegram update: {error}") from error
        if update is None:
            raise ValueError("empty update")
        return update

    def submit(self, update: Update) -> None:
        """Process ``update`` in the background (the webhook has already answered 200)."""
        task = asyncio.create_task(self.application.process_update(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until every submitted update has been processed."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- handlers --------------------------------------------------------------
    async def _drop_repeats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if self._store is None:
            return
        if not await first_delivery(self._store, f"adapter:telegram:{self._bot}", str(update.update_id)):
            logger.info("telegram: dropping repeated update %s", update.update_id)
            if self._metrics is not None:
                self._metrics.duplicates.labels(platform="telegram").inc()
            raise ApplicationHandlerStop

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.message
        if message is None:
            return
        if message.contact is not None and not extract.is_own_contact(message):
            await self._send_part(message.chat_id, OutgoingPart(text=FOREIGN_CONTACT, request_contact=True))
            return
        incoming = extract.incoming_from_message(update, bot=self._bot)
        if incoming is not None:
            await self._converse(incoming)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            payload = await self._codec.decode(query.data or "")
        except CallbackExpired:
            await query.answer(EXPIRED)
            return
        # Answer first: the user's button stops spinning whatever the dialogue does.
        await query.answer()
        incoming = extract.incoming_from_callback(query, update_id=update.update_id, bot=self._bot, payload=payload)
        if incoming is not None:
            await self._converse(incoming)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        logger.error("telegram: handler failed for %s", getattr(update, "update_id", update), exc_info=context.error)
        if self._metrics is not None and context.error is not None:
            self._metrics.observe_error("telegram", self._bot, context.error)

    # --- the work ----------------------------------------------------------------
    async def _converse(self, message: IncomingMessage) -> None:
        try:
            replies = await self._handler(message)
        except Exception:  # the edge: log once, answer politely
            logger.exception("telegram: dialogue failed for %s", message.delivery_id)
            replies = [Reply(text=APOLOGY)]
        for reply in replies:
            for part in plan_reply(reply):
                await self._send_part(message.conversation.chat, part)

    async def _send_part(self, chat_id: str | int, part: OutgoingPart) -> str | None:
        return await self._sender.send_part(chat_id, part)

    # --- the outbox (core.outbox.Outbox) ------------------------------------------
    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Send ``replies`` to a chat nobody is waiting on; returns the message ids.

        Raises:
            OutboxError: Telegram refused a message.
        """
        return await self._sender.send(conversation, replies)

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Edit a message the bot sent (see :meth:`TelegramSender.update`).

        Raises:
            OutboxError: Telegram refused.
        """
        await self._sender.update(conversation, message_id, reply)


class TelegramSender:
    """Renders and sends replies through a PTB bot; shared by the adapter and :class:`TelegramOutbox`.

    Args:
        bot: The PTB bot that sends (the adapter's ``application.bot`` or a bare ``ExtBot``).
        codec: Where long button payloads are kept (the store the adapter decodes them from).
        bot_name: The Shopkeep bot name, for metrics labels.
        metrics: Where send errors are counted.
    """

    def __init__(
        self, *, bot: Bot, codec: CallbackCodec, bot_name: str, metrics: AdapterMetrics | None = None
    ) -> None:
        self.bot = bot
        self._codec = codec
        self._bot_name = bot_name
        self._metrics = metrics

    async def markup(self, part: OutgoingPart) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
        if part.request_contact:
            return ReplyKeyboardMarkup(
                [[KeyboardButton(CONTACT_BUTTON_LABEL, request_contact=True)]],
                resize_keyboard=True,
                one_time_keyboard=True,
            )
        if not part.buttons:
            return None
        rows: list[list[InlineKeyboardButton]] = []
        for row in keyboard_rows(part.buttons):
            cells = []
            for button in row:
                data = await self._codec.encode(button.payload)
                if data is not None:
                    cells.append(InlineKeyboardButton(button.label, callback_data=data))
            if cells:
                rows.append(cells)
        return InlineKeyboardMarkup(rows) if rows else None

    async def send_part(self, chat_id: str | int, part: OutgoingPart, *, strict: bool = False) -> str | None:
        """Send one part; returns its message id. ``strict`` re-raises a failure (the outbox)."""
        markup = await self.markup(part)
        try:
            if part.photo is not None:
                try:
                    sent = await self.bot.send_photo(
                        chat_id, part.photo, caption=part.text, parse_mode=part.parse_mode, reply_markup=markup
                    )
                    return str(sent.message_id)
                except BadRequest as error:  # e.g. Telegram could not fetch the image
                    logger.warning("telegram: sendPhoto failed (%s); sending the card as text", error.message)
            sent = await self.bot.send_message(chat_id, part.text, parse_mode=part.parse_mode, reply_markup=markup)
            return str(sent.message_id)
        except TelegramError as error:
            logger.error("telegram: sending to %s failed: %s", chat_id, error)
            if self._metrics is not None:
                self._metrics.observe_error("telegram", self._bot_name, error)
            if strict:
                raise
            return None

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """``editMessageText``: the message's text and inline keyboard become ``reply``'s.

        A reply longer than one message keeps its first part (an edit cannot add messages).

        Raises:
            OutboxError: Telegram refused (the message is gone, too old, or not a text message).
        """
        chunks = split_text(reply.text)
        part = OutgoingPart(text=chunks[0] if chunks else BUTTONS_ONLY_TEXT, buttons=reply.buttons)
        markup = await self.markup(part)
        try:
            await self.bot.edit_message_text(
                part.text, chat_id=conversation.chat, message_id=int(message_id), parse_mode=part.parse_mode,
                reply_markup=markup if isinstance(markup, InlineKeyboardMarkup) else None,
            )
        except (TelegramError, ValueError) as error:
            raise OutboxError(conversation.platform, str(error)) from error

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Send ``replies`` to ``conversation.chat``; returns the message ids.

        Raises:
            OutboxError: Telegram refused a message.
        """
        ids: list[str] = []
        for reply in replies:
            for part in plan_reply(reply):
                try:
                    sent = await self.send_part(conversation.chat, part, strict=True)
                except TelegramError as error:
                    raise OutboxError(conversation.platform, str(error)) from error
                if sent is not None:
                    ids.append(sent)
        return ids


class TelegramOutbox:
    """A send-only Telegram outbox for a process that does not serve Telegram.

    It never polls, never sets or deletes a webhook and answers no update:
    the only calls it makes are ``getMe`` (once, on the first send) and the
    sends themselves. Button payloads too long for ``callback_data`` go to
    ``store``, where the process that serves Telegram decodes them.

    Args:
        settings: Token, API base URL and callback TTL.
        bot: The Shopkeep bot name the chats belong to (metrics labels).
        store: The shared session store (long button payloads).
        metrics: Where send errors are counted.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        bot: str,
        store: SessionStore | None = None,
        metrics: AdapterMetrics | None = None,
    ) -> None:
        self.bot = ExtBot(
            str(settings.require("telegram_bot_token")),
            base_url=settings.telegram_api_url,
            rate_limiter=AIORateLimiter(max_retries=3),
        )
        codec = CallbackCodec(store=store, ttl_s=settings.telegram_callback_ttl_s)
        self._sender = TelegramSender(bot=self.bot, codec=codec, bot_name=bot, metrics=metrics)

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Send ``replies`` to a chat; returns the message ids.

        Raises:
            OutboxError: Telegram could not be reached or refused a message.
        """
        try:
            await self.bot.initialize()  # idempotent; the first call checks the token (getMe)
        except TelegramError as error:
            raise OutboxError(conversation.platform, str(error)) from error
        return await self._sender.send(conversation, replies)

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Edit a message the bot sent (see :meth:`TelegramSender.update`).

        Raises:
            OutboxError: Telegram could not be reached or refused.
        """
        try:
            await self.bot.initialize()
        except TelegramError as error:
            raise OutboxError(conversation.platform, str(error)) from error
        await self._sender.update(conversation, message_id, reply)

    async def aclose(self) -> None:
        """Close the HTTP client (idempotent)."""
        await self.bot.shutdown()


__all__ = ["TelegramAdapter", "TelegramOutbox", "TelegramSender"]
