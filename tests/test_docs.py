"""The documentation keeps up with the code it describes."""

from __future__ import annotations

from pydantic import AliasChoices

from core.settings import Settings
from tests.conftest import REPO_ROOT


def _variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"SHOPKEEP_{name.upper()}"


def test_every_setting_is_in_the_environment_table() -> None:
    table = (REPO_ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    missing = [_variable(name) for name in Settings.model_fields if f"`{_variable(name)}`" not in table]
    assert not missing, f"document these in docs/platforms.md: {missing}"


def test_readme_shows_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
