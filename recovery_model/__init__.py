"""recovery: a calibrated risk of not recovering after treatment, with the reasons behind it."""

from recovery_model.cohort import generate_cohort, true_risk
from recovery_model.errors import CheckpointError, DataValidationError, RecoveryError
from recovery_model.explain import Explanation
from recovery_model.predictor import Predictor, RankedWard, Thresholds
from recovery_model.schema import Feature, Schema, SchemaError, load_schema

__all__ = ["CheckpointError", "DataValidationError", "Explanation", "Feature", "Predictor", "RankedWard",
           "RecoveryError", "Schema", "SchemaError", "Thresholds", "generate_cohort", "load_schema", "true_risk"]
