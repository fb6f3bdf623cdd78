"""The Slack app manifest declares the slash commands the adapter answers, with the bots' commands in their hints."""

from __future__ import annotations

import yaml

from bots.runtime import BOTS_DIR
from core.bot import Bot
from core.commands import GENERIC, command_menu
from core.settings import Settings
from tests.conftest import REPO_ROOT


def test_each_slash_command_is_declared_and_hints_its_bots_own_commands() -> None:
    manifest = yaml.safe_load((REPO_ROOT / "deploy" / "slack-manifest.yaml").read_text(encoding="utf-8"))
    declared = {c["command"]: c for c in manifest["features"]["slash_commands"]}
    default = {name: field.default for name, field in Settings.model_fields.items()}
    for command, bot in ((default["slack_command"], default["slack_bot"]),
                         (default["staff_command"], default["staff_bot"])):
        assert command in declared, f"{command} missing from deploy/slack-manifest.yaml"
        own = set(command_menu(Bot.load(BOTS_DIR / bot)).names) - set(GENERIC)
        hint = declared[command]["usage_hint"]
        assert "help" in hint and all(name in hint for name in own), (command, hint, own)
