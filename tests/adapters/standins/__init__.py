"""Local stand-ins for the Slack Web API and the Telegram Bot API.

Each is a small aiohttp server on 127.0.0.1 (ephemeral port) running in the
test's event loop. It answers the way the platform does and records every
call, so tests assert which API calls the code under test made.
"""

from tests.adapters.standins.recorder import Call, Recorder
from tests.adapters.standins.slack_api import SlackApiStandin
from tests.adapters.standins.telegram_api import TelegramApiStandin

__all__ = ["Call", "Recorder", "SlackApiStandin", "TelegramApiStandin"]
