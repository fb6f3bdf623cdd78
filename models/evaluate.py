"""Intent evaluation on the public datasets: metrics, plots, Markdown and JSON reports.

The protocol: train on the train split, early-stop and calibrate on the
validation split (the dataset's own, or a stratified 10% carved from train),
report on the test split. Nothing is ever tuned on a test split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import OOS_LABEL, IntentDataset, Split, stratified_indices
from models.intent import (
    Calibration,
    Embedder,
    HeadConfig,
    cached_embeddings,
    fit_and_calibrate,
    save_head,
)

logger = logging.getLogger(__name__)

#: Published results (see shared/datasets/README.md) shown beside ours.
PUBLISHED: dict[str, str] = {
    "bitext": "n/a",
    "banking77": "BERT 93.66 acc (Casanueva et al. 2020)",
    "clinc150": "BERT-base 96.2 in-scope / 52.3 oos recall (Larson et al. 2019)",
    "hwu64": "Rasa DIET 90.18 F1 (Bunk et al. 2020)",
}
#: Frozen MiniLM + logistic regression, measured on the project's machine.
FLOOR: dict[str, str] = {
    "bitext": "99.8",
    "banking77": "92.9",
    "clinc150": "95.5 in-scope (95.0 / 54.1 at 0.25)",
    "hwu64": "91.3",
}
#: Minimum figures the project aims for (percent).
TARGETS: dict[str, dict[str, float]] = {
    "bitext": {"accuracy": 99.5},
    "banking77": {"accuracy": 93.0},
    "hwu64": {"accuracy": 91.5},
    "clinc150": {"in_scope_accuracy_at_threshold": 95.0, "oos_recall": 55.0},
}


@dataclass(frozen=True)
class LabelScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class DatasetReport:
    """Figures for one dataset. Percentages are in [0, 100]."""

    dataset: str
    mode: str
    n_train: int
    n_validation: int
    n_test: int
    n_intents: int
    accuracy: float
    macro_f1: float
    calibration: Calibration
    best_epoch: int
    train_seconds: float
    per_intent: dict[str, LabelScores] = field(repr=False)
    in_scope_accuracy: float | None = None
    in_scope_accuracy_at_threshold: float | None = None
    oos_recall: float | None = None
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    targets_met: dict[str, bool] = field(default_factory=dict)
    published: str = ""
    floor: str = ""
    plots: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classification_scores(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]
) -> tuple[float, float, dict[str, LabelScores]]:
    """Accuracy, macro-F1 over ``labels`` and per-label precision/recall/F1 (fractions)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    per: dict[str, LabelScores] = {}
    for lab in labels:
        tp = int(np.sum((t == lab) & (p == lab)))
        fp = int(np.sum((t != lab) & (p == lab)))
        fn = int(np.sum((t == lab) & (p != lab)))
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = LabelScores(precision=prec, recall=rec, f1=f1, support=tp + fn)
    acc = float(np.mean(t == p)) if len(t) else 0.0
    macro = float(np.mean([s.f1 for s in per.values()])) if per else 0.0
    return acc, macro, per


def _validation(dataset: IntentDataset, seed: int) -> tuple[Split, Split, Split | None]:
    """(train in-scope, validation in-scope, validation out-of-scope or None)."""
    train = dataset.train.without(OOS_LABEL)
    if dataset.validation is not None:
        oos = dataset.validation.only(OOS_LABEL)
        return train, dataset.validation.without(OOS_LABEL), oos if len(oos) else None
    rest, carved = stratified_indices(train.labels, fraction=0.1, seed=seed)
    return train.subset(rest), train.subset(carved), None


def evaluate_dataset(
    dataset: IntentDataset,
    *,
    embed: Embedder,
    embed_key: str,
    cache_dir: Path | None,
    out_dir: Path | None,
    config: HeadConfig | None = None,
    finetune_layers: int = 0,
    limit_train: int | None = None,
    export_dir: Path | None = None,
) -> DatasetReport:
    """Train on ``dataset``'s train split and report on its test split.

    Args:
        dataset: The loaded dataset.
        embed: The frozen encoder (normalised texts -> embeddings).
        embed_key: Identifies the encoder in the embedding cache.
        cache_dir: Where embeddings are cached; ``None`` disables the cache.
        out_dir: Where plots go; ``None`` skips them.
        config: Head hyper-parameters (default :class:`HeadConfig`).
        finetune_layers: > 0 fine-tunes that many upper encoder layers (torch).
        limit_train: Keep at most this many training examples (stratified).
        export_dir: When fine-tuning, the tuned encoder (``encoder.onnx``) and the
            head are saved here, so the tuned model serves without torch.
    """
    config = config or HeadConfig()
    train, val, val_oos = _validation(dataset, config.seed)
    if limit_train is not None and limit_train < len(train):
        _, keep = stratified_indices(train.labels, fraction=limit_train / len(train), seed=config.seed)
        train = train.subset(keep)
    test = dataset.test
    start = time.perf_counter()
    tuned = None
    if finetune_layers > 0:
        from models.intent_finetune import finetune

        tuned = finetune(train, val, layers=finetune_layers, config=config)
        embed, embed_key, cache_dir = tuned.embed, f"{embed_key}+ft{finetune_layers}", None
        mode = f"fine-tuned top {finetune_layers} layers + {'MLP' if config.hidden else 'linear'} head"
    else:
        mode = f"frozen encoder + {'MLP' if config.hidden else 'linear'} head"

    def emb(split: Split) -> np.ndarray:
        return cached_embeddings(split.texts, embed, cache_dir=cache_dir, key=embed_key)

    x_val_oos = emb(val_oos) if val_oos is not None else None
    head = fit_and_calibrate(emb(train), train.labels, emb(val), val.labels, x_val_oos=x_val_oos, config=config)
    train_seconds = time.perf_counter() - start
    if tuned is not None and export_dir is not None:
        from models.intent_finetune import export_finetuned_encoder

        export_finetuned_encoder(tuned, export_dir / "encoder.onnx")
        save_head(export_dir, head, manifest={"dataset": dataset.name, "finetune_layers": finetune_layers})
    probs = head.weights.probs(emb(test))
    labels = np.array(head.weights.labels)
    raw_pred = labels[probs.argmax(1)]
    y = np.array(test.labels)
    report_kwargs: dict[str, Any] = {}
    if dataset.has_oos:
        pred = np.where(probs.max(1) < head.calibration.oos_threshold, OOS_LABEL, raw_pred)
        ins = y != OOS_LABEL
        report_kwargs = {
            "in_scope_accuracy": 100 * float(np.mean(raw_pred[ins] == y[ins])),
            "in_scope_accuracy_at_threshold": 100 * float(np.mean(pred[ins] == y[ins])),
            "oos_recall": 100 * float(np.mean(pred[~ins] == OOS_LABEL)),
        }
        score_labels = [*head.weights.labels, OOS_LABEL]
    else:
        pred = raw_pred
        score_labels = list(head.weights.labels)
    acc, macro, per = classification_scores(y, pred, score_labels)
    report = DatasetReport(
        dataset=dataset.name,
        mode=mode,
        n_train=len(train),
        n_validation=len(val) + (len(val_oos) if val_oos is not None else 0),
        n_test=len(test),
        n_intents=len(head.weights.labels),
        accuracy=100 * acc,
        macro_f1=100 * macro,
        calibration=head.calibration,
        best_epoch=head.best_epoch,
        train_seconds=train_seconds,
        per_intent=per,
        history=head.history,
        published=PUBLISHED.get(dataset.name, ""),
        floor=FLOOR.get(dataset.name, ""),
        **report_kwargs,
    )
    report.targets_met = {
        k: getattr(report, k) is not None and getattr(report, k) >= v for k, v in TARGETS.get(dataset.name, {}).items()
    }
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        report.plots = {
            "confusion": str(plot_confusion(y, pred, score_labels, out_dir / f"{dataset.name}_confusion.png")),
            "loss": str(plot_loss(head.history, head.best_epoch, out_dir / f"{dataset.name}_loss.png")),
        }
    return report


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str], path: Path) -> Path:
    """Row-normalised confusion matrix as a PNG (labels on the axes when few enough)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pos = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), dtype=np.float64)
    for t, p in zip(y_true, y_pred):
        m[pos[t], pos[p]] += 1
    m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.12 * len(labels), 22)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    if len(labels) <= 80:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=5)
        ax.set_yticks(range(len(labels)), labels, fontsize=5)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{path.stem} (row-normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_loss(history: list[dict[str, float]], best_epoch: int, path: Path) -> Path:
    """Training and validation loss per epoch, the early-stopping epoch marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax.plot(epochs, [h["val_loss"] for h in history], label="validation loss")
    ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown_report(reports: Sequence[DatasetReport], *, command: str) -> str:
    """A Markdown summary: one table for all datasets, then per-dataset details."""
    lines = [
        "# Intent classification results",
        "",
        f"Command: `{command}`",
        "",
        "Protocol: train on train, early stopping and thresholds on validation (own split, or a",
        "stratified 10% of train), figures on test. CLINC150 in-scope accuracy and out-of-scope",
        "recall are at one threshold chosen on its validation split (val + oos_val).",
        "",
        "| dataset | mode | accuracy | macro-F1 | in-scope (no thr.) | in-scope @thr | oos recall | published | floor (LR) | targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        met = ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in r.targets_met.items())
        lines.append(
            f"| {r.dataset} | {r.mode} | {_fmt(r.accuracy)} | {_fmt(r.macro_f1)} | {_fmt(r.in_scope_accuracy)} "
            f"| {_fmt(r.in_scope_accuracy_at_threshold)} | {_fmt(r.oos_recall)} | {r.published} | {r.floor} | {met} |"
        )
    for r in reports:
        c = r.calibration
        lines += [
            "",
            f"## {r.dataset}",
            "",
            f"- train {r.n_train}, validation {r.n_validation}, test {r.n_test}, intents {r.n_intents}",
            f"- best epoch {r.best_epoch}, training {r.train_seconds:.1f}s",
            f"- out-of-scope threshold {c.oos_threshold:.3f} ({c.method}); ambiguity margin {c.ambiguity_margin:.3f}",
        ]
        for name, path in r.plots.items():
            lines.append(f"- {name}: `{path}`")
        worst = sorted(r.per_intent.items(), key=lambda kv: kv[1].f1)[:5]
        lines += ["", "Weakest intents (F1):", "", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab, s in worst:
            lines.append(f"| {lab} | {100 * s.precision:.1f} | {100 * s.recall:.1f} | {100 * s.f1:.1f} | {s.support} |")
    return "\n".join(lines) + "\n"
