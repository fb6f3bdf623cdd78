"""Loaders for the public intent datasets in the repository's ``datasets/`` folder.

Each loader reads the files exactly as published (see the README beside
them) and returns an :class:`IntentDataset`. Out-of-scope examples, where a
dataset has them, carry the label :data:`OOS_LABEL`.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

OOS_LABEL = "out_of_scope"
DATASET_NAMES: tuple[str, ...] = ("bitext", "banking77", "clinc150", "hwu64")


class DatasetError(ValueError):
    """A dataset file is missing or malformed. ``path`` names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path


@dataclass(frozen=True)
class Split:
    """Line-aligned texts and labels."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Split:
        """The examples at ``indices``, in that order."""
        return Split(texts=tuple(self.texts[i] for i in indices), labels=tuple(self.labels[i] for i in indices))

    def without(self, label: str) -> Split:
        """The split with every example of ``label`` removed."""
        return self.subset([i for i, lab in enumerate(self.labels) if lab != label])

    def only(self, label: str) -> Split:
        """The split restricted to the examples of ``label``."""
        return self.subset([i for i, lab in enumerate(self.labels) if lab == label])


@dataclass(frozen=True)
class IntentDataset:
    """A dataset's splits. ``validation`` is ``None`` when the source has none.

    ``train``, ``validation`` and ``test`` may contain :data:`OOS_LABEL`
    examples (CLINC150 only); the in-scope intents are :attr:`intents`.
    """

    name: str
    train: Split
    validation: Split | None
    test: Split

    @property
    def intents(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.train.labels) - {OOS_LABEL}))

    @property
    def has_oos(self) -> bool:
        return OOS_LABEL in self.test.labels


def stratified_indices(labels: Sequence[str], *, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a stratified split: ``fraction`` of each label is carved out.

    A label with two or more examples gives at least one and keeps at least
    one. Deterministic for a given ``seed``.

    Returns:
        ``(rest, carved)``, each sorted.
    """
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    carved: list[int] = []
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        n = round(len(idx) * fraction)
        n = min(max(n, 1), len(idx) - 1) if len(idx) >= 2 else 0
        carved.extend(idx[:n])
    carved_set = set(carved)
    rest = [i for i in range(len(labels)) if i not in carved_set]
    return rest, sorted(carved)


def stratified_split(split: Split, *, fraction: float, seed: int) -> tuple[Split, Split]:
    """Carve ``fraction`` of each label out of ``split``; see :func:`stratified_indices`.

    Returns:
        ``(rest, carved)``.
    """
    rest, carved = stratified_indices(split.labels, fraction=fraction, seed=seed)
    return split.subset(rest), split.subset(carved)


def _read_csv(path: Path, label_column: str) -> Split:
    if not path.is_file():
        raise DatasetError(path, "file not found")
    texts: list[str] = []
    labels: list[str] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "text" not in reader.fieldnames or label_column not in reader.fieldnames:
            raise DatasetError(path, f"expected columns 'text' and {label_column!r}, got {reader.fieldnames}")
        for row in reader:
            texts.append(row["text"])
            labels.append(row[label_column])
    return Split(texts=tuple(texts), labels=tuple(labels))


def load_bitext(root: Path) -> IntentDataset:
    """Bitext customer service: ``train.csv`` / ``test.csv`` with ``text,category,intent``."""
    folder = root / "bitext_customer_service"
    return IntentDataset(
        name="bitext",
        train=_read_csv(folder / "train.csv", "intent"),
        validation=None,
        test=_read_csv(folder / "test.csv", "intent"),
    )


def load_banking77(root: Path) -> IntentDataset:
    """BANKING77: ``train.csv`` / ``test.csv`` with ``text,category``."""
    folder = root / "banking77"
    return IntentDataset(
        name="banking77",
        train=_read_csv(folder / "train.csv", "category"),
        validation=None,
        test=_read_csv(folder / "test.csv", "category"),
    )


def load_clinc150(root: Path) -> IntentDataset:
    """CLINC150 full: ``data_full.json``; ``oos_*`` examples are labelled :data:`OOS_LABEL`."""
    path = root / "clinc150" / "data_full.json"
    if not path.is_file():
        raise DatasetError(path, "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DatasetError(path, f"invalid JSON: {e}") from e

    def split(name: str) -> Split:
        try:
            pairs = list(data[name]) + [[text, OOS_LABEL] for text, _ in data[f"oos_{name}"]]
        except (KeyError, ValueError, TypeError) as e:
            raise DatasetError(path, f"split {name!r} missing or malformed") from e
        return Split(texts=tuple(str(t) for t, _ in pairs), labels=tuple(str(lab) for _, lab in pairs))

    return IntentDataset(name="clinc150", train=split("train"), validation=split("val"), test=split("test"))


def load_hwu64(root: Path) -> IntentDataset:
    """HWU64: ``{train,valid,test}/seq.in`` and ``label``, line-aligned."""
    folder = root / "hwu64"

    def split(name: str) -> Split:
        text_path, label_path = folder / name / "seq.in", folder / name / "label"
        for p in (text_path, label_path):
            if not p.is_file():
                raise DatasetError(p, "file not found")
        texts = text_path.read_text(encoding="utf-8").splitlines()
        labels = label_path.read_text(encoding="utf-8").splitlines()
        if len(texts) != len(labels):
            raise DatasetError(text_path, f"{len(texts)} lines but {len(labels)} labels")
        return Split(texts=tuple(t.strip() for t in texts), labels=tuple(lab.strip() for lab in labels))

    return IntentDataset(name="hwu64", train=split("train"), validation=split("valid"), test=split("test"))


_LOADERS = {"bitext": load_bitext, "banking77": load_banking77, "clinc150": load_clinc150, "hwu64": load_hwu64}


def load_dataset(name: str, root: Path) -> IntentDataset:
    """Load one of :data:`DATASET_NAMES` from ``root``.

    Raises:
        ValueError: ``name`` is not a known dataset.
        DatasetError: a file is missing or malformed.
    """
    try:
        loader = _LOADERS[name]
    except KeyError as e:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASET_NAMES)}") from e
    return loader(root)
