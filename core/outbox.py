"""The outbound port: sending replies into a conversation nobody is waiting on.

The dialogue manager answers the message in front of it; a live handoff also
has to write into *other* conversations (the staff thread, the shopper's
chat). Each platform adapter implements :class:`Outbox`; the server
assembles them into one :class:`OutboxRouter` that picks by platform, so the
core never knows which platform it is writing to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from core.errors import ShopkeepError
from core.messages import ConversationKey, Platform, Reply


class OutboxError(ShopkeepError):
    """Replies could not be delivered. ``platform`` says where they were going."""

    def __init__(self, platform: Platform, reason: str) -> None:
        super().__init__(f"cannot send to {platform.value}: {reason}")
        self.platform = platform
        self.reason = reason


@runtime_checkable
class Outbox(Protocol):
    """Sends replies into a conversation on one platform.

    Called by core services (the handoff service) outside any request of
    that conversation; implemented by the platform adapters.
    """

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Deliver ``replies`` in order; return the platform's message ids (Slack ``ts``...).

        Raises:
            OutboxError: the platform refused or could not be reached.
        """
        ...

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Replace a message sent earlier into ``conversation`` (its id from :meth:`send`) with ``reply``.

        Buttons are replaced too: a reply without buttons removes them.

        Raises:
            OutboxError: the platform refused (the message is gone, say) or could not be reached.
        """
        ...


class OutboxRouter:
    """One :class:`Outbox` per platform, registered by the adapters as they start."""

    def __init__(self) -> None:
        self._outboxes: dict[Platform, Outbox] = {}

    def register(self, platform: Platform, outbox: Outbox) -> None:
        self._outboxes[platform] = outbox

    def unregister(self, platform: Platform) -> None:
        self._outboxes.pop(platform, None)

    @property
    def platforms(self) -> frozenset[Platform]:
        return frozenset(self._outboxes)

    async def send(self, conversation: ConversationKey, replies: Sequence[Reply]) -> list[str]:
        """Send through the platform's outbox.

        Raises:
            OutboxError: no outbox is registered for the platform, or it failed.
        """
        return await self._outbox(conversation.platform).send(conversation, replies)

    async def update(self, conversation: ConversationKey, message_id: str, reply: Reply) -> None:
        """Update through the platform's outbox.

        Raises:
            OutboxError: no outbox is registered for the platform, or it failed.
        """
        await self._outbox(conversation.platform).update(conversation, message_id, reply)

    def _outbox(self, platform: Platform) -> Outbox:
        outbox = self._outboxes.get(platform)
        if outbox is None:
            raise OutboxError(platform, "no outbox registered (is the platform served?)")
        return outbox
