"""Platform-neutral heart of Shopkeep: messages, dialogue, state, retrieval.

Nothing in this package knows that Slack or Telegram exist.
"""
