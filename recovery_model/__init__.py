"""recovery: a calibrated risk of not recovering after treatment, with the reasons behind it.

The Predictor, explanations and the synthetic cohort load on first use, so that importing the package
(for the schema, thresholds or errors) does not import torch: a page that only describes the model
starts faster.
"""

from importlib import import_module
from typing import Any

from recovery_model.errors import CheckpointError, DataValidationError, ParameterError, RecoveryError, SchemaError
from recovery_model.schema import Feature, Schema, load_schema
from recovery_model.scoring.thresholds import Thresholds, Tier

_LAZY = {"Assessment": "recovery_model.scoring.assessment", "RankedWard": "recovery_model.scoring.assessment",
         "Explanation": "recovery_model.model.explain", "Predictor": "recovery_model.scoring.predictor",
         "ModelSummary": "recovery_model.evaluation.summary", "Format": "recovery_model.readers.formats",
         "read_patients": "recovery_model.readers.table", "generate_cohort": "recovery_model.cohort",
         "true_risk": "recovery_model.cohort"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recovery_model' has no attribute '{name}'")


__all__ = ["Assessment", "CheckpointError", "DataValidationError", "Explanation", "Feature", "Format", "ModelSummary",
           "ParameterError", "Predictor", "RankedWard", "RecoveryError", "Schema", "SchemaError", "Thresholds", "Tier",
           "generate_cohort", "load_schema", "read_patients", "true_risk"]
