"""Fixtures for the encoder tests: the built artifacts and encoders over them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.encoder import OnnxEncoder
from models.manifest import EncoderManifest, read_manifest


@pytest.fixture(scope="session")
def encoder_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / "encoder"


@pytest.fixture(scope="session")
def encoder_manifest(encoder_dir: Path) -> EncoderManifest:
    return read_manifest(encoder_dir)


@pytest.fixture(scope="session")
def fp32_encoder(encoder_dir: Path) -> Iterator[OnnxEncoder]:
    encoder = OnnxEncoder.from_artifacts(encoder_dir, variant="fp32", device="cpu")
    yield encoder
    encoder.close()


@pytest.fixture
def served_encoder(encoder_dir: Path) -> Iterator[OnnxEncoder]:
    """The variant the manifest selects, with its own micro-batcher per test."""
    encoder = OnnxEncoder.from_artifacts(encoder_dir, device="cpu", batch_max_wait_ms=5.0)
    yield encoder
    encoder.close()
