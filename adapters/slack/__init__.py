"""Slack: Bolt (HTTP or Socket Mode) ↔ :class:`core.messages.IncomingMessage` / :class:`~core.messages.Reply`."""

from adapters.slack.app import SlackAdapter, SlackOutbox, build_web_client

__all__ = ["SlackAdapter", "SlackOutbox", "build_web_client"]
