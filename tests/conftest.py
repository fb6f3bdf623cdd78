"""Fixtures shared by every test folder. Folder-specific ones live beside the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A real Redis server; tests never replace it with a fake."""
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Built by `make models` (``shopkeep models build``) before pytest runs."""
    path = Path(os.environ.get("SHOPKEEP_ARTIFACTS_DIR", REPO_ROOT / "artifacts"))
    if not (path / "encoder" / "manifest.json").exists():
        pytest.fail(f"model artifacts missing under {path}: run `make models` first", pytrace=False)
    return path


def require_encoder_build(artifacts_dir: Path, encoder: str) -> Path:
    """``encoder``'s artifacts folder; fails (never skips) when its encoder or shop head is not built.

    `make test` builds both encoders first (``models`` and ``models-multilingual``), so a missing
    build is a broken set-up, not a reason to skip.
    """
    from core.settings import encoder_artifacts_dir

    path = encoder_artifacts_dir(artifacts_dir, encoder)
    make = "make models" if encoder == "english" else f"make models-{encoder}"
    for needed in (path / "encoder" / "manifest.json", path / "intents" / "shop_assistant"):
        if not needed.exists():
            pytest.fail(f"{encoder} encoder artifacts missing ({needed}): run `{make}` first", pytrace=False)
    return path


@pytest.fixture(scope="session")
def multilingual_artifacts_dir(artifacts_dir: Path) -> Path:
    """The multilingual encoder's artifacts (``artifacts/multilingual``), built by `make models-multilingual`."""
    return require_encoder_build(artifacts_dir, "multilingual")


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The public datasets: the repository's ``datasets/`` unless ``SHOPKEEP_DATASETS`` says otherwise."""
    from core.settings import Settings

    path = Settings().datasets_dir
    if not path.is_dir():
        pytest.fail(f"datasets not found at {path} (SHOPKEEP_DATASETS)", pytrace=False)
    return path
