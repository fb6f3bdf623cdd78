"""How events are laid out in Redis: buckets, counter fields, tables, retention.

Shared by the recorder (writes) and the reader (the dashboard), so the two
can never disagree on a field name.

Layout (keys from :class:`core.keys.KeyBuilder`)::

    stats:h:<hour>, stats:d:<day>   HASH  counters, HINCRBY (see the field builders below)
    stats:<grain>:<n>:frt           HASH  staff first-response seconds -> count (exact median)
    top:<table>:<day>               ZSET  a day's frequencies: queries, zero_results, viewed, added
    lookup:titles                   HASH  item id -> title (bounded by the catalogue)
    stream:unanswered               STREAM the newest unanswered messages, masked, with embeddings
    index:unanswered-users          ZSET  "<user hash>:<stream id>" scored by time, for /forget;
                                          trimmed with the stream, so it never outgrows it

Why counters and not one stream of every event: 30 days at 200,000
messages a day is 6 million messages, several events each. A stream of them
would hold gigabytes and the overview would have to read all of it; hour
and day counters hold a few kilobytes per bucket whatever the traffic, and
the overview reads at most 168 of them. Only what the owner reads one by
one (unanswered messages) is kept per event, capped by count and age.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np

from core.settings import Settings

HOUR_S = 3600
DAY_S = 86400
#: Hour buckets are kept for the 24 h and 7 d views (with a day to spare).
HOUR_BUCKETS_KEPT_S = 8 * DAY_S

#: Daily frequency tables.
TABLE_QUERIES = "queries"
TABLE_ZERO = "zero_results"
TABLE_VIEWED = "viewed"
TABLE_ADDED = "added"
TITLES = "titles"
UNANSWERED_STREAM = "unanswered"
UNANSWERED_USERS = "unanswered-users"
#: The stream's kind for a search that found nothing.
ZERO_RESULTS = "zero_results"
MAX_QUERY_CHARS = 100

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, kw_only=True)
class Retention:
    """What bounds the memory analytics take.

    Attributes:
        days: day buckets, frequency tables and examples older than this expire.
        unanswered_max: the unanswered stream keeps at most this many entries.
        top_max: a daily frequency table is cut back to this many entries
            once it holds twice as many (the rarest go first).
    """

    days: int = 30
    unanswered_max: int = 20_000
    top_max: int = 2_000

    def __post_init__(self) -> None:
        if self.days < 1 or self.unanswered_max < 1 or self.top_max < 1:
            raise ValueError("retention days, unanswered_max and top_max must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        return cls(days=settings.events_retention_days, unanswered_max=settings.events_unanswered_max,
                   top_max=settings.events_top_max)

    @property
    def day_ttl_s(self) -> int:
        """A day bucket lives through the whole window plus the day being written."""
        return (self.days + 1) * DAY_S

    @property
    def seconds(self) -> int:
        return self.days * DAY_S


def hour_of(at: float) -> int:
    return int(at // HOUR_S)


def day_of(at: float) -> int:
    return int(at // DAY_S)


# --- counter fields (no "|" can occur in a platform, bot, kind or intent name) ------


def messages_field(platform: str, bot: str) -> str:
    return f"m|{platform}|{bot}"


def sessions_field(platform: str, bot: str) -> str:
    return f"s|{platform}|{bot}"


def status_field(status: str, platform: str, bot: str) -> str:
    return f"st|{status}|{platform}|{bot}"


def kind_field(kind: str, platform: str, bot: str) -> str:
    return f"k|{kind}|{platform}|{bot}"


def intent_field(bot: str, intent: str) -> str:
    return f"i|{bot}|{intent}"


def csat_field(rating: int, platform: str, bot: str) -> str:
    return f"c|{rating}|{platform}|{bot}"


#: Per-bucket totals for the trend charts, read with one HMGET per bucket.
TOTAL_MESSAGES = "t|m"
TOTAL_SESSIONS = "t|s"
TOTAL_HANDOFFS = "t|h"
TOTAL_UNANSWERED = "t|u"
TOTALS = (TOTAL_MESSAGES, TOTAL_SESSIONS, TOTAL_HANDOFFS, TOTAL_UNANSWERED)


def response_seconds(seconds: float) -> int:
    """A first-response time as stored: exact below 100 s, else two significant digits.

    Keeps a bucket's histogram to a few hundred fields whatever the traffic; the
    median read back is within 5 % of the exact one.
    """
    value = max(0, round(seconds))
    if value < 100:
        return value
    scale: int = 10 ** (len(str(value)) - 2)  # a positive exponent: an int
    return round(value / scale) * scale


def parse_field(name: str) -> tuple[str, ...]:
    return tuple(name.split("|"))


def normalize_query(text: str) -> str:
    """One spelling per query for the frequency tables: lower case, single spaces, capped."""
    return _SPACES.sub(" ", text.strip().lower())[:MAX_QUERY_CHARS]


def user_tag(platform: str, user_id: str) -> str:
    """A short, fixed-length stand-in for a user in the /forget index (no id stored in clear)."""
    return hashlib.sha256(f"{platform}\x00{user_id}".encode()).hexdigest()[:20]


# --- embeddings in stream entries ----------------------------------------------------


def pack_embedding(vector: np.ndarray) -> bytes:
    """float16 bytes: half the memory, cosine error far below what clustering resolves."""
    return np.asarray(vector, dtype=np.float16).tobytes()


def unpack_embedding(raw: bytes, dim: int | None = None) -> np.ndarray | None:
    """The float32 vector, or None when ``raw`` is not a whole float16 vector (of ``dim``)."""
    if not raw or len(raw) % 2:
        return None
    vector = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
    if dim is not None and len(vector) != dim:
        return None
    return vector
