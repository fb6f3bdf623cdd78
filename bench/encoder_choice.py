"""What choosing the multilingual encoder costs: memory and throughput, English vs multilingual.

    python -m bench.encoder_choice              # both built encoders, served variant, CPU
    python -m bench.encoder_choice --seconds 5  # longer timing windows

Each encoder is loaded in its own fresh Python process (so resident memory is
its own): RSS after loading, RSS after the timing runs, and sentences per
second at batch sizes 1 and 32 on the same English and Chinese sentences
(the shop bot's intent examples), tokenisation included. Prints a table; the
numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from models.encoder import OnnxEncoder

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

encoder_dir, seconds, texts_file, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
texts = json.loads(Path(texts_file).read_text())
before = rss_mb()
t0 = time.perf_counter()
enc = OnnxEncoder.from_artifacts(Path(encoder_dir), device="cpu", intra_op_threads=threads)
load_s = time.perf_counter() - t0
loaded = rss_mb()
out = {"variant": enc.variant, "load_s": load_s, "rss_start_mb": before, "rss_loaded_mb": loaded}
for lang, sample in texts.items():
    for bs in (1, 32):
        enc.embed_sync(sample[:bs])  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            start = (n * bs) % max(len(sample) - bs, 1)
            enc.embed_sync(sample[start:start + bs])
            n += 1
        out[f"{lang}_bs{bs}_per_s"] = n * bs / (time.perf_counter() - t0)
out["rss_after_mb"] = rss_mb()
print(json.dumps(out))
"""


def main(
    artifacts_dir: Annotated[Path | None, typer.Option(help="Artifacts root (default: settings).")] = None,
    seconds: Annotated[float, typer.Option(help="Timing window per language and batch size.")] = 3.0,
    threads: Annotated[int, typer.Option(help="ONNX Runtime intra-op threads (same for both).")] = 2,
) -> None:
    """Load each built encoder in a fresh process; print RSS and throughput side by side."""
    import tempfile

    from rich.console import Console
    from rich.table import Table

    from bench.e5_reference import reference_sentences
    from core.settings import ENCODERS, Settings, encoder_artifacts_dir
    from models.manifest import read_manifest

    root = artifacts_dir or Settings().artifacts_dir
    texts = reference_sentences(200)
    rows = {}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(texts, handle, ensure_ascii=False)
    for name in ENCODERS:
        encoder_dir = encoder_artifacts_dir(root, name) / "encoder"
        if not (encoder_dir / "manifest.json").is_file():
            print(f"{name}: not built ({encoder_dir}); run `shopkeep models build --model {name}`")
            continue
        done = subprocess.run([sys.executable, "-c", _CHILD, str(encoder_dir), str(seconds), handle.name,
                               str(threads)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
        rows[name]["model"] = read_manifest(encoder_dir).source_model_name
        rows[name]["graph_mb"] = sum(g.size_bytes for k, g in read_manifest(encoder_dir).graphs.items()
                                     if k == rows[name]["variant"]) / 1e6
    Path(handle.name).unlink(missing_ok=True)
    table = Table(title=f"encoder choice (CPU, {threads} threads, served variant)")
    table.add_column("figure")
    for name in rows:
        table.add_column(name)
    table.add_row("model", *(rows[n]["model"].split("/")[-1] for n in rows))
    table.add_row("variant served", *(rows[n]["variant"] for n in rows))
    figures = [("graph file MB", "graph_mb"), ("load s", "load_s"), ("RSS after load MB", "rss_loaded_mb"),
               ("RSS after runs MB", "rss_after_mb"), ("en sentences/s, batch 1", "en_bs1_per_s"),
               ("en sentences/s, batch 32", "en_bs32_per_s"), ("zh sentences/s, batch 1", "zh_bs1_per_s"),
               ("zh sentences/s, batch 32", "zh_bs32_per_s")]
    for label, key in figures:
        table.add_row(label, *(f"{rows[n][key]:.1f}" for n in rows))
    Console().print(table)


if __name__ == "__main__":
    typer.run(main)
