"""The documentation keeps up with the code it describes."""

from __future__ import annotations

import re

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


def _product_source() -> str:
    """Every product module but the settings' own (which names every field)."""
    files = [path for folder in ("adapters", "bots", "core", "models")
             for path in sorted((REPO_ROOT / folder).rglob("*.py"))
             if path != REPO_ROOT / "core" / "settings.py"]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def test_every_setting_is_read_by_the_product() -> None:
    # A documented setting that nothing reads promises what the product does not do.
    source = _product_source()
    unread = [
        name for name in Settings.model_fields
        if not re.search(rf"settings\.{name}\b|require\(\"{name}\"\)", source)
    ]
    assert not unread, f"settings nothing reads (wire them up or remove them): {unread}"


def test_the_environment_table_lists_only_real_settings() -> None:
    table = (REPO_ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(SHOPKEEP_[A-Z0-9_]+)` \|", table, flags=re.MULTILINE)
    known = {_variable(name) for name in Settings.model_fields}
    known |= {str(c) for info in Settings.model_fields.values()
              if isinstance(info.validation_alias, AliasChoices) for c in info.validation_alias.choices}
    assert rows and not set(rows) - known, f"documented but not settings: {sorted(set(rows) - known)}"


def test_readme_shows_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
