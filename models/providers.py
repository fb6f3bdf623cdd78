"""Choose ONNX Runtime execution providers by probing, quietly.

On a CPU-only machine ``onnxruntime-gpu`` still lists the CUDA and TensorRT
providers; trying them there prints a wall of library-load errors. So CUDA is
only attempted when a GPU is visible (device nodes or ``nvidia-smi``), and
``preload_dlls()`` runs with ONNX Runtime's logger turned down.
"""

from __future__ import annotations

import glob
import logging
import shutil
import threading
from dataclasses import dataclass
from typing import Any

import onnxruntime as ort

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

_preload_lock = threading.Lock()
_preloaded = False

ProviderSpec = str | tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class ProviderPlan:
    """Providers to hand to ``InferenceSession``, most preferred first."""

    providers: tuple[ProviderSpec, ...]
    uses_cuda: bool


def gpu_visible() -> bool:
    """True when an NVIDIA GPU looks present, without loading any CUDA library."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or shutil.which("nvidia-smi") is not None


def cuda_usable() -> bool:
    """True when this ONNX Runtime build has CUDA and a GPU is visible."""
    return CUDA in ort.get_available_providers() and gpu_visible()


def _preload_cuda_libraries() -> None:
    global _preloaded
    with _preload_lock:
        if _preloaded:
            return
        preload = getattr(ort, "preload_dlls", None)
        if preload is not None:
            ort.set_default_logger_severity(3)
            try:
                preload()
            except (OSError, RuntimeError) as e:
                # The session will fall back to CPU; say why once.
                logger.warning("encoder: CUDA libraries could not be preloaded (%s)", e)
            finally:
                ort.set_default_logger_severity(2)
        _preloaded = True


def plan_providers(*, device: str = "auto", use_tensorrt: bool = False) -> ProviderPlan:
    """Decide which providers to try.

    Args:
        device: ``"auto"`` (CUDA when usable, else CPU), ``"cpu"`` or ``"cuda"``.
        use_tensorrt: put TensorRT ahead of CUDA when CUDA is used.

    Raises:
        ValueError: ``device`` is not one of the three names, or ``"cuda"`` was
            asked for where CUDA is not usable.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', not {device!r}")
    want_cuda = device == "cuda" or (device == "auto" and cuda_usable())
    if device == "cuda" and not cuda_usable():
        raise ValueError("device 'cuda' requested but no usable CUDA GPU / CUDA-enabled onnxruntime")
    if not want_cuda:
        return ProviderPlan(providers=(CPU,), uses_cuda=False)
    _preload_cuda_libraries()
    providers: list[ProviderSpec] = []
    if use_tensorrt and TENSORRT in ort.get_available_providers():
        providers.append((TENSORRT, {"trt_fp16_enable": True}))
    providers.extend([(CUDA, {}), CPU])
    return ProviderPlan(providers=tuple(providers), uses_cuda=True)
