"""A missing or corrupt encoder file stops start-up with an error naming the file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bots.runtime import load_encoder
from core.errors import ModelNotBuilt
from core.settings import Settings


@pytest.fixture
def broken_dir(artifacts_dir: Path, tmp_path: Path) -> Path:
    """A copy of the multilingual encoder folder (the large graph linked, not copied) to damage."""
    source = artifacts_dir / "multilingual" / "encoder"
    if not (source / "manifest.json").exists():
        pytest.fail(f"multilingual encoder not built under {source}", pytrace=False)
    target = tmp_path / "multilingual" / "encoder"
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.suffix == ".onnx":
            (target / item.name).symlink_to(item)
        else:
            shutil.copy(item, target / item.name)
    return tmp_path


def _start(artifacts: Path) -> None:
    load_encoder(Settings(artifacts_dir=artifacts, redis_url=None, encoder="multilingual"))


def test_a_missing_model_file_is_named(broken_dir: Path) -> None:
    for graph in (broken_dir / "multilingual" / "encoder").glob("*.onnx"):
        graph.unlink()
    with pytest.raises(ModelNotBuilt, match=r"multilingual/encoder/model(\.int8)?\.onnx"):
        _start(broken_dir)


def test_a_truncated_tokenizer_is_named(broken_dir: Path) -> None:
    tokenizer = broken_dir / "multilingual" / "encoder" / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:4096])
    with pytest.raises(ModelNotBuilt, match=r"multilingual/encoder/tokenizer\.json \(unreadable tokenizer"):
        _start(broken_dir)


def test_a_corrupt_manifest_is_named(broken_dir: Path) -> None:
    (broken_dir / "multilingual" / "encoder" / "manifest.json").write_text('{"format_version": 1, "graphs": ')
    with pytest.raises(ModelNotBuilt, match=r"multilingual/encoder/manifest\.json \(unreadable manifest"):
        _start(broken_dir)
