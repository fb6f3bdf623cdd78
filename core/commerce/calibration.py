"""Similarity thresholds per encoder.

Cosines sit at different heights for different models: all-MiniLM-L6-v2 puts unrelated words near
0.2-0.5, multilingual-e5-small (trained with a low temperature) near 0.75-0.85. A floor fitted on one
is meaningless on the other, so every dense-similarity threshold the finder uses is read from
``data/encoders.yaml`` by the model the encoder runs (its build manifest's ``source_model_name``).
An encoder the file does not list gets the first entry's values, with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from core.protocols import TextEncoder, encoder_model_name

logger = logging.getLogger(__name__)

CALIBRATION_PATH = Path(__file__).resolve().parent / "data" / "encoders.yaml"


@dataclass(frozen=True)
class SimilarityCalibration:
    """The finder's dense-similarity thresholds for one encoder.

    Attributes:
        model: the model these values were fitted for.
        noun_meaning_floor: mean of a product noun's best cosine to an offered product and to a
            catalogue word above which the shop sells something of that kind
            (:meth:`core.commerce.finder.ProductFinder._close_in_meaning`).
        semantic_scale: what a query's cosines are multiplied by in the finder's blend, so that their
            spread over the products weighs as much against the keyword score and the constraint
            bonuses as it was tuned to on MiniLM (whose scale is 1).
    """

    model: str
    noun_meaning_floor: float
    semantic_scale: float = 1.0


@cache
def _table(path: Path = CALIBRATION_PATH) -> dict[str, SimilarityCalibration]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {str(name): SimilarityCalibration(model=str(name), noun_meaning_floor=float(v["noun_meaning_floor"]),
                                             semantic_scale=float(v.get("semantic_scale", 1.0)))
            for name, v in doc["encoders"].items()}


def calibration_for(encoder: TextEncoder) -> SimilarityCalibration:
    """The thresholds fitted for the model ``encoder`` runs (the first listed one when unknown)."""
    table = _table()
    name = encoder_model_name(encoder)
    if name in table:
        return table[name]
    default = next(iter(table.values()))
    if name:
        logger.warning("no similarity calibration for encoder %r in %s; using %r's", name, CALIBRATION_PATH.name,
                       default.model)
    return default
