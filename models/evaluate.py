"""Intent evaluation on the public datasets: metrics, plots, Markdown and JSON reports.

The protocol: train on the train split, early-stop and calibrate on the
validation split (the dataset's own, or a stratified 10% carved from train),
report on the test split. Nothing is ever tuned on a test split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import OOS_LABEL, IntentDataset, Split, stratified_indices
from models.intent import (
    Calibration,
    Embedder,
    HeadConfig,
    TrainedHead,
    cached_embeddings,
    calibrate,
    fit_and_calibrate,
    save_head,
)
from models.intent_linear import DEFAULT_C_GRID, select_linear_head

logger = logging.getLogger(__name__)

#: Published results (see datasets/README.md) shown beside ours.
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
class Recipe:
    """How one dataset is trained: the frozen encoder or its top layers fine-tuned, then a linear head.

    Attributes:
        finetune_layers: Upper encoder layers to fine-tune; 0 keeps the encoder frozen.
        encoder_lr: AdamW learning rate of the fine-tuned layers.
        max_epochs: Fine-tuning epochs at most (early stopping on validation loss may stop sooner).
        label_smoothing: Label smoothing of the fine-tuning loss.
        c_grid: Inverse regularisation strengths of the final linear head, one chosen on validation.
        reason: Why this recipe, from validation figures only.
    """

    finetune_layers: int = 0
    encoder_lr: float = 1e-4
    max_epochs: int = 3
    label_smoothing: float = 0.0
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    reason: str = ""


#: The recipe per dataset used when ``--finetune-layers`` is not given. Every choice below was made
#: on validation figures; see docs/nlu.md for the runs behind them.
_NOT_VALIDATED = (
    "frozen: the L-BFGS head matches the logistic-regression floor on validation; fine-tuning the top "
    "layers was not run to a validation figure in the time this work had on the shared 2-core machine "
    "(try --finetune-layers 2; switch only if validation improves)"
)
RECIPES: dict[str, Recipe] = {
    "bitext": Recipe(reason="frozen: 99.85 validation accuracy already; fine-tuning has nothing to gain"),
    "banking77": Recipe(
        finetune_layers=2,
        max_epochs=1,
        reason=(
            "top 2 layers fine-tuned 1 epoch: validation accuracy 92.62 vs 91.82 frozen; one epoch fits the "
            "budget (the 2nd did not on the shared 2-core machine)"
        ),
    ),
    "clinc150": Recipe(
        finetune_layers=2,
        max_epochs=1,
        reason="top 2 layers fine-tuned 1 epoch: validation in-scope accuracy 97.40 vs 96.10 frozen",
    ),
    "hwu64": Recipe(reason=_NOT_VALIDATED),
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
    head_c: float | None
    per_intent: dict[str, LabelScores] = field(repr=False)
    in_scope_accuracy: float | None = None
    in_scope_accuracy_at_threshold: float | None = None
    oos_recall: float | None = None
    history: list[dict[str, float]] = field(default_factory=list, repr=False)
    targets_met: dict[str, bool] = field(default_factory=dict)
    published: str = ""
    floor: str = ""
    plots: dict[str, str] = field(default_factory=dict)
    recipe_reason: str = ""
    finetune_history: list[dict[str, float]] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def classification_scores(
    y_true: Sequence[str] | np.ndarray, y_pred: Sequence[str] | np.ndarray, labels: Sequence[str]
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
    recipe: Recipe | None = None,
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
        config: Head settings (default :class:`HeadConfig`); ``hidden`` > 0 trains
            an MLP head with AdamW instead of the L-BFGS linear head.
        recipe: Fine-tuning and head settings (default: frozen encoder, linear head).
        limit_train: Keep at most this many training examples (stratified).
        export_dir: When fine-tuning, the tuned encoder (``encoder.onnx``) and the
            head are saved here, so the tuned model serves without torch.
    """
    config = config or HeadConfig()
    recipe = recipe or Recipe()
    train, val, val_oos = _validation(dataset, config.seed)
    if limit_train is not None and limit_train < len(train):
        _, keep = stratified_indices(train.labels, fraction=limit_train / len(train), seed=config.seed)
        train = train.subset(keep)
    test = dataset.test
    start = time.perf_counter()
    tuned = None
    head_kind = "MLP head" if config.hidden else "linear head (L-BFGS)"
    if recipe.finetune_layers > 0:
        from models.intent_finetune import FinetuneConfig, finetune

        ft = FinetuneConfig(encoder_lr=recipe.encoder_lr, max_epochs=recipe.max_epochs)
        tuned = finetune(
            train, val, layers=recipe.finetune_layers,
            config=replace(config, label_smoothing=recipe.label_smoothing), ft=ft,
        )
        embed, embed_key, cache_dir = tuned.embed, f"{embed_key}+ft{recipe.finetune_layers}", None
        mode = f"fine-tuned top {recipe.finetune_layers} layers + {head_kind}"
    else:
        mode = f"frozen encoder + {head_kind}"

    def emb(split: Split) -> np.ndarray:
        return cached_embeddings(split.texts, embed, cache_dir=cache_dir, key=embed_key)

    x_val_oos = emb(val_oos) if val_oos is not None else None
    head, head_c = _fit_head(emb(train), train, emb(val), val, x_val_oos, config=config, c_grid=recipe.c_grid)
    train_seconds = time.perf_counter() - start
    if tuned is not None and export_dir is not None:
        from models.intent_finetune import export_finetuned_encoder

        export_finetuned_encoder(tuned, export_dir / "encoder.onnx")
        save_head(
            export_dir, head,
            manifest={"dataset": dataset.name, "finetune_layers": recipe.finetune_layers, "head_c": head_c},
        )
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
        best_epoch=tuned.best_epoch if tuned is not None else head.best_epoch,
        train_seconds=train_seconds,
        head_c=head_c,
        recipe_reason=recipe.reason,
        finetune_history=tuned.history if tuned is not None else [],
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
            "loss": str(plot_training(report, out_dir / f"{dataset.name}_loss.png")),
        }
    return report


def _fit_head(
    x_train: np.ndarray,
    train: Split,
    x_val: np.ndarray,
    val: Split,
    x_val_oos: np.ndarray | None,
    *,
    config: HeadConfig,
    c_grid: Sequence[float],
) -> tuple[TrainedHead, float | None]:
    """The head and its ``C`` (None for the MLP): L-BFGS linear head chosen on validation, then calibrated."""
    if config.hidden:
        head = fit_and_calibrate(x_train, train.labels, x_val, val.labels, x_val_oos=x_val_oos, config=config)
        return head, None
    fit = select_linear_head(x_train, train.labels, x_val, val.labels, c_grid=c_grid)
    probs = fit.weights.probs(x_val)
    correct = np.array(fit.weights.labels)[probs.argmax(1)] == np.array(val.labels)
    probs_oos = fit.weights.probs(x_val_oos) if x_val_oos is not None else None
    calibration = calibrate(probs, correct, probs_oos=probs_oos, config=config)
    logger.info("linear head: C=%g, validation accuracy %.4f, %s", fit.c, fit.val_accuracy, calibration)
    head = TrainedHead(weights=fit.weights, calibration=calibration, history=list(fit.history), config=config)
    return head, fit.c


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


def plot_training(report: DatasetReport, path: Path) -> Path:
    """Validation accuracy per head ``C`` (and, when fine-tuned, the losses per fine-tuning epoch)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if report.finetune_history else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    if report.history and "c" in report.history[0]:
        ax.semilogx([h["c"] for h in report.history], [100 * h["val_accuracy"] for h in report.history], marker="o")
        ax.set_xlabel("head C (inverse L2 strength)")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(f"{report.dataset}: head chosen at C={report.head_c:g}")
    elif report.history:
        ax.plot([h["epoch"] for h in report.history], [h["val_loss"] for h in report.history], label="validation loss")
        ax.plot([h["epoch"] for h in report.history], [h["train_loss"] for h in report.history], label="train loss")
        ax.set_xlabel("head epoch")
        ax.legend()
    if report.finetune_history:
        ax = axes[0][1]
        rows = report.finetune_history
        ax.plot([h["epoch"] for h in rows], [h["val_loss"] for h in rows], marker="o", label="validation loss")
        ax.plot([h["epoch"] for h in rows[1:]], [h["train_loss"] for h in rows[1:]], marker="o", label="train loss")
        ax.axvline(report.best_epoch, color="grey", linestyle="--", label=f"kept epoch {report.best_epoch}")
        ax.set_xlabel("fine-tuning epoch (0 = untouched encoder)")
        ax.set_ylabel("cross-entropy")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
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
            f"- recipe: {r.mode}" + (f" ({r.recipe_reason})" if r.recipe_reason else ""),
            f"- linear head C={r.head_c:g} (chosen on validation)" if r.head_c is not None else "- MLP head",
            (f"- fine-tuning kept epoch {r.best_epoch} of {len(r.finetune_history) - 1}; " if r.finetune_history else "- ")
            + f"training {r.train_seconds:.1f}s on this machine",
            f"- out-of-scope threshold {c.oos_threshold:.3f} ({c.method}); ambiguity margin {c.ambiguity_margin:.3f}",
        ]
        for name, path in r.plots.items():
            lines.append(f"- {name}: `{path}`")
        worst = sorted(r.per_intent.items(), key=lambda kv: kv[1].f1)[:5]
        lines += ["", "Weakest intents (F1):", "", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab, s in worst:
            lines.append(f"| {lab} | {100 * s.precision:.1f} | {100 * s.recall:.1f} | {100 * s.f1:.1f} | {s.support} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- encoders side by side

#: The most a second encoder may fall below the English one on a public benchmark (points).
MAX_BENCHMARK_GAP_PT = 1.0
#: What the bots' Chinese intent figures aim for (percent, cross-validated).
ZH_TARGETS: dict[str, float] = {"zh_cv_accuracy": 92.0, "zh_cv_accuracy_at_threshold": 90.0}

#: (row name, report attribute) per public benchmark in the side-by-side table.
_BENCHMARK_ROWS: tuple[tuple[str, str, str], ...] = (
    ("bitext", "accuracy", "accuracy"),
    ("banking77", "accuracy", "accuracy"),
    ("clinc150", "in_scope_accuracy", "in-scope accuracy (no threshold)"),
    ("clinc150", "in_scope_accuracy_at_threshold", "in-scope accuracy at threshold"),
    ("clinc150", "oos_recall", "out-of-scope recall"),
    ("hwu64", "accuracy", "accuracy"),
)
#: (summary key, row name) per bot in the side-by-side table; see :func:`bot_summary`.
_BOT_ROWS: tuple[tuple[str, str], ...] = (
    ("cv_accuracy", "intent accuracy, all languages (CV)"),
    ("cv_accuracy_at_threshold", "accuracy at threshold (CV; rejected = wrong)"),
    ("cv_in_scope_accepted", "in-scope accepted (CV)"),
    ("zh_cv_accuracy", "Chinese intent accuracy (CV)"),
    ("zh_cv_accuracy_at_threshold", "Chinese accuracy at threshold (CV)"),
    ("held_out_oos_recall", "out-of-scope recall, held-out CLINC150 val (English)"),
    ("zh_cv_oos_recall", "out-of-scope recall, Chinese negatives (CV)"),
)


def bot_summary(figures: dict[str, Any]) -> dict[str, Any]:
    """A bot head's manifest figures as percentages, Chinese ones from whichever head reads Chinese.

    The English encoder sends Chinese to the character head (``zh_cv_*``); a multilingual
    encoder reads it itself (``zh_encoder_cv_*``). ``zh_head`` says which.
    """
    on_encoder = int(figures.get("zh_encoder_examples") or 0) >= int(figures.get("char_examples") or 0)
    src = {
        "zh_cv_accuracy": "zh_encoder_cv_accuracy" if on_encoder else "zh_cv_accuracy",
        "zh_cv_accuracy_at_threshold": "zh_encoder_cv_accuracy_at_threshold" if on_encoder
        else "zh_cv_accuracy_at_threshold",
        "zh_cv_oos_recall": "zh_encoder_cv_oos_recall" if on_encoder else "zh_cv_oos_recall",
    }
    out: dict[str, Any] = {}
    for key, _ in _BOT_ROWS:
        value = figures.get(src.get(key, key))
        out[key] = None if value is None else 100 * float(value)
    out["zh_head"] = "encoder" if on_encoder else "character n-grams"
    out["zh_examples"] = int(figures.get("zh_encoder_examples" if on_encoder else "char_examples") or 0)
    return out


def comparison_rows(runs: dict[str, dict[str, Any]], *, base: str = "english") -> list[dict[str, Any]]:
    """One row per figure with each encoder's value and the gap to ``base`` (points).

    ``runs[model]`` holds ``results`` (:class:`DatasetReport` list) and ``bots``
    (``{bot: bot_summary(...)}``). Benchmark rows say whether the other encoders are within
    :data:`MAX_BENCHMARK_GAP_PT` of ``base``; Chinese bot rows whether they reach :data:`ZH_TARGETS`.
    """
    models = list(runs)
    rows: list[dict[str, Any]] = []
    for dataset, attr, what in _BENCHMARK_ROWS:
        values: dict[str, float | None] = {}
        modes: dict[str, str] = {}
        for m in models:
            found = [r for r in runs[m]["results"] if r.dataset == dataset]
            values[m] = getattr(found[0], attr) if found else None
            modes[m] = found[0].mode if found else ""
        if all(v is None for v in values.values()):
            continue
        row: dict[str, Any] = {"group": "benchmark", "name": dataset, "figure": what, "values": values, "modes": modes}
        floor = values.get(base)
        if floor is not None and attr != "oos_recall":
            row["targets"] = {m: v is not None and v >= floor - MAX_BENCHMARK_GAP_PT
                              for m, v in values.items() if m != base}
        rows.append(row)
    bots = sorted({b for m in models for b in runs[m].get("bots", {})})
    for bot in bots:
        for key, what in _BOT_ROWS:
            values = {m: runs[m].get("bots", {}).get(bot, {}).get(key) for m in models}
            if all(v is None for v in values.values()):
                continue
            row = {"group": "bot", "name": bot, "figure": what, "values": values, "key": key}
            if key in ZH_TARGETS:
                row["targets"] = {m: v is not None and v >= ZH_TARGETS[key] for m, v in values.items()}
            rows.append(row)
    return rows


def comparison_markdown(runs: dict[str, dict[str, Any]], *, command: str, base: str = "english") -> str:
    """The side-by-side Markdown report: one table for every encoder, then each encoder's own report."""
    models = list(runs)
    rows = comparison_rows(runs, base=base)
    others = [m for m in models if m != base]
    head = "| | figure | " + " | ".join(models) + "".join(f" | {m} - {base} (pt)" for m in others if base in models)
    lines = [
        "# Intent classification: encoders side by side",
        "",
        f"Command: `{command}`",
        "",
        "Public benchmarks: train on train, thresholds on validation, figures on the test split (same",
        f"recipe for every encoder). Target: no encoder more than {MAX_BENCHMARK_GAP_PT:g} pt below {base}.",
        "Bots: 5-fold cross-validated figures from each head's manifest (`shopkeep nlu train --model ...`);",
        "held-out out-of-scope recall on CLINC150 val queries the head never saw. Chinese targets: "
        + ", ".join(f"{k.replace('zh_cv_', '').replace('_', ' ')} >= {v:g}%" for k, v in ZH_TARGETS.items()) + ".",
        "",
        head + " | target |",
        "|---|---|" + "---|" * (len(models) + (len(others) if base in models else 0)) + "---|",
    ]
    for row in rows:
        vals = row["values"]
        cells = [_fmt(vals[m]) for m in models]
        if base in models:
            for m in others:
                a, b = vals.get(m), vals.get(base)
                cells.append("-" if a is None or b is None else f"{a - b:+.2f}")
        met = ", ".join(f"{m}: {'met' if ok else 'MISSED'}" for m, ok in row.get("targets", {}).items())
        lines.append(f"| {row['name']} | {row['figure']} | " + " | ".join(cells) + f" | {met} |")
    for m in models:
        modes = {r.dataset: r.mode for r in runs[m]["results"]}
        lines += ["", f"- {m}: " + "; ".join(f"{d}: {mode}" for d, mode in modes.items())]
        for bot, s in sorted(runs[m].get("bots", {}).items()):
            lines.append(f"- {m} {bot}: Chinese read by the {s['zh_head']} head ({s['zh_examples']} examples)")
    for m in models:
        body = markdown_report(runs[m]["results"], command=command).split("\n", 1)[1]
        lines += ["", f"# {m} encoder", body.replace("\n## ", "\n### ")]
    return "\n".join(lines).rstrip("\n") + "\n"
