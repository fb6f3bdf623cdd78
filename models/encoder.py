"""The serving-path sentence encoder: ONNX Runtime + ``tokenizers``, no torch.

``OnnxEncoder.from_artifacts(settings.encoder_artifacts_dir / "encoder")`` loads what
``shopkeep models build`` produced. ``embed_sync`` runs inline (CLIs, index
building); ``await embed`` goes through a :class:`~models.batcher.MicroBatcher`
so concurrent conversations share forward passes and the event loop never
runs inference itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self, cast

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from core.errors import ModelNotBuilt
from core.protocols import CacheStats
from models.batcher import MicroBatcher
from models.cache import EmbeddingCache
from models.manifest import TOKENIZER_NAME, EncoderManifest, read_manifest
from models.providers import plan_providers

if TYPE_CHECKING:
    from models.openvino_int8 import OpenVinoSession

logger = logging.getLogger(__name__)

# int8 graphs use CPU-only integer kernels; on a GPU the fp32 graph is served.
_CPU_ONLY_VARIANTS = frozenset({"int8"})


class OnnxEncoder:
    """Sentence encoder over an exported ONNX graph (implements ``core.protocols.TextEncoder``).

    Prefer :meth:`from_artifacts`. The constructor takes explicit paths so the
    build and the int8 gate can evaluate graphs that are not yet selected.

    Args:
        model_path: ONNX graph with inputs ``input_ids``/``attention_mask``
            and output ``embedding``.
        tokenizer_path: ``tokenizer.json`` for the ``tokenizers`` package.
        max_seq_len: truncation length in tokens, special tokens included.
        variant: label for logs and metrics (``"fp32"``, ``"int8"``...).
        manifest: the build manifest, when loaded from artifacts.
        intra_op_threads: ONNX Runtime intra-op threads; 0 lets it decide.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see :mod:`models.providers`).
        use_tensorrt: try TensorRT ahead of CUDA.
        batch_max_size: largest inference batch (``embed_sync`` chunks and the
            micro-batcher both respect it).
        batch_max_wait_ms: how long the micro-batcher waits to fill a batch.
        cache_size: texts whose embeddings :meth:`embed` keeps (0: no cache).
        query_prefix: prepended to queries (:meth:`embed`, :meth:`embed_sync`);
            e5 wants ``"query: "``. Defaults to the manifest's.
        passage_prefix: prepended to documents (:meth:`embed_passages`,
            :meth:`embed_passages_sync`); e5 wants ``"passage: "``.
        backend: ``"onnxruntime"``, ``"openvino"`` or ``"openvino-bf16"`` (CPU only,
            the ``openvino`` extra; see :mod:`models.openvino_int8`).

    Raises:
        ModelNotBuilt: a file is missing.
    """

    def __init__(
        self,
        *,
        model_path: Path,
        tokenizer_path: Path,
        max_seq_len: int = 128,
        variant: str = "fp32",
        manifest: EncoderManifest | None = None,
        intra_op_threads: int = 0,
        device: str = "auto",
        use_tensorrt: bool = False,
        batch_max_size: int = 64,
        batch_max_wait_ms: float = 2.0,
        cache_size: int = 0,
        query_prefix: str | None = None,
        passage_prefix: str | None = None,
        backend: str = "onnxruntime",
    ) -> None:
        for path in (model_path, tokenizer_path):
            if not Path(path).is_file():
                raise ModelNotBuilt(str(path))
        if max_seq_len < 2:
            raise ValueError("max_seq_len must be >= 2 (room for the special tokens)")
        if batch_max_size < 1:
            raise ValueError("batch_max_size must be >= 1")
        self.variant = variant
        self.manifest = manifest
        self.query_prefix = query_prefix if query_prefix is not None else (manifest.query_prefix if manifest else "")
        self.passage_prefix = (passage_prefix if passage_prefix is not None
                               else (manifest.passage_prefix if manifest else ""))
        self.max_seq_len = max_seq_len
        self.batch_max_size = batch_max_size
        self._cache = EmbeddingCache(cache_size) if cache_size > 0 else None

        self._tokenizer = open_tokenizer(tokenizer_path, max_seq_len)

        self._run_lock = threading.Lock()
        self._session: ort.InferenceSession | None = None
        self._openvino: OpenVinoSession | None = None
        if backend in ("openvino", "openvino-bf16"):
            from models.openvino_int8 import OpenVinoSession

            try:
                self._openvino = OpenVinoSession(Path(model_path), threads=intra_op_threads,
                                                 precision="bf16" if backend == "openvino-bf16" else "f32")
            except Exception as e:  # OpenVINO raises RuntimeError subclasses of its own
                raise ModelNotBuilt(f"{model_path} (OpenVINO could not load it: {e})") from e
            self.provider: str = "OpenVINO:CPU"
            dim: object = None
        elif backend == "onnxruntime":
            options = ort.SessionOptions()
            options.intra_op_num_threads = intra_op_threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            plan = plan_providers(device="cpu" if variant in _CPU_ONLY_VARIANTS else device,
                                  use_tensorrt=use_tensorrt)
            try:
                self._session = ort.InferenceSession(str(model_path), options, providers=list(plan.providers))
            except Exception as e:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
                raise ModelNotBuilt(f"{model_path} (could not be loaded: {e})") from e
            self.provider = self._session.get_providers()[0]
            dim = self._session.get_outputs()[0].shape[-1]
        else:
            raise ValueError(f"unknown encoder backend {backend!r}; choose onnxruntime or openvino")
        self.backend = backend
        if not isinstance(dim, int):
            # A symbolic output width: run one tiny batch to learn it.
            dim = int(self._run([[1, 2]]).shape[-1])
        self.dim: int = dim
        self._fingerprint = _fingerprint(Path(model_path), variant, manifest, self.query_prefix, self.passage_prefix)
        self._batcher: MicroBatcher | None = None
        self._batcher_wait_ms = batch_max_wait_ms
        self._batcher_lock = threading.Lock()
        threads = intra_op_threads if intra_op_threads > 0 else "auto"
        logger.info("encoder: %s (%s, threads=%s)", self.provider, variant, threads)

    @classmethod
    def from_artifacts(
        cls,
        path: Path,
        *,
        max_seq_len: int = 128,
        variant: str | None = None,
        intra_op_threads: int = 0,
        use_tensorrt: bool = False,
        batch_max_size: int = 64,
        batch_max_wait_ms: float = 2.0,
        device: str = "auto",
        cache_size: int = 0,
        backend: str | None = None,
    ) -> OnnxEncoder:
        """Load a built encoder.

        Args:
            path: ``artifacts/encoder`` (or the ``artifacts`` folder above it).
            variant: ``"fp32"`` or ``"int8"``; None serves the manifest's
                selection (fp32 when running on CUDA, since int8 kernels are CPU-only).
            backend: ``"onnxruntime"``, ``"openvino"`` or ``"openvino-bf16"``; None
                reads ``SHOPKEEP_ENCODER_BACKEND`` (default onnxruntime). OpenVINO runs
                on the CPU only: its int8 graph (``models.openvino_int8``) when built
                and gated, else the fp32 graph; ``openvino-bf16`` runs the fp32 graph
                in bf16 (AMX / AVX-512 BF16 CPUs). Both fall back to ONNX Runtime
                (logged) when OpenVINO is not installed or the encoder runs on a GPU.

        Raises:
            ModelNotBuilt: artifacts missing or the variant was not built.
            ValueError: ``backend`` (or the variable) names no backend.
        """
        from models.openvino_int8 import OV_INT8_VARIANT, openvino_available, requested_backend

        backend = requested_backend(backend)
        path = Path(path)
        if not (path / "manifest.json").exists() and (path / "encoder" / "manifest.json").exists():
            path = path / "encoder"
        manifest = read_manifest(path)
        if variant is None:
            variant = manifest.selected_variant
            if variant in _CPU_ONLY_VARIANTS and device != "cpu":
                from models.providers import cuda_usable

                if device == "cuda" or cuda_usable():
                    variant = "fp32"
        if backend in ("openvino", "openvino-bf16"):
            if device == "auto":
                from models.providers import cuda_usable

                device = "cuda" if cuda_usable() else "cpu"
            backend, variant, model_path = _openvino_choice(path, manifest, variant, device,
                                                            installed=openvino_available(), backend=backend)
        elif variant == OV_INT8_VARIANT:
            raise ModelNotBuilt(f"{path} (variant {variant!r} is served by the openvino backend only)")
        else:
            model_path = manifest.graph_path(path, variant)
        return cls(
            model_path=model_path,
            tokenizer_path=path / TOKENIZER_NAME,
            max_seq_len=max_seq_len,
            variant=variant,
            manifest=manifest,
            intra_op_threads=intra_op_threads,
            device=device,
            use_tensorrt=use_tensorrt,
            batch_max_size=batch_max_size,
            batch_max_wait_ms=batch_max_wait_ms,
            cache_size=cache_size,
            backend=backend,
        )

    # --- TextEncoder ------------------------------------------------------
    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (user messages, intent examples), blocking.

        Returns ``(n, dim)`` float32, rows L2-normalised. Texts are sorted by
        token length and run in chunks of at most ``batch_max_size`` so short
        texts are not padded to long ones.

        Raises:
            TypeError: ``texts`` is a bare string or holds non-strings.
        """
        return self._embed_raw(_prefixed(self.query_prefix, _check_texts(texts)))

    def embed_passages_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents (products, policy and procedure passages), blocking."""
        return self._embed_raw(_prefixed(self.passage_prefix, _check_texts(texts)))

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries off the event loop through the shared micro-batcher (cached texts skip it)."""
        return await self._embed_async(_prefixed(self.query_prefix, _check_texts(texts)))

    async def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed documents off the event loop through the shared micro-batcher."""
        return await self._embed_async(_prefixed(self.passage_prefix, _check_texts(texts)))

    def _embed_raw(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        ids = [e.ids for e in encodings]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_max_size):
            chunk = order[start : start + self.batch_max_size]
            out[chunk] = self._run([ids[i] for i in chunk])
        return out

    async def _embed_async(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cache = self._cache
        if cache is None:
            return await self.batcher.submit_many(texts)
        rows = [cache.get(text) for text in texts]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            fresh = await self.batcher.submit_many([texts[i] for i in missing])
            for i, row in zip(missing, fresh):
                cache.put(texts[i], row)
                rows[i] = row
        return np.stack(cast(list[np.ndarray], rows))  # every miss was filled above

    def cache_stats(self) -> CacheStats | None:
        """Hits, misses and size of the embedding cache; None when there is none."""
        return None if self._cache is None else self._cache.stats()

    @property
    def batcher(self) -> MicroBatcher:
        """The micro-batcher behind :meth:`embed`, started on first use."""
        with self._batcher_lock:
            if self._batcher is None or self._batcher.closed:
                self._batcher = MicroBatcher(
                    run_batch=self._embed_raw,  # texts arrive with their prefix
                    max_batch_size=self.batch_max_size,
                    max_wait_ms=self._batcher_wait_ms,
                )
            return self._batcher

    def close(self) -> None:
        """Stop the micro-batcher (pending requests finish first)."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()

    async def aclose(self) -> None:
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            await batcher.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals --------------------------------------------------------
    def _run(self, ids: list[list[int]]) -> np.ndarray:
        input_ids, mask = pad_batch(ids)
        feed = {"input_ids": input_ids, "attention_mask": mask}
        # One run at a time: parallel runs would only fight over the same cores.
        with self._run_lock:
            if self._openvino is not None:
                return self._openvino.run(feed)
            assert self._session is not None
            (embedding,) = self._session.run(["embedding"], feed)
        return np.asarray(embedding, dtype=np.float32)

    @property
    def model_name(self) -> str:
        """The source model's name from the manifest (``intfloat/multilingual-e5-small``); "" without one."""
        return self.manifest.source_model_name if self.manifest else ""

    @property
    def fingerprint(self) -> str:
        """Names the graph's weights and prefixes (cached vectors are keyed by it; see ``NamedEncoder``)."""
        return self._fingerprint

    def __repr__(self) -> str:
        return f"OnnxEncoder(variant={self.variant!r}, provider={self.provider!r}, dim={self.dim})"


def _openvino_choice(
    encoder_dir: Path,
    manifest: EncoderManifest,
    variant: str,
    device: str,
    *,
    installed: bool,
    backend: str = "openvino",
) -> tuple[str, str, Path]:
    """``(backend, variant, graph)`` when OpenVINO was asked for; falls back to ONNX Runtime (logged)."""
    from models.openvino_int8 import OV_BF16_VARIANT, OV_INT8_VARIANT, int8_graph

    if device == "cuda":
        logger.warning("encoder: OpenVINO runs on the CPU only; ONNX Runtime serves the GPU")
        variant = variant if variant not in (OV_INT8_VARIANT, OV_BF16_VARIANT) else "fp32"
        return "onnxruntime", variant, manifest.graph_path(encoder_dir, variant)
    if not installed:
        logger.warning("encoder: SHOPKEEP_ENCODER_BACKEND=%s but OpenVINO is not installed "
                       "(pip install -e '.[openvino]'); serving with ONNX Runtime", backend)
        if variant in (OV_INT8_VARIANT, OV_BF16_VARIANT):
            variant = manifest.selected_variant
        return "onnxruntime", variant, manifest.graph_path(encoder_dir, variant)
    if backend == "openvino-bf16":
        return backend, OV_BF16_VARIANT, manifest.graph_path(encoder_dir, "fp32")
    if variant in ("int8", OV_INT8_VARIANT):
        graph = int8_graph(encoder_dir, manifest)
        if graph is not None:
            return "openvino", OV_INT8_VARIANT, graph
        if variant == OV_INT8_VARIANT:
            raise ModelNotBuilt(f"{encoder_dir} (no gated OpenVINO int8 graph: python -m models.openvino_int8 build)")
        logger.info("encoder: no gated OpenVINO int8 graph; OpenVINO serves the fp32 graph")
    # OpenVINO reads the fp32 ONNX graph itself; other ORT-only graphs (MatMulNBits) are not its to run.
    return "openvino", "fp32", manifest.graph_path(encoder_dir, "fp32")


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a single string")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
    return out


def _prefixed(prefix: str, texts: list[str]) -> list[str]:
    return [prefix + text for text in texts] if prefix else texts


def default_threads() -> int:
    """CPU cores this process may use (what ORT's 'auto' roughly amounts to)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


__all__ = ["OnnxEncoder", "default_threads"]


def open_tokenizer(path: Path, max_seq_len: int) -> Tokenizer:
    """The fast tokenizer, truncating at ``max_seq_len``; batches are padded by :func:`pad_batch`."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as e:  # the tokenizers library raises a bare Exception for a truncated or invalid file
        raise ModelNotBuilt(f"{path} (unreadable tokenizer: {e})") from e
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_len)
    return tokenizer


def pad_batch(ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """``(input_ids, attention_mask)`` padded to the longest row (pad id 0, masked out)."""
    width = max(len(row) for row in ids)
    input_ids = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        input_ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return input_ids, mask


def _fingerprint(model_path: Path, variant: str, manifest: EncoderManifest | None, query_prefix: str,
                 passage_prefix: str) -> str:
    """The graph's sha256 from the manifest (or its path, size and time without one), variant and prefixes."""
    info = manifest.graphs.get(variant) if manifest is not None else None
    if info is not None:
        weights = info.sha256
    else:
        stat = model_path.stat()
        weights = f"{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    text = f"{weights}|{variant}|{query_prefix}|{passage_prefix}"
    return f"onnx-{hashlib.sha256(text.encode()).hexdigest()[:16]}"
