"""KeyBuilder: one place for every key, one cluster slot per conversation."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.keys import KeyBuilder
from core.messages import ConversationKey, Platform


def crc16_xmodem(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), the checksum Redis Cluster uses for slots."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cluster_slot(key: str) -> int:
    """HASH_SLOT as in the Redis Cluster spec: hash only a non-empty ``{tag}``."""
    raw = key.encode()
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1 : end]
    return crc16_xmodem(raw) % 16384


def hash_tag(key: str) -> str:
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


KEYS = KeyBuilder()
CHAT42 = ConversationKey(platform=Platform.CONSOLE, bot="shop_assistant", chat="chat42")


def test_crc16_matches_redis_reference_values() -> None:
    # Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
    assert crc16_xmodem(b"123456789") == 0x31C3
    assert cluster_slot("foo") == 12182
    assert cluster_slot("{user1000}.following") == cluster_slot("{user1000}.followers")
    assert cluster_slot("foo{}{bar}") == crc16_xmodem(b"foo{}{bar}") % 16384


def test_key_shapes() -> None:
    assert KEYS.state(CHAT42) == "shopkeep:{console:shop_assistant:chat42}:state"
    assert KEYS.lock(CHAT42) == "shopkeep:{console:shop_assistant:chat42}:lock"
    assert (
        KEYS.dedup("telegram:shop_assistant", "991")
        == "shopkeep:{telegram:shop_assistant}:dedup:991"
    )
    assert (
        KEYS.user_index(Platform.TELEGRAM, "1234") == "shopkeep:{user:telegram:1234}:conversations"
    )
    assert KEYS.record("handoff", "abc") == "shopkeep:{rec:handoff:abc}"
    assert KeyBuilder(prefix="staging").state(CHAT42).startswith("staging:{")


def test_conversation_tag_equals_message_tag_for_plain_ids() -> None:
    thread = ConversationKey(
        platform=Platform.SLACK, bot="staff_helpdesk", chat="C01", workspace="T9", thread="1712.5"
    )
    assert KEYS.conversation_tag(thread) == thread.tag == "slack:staff_helpdesk:T9/C01/1712.5"
    assert KEYS.conversation_tag(CHAT42) == CHAT42.tag


def test_one_conversation_one_slot() -> None:
    thread = ConversationKey(
        platform=Platform.SLACK, bot="b", chat="C01", workspace="T9", thread="17.5"
    )
    for key in (CHAT42, thread):
        assert cluster_slot(KEYS.state(key)) == cluster_slot(KEYS.lock(key))
    assert cluster_slot(KEYS.dedup("telegram:bot", "1")) == cluster_slot(
        KEYS.dedup("telegram:bot", "2")
    )


def test_braces_cannot_break_the_hash_tag() -> None:
    evil = ConversationKey(platform=Platform.TELEGRAM, bot="shop_assistant", chat="x}y{z")
    state, lock = KEYS.state(evil), KEYS.lock(evil)
    assert hash_tag(state) == "telegram:shop_assistant:x%7Dy%7Bz"
    assert cluster_slot(state) == cluster_slot(lock)
    for name in (state, lock, KEYS.user_index(Platform.SLACK, "{u}"), KEYS.record("n}", "{i")):
        assert name.count("{") == 1 and name.count("}") == 1
    assert hash_tag(KEYS.dedup("scope}", "{id}")) == "scope%7D"


def test_ids_with_separators_do_not_collide() -> None:
    assert KEYS.record("a:b", "c") != KEYS.record("a", "b:c")
    one = ConversationKey(platform=Platform.SLACK, bot="b", chat="C1/T2")
    two = ConversationKey(platform=Platform.SLACK, bot="b", chat="T2", workspace="C1")
    assert KEYS.state(one) != KEYS.state(two)
    assert KEYS.record("a%3Ab", "c") != KEYS.record("a:b", "c")


@given(
    chat=st.text(min_size=1, max_size=30),
    thread=st.text(max_size=10),
    user=st.text(min_size=1, max_size=20),
)
def test_any_ids_keep_one_slot_per_conversation(chat: str, thread: str, user: str) -> None:
    key = ConversationKey(platform=Platform.TELEGRAM, bot="bot", chat=chat, thread=thread)
    assert cluster_slot(KEYS.state(key)) == cluster_slot(KEYS.lock(key))
    assert "{" not in hash_tag(KEYS.state(key)) and "}" not in hash_tag(KEYS.state(key))
    index = KEYS.user_index(Platform.TELEGRAM, user)
    assert index.count("{") == 1 and index.count("}") == 1
    assert hash_tag(index).startswith("user:telegram:")


def test_bad_inputs_are_refused() -> None:
    for prefix in ("", "a{b", "a}b", "has space"):
        with pytest.raises(ValueError, match="prefix"):
            KeyBuilder(prefix=prefix)
    with pytest.raises(ValueError):
        KEYS.record("", "x")
    with pytest.raises(ValueError):
        KEYS.dedup("scope", "")
    with pytest.raises(ValueError):
        KEYS.user_index(Platform.SLACK, "")


def test_builder_is_frozen_and_keyword_only() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        KEYS.prefix = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        KeyBuilder("positional")  # type: ignore[misc]
