"""The shipped datasets are intact and the loaders read them; counts match datasets/README.md."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from models.datasets import (
    OOS_LABEL,
    DatasetError,
    Split,
    load_banking77,
    load_bitext,
    load_clinc150,
    load_dataset,
    load_hwu64,
    stratified_split,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_ships_every_dataset_intact_with_its_licence() -> None:
    # The repository's own copy, whatever SHOPKEEP_DATASETS says: a clone must carry it.
    root = REPO_ROOT / "datasets"
    listed = {}
    for line in (root / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    shipped = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert shipped - {"SHA256SUMS", "README.md"} == set(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest, name
    for folder in ("bitext_customer_service", "banking77", "clinc150", "hwu64"):
        assert any(n.startswith(f"{folder}/LICENSE") for n in listed), folder
        assert f"`{folder}" in (root / "README.md").read_text(encoding="utf-8"), folder


def test_by_default_every_command_reads_the_repositorys_datasets(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from core.settings import Settings

    monkeypatch.delenv("SHOPKEEP_DATASETS", raising=False)
    monkeypatch.delenv("SHOPKEEP_DATASETS_DIR", raising=False)
    assert Settings().datasets_dir == REPO_ROOT / "datasets"
    monkeypatch.setenv("SHOPKEEP_DATASETS", str(tmp_path))
    assert Settings().datasets_dir == tmp_path  # still overridable


def test_bitext_counts(datasets_dir: Path) -> None:
    ds = load_bitext(datasets_dir)
    assert (len(ds.train), len(ds.test), ds.validation) == (6536, 1633, None)
    assert len(ds.intents) == 27
    assert "cancel_order" in ds.intents


def test_banking77_counts(datasets_dir: Path) -> None:
    ds = load_banking77(datasets_dir)
    assert (len(ds.train), len(ds.test)) == (10003, 3080)
    assert len(ds.intents) == 77
    assert not ds.has_oos


def test_clinc150_counts_and_oos(datasets_dir: Path) -> None:
    ds = load_clinc150(datasets_dir)
    assert ds.validation is not None
    assert (len(ds.train.without(OOS_LABEL)), ds.train.labels.count(OOS_LABEL)) == (15000, 100)
    assert (len(ds.validation.without(OOS_LABEL)), ds.validation.labels.count(OOS_LABEL)) == (3000, 100)
    assert (len(ds.test.without(OOS_LABEL)), ds.test.labels.count(OOS_LABEL)) == (4500, 1000)
    assert len(ds.intents) == 150 and OOS_LABEL not in ds.intents
    assert ds.has_oos


def test_hwu64_counts(datasets_dir: Path) -> None:
    ds = load_hwu64(datasets_dir)
    assert ds.validation is not None
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (8954, 1076, 1076)
    assert len(ds.intents) == 64
    assert all(t and t == t.strip() for t in ds.test.texts)


def test_unknown_dataset_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("nope", tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset("banking77", tmp_path)
    assert info.value.path == tmp_path / "banking77" / "train.csv"


def test_stratified_split_is_deterministic_and_covers_every_label() -> None:
    split = Split(texts=tuple(f"t{i}" for i in range(30)), labels=tuple("abc"[i % 3] for i in range(30)))
    rest, carved = stratified_split(split, fraction=0.2, seed=1)
    again_rest, again_carved = stratified_split(split, fraction=0.2, seed=1)
    assert carved == again_carved and rest == again_rest
    assert sorted(carved.labels) == ["a", "a", "b", "b", "c", "c"]
    assert set(rest.texts).isdisjoint(carved.texts) and len(rest) + len(carved) == 30
