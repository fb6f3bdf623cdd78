"""`shopkeep nlu ...`: train a bot's intent head, evaluate on the public datasets."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

nlu_app = typer.Typer(help="Intent understanding: train bot heads, evaluate on public datasets.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(nlu_app, name="nlu")


def _encoder_root(artifacts_dir: Path, encoder: str) -> Path:
    """The selected encoder's artifacts below the artifacts root; exits with a clear error when unknown."""
    from core.errors import ConfigError
    from core.settings import encoder_artifacts_dir

    try:
        return encoder_artifacts_dir(artifacts_dir, encoder)
    except ConfigError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e


def _load_encoder(artifacts_dir: Path):  # -> OnnxEncoder, imported lazily to keep --help instant
    from core.errors import ModelNotBuilt
    from models.encoder import OnnxEncoder

    try:
        return OnnxEncoder.from_artifacts(artifacts_dir / "encoder", device="cpu")
    except ModelNotBuilt as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e


@nlu_app.command("train")
def train(
    bot: Annotated[str, typer.Option(help="Bot name: reads <bots-dir>/<bot>/intents.yaml.")],
    bots_dir: Annotated[Path, typer.Option(help="Folder holding one folder per bot.")] = Path("bots"),
    artifacts_dir: Annotated[Path | None, typer.Option(help="Artifacts root (default: settings).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Encoder to train for: english or multilingual (default: SHOPKEEP_ENCODER).")] = None,
    intents: Annotated[Path | None, typer.Option(help="Intents file to use instead of the bot's.")] = None,
    force: Annotated[bool, typer.Option(help="Retrain even when nothing changed.")] = False,
    if_present: Annotated[bool, typer.Option(help="Warn and exit 0 when the intents file is missing.")] = False,
    datasets_dir: Annotated[Path | None, typer.Option(help="Holds clinc150/ (default: settings).")] = None,
    data_dir: Annotated[Path | None, typer.Option(
        help="Owner-taught data to merge (default: SHOPKEEP_DATA_DIR).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the head here (and publish nothing).")] = None,
    progress: Annotated[bool, typer.Option(help="Print each training stage as it starts.")] = False,
) -> None:
    """Train the bot's intent heads (encoder + Chinese characters); writes artifacts/intents/<bot>/.

    Out-of-scope examples come from CLINC150 (train/val splits only, CC BY 3.0),
    shipped in the repository's ``datasets/``; without that file training stops
    with an error naming it (a threshold from in-scope data alone would let
    far more off-topic messages through).

    What the owner taught on the dashboard (``<data dir>/<bot>/teaching.json``)
    is merged into the examples; such a head is written to
    ``<data dir>/<bot>/heads/<version>/`` and published there (and announced
    to every worker through Redis when ``REDIS_URL`` is set).
    """
    from bots import heads
    from core.errors import BotDefinitionError
    from core.settings import Settings
    from core.teaching import ANSWERS_FILE, TeachingError, TeachingStore, answers_by_intent
    from models.datasets import Split
    from models.intent import (
        ZH_NEGATIVES_FILE,
        bot_fingerprint,
        cached_embeddings,
        file_sha256,
        head_is_current,
        intent_example_files,
        load_bot_intents,
        load_clinc_negatives,
        load_zh_negatives,
        save_bot_head,
        train_bot_head,
    )
    from models.multilingual import unknown_cjk_chars

    settings = Settings()
    artifacts = _encoder_root(artifacts_dir or settings.artifacts_dir, model or settings.encoder)
    intents_path = intents or bots_dir / bot / "intents.yaml"
    if not intents_path.is_file():
        if if_present:
            console.print(f"[yellow]warning:[/yellow] {intents_path} not found; skipping bot {bot!r}")
            raise typer.Exit(0)
        console.print(f"[red]error:[/red] intents file {intents_path} not found (bot {bot!r})")
        raise typer.Exit(1)
    encoder_manifest = artifacts / "encoder" / "manifest.json"
    if not encoder_manifest.is_file():
        console.print(f"[red]error:[/red] encoder not built at {encoder_manifest.parent}; "
                      f"run `shopkeep models build --model {model or settings.encoder}`")
        raise typer.Exit(1)
    clinc = (datasets_dir or settings.datasets_dir) / "clinc150" / "data_full.json"
    if not clinc.is_file():
        console.print(f"[red]error:[/red] {clinc} not found: the out-of-scope threshold is calibrated on "
                      "CLINC150's out-of-scope queries. It ships in the repository's datasets/ folder; "
                      "SHOPKEEP_DATASETS or --datasets-dir points elsewhere.")
        raise typer.Exit(1)
    data_dir = data_dir or settings.data_dir
    store = TeachingStore(data_dir, bot) if data_dir is not None else None
    try:
        teaching = store.load() if store is not None else None
    except TeachingError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e
    taught = store is not None and teaching is not None and not teaching.empty
    extra = (store.path,) if taught and store is not None else ()
    fingerprint = bot_fingerprint(intents_path, encoder_manifest, clinc, ZH_NEGATIVES_FILE,
                                  *intent_example_files(intents_path), *extra)
    version = None
    if out is not None:
        out_dir = out
    elif taught and data_dir is not None:
        current = heads.current_version(data_dir, bot)
        if not force and current and head_is_current(heads.version_dir(data_dir, bot, current), fingerprint):
            console.print(f"intent head for {bot!r} is up to date ({heads.version_dir(data_dir, bot, current)})")
            return
        version = heads.new_version()
        out_dir = heads.version_dir(data_dir, bot, version)
    else:
        out_dir = artifacts / "intents" / bot
    if out is None and version is None and not force and head_is_current(out_dir, fingerprint):
        console.print(f"intent head for {bot!r} is up to date ({out_dir})")
        return

    def stage(text: str) -> None:
        if progress:
            console.print(f"progress: {text}")

    try:
        examples = load_bot_intents(intents_path)
        if taught and teaching is not None:
            pairs = teaching.training_pairs()
            examples = Split(texts=examples.texts + tuple(t for t, _ in pairs),
                             labels=examples.labels + tuple(label for _, label in pairs))
            console.print(f"merged {len(pairs)} taught example(s) from {store.path if store else ''}")
        negatives = load_clinc_negatives(clinc, split="train", per_intent=15)
        held_out = load_clinc_negatives(clinc, split="val", per_intent=5)
    except BotDefinitionError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from e
    tokenizer = encoder_manifest.parent / "tokenizer.json"
    # The character head is the English encoder's fallback for Chinese; the multilingual one reads it itself.
    english = (model or settings.encoder) == "english"
    unknown = unknown_cjk_chars(tokenizer) if english and tokenizer.is_file() else None
    encoder = _load_encoder(artifacts)
    key = f"{file_sha256(encoder_manifest)}:{encoder.variant}"

    def embed(texts):  # cached: the CLINC negatives are the same for every bot
        return cached_embeddings(texts, encoder.embed_sync, cache_dir=artifacts / "cache" / "embeddings", key=key)

    try:
        result = train_bot_head(
            examples,
            embed,
            negatives=negatives,
            held_out_negatives=held_out,
            unknown_chars=unknown,
            zh_negatives=load_zh_negatives(),
            progress=stage,
        )
    finally:
        encoder.close()
    stage("saving the head")
    # The answers first: a folder with a manifest is complete (save_bot_head writes it last).
    out_dir.mkdir(parents=True, exist_ok=True)
    answers = answers_by_intent(teaching.answers) if taught and teaching is not None else {}
    (out_dir / ANSWERS_FILE).write_text(json.dumps(answers, ensure_ascii=False, indent=1), encoding="utf-8")
    save_bot_head(
        out_dir,
        result,
        manifest={"bot": bot, "intents_file": str(intents_path), "fingerprint": fingerprint, "examples": len(examples),
                  "encoder": file_sha256(encoder_manifest),
                  "teaching": store.revision() if taught and store is not None else ""},
    )
    if version is not None and data_dir is not None:
        heads.publish(data_dir, bot, version)
        _announce(settings, bot, version)
        console.print(f"published head {version} for {bot!r}")
    cal, fig = result.head.calibration, result.figures

    def pct(name: str) -> str:
        value = fig.get(name)
        return "-" if value is None else f"{100 * value:.1f}%"

    oos_source = (f"explicit out-of-scope class: {fig['oos_class_negatives']} of {len(negatives)} CLINC150 "
                  "out-of-scope examples" + (f", {fig['oos_class_zh_negatives']} Chinese" if fig.get("oos_class_zh_negatives")
                                             else "") + " and the bot's own, if any; bias offset "
                  f"{fig.get('oos_class_offset', 0.0):+.2f}" if fig.get("oos_class_negatives")
                  else f"calibrated on {len(negatives)} CLINC150 out-of-scope examples")
    console.print(
        f"trained {bot!r}: {len(result.head.weights.labels)} intents, {len(examples)} examples, "
        f"best epoch {result.head.best_epoch}, oos threshold {cal.oos_threshold:.3f} ({oos_source}), "
        f"ambiguity margin {cal.ambiguity_margin:.3f} -> {out_dir}\n"
        f"  encoder head ({fig['encoder_examples']} examples): CV accuracy {pct('cv_accuracy')}, "
        f"at threshold {pct('cv_accuracy_at_threshold')}, in-scope accepted {pct('cv_in_scope_accepted')}, "
        f"ambiguous {pct('cv_ambiguous_rate')}, "
        f"held-out OOS recall {pct('held_out_oos_recall')} (n={fig.get('held_out_oos_size', 0)})"
    )
    if fig.get("zh_encoder_examples"):
        console.print(f"  Chinese on the encoder ({fig['zh_encoder_examples']} examples): "
                      f"CV accuracy {pct('zh_encoder_cv_accuracy')}, at threshold "
                      f"{pct('zh_encoder_cv_accuracy_at_threshold')}, accepted {pct('zh_encoder_cv_in_scope_accepted')}, "
                      f"Chinese negatives rejected {pct('zh_encoder_cv_oos_recall')} "
                      f"(the other examples: {pct('other_encoder_cv_accuracy')})")
    if result.char_head is not None:
        console.print(
            f"  character head ({fig['char_examples']} examples): CV accuracy {pct('zh_cv_accuracy')}, "
            f"at threshold {pct('zh_cv_accuracy_at_threshold')}, OOS recall {pct('zh_cv_oos_recall')}, "
            f"threshold {result.char_head.oos_threshold:.3f}, margin {result.char_head.ambiguity_margin:.3f}"
        )


def _announce(settings, bot: str, version: str) -> None:
    """Tell running workers through Redis (when there is one) that ``version`` is published."""
    if not settings.redis_url:
        return
    import asyncio

    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from bots import heads
    from core.keys import KeyBuilder

    async def tell() -> None:
        client = aioredis.Redis.from_url(settings.redis_url)
        try:
            await heads.announce(client, KeyBuilder(), bot, version)
        finally:
            await client.aclose()

    try:
        asyncio.run(tell())
    except (RedisError, OSError) as e:
        console.print(f"[yellow]warning:[/yellow] published on disk, but Redis did not hear of it: {e}")


MODEL_CHOICES = ("english", "multilingual", "both")


def _models_to_evaluate(model: str | None, artifacts_root: Path, default: str) -> list[str]:
    """The encoders ``--model`` names: ``both`` is every built one; unset, both when both are built."""
    from core.settings import ENCODERS, encoder_artifacts_dir

    if model is not None and model not in MODEL_CHOICES:
        console.print(f"[red]error:[/red] --model must be one of {', '.join(MODEL_CHOICES)}, not {model!r}")
        raise typer.Exit(2)
    built = [m for m in ENCODERS if (encoder_artifacts_dir(artifacts_root, m) / "encoder" / "manifest.json").is_file()]
    if model == "both":
        if len(built) < len(ENCODERS):
            missing = [m for m in ENCODERS if m not in built]
            console.print(f"[red]error:[/red] --model both needs every encoder built; missing: {', '.join(missing)} "
                          "(make models / make models-multilingual)")
            raise typer.Exit(1)
        return list(ENCODERS)
    if model is None:
        return list(ENCODERS) if len(built) == len(ENCODERS) else [default]
    return [model]


def _bot_figures(intents_root: Path) -> dict[str, dict]:
    """``{bot: figures}`` from each trained head's manifest under ``intents_root`` (absent heads left out)."""
    out: dict[str, dict] = {}
    if not intents_root.is_dir():
        return out
    for manifest in sorted(intents_root.glob("*/manifest.json")):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            console.print(f"[yellow]warning:[/yellow] {manifest}: unreadable ({e}); its bot is left out")
            continue
        if isinstance(data, dict) and isinstance(data.get("figures"), dict):
            out[manifest.parent.name] = {**data["figures"], "training_version": data.get("training_version")}
    return out


@nlu_app.command("evaluate")
def evaluate(
    dataset: Annotated[str, typer.Option(
        help="bitext, banking77, clinc150, hwu64, several comma-separated, or all.")] = "all",
    datasets_dir: Annotated[Path | None, typer.Option(help="Default: the repository's datasets/ or SHOPKEEP_DATASETS.")] = None,
    artifacts_dir: Annotated[Path | None, typer.Option(help="Artifacts root (default: settings).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Encoder to evaluate: english, multilingual or both (side by side). "
                        "Default: both when both are built, else SHOPKEEP_ENCODER.")] = None,
    out_dir: Annotated[Path, typer.Option(help="Where plots go (one folder per encoder with both).")] = Path("bench/results/nlu"),
    json_stdout: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
    json_out: Annotated[Path | None, typer.Option(help="Write the results as JSON to this file.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report to this file.")] = None,
    finetune_layers: Annotated[
        int | None,
        typer.Option(min=0, max=6, help="Fine-tune this many upper encoder layers (0: frozen). Default: each dataset's recipe."),
    ] = None,
    limit_train: Annotated[int | None, typer.Option(min=10, help="Cap the training examples (stratified).")] = None,
    hidden: Annotated[int, typer.Option(min=0, help="Hidden units of the head; 0 = linear.")] = 0,
) -> None:
    """Train on each dataset's train split and report test figures beside published ones.

    With both encoders (``--model both``, or by default when both are built) every dataset is
    run on each, and the report puts them side by side with the bots' figures (from their heads'
    manifests: Chinese accuracy, acceptance at threshold, out-of-scope recall).
    """
    from core.settings import Settings
    from models.datasets import DATASET_NAMES, DatasetError, load_dataset
    from models.evaluate import (
        RECIPES,
        Recipe,
        bot_summary,
        comparison_markdown,
        comparison_rows,
        evaluate_dataset,
        markdown_report,
    )
    from models.intent import HeadConfig, file_sha256

    settings = Settings()
    root = datasets_dir or settings.datasets_dir
    artifacts_root = artifacts_dir or settings.artifacts_dir
    names = DATASET_NAMES if dataset == "all" else tuple(n.strip() for n in dataset.split(",") if n.strip())
    if not names or any(n not in DATASET_NAMES for n in names):
        console.print(f"[red]error:[/red] unknown dataset {dataset!r}; choose from {', '.join(DATASET_NAMES)} or all")
        raise typer.Exit(2)
    models = _models_to_evaluate(model, artifacts_root, settings.encoder)
    datasets = {}
    for name in names:
        try:
            datasets[name] = load_dataset(name, root)
        except DatasetError as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(1) from e
    config = HeadConfig(hidden=hidden)
    runs: dict[str, dict] = {}
    for m in models:
        artifacts = _encoder_root(artifacts_root, m)
        encoder = _load_encoder(artifacts)
        key = f"{file_sha256(artifacts / 'encoder' / 'manifest.json')}:{encoder.variant}"
        plots = out_dir / m if len(models) > 1 else out_dir
        reports = []
        try:
            for name, ds in datasets.items():
                recipe = RECIPES.get(name, Recipe())
                if finetune_layers is not None and finetune_layers != recipe.finetune_layers:
                    recipe = Recipe(finetune_layers=finetune_layers, reason="set on the command line")
                how = f"fine-tuning the top {recipe.finetune_layers} layers" if recipe.finetune_layers else "frozen encoder"
                console.print(f"[bold]{name}[/bold] ({m}): training on {len(ds.train)} examples ({how})...")
                reports.append(
                    evaluate_dataset(
                        ds,
                        embed=encoder.embed_sync,
                        embed_key=key,
                        cache_dir=artifacts / "cache" / "embeddings",
                        out_dir=plots,
                        config=config,
                        recipe=recipe,
                        limit_train=limit_train,
                        export_dir=artifacts / "finetuned" / name if recipe.finetune_layers else None,
                    )
                )
        finally:
            encoder.close()
        runs[m] = {"encoder": {"variant": encoder.variant, "key": key}, "results": reports}
        _print_table(reports, title=f"Intent classification (test splits, {m} encoder)")
    for m in models:  # read last, so heads retrained while the benchmarks ran are the ones reported
        figures = _bot_figures(_encoder_root(artifacts_root, m) / "intents")
        runs[m].update(bots={bot: bot_summary(f) for bot, f in figures.items()}, bot_figures=figures)
    command = shlex.join(["shopkeep", *sys.argv[1:]])

    def as_json(run: dict) -> dict:
        return {**run, "results": [r.to_dict() for r in run["results"]]}

    if len(models) == 1:
        payload: dict = {"model": models[0], **as_json(runs[models[0]])}
        markdown = markdown_report(runs[models[0]]["results"], command=command)
    else:
        rows = comparison_rows(runs)
        payload = {"models": {m: as_json(run) for m, run in runs.items()}, "comparison": rows}
        markdown = comparison_markdown(runs, command=command)
        _print_comparison(rows, models)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(markdown)
    if json_stdout:
        typer.echo(json.dumps(payload, indent=1, ensure_ascii=False))


def _print_comparison(rows: list[dict], models: list[str]) -> None:
    table = Table(title="Encoders side by side")
    for col in ("", "figure", *models, "target"):
        table.add_column(col)
    for row in rows:
        vals = [("-" if row["values"].get(m) is None else f"{row['values'][m]:.2f}") for m in models]
        met = " ".join(f"{m}: " + ("[green]met[/green]" if ok else "[red]MISSED[/red]")
                       for m, ok in row.get("targets", {}).items())
        table.add_row(row["name"], row["figure"], *vals, met)
    Console(stderr=True, width=max(console.width, 180)).print(table)


def _print_table(reports: list, *, title: str = "Intent classification (test splits)") -> None:
    table = Table(title=title)
    for col in ("dataset", "mode", "acc", "macro-F1", "in-scope", "in-scope@thr", "oos recall", "published", "floor (LR)", "targets"):
        table.add_column(col)

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for r in reports:
        met = " ".join(("[green]met[/green]" if v else "[red]MISSED[/red]") for v in r.targets_met.values())
        table.add_row(
            r.dataset, r.mode, fmt(r.accuracy), fmt(r.macro_f1), fmt(r.in_scope_accuracy),
            fmt(r.in_scope_accuracy_at_threshold), fmt(r.oos_recall), r.published, r.floor, met,
        )
    # Wide enough for the published figures even when stderr is not a terminal.
    Console(stderr=True, width=max(console.width, 180)).print(table)
