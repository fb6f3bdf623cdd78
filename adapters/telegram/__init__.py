"""Telegram: python-telegram-bot (polling or webhook) ↔ :class:`core.messages.IncomingMessage` / :class:`~core.messages.Reply`."""

from adapters.telegram.app import TelegramAdapter, TelegramOutbox

__all__ = ["TelegramAdapter", "TelegramOutbox"]
