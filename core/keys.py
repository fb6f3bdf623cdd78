"""Every Redis key Shopkeep writes is built here, and only here.

Keys carry a Redis Cluster hash tag (the part inside ``{...}``) so that all
keys of one conversation, one user index or one record land in the same
cluster slot::

    shopkeep:{console:shop_assistant:chat42}:state
    shopkeep:{console:shop_assistant:chat42}:lock
    shopkeep:{console:shop_assistant:chat42}:seen:<delivery id>
    shopkeep:{telegram:shop_assistant}:dedup:<delivery id>
    shopkeep:{user:telegram:1234}:conversations
    shopkeep:{rec:handoff:abc}
    shopkeep:{sched:handoff-timeout}
    shopkeep:{stats:h:480123}          (one hour's event counters; ``d`` for a day)
    shopkeep:{top:queries:20005}       (one day's most frequent search queries)
    shopkeep:{stream:unanswered}
    shopkeep:{index:unanswered-users}
    shopkeep:{heads:shop_assistant}:version

Ids come from users and platforms, so the tag content is percent-escaped:
``{`` and ``}`` can never end a tag early (which would move a key to another
slot), and ``:`` / ``/`` inside one component can never make two different
ids produce the same key.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.messages import ConversationKey, Platform

_TAG_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D"})
_PART_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D", ":": "%3A", "/": "%2F"})


def _escape(text: str, table: dict[int, str]) -> str:
    # One pass per character, "%" included, keeps the escaping reversible
    # (str.translate, in C: keys are built several times per message).
    return text.translate(table)


def _part(text: str) -> str:
    """Escape one id component (a chat id, a user id...)."""
    return _escape(text, _PART_ESCAPES)


@dataclass(frozen=True, kw_only=True)
class KeyBuilder:
    """Builds Redis keys for one deployment.

    Args:
        prefix: First segment of every key; lets several deployments (or
            test runs) share one server. Must not contain braces or spaces.

    Raises:
        ValueError: If ``prefix`` is empty or contains ``{``, ``}`` or whitespace.
    """

    prefix: str = "shopkeep"

    def __post_init__(self) -> None:
        if not self.prefix or any(ch in self.prefix for ch in "{} \t\r\n"):
            raise ValueError(
                f"key prefix {self.prefix!r} must be non-empty, without braces or whitespace"
            )

    def conversation_tag(self, key: ConversationKey) -> str:
        """The hash-tag content of a conversation (equals ``key.tag`` for plain ids)."""
        parts = [_part(p) for p in (key.workspace, key.chat, key.thread) if p]
        return f"{key.platform.value}:{_part(key.bot)}:{'/'.join(parts)}"

    def state(self, key: ConversationKey) -> str:
        """The JSON conversation state."""
        return f"{self.prefix}:{{{self.conversation_tag(key)}}}:state"

    def lock(self, key: ConversationKey) -> str:
        """The per-conversation lock (a random token, set NX PX)."""
        return f"{self.prefix}:{{{self.conversation_tag(key)}}}:lock"

    def is_state(self, name: str) -> bool:
        """Whether ``name`` is a conversation state key of this builder (user indexes hold several kinds)."""
        return name.startswith(f"{self.prefix}:{{") and name.endswith("}:state")

    def lock_for_state(self, state_key: str) -> str:
        """The lock of the conversation whose state is at ``state_key``.

        Raises:
            ValueError: If ``state_key`` is not a state key of this builder.
        """
        return self._beside_state(state_key, "lock")

    def delivery_for_state(self, state_key: str, delivery_id: str) -> str:
        """The repeat mark of a delivery to the conversation whose state is at ``state_key``.

        Raises:
            ValueError: If ``state_key`` is not a state key of this builder, or ``delivery_id`` is empty.
        """
        if not delivery_id:
            raise ValueError("delivery id must be non-empty")
        return self._beside_state(state_key, f"seen:{_escape(delivery_id, _TAG_ESCAPES)}")

    def _beside_state(self, state_key: str, suffix: str) -> str:
        if not self.is_state(state_key):
            raise ValueError(f"{state_key!r} is not a conversation state key")
        return f"{state_key[: -len(':state')]}:{suffix}"

    def delivery(self, key: ConversationKey, delivery_id: str) -> str:
        """Marks a delivery to this conversation as seen.

        It lives in the conversation's slot, so the repeat check, the lock and
        the state load are one script on Redis (and on Redis Cluster).

        Raises:
            ValueError: If ``delivery_id`` is empty.
        """
        if not delivery_id:
            raise ValueError("delivery id must be non-empty")
        return f"{self.prefix}:{{{self.conversation_tag(key)}}}:seen:{_escape(delivery_id, _TAG_ESCAPES)}"

    def dedup(self, scope: str, delivery_id: str) -> str:
        """Marks a platform delivery as seen; ``scope`` is e.g. ``telegram:shop_assistant``.

        Raises:
            ValueError: If ``scope`` or ``delivery_id`` is empty.
        """
        if not scope or not delivery_id:
            raise ValueError("dedup scope and delivery id must be non-empty")
        return f"{self.prefix}:{{{_escape(scope, _TAG_ESCAPES)}}}:dedup:{_escape(delivery_id, _TAG_ESCAPES)}"

    def user_index(self, platform: Platform, user_id: str) -> str:
        """The SET of every key holding this user's data, read by ``forget_user``.

        Members: the state of each conversation the user took part in, and the
        records tied to them (handoff tickets...).

        Raises:
            ValueError: If ``user_id`` is empty.
        """
        if not user_id:
            raise ValueError("user id must be non-empty")
        return f"{self.prefix}:{{user:{platform.value}:{_part(user_id)}}}:conversations"

    def record(self, namespace: str, record_id: str) -> str:
        """An auxiliary JSON record (handoff state, long button payload...).

        Raises:
            ValueError: If ``namespace`` or ``record_id`` is empty.
        """
        if not namespace or not record_id:
            raise ValueError("record namespace and id must be non-empty")
        return f"{self.prefix}:{{rec:{_part(namespace)}:{_part(record_id)}}}"

    def schedule(self, queue: str) -> str:
        """A sorted set of members due at a time (score: epoch seconds), e.g. handoff timeouts.

        Raises:
            ValueError: If ``queue`` is empty.
        """
        if not queue:
            raise ValueError("schedule queue must be non-empty")
        return f"{self.prefix}:{{sched:{_part(queue)}}}"

    def stats(self, grain: str, bucket: int, part: str = "") -> str:
        """Event counters of one time bucket: ``grain`` "h" (hour) or "d" (day), ``bucket`` its
        number since the epoch; ``part`` names a side table kept with it (e.g. "frt").

        Raises:
            ValueError: If ``grain`` is not "h" or "d".
        """
        if grain not in ("h", "d"):
            raise ValueError(f"stats grain must be 'h' or 'd', not {grain!r}")
        name = f"{self.prefix}:{{stats:{grain}:{int(bucket)}}}"
        return f"{name}:{_part(part)}" if part else name

    def top(self, table: str, day: int) -> str:
        """One day's frequency table (a sorted set), e.g. search queries or items added to carts.

        Raises:
            ValueError: If ``table`` is empty.
        """
        if not table:
            raise ValueError("top table name must be non-empty")
        return f"{self.prefix}:{{top:{_part(table)}:{int(day)}}}"

    def stream(self, name: str) -> str:
        """A capped event stream, e.g. the unanswered messages the owner reviews.

        Raises:
            ValueError: If ``name`` is empty.
        """
        if not name:
            raise ValueError("stream name must be non-empty")
        return f"{self.prefix}:{{stream:{_part(name)}}}"

    def lookup(self, name: str) -> str:
        """A small shared hash, e.g. item id -> title for the dashboard."""
        if not name:
            raise ValueError("lookup name must be non-empty")
        return f"{self.prefix}:{{lookup:{_part(name)}}}"

    def index(self, name: str) -> str:
        """A sorted set indexing another structure's entries, e.g. whose unanswered message is whose.

        Raises:
            ValueError: If ``name`` is empty.
        """
        if not name:
            raise ValueError("index name must be non-empty")
        return f"{self.prefix}:{{index:{_part(name)}}}"

    def heads(self, bot: str, what: str) -> str:
        """A bot's intent-head bookkeeping: ``version`` (published), ``training`` (lock), ``status``.

        Raises:
            ValueError: If ``bot`` or ``what`` is empty.
        """
        if not bot or not what:
            raise ValueError("bot and what must be non-empty")
        return f"{self.prefix}:{{heads:{_part(bot)}}}:{_part(what)}"

    def commerce(self, shop: str, part: str) -> str:
        """Shared data of one connected shop (catalogue snapshot, change stream, embeddings).

        Every part of one shop shares the hash tag ``{shop:<shop>}``, so a
        script may touch the snapshot and the change stream together.

        Raises:
            ValueError: If ``shop`` or ``part`` is empty.
        """
        if not shop or not part:
            raise ValueError("commerce shop and part must be non-empty")
        return f"{self.prefix}:{{shop:{_part(shop)}}}:{_part(part)}"
