"""The encoder build manifest: what was built, from what, and how well it matched.

``shopkeep models build`` writes ``artifacts/encoder/manifest.json``; the runtime
reads it to pick the graph to serve and ``shopkeep models info`` shows it. The
file is plain JSON so a person (or CI) can read it without Shopkeep installed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import ModelNotBuilt

MANIFEST_NAME = "manifest.json"
TOKENIZER_NAME = "tokenizer.json"
GRAPH_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ParityReport(_Frozen):
    """Cosine agreement between two encoders over the same sentences."""

    reference: str
    min_cosine: float
    mean_cosine: float
    n_sentences: int
    batch_sizes: tuple[int, ...]
    max_tokens: int
    sentences_from: str | None = None  # where the sentences were drawn from (None: an older build)


class QuantAttempt(_Frozen):
    """One int8 quantisation scheme tried by the gate, with its figures."""

    scheme: str
    description: str
    min_cosine: float
    mean_cosine: float
    accuracy: float | None = None
    passed: bool
    reason: str


class Int8Gate(_Frozen):
    """Outcome of the int8 gate. ``selected_scheme`` is None when no scheme passed."""

    min_cosine_required: float
    max_accuracy_drop_pt: float
    accuracy_fp32: float | None
    accuracy_dataset: str | None
    attempts: tuple[QuantAttempt, ...]
    selected_scheme: str | None
    # Builds before the datasets shipped in the repository skipped the gate without
    # them; such a manifest is rebuilt (see models.export.is_up_to_date).
    skipped_reason: str | None = None


class GraphInfo(_Frozen):
    file: str
    sha256: str
    size_bytes: int


class EncoderManifest(_Frozen):
    """Everything ``manifest.json`` records about one encoder build."""

    format_version: int = 1
    export_code_version: str
    source_model_dir: str
    source_model_name: str
    source_sha256: str
    model_type: str
    opset: int
    hidden_dim: int
    max_seq_len: int
    graph_optimizer: str
    graphs: dict[str, GraphInfo]
    parity: ParityReport
    int8_gate: Int8Gate | None
    selected_variant: str
    built_at: str
    build_seconds: float
    versions: dict[str, str]
    stage_seconds: dict[str, float] = {}
    # Text prepended before tokenising (e5: "query: " / "passage: "); empty for encoders without prompts.
    query_prefix: str = ""
    passage_prefix: str = ""

    def graph_path(self, encoder_dir: Path, variant: str) -> Path:
        """Path of ``variant``'s graph inside ``encoder_dir``.

        Raises:
            ModelNotBuilt: the variant was not built or its file is gone.
        """
        info = self.graphs.get(variant)
        if info is None:
            raise ModelNotBuilt(f"{encoder_dir} (variant {variant!r} not built; have {sorted(self.graphs)})")
        path = encoder_dir / info.file
        if not path.is_file():
            raise ModelNotBuilt(str(path))
        return path


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(encoder_dir: Path) -> EncoderManifest:
    """Load ``encoder_dir/manifest.json``.

    Raises:
        ModelNotBuilt: the manifest is missing or unreadable (a rebuild fixes both).
    """
    path = encoder_dir / MANIFEST_NAME
    try:
        return EncoderManifest.model_validate_json(path.read_bytes())
    except FileNotFoundError as e:
        raise ModelNotBuilt(str(encoder_dir)) from e
    except (ValidationError, ValueError) as e:
        raise ModelNotBuilt(f"{path} (unreadable manifest: {e.__class__.__name__})") from e


def write_manifest(encoder_dir: Path, manifest: EncoderManifest) -> Path:
    """Write the manifest atomically (a reader never sees half a file)."""
    path = encoder_dir / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
