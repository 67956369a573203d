"""The rows a monitoring report is computed from (`recovery_model.log.monitoring` reads them): the logged
predictions of a time span joined to the outcome each is linked to, and the card feedback. Reading them is audited
by the caller (who, when, how many rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from recovery_model.log.monitoring import card_feedback, input_column, outcomes_through, scored_with_outcomes
from recovery_model.log.store import PredictionLog
from recovery_model.schema import Schema

__all__ = ["MonitoringData", "input_column", "read_monitoring_data"]


@dataclass(frozen=True)
class MonitoringData:
    """`predictions`: one row per scored prediction in the span, with `event` (True, False, or missing when no
    outcome is linked to it) and the subgroup features' inputs (`input_column`); `feedback`: the card feedback;
    `outcomes_through`: the latest outcome time recorded at all (how far outcomes have arrived); `shadow`: a shadow
    model's predictions paired with the shown ones."""

    predictions: pd.DataFrame
    feedback: pd.DataFrame
    outcomes_through: pd.Timestamp | None
    log: PredictionLog
    schema: Schema
    shadow: pd.DataFrame | None = None  # a shadow model's predictions beside the shown ones (`shadow_pairs`)

    def inputs(self, ids: list[str]) -> pd.DataFrame:
        """The full logged inputs of these predictions, one column per feature, in the order of `ids`."""
        return self.log.inputs(ids, self.schema.feature_names)


def read_monitoring_data(log: PredictionLog, schema: Schema, since: datetime | None = None,
                         until: datetime | None = None) -> MonitoringData:
    """The scored predictions made in [since, until) (what-ifs and unscored rows left out), each with its outcome."""
    frame = scored_with_outcomes(log, [s.feature for s in schema.subgroups], since, until)
    return MonitoringData(frame, card_feedback(log), outcomes_through(log), log, schema,
                          log.shadow_pairs(since, until))
