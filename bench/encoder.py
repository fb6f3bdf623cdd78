"""Encoder benchmark: ONNX Runtime (fp32, int8 if shipped) vs PyTorch on the same weights.

    python -m bench.encoder            # CPU, a few minutes
    python -m bench.encoder --quick    # smaller run
    python -m bench.encoder --device cuda   # CUDA provider fp16 + I/O binding vs PyTorch fp16

On CPU the engines are PyTorch fp32 (the baseline), ORT fp32, the blockwise
int8 graph shipped before issue 12 (rebuilt here from the fp32 graph) and
the int8 graph the build ships now; with the ``openvino`` extra installed,
also OpenVINO on the same fp32 ONNX graph (in f32, and in bf16 where the CPU
has it) and OpenVINO's static int8 graph
(when ``python -m models.openvino_int8 build`` built and gated it).

Besides wall-clock sentences/s, each row records sentences per CPU-second of
this process (``time.process_time``): on a shared, loaded machine that figure
is the steadier one; run with ``--threads 1`` to compare engines per core.

Every engine uses the same thread count (``torch.set_num_threads`` equals the
ORT intra-op threads) and the same ``tokenizers`` tokenisation, which is
included in the timings for all of them. Writes ``bench/results/encoder.json``
and ``encoder.png``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).resolve().parent / "results"
console = Console()

Embed = Callable[[list[str]], np.ndarray]


@dataclass
class Measurement:
    engine: str
    batch_size: int
    sentences_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    iterations: int
    sentences_per_cpu_s: float | None = None
    ratio_to_pytorch: float | None = None
    cpu_ratio_to_pytorch: float | None = None
    cosine_min_vs_pytorch: float | None = None
    cosine_mean_vs_pytorch: float | None = None


def _bench_texts(datasets_dir: Path, n: int) -> list[str]:
    import csv

    path = datasets_dir / "bitext_customer_service" / "test.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    return texts[:n]


def _time(embed: Embed, texts: Sequence[str], batch_size: int, *, budget_s: float, max_iters: int,
          sync: Callable[[], None] = lambda: None) -> tuple[list[float], int, float]:
    batches = [list(texts[i : i + batch_size]) for i in range(0, len(texts) - batch_size + 1, batch_size)]
    for batch in batches[:2]:  # warm-up: allocator, kernel selection
        embed(batch)
    sync()
    latencies: list[float] = []
    started = time.perf_counter()
    cpu_started = time.process_time()
    i = 0
    while i < max_iters and (i < 5 or time.perf_counter() - started < budget_s):
        batch = batches[i % len(batches)]
        t0 = time.perf_counter()
        embed(batch)
        sync()
        latencies.append(time.perf_counter() - t0)
        i += 1
    return latencies, i, time.process_time() - cpu_started


def _measure(engine: str, embed: Embed, texts: Sequence[str], batch_size: int, *, budget_s: float,
             sync: Callable[[], None] = lambda: None) -> Measurement:
    latencies, iters, cpu_s = _time(embed, texts, batch_size, budget_s=budget_s, max_iters=2000, sync=sync)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return Measurement(engine=engine, batch_size=batch_size,
                       sentences_per_s=batch_size * iters / sum(latencies),
                       latency_p50_ms=statistics.median(latencies) * 1000, latency_p99_ms=p99 * 1000,
                       iterations=iters, sentences_per_cpu_s=batch_size * iters / cpu_s if cpu_s > 0 else None)


def _torch_embedder(model_dir: Path, tokenizer_path: Path, *, device: str, fp16: bool) -> tuple[Embed, Callable[[], None]]:
    import torch

    from models.encoder import open_tokenizer, pad_batch
    from models.export import load_pooled_torch_model

    model = load_pooled_torch_model(model_dir)
    if fp16:
        model = model.half()
    model = model.to(device)
    tokenizer = open_tokenizer(tokenizer_path, 128)

    def embed(texts: list[str]) -> np.ndarray:
        input_ids, mask = pad_batch([e.ids for e in tokenizer.encode_batch(texts)])
        with torch.inference_mode():
            out = model(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
        return out.float().cpu().numpy()

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    return embed, sync


def _cuda_fp16_embedder(fp32_path: Path, tokenizer_path: Path, workdir: Path) -> Embed:
    """CUDA provider on an fp16 copy of the graph, inputs and outputs bound on the device."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers.onnx_model import OnnxModel

    from models.encoder import open_tokenizer, pad_batch
    from models.providers import CUDA, plan_providers

    fp16_path = workdir / "model.fp16.onnx"
    model = OnnxModel(onnx.load(str(fp32_path)))
    model.convert_float_to_float16(keep_io_types=True)  # int64 ids in, float32 embedding out
    model.save_model_to_file(str(fp16_path))
    plan = plan_providers(device="cuda")
    session = ort.InferenceSession(str(fp16_path), providers=list(plan.providers))
    if session.get_providers()[0] not in (CUDA, "TensorrtExecutionProvider"):
        raise RuntimeError(f"CUDA session fell back to {session.get_providers()}")
    tokenizer = open_tokenizer(tokenizer_path, 128)

    def embed(texts: list[str]) -> np.ndarray:
        input_ids, mask = pad_batch([e.ids for e in tokenizer.encode_batch(texts)])
        binding = session.io_binding()
        binding.bind_ortvalue_input("input_ids", ort.OrtValue.ortvalue_from_numpy(input_ids, "cuda", 0))
        binding.bind_ortvalue_input("attention_mask", ort.OrtValue.ortvalue_from_numpy(mask, "cuda", 0))
        binding.bind_output("embedding", "cuda", 0)
        session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    return embed


BLOCKWISE_SCHEME = "blockwise8_b32_int8_compute"  # the int8 graph shipped before issue 12


def blockwise_int8_artifacts(src: Path, dst: Path) -> Path:
    """An encoder folder at ``dst`` like ``src`` but serving the blockwise 8-bit ``MatMulNBits`` graph.

    The fp32 graph and tokenizer are linked, the blockwise graph is quantised
    from the fp32 one, and the manifest selects it: the "before" encoder of
    ``make bench``.
    """
    import logging

    from models.manifest import GRAPH_FILES, GraphInfo, read_manifest, sha256_file, write_manifest
    from models.quantize import quantize, scheme_named

    logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)  # per-node chatter
    manifest = read_manifest(src)
    dst.mkdir(parents=True, exist_ok=True)
    fp32 = manifest.graph_path(src, "fp32")
    for path in (fp32, src / "tokenizer.json"):
        (dst / path.name).unlink(missing_ok=True)
        (dst / path.name).symlink_to(path.resolve())
    int8 = dst / GRAPH_FILES["int8"]
    quantize(fp32, int8, scheme_named(BLOCKWISE_SCHEME))
    graphs = {"fp32": manifest.graphs["fp32"],
              "int8": GraphInfo(file=int8.name, sha256=sha256_file(int8), size_bytes=int8.stat().st_size)}
    write_manifest(dst, manifest.model_copy(update={"graphs": graphs, "selected_variant": "int8"}))
    return dst


def run(
    quick: Annotated[bool, typer.Option("--quick", help="Fewer sentences and a shorter time budget.")] = False,
    device: Annotated[str, typer.Option("--device", help="cpu, or cuda (needs a GPU and onnxruntime-gpu).")] = "cpu",
    threads: Annotated[int, typer.Option("--threads", help="Threads for both engines (0: all cores this process may use).")] = 0,
    artifacts_dir: Annotated[Path | None, typer.Option("--artifacts-dir", help="Artifacts root.")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where encoder.json / encoder.png go.")] = RESULTS_DIR,
    batch_sizes_text: Annotated[str, typer.Option("--batch-sizes", help="Comma-separated batch sizes.")] = "1,8,32,128",
    engine_filter: Annotated[str, typer.Option("--engines", help="Comma-separated engine names to run besides "
                                               "the PyTorch baseline (default: all).")] = "",
) -> None:
    """Sentences/s and latency per batch size, ONNX Runtime vs PyTorch."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from core.errors import ShopkeepError
    from core.settings import Settings
    from models.encoder import OnnxEncoder, default_threads
    from models.manifest import read_manifest
    from models.openvino_int8 import OV_INT8_VARIANT, int8_graph, openvino_available
    from models.parity import cosine_rows
    from models.providers import cuda_usable

    settings = Settings()
    encoder_dir = (artifacts_dir or settings.artifacts_dir) / "encoder"
    try:
        manifest = read_manifest(encoder_dir)
    except ShopkeepError as e:
        console.print(f"[red]error:[/] {e}")
        raise typer.Exit(1) from e
    if device not in ("cpu", "cuda"):
        console.print("[red]error:[/] --device must be cpu or cuda")
        raise typer.Exit(1)
    if device == "cuda" and not cuda_usable():
        console.print("[red]error:[/] --device cuda needs a visible GPU and onnxruntime-gpu")
        raise typer.Exit(1)

    threads = threads or default_threads()
    load_at_start = list(os.getloadavg())
    torch.set_num_threads(threads)
    try:
        batch_sizes = tuple(int(b) for b in batch_sizes_text.split(",") if b.strip())
    except ValueError:
        batch_sizes = ()
    if not batch_sizes or min(batch_sizes) < 1:
        console.print(f"[red]error:[/] --batch-sizes must be positive integers, not {batch_sizes_text!r}")
        raise typer.Exit(1)
    wanted = {name.strip() for name in engine_filter.split(",") if name.strip()}
    texts = _bench_texts(settings.datasets_dir, 512 if quick else 1024)
    budget_s = 1.5 if quick else 5.0
    tokenizer_path = encoder_dir / "tokenizer.json"
    model_dir = Path(manifest.source_model_dir)

    engines: list[tuple[str, Embed, Callable[[], None]]] = []
    tmp = tempfile.TemporaryDirectory(prefix="bench-encoder-")
    if device == "cpu":
        torch_embed, torch_sync = _torch_embedder(model_dir, tokenizer_path, device="cpu", fp16=False)
        engines.append(("pytorch-fp32", torch_embed, torch_sync))
        candidates: list[tuple[str, Path | None, str, str]] = [
            ("onnxruntime-fp32", encoder_dir, "fp32", "onnxruntime"),
            ("onnxruntime-int8-blockwise", None, "int8", "onnxruntime"),
            ("onnxruntime-int8", encoder_dir, "int8", "onnxruntime"),
        ]
        if openvino_available():
            candidates.append(("openvino-fp32", encoder_dir, "fp32", "openvino"))
            candidates.append(("openvino-bf16", encoder_dir, "fp32", "openvino-bf16"))
            if int8_graph(encoder_dir, manifest) is not None:
                candidates.append(("openvino-int8", encoder_dir, OV_INT8_VARIANT, "openvino"))
        else:
            console.print("OpenVINO not installed (pip install -e '.[openvino]'): no openvino rows", style="dim")
        for name, folder, variant, backend in candidates:
            if wanted and name not in wanted:
                continue
            if folder is None:
                folder = blockwise_int8_artifacts(encoder_dir, Path(tmp.name) / "blockwise")
            if variant == OV_INT8_VARIANT or variant in read_manifest(folder).graphs:
                encoder = OnnxEncoder.from_artifacts(folder, variant=variant, intra_op_threads=threads,
                                                     device="cpu", batch_max_size=128, backend=backend)
                engines.append((name, encoder.embed_sync, lambda: None))
    else:
        torch_embed, torch_sync = _torch_embedder(model_dir, tokenizer_path, device="cuda", fp16=True)
        engines.append(("pytorch-fp16-cuda", torch_embed, torch_sync))
        cuda_embed = _cuda_fp16_embedder(manifest.graph_path(encoder_dir, "fp32"), tokenizer_path, Path(tmp.name))
        engines.append(("onnxruntime-fp16-cuda-iobinding", cuda_embed, lambda: None))

    reference = np.concatenate([engines[0][1](texts[i : i + 64]) for i in range(0, len(texts), 64)])
    parity: dict[str, tuple[float, float]] = {}
    for name, embed, _ in engines[1:]:
        got = np.concatenate([embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
        cos = cosine_rows(got, reference)
        parity[name] = (float(cos.min()), float(cos.mean()))

    results: list[Measurement] = []
    for batch_size in batch_sizes:
        baseline: Measurement | None = None
        for name, embed, sync in engines:
            console.print(f"  {name} batch {batch_size}…", style="dim")
            m = _measure(name, embed, texts, batch_size, budget_s=budget_s, sync=sync)
            if baseline is None:
                baseline = m
            else:
                m.ratio_to_pytorch = m.sentences_per_s / baseline.sentences_per_s
                if m.sentences_per_cpu_s and baseline.sentences_per_cpu_s:
                    m.cpu_ratio_to_pytorch = m.sentences_per_cpu_s / baseline.sentences_per_cpu_s
                m.cosine_min_vs_pytorch, m.cosine_mean_vs_pytorch = parity[name]
            results.append(m)
    tmp.cleanup()

    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "device": device,
        "threads": threads,
        "quick": quick,
        "sentences": len(texts),
        "text_source": "bitext_customer_service/test.csv (first N rows)",
        "model": manifest.source_model_name,
        "served_variant": manifest.selected_variant,
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count(), "load_average_at_start": load_at_start,
                    "load_average_at_end": list(os.getloadavg())},
        "versions": manifest.versions,
        "backends": [name for name, _, _ in engines],
        "results": [asdict(m) for m in results],
    }
    (out_dir / "encoder.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    _plot(results, out_dir / "encoder.png", title=f"{manifest.source_model_name} on {device}, {threads} threads")

    table = Table(title=f"encoder benchmark ({device}, {threads} threads)")
    for column in ("engine", "batch", "sent/s", "p50 ms", "p99 ms", "× pytorch", "sent/CPU-s", "× pytorch (CPU)",
                   "min cos"):
        table.add_column(column, justify="right" if column != "engine" else "left", no_wrap=column == "engine")
    for m in results:
        table.add_row(m.engine, str(m.batch_size), f"{m.sentences_per_s:.0f}", f"{m.latency_p50_ms:.1f}",
                      f"{m.latency_p99_ms:.1f}", "" if m.ratio_to_pytorch is None else f"{m.ratio_to_pytorch:.2f}",
                      "" if m.sentences_per_cpu_s is None else f"{m.sentences_per_cpu_s:.0f}",
                      "" if m.cpu_ratio_to_pytorch is None else f"{m.cpu_ratio_to_pytorch:.2f}",
                      "" if m.cosine_min_vs_pytorch is None else f"{m.cosine_min_vs_pytorch:.5f}")
    console.print(table)
    console.print(f"load average at start {load_at_start[0]:.1f}, at end {os.getloadavg()[0]:.1f}")
    console.print(f"wrote {out_dir / 'encoder.json'} and {out_dir / 'encoder.png'}")


def _plot(results: Sequence[Measurement], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    engines = list(dict.fromkeys(m.engine for m in results))
    batch_sizes = sorted({m.batch_size for m in results})
    width = 0.8 / len(engines)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for k, engine in enumerate(engines):
        values = [next(m.sentences_per_s for m in results if m.engine == engine and m.batch_size == b)
                  for b in batch_sizes]
        ax.bar([i + k * width for i in range(len(batch_sizes))], values, width, label=engine)
    ax.set_xticks([i + width * (len(engines) - 1) / 2 for i in range(len(batch_sizes))])
    ax.set_xticklabels([f"batch {b}" for b in batch_sizes])
    ax.set_ylabel("sentences / s")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    typer.run(run)


if __name__ == "__main__":
    main()
