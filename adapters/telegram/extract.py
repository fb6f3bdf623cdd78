"""Pure functions: Telegram updates → :class:`IncomingMessage`.

Nothing here does I/O. Functions return ``None`` when an update is not for
the dialogue (service messages, edits, a contact that is not the sender's).
"""

from __future__ import annotations

import re

from telegram import CallbackQuery, Message, Update

from core.messages import Attachment, Contact, ConversationKey, IncomingMessage, Platform

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z0-9_]{1,32})(?:@(?P<target>[A-Za-z0-9_]{3,64}))?(?P<rest>(?:\s.*)?)$", re.DOTALL)


def delivery_id(bot: str, update_id: int) -> str:
    """The id the dialogue dedups on: ``telegram:<bot>:<update_id>``."""
    return f"telegram:{bot}:{update_id}"


def conversation_of(chat_id: int | str, *, bot: str) -> ConversationKey:
    return ConversationKey(platform=Platform.TELEGRAM, bot=bot, chat=str(chat_id))


def normalize_command(text: str) -> str:
    """``/cart@ShopBot  now`` → ``/cart now`` (group chats address commands to a bot)."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return text.strip()
    rest = " ".join(match.group("rest").split())
    return f"/{match.group('name').lower()}" + (f" {rest}" if rest else "")


def is_own_contact(message: Message) -> bool:
    """A contact counts only when the sender shared their own (request_contact button)."""
    contact = message.contact
    return bool(
        contact is not None
        and message.from_user is not None
        and contact.user_id is not None
        and contact.user_id == message.from_user.id
    )


def incoming_from_message(update: Update, *, bot: str) -> IncomingMessage | None:
    """Translate a new message: text or command, caption + photo, or the sender's own contact."""
    message = update.message
    if message is None or message.from_user is None or message.from_user.is_bot:
        return None
    user = message.from_user
    text = normalize_command(message.text or message.caption or "")
    contact = None
    if is_own_contact(message):
        assert message.contact is not None  # narrowed by is_own_contact
        contact = Contact(
            phone=message.contact.phone_number,
            user_id=str(message.contact.user_id),
            first_name=message.contact.first_name,
        )
    attachments: tuple[Attachment, ...] = ()
    if message.photo:
        attachments = (Attachment(kind="photo", file_id=message.photo[-1].file_id),)
    elif message.document is not None:
        attachments = (Attachment(kind="file", file_id=message.document.file_id, name=message.document.file_name),)
    if not text and contact is None and not attachments:
        return None
    return IncomingMessage(
        conversation=conversation_of(message.chat.id, bot=bot),
        user_id=str(user.id),
        user_name=user.username or user.first_name,
        locale=user.language_code,
        text=text,
        contact=contact,
        attachments=attachments,
        delivery_id=delivery_id(bot, update.update_id),
        timestamp=message.date,
    )


def incoming_from_callback(query: CallbackQuery, *, update_id: int, bot: str, payload: str) -> IncomingMessage | None:
    """Translate a button press whose ``callback_data`` decoded to ``payload``."""
    message = query.message
    if message is None:  # a button on an inline-mode message: no chat to answer in
        return None
    user = query.from_user
    return IncomingMessage(
        conversation=conversation_of(message.chat.id, bot=bot),
        user_id=str(user.id),
        user_name=user.username or user.first_name,
        locale=user.language_code,
        button_payload=payload,
        delivery_id=delivery_id(bot, update_id),
    )
