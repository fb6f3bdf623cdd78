"""Pure functions: Slack payloads (as Slack sends them) → :class:`IncomingMessage`.

Nothing here does I/O; every function is tested on recorded-shape JSON.
A function returns ``None`` when the payload is not for the dialogue
(bot messages, edits, joins...).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from core.commands import CommandMenu
from core.messages import Attachment, ConversationKey, IncomingMessage, Platform

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
# Subtypes that still carry a user's own words; every other subtype (edits,
# deletions, joins, bot messages...) is ignored.
_USER_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def strip_mentions(text: str) -> str:
    """Remove ``<@U123>`` user mentions and tidy the whitespace they leave."""
    return " ".join(_MENTION.sub(" ", text).split())


def mentions_user(text: str, user_id: str | None) -> bool:
    return bool(user_id) and f"<@{user_id}" in text


def is_from_bot(event: dict[str, Any], own_user_id: str | None = None) -> bool:
    """True for anything a bot (including this one) wrote."""
    return bool(
        event.get("bot_id")
        or event.get("subtype") == "bot_message"
        or event.get("bot_profile")
        or (own_user_id and event.get("user") == own_user_id)
    )


def _timestamp(ts: str | None) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), tz=UTC) if ts else datetime.now(UTC)
    except ValueError:
        return datetime.now(UTC)


def _attachments(event: dict[str, Any]) -> tuple[Attachment, ...]:
    files = event.get("files") or ()
    return tuple(
        Attachment(
            kind="photo" if str(f.get("mimetype", "")).startswith("image/") else "file",
            url=f.get("url_private"),
            file_id=f.get("id"),
            name=f.get("name"),
        )
        for f in files
        if isinstance(f, dict)
    )


def mention_of(user_id: str) -> str:
    """Slack's markup that links a user (``<@U123>``), shown as their name in every client."""
    return f"<@{user_id}>"


def thread_of(event: dict[str, Any]) -> str:
    """The thread timestamp when the message lies in a thread, else ``""``."""
    return str(event.get("thread_ts") or "")


def incoming_from_event(
    event: dict[str, Any],
    *,
    bot: str,
    team_id: str,
    event_id: str | None,
    own_user_id: str | None = None,
    command_prefix: str = "/",
) -> IncomingMessage | None:
    """Translate a ``message`` or ``app_mention`` event.

    Args:
        event: The ``event`` object of an ``event_callback`` body.
        bot: Which Shopkeep bot serves this workspace.
        team_id: The body's ``team_id`` (the conversation's workspace).
        event_id: The body's ``event_id``; becomes ``delivery_id``.
        own_user_id: This app's bot user, whose own messages are ignored.
        command_prefix: How the user types this bot's commands here (``/shop ``).

    Returns:
        The message, or ``None`` when the event is not a person talking.
    """
    if event.get("type") not in ("message", "app_mention"):
        return None
    if event.get("subtype") not in _USER_SUBTYPES or is_from_bot(event, own_user_id):
        return None
    user = event.get("user")
    channel = event.get("channel")
    if not user or not channel:
        return None
    text = strip_mentions(str(event.get("text") or ""))
    attachments = _attachments(event)
    if not text and not attachments:
        return None
    return IncomingMessage(
        conversation=ConversationKey(
            platform=Platform.SLACK, bot=bot, workspace=team_id, chat=channel, thread=thread_of(event)
        ),
        user_id=user,
        text=text,
        command_prefix=command_prefix,
        mention=mention_of(user),
        delivery_id=f"slack:{event_id}" if event_id else None,
        timestamp=_timestamp(event.get("ts")),
        attachments=attachments,
    )


def incoming_from_command(body: dict[str, Any], *, bot: str, menu: CommandMenu | None = None) -> IncomingMessage | None:
    """Translate a slash command (``/shop red dress`` → text ``red dress``).

    A bare ``/shop`` becomes ``/start``, the greeting every bot understands.
    Slack's client keeps a leading ``/`` for its own commands, so the bot's
    commands come as words: ``/shop cart`` or ``/shop lang zh`` becomes
    ``/cart`` or ``/lang zh`` when ``menu`` (the bot's registry) names them.
    """
    user = body.get("user_id")
    channel = body.get("channel_id")
    if not user or not channel:
        return None
    text = str(body.get("text") or "").strip() or "/start"
    if menu is not None:
        text = menu.read_bare(text) or text
    slash = str(body.get("command") or "").strip()
    trigger = body.get("trigger_id")
    return IncomingMessage(
        conversation=ConversationKey(
            platform=Platform.SLACK, bot=bot, workspace=str(body.get("team_id") or ""), chat=channel
        ),
        user_id=user,
        user_name=body.get("user_name"),
        text=text,
        command_prefix=f"{slash} " if slash.startswith("/") else "/",
        mention=mention_of(user),
        delivery_id=f"slack:{trigger}" if trigger else None,
    )


def incoming_from_action(body: dict[str, Any], *, bot: str, command_prefix: str = "/") -> IncomingMessage | None:
    """Translate a ``block_actions`` button press; ``value`` is the reply button's payload."""
    actions = body.get("actions") or ()
    action = actions[0] if actions and isinstance(actions[0], dict) else None
    user = (body.get("user") or {}).get("id")
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    if action is None or action.get("type") != "button" or not user or not channel:
        return None
    payload = action.get("value")
    if not payload:
        return None
    message = body.get("message") or {}
    thread = str(message.get("thread_ts") or container.get("thread_ts") or "")
    trigger = body.get("trigger_id")
    if trigger:
        delivery = f"slack:{trigger}"
    else:
        delivery = f"slack:{container.get('message_ts', '')}:{action.get('action_ts', '')}"
    team = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id") or ""
    return IncomingMessage(
        conversation=ConversationKey(platform=Platform.SLACK, bot=bot, workspace=team, chat=channel, thread=thread),
        user_id=user,
        user_name=(body.get("user") or {}).get("username"),
        command_prefix=command_prefix,
        mention=mention_of(user),
        text=str((action.get("text") or {}).get("text") or ""),
        button_payload=str(payload),
        delivery_id=delivery,
        timestamp=_timestamp(action.get("action_ts")),
    )


def dedup_id(body: dict[str, Any]) -> str | None:
    """The id Slack keeps across redeliveries of one request, if any.

    ``event_id`` for Events API callbacks, ``trigger_id`` for slash commands
    and interactions (a retried request carries the same one).
    """
    if body.get("type") == "event_callback":
        return body.get("event_id")
    trigger = body.get("trigger_id")
    if trigger:
        return str(trigger)
    if body.get("type") == "block_actions":
        actions = body.get("actions") or [{}]
        container = body.get("container") or {}
        return f"{container.get('message_ts', '')}:{actions[0].get('action_ts', '')}"
    return None
