"""Logging set-up: compact lines (or JSON), personal data masked in every record."""

from __future__ import annotations

import json as jsonlib
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from core.privacy import mask_pii

_COMPACT_FORMAT = "%(asctime)s %(levelname).1s %(name)s: %(message)s"
_COMPACT_DATEFMT = "%H:%M:%S"
_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}
_QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "asyncio")


class PiiMaskingFilter(logging.Filter):
    """Masks e-mails, phone numbers and card numbers in every record it sees.

    The message is formatted with its args first and the result masked, so a
    value passed as ``%s`` argument is masked too; the traceback text of an
    exception is masked the same way. Install it on a *handler* (as
    :func:`configure_logging` does) so records from every logger pass through it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_pii(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg`` and ``exc`` when present."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return jsonlib.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str | int = "INFO", json: bool = False, *, stream: TextIO | None = None
) -> logging.Handler:
    """Send logs to ``stream`` (stderr by default) with personal data masked.

    Calling it again replaces the handler it installed before; handlers that
    others installed on the root logger (pytest's, for one) are left alone.

    Args:
        level: Root level, a name (``"DEBUG"``) or a number.
        json: One JSON object per line instead of the compact text format.
        stream: Where to write; defaults to ``sys.stderr`` at call time.

    Returns:
        The handler installed on the root logger.

    Raises:
        ValueError: If ``level`` is not a known level name.
    """
    if isinstance(level, str):
        if level.upper() not in _LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {', '.join(_LEVELS)}")
        level = _LEVELS[level.upper()]
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name("shopkeep")
    handler.addFilter(PiiMaskingFilter())
    handler.setFormatter(
        JsonFormatter() if json else logging.Formatter(_COMPACT_FORMAT, _COMPACT_DATEFMT)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "shopkeep"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return handler
