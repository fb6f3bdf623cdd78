"""Analytics for the owner's dashboard: dialogue events recorded in Redis and read back.

:class:`RedisEventRecorder` is an event observer (writes off the reply path);
:class:`AnalyticsReader` serves the dashboard; :mod:`core.analytics.cluster`
groups unanswered messages by meaning. The layout and retention are in
:mod:`core.analytics.schema`.
"""

from core.analytics.reader import (
    WINDOWS,
    AnalyticsReader,
    Overview,
    SearchReport,
    UnansweredEntry,
    Window,
    window,
)
from core.analytics.recorder import RecorderStats, RedisEventRecorder
from core.analytics.schema import Retention

__all__ = [
    "WINDOWS", "AnalyticsReader", "Overview", "RecorderStats", "RedisEventRecorder", "Retention", "SearchReport",
    "UnansweredEntry", "Window", "window",
]
