"""A shadow model's records: the rows the model in use scored, scored again by the shadow and logged beside them
(the same run, the same row numbers, source `shadow`), never shown to anyone. The monitor pairs them by run and row
to compare the two models on the same patients (`PredictionLog.shadow_pairs`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from recovery_model.log.records import Context, Source, prediction_records
from recovery_model.scoring.columns import ROW

if TYPE_CHECKING:
    from recovery_model.scoring.predictor import Predictor


def shadow_records(shadow: Predictor, rows: pd.DataFrame, context: Context) -> dict[str, list[Any]]:
    """`rows` (as the model in use's assessment or ranking gives them) scored by `shadow`, as records of the same
    run; the context is the model in use's, its source and model replaced."""
    schema = shadow.schema
    inputs = rows[[c for c in (schema.id_column, *schema.feature_names) if c in rows]].reset_index(drop=True)
    assessed = shadow.assess(inputs, explain=False).rows
    if ROW in rows:
        assessed[ROW] = rows[ROW].to_numpy()
    if "ward" in rows and "ward" not in assessed:
        assessed["ward"] = rows["ward"].to_numpy()
    return prediction_records(assessed, schema, replace(context, source=Source.SHADOW, model_version=shadow.version,
                                                        model_digest=shadow.digest))
