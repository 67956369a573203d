"""What a monitoring report is computed from (`recovery_model.log.monitoring` reads it): the logged predictions of
a time span, one period at a time, each joined to the outcome linked to it, with its card feedback. The report
holds one period's numbers at once, never the log: a year of a health system's predictions reads in the memory of
its largest week. Reading is audited by the caller (who, when, how many rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from recovery_model.log.monitoring import (
    VALUE_COLUMNS,
    high_tier_patient_days,
    input_column,
    logged_span,
    outcomes_through,
    period_feedback,
    period_inputs,
    period_models,
    period_values,
    scored_with_outcomes,
)
from recovery_model.log.store import PredictionLog
from recovery_model.schema import Schema

__all__ = ["MonitoringData", "PeriodRows", "input_column", "read_monitoring_data", "read_prediction_rows"]

PERIODS = {"week": "W-SUN", "month": "M"}  # pandas' period codes: ISO weeks from Monday, calendar months


@dataclass(frozen=True)
class PeriodRows:
    """One period's scored predictions, one entry per prediction in each array: `risk`; `event` (1, 0, or NaN when
    no outcome is linked); `high` (in the high tier); `range_width`; `atypical` (1, 0 or NaN); `card` (a card was
    made); `inputs`: the subgroup features' logged values where an outcome is linked (read only when asked). And
    what the database counted over them: the models that scored them, the high-tier patient-days per ward and the
    feedback on their cards."""

    risk: np.ndarray
    event: np.ndarray
    high: np.ndarray
    range_width: np.ndarray
    atypical: np.ndarray
    card: np.ndarray
    inputs: dict[str, np.ndarray]
    models: list[tuple[str, str]]
    high_tier_patient_days: dict[str, int]
    feedback: pd.DataFrame

    @property
    def scored(self) -> int:
        return len(self.risk)

    @property
    def linked(self) -> np.ndarray:
        """Which predictions have an outcome linked."""
        known: np.ndarray = ~np.isnan(self.event)
        return known


@dataclass(frozen=True)
class MonitoringData:
    """The span [since, until) of one log, read one period at a time; `outcomes_through`: the latest outcome time
    recorded at all (how far outcomes have arrived); `shadow`: a shadow model's predictions paired with the shown
    ones."""

    log: PredictionLog
    schema: Schema
    since: datetime | None
    until: datetime | None
    outcomes_through: pd.Timestamp | None
    shadow: pd.DataFrame | None = None

    def period_starts(self, period: str) -> list[pd.Timestamp]:
        """The first moment (UTC) of every period of kind `period` that the span's predictions may fall in."""
        span = logged_span(self.log)
        if span is None:
            return []
        first = max(span[0], self.since) if self.since else span[0]
        last = min(span[1], self.until) if self.until else span[1]
        if first > last:
            return []
        naive = pd.period_range(pd.Timestamp(first).tz_convert(None), pd.Timestamp(last).tz_convert(None),
                                freq=PERIODS[period])
        return [start.tz_localize("UTC") for start in naive.start_time]

    def rows(self, start: pd.Timestamp, end: pd.Timestamp, with_inputs: bool) -> PeriodRows:
        """The scored predictions made in the period [start, end) (within the span); with `with_inputs`, the subgroup
        features' logged values too."""
        low, high = self._clipped(start, end)
        features = [s.feature for s in self.schema.subgroups]
        values = period_values(self.log, low, high, features, with_inputs)
        columns = dict(zip(VALUE_COLUMNS, values.T, strict=False))
        inputs = {feature: values[:, len(VALUE_COLUMNS) + i] for i, feature in enumerate(features)} \
            if with_inputs else {}
        return PeriodRows(risk=columns["risk"], event=columns["event"], high=columns["high"] == 1,
                          range_width=columns["range_width"], atypical=columns["atypical"],
                          card=columns["card"] == 1, inputs=inputs,
                          models=period_models(self.log, low, high),
                          high_tier_patient_days=high_tier_patient_days(self.log, low, high),
                          feedback=period_feedback(self.log, low, high))

    def inputs(self, start: pd.Timestamp, end: pd.Timestamp, positions: np.ndarray | None = None) -> pd.DataFrame:
        """The full logged inputs of the period's scored predictions, one column per feature, by time, run and input
        row; `positions`: only those at these places in that order, in the order given."""
        low, high = self._clipped(start, end)
        return period_inputs(self.log, low, high, self.schema.feature_names,
                             None if positions is None else positions.tolist())

    def _clipped(self, start: pd.Timestamp, end: pd.Timestamp) -> tuple[datetime, datetime]:
        low = max(start, pd.Timestamp(self.since)) if self.since else start
        high = min(end, pd.Timestamp(self.until)) if self.until else end
        return low.to_pydatetime(), high.to_pydatetime()


def read_monitoring_data(log: PredictionLog, schema: Schema, since: datetime | None = None,
                         until: datetime | None = None) -> MonitoringData:
    """The span [since, until) of the log, ready to be read period by period."""
    return MonitoringData(log, schema, since, until, outcomes_through(log), log.shadow_pairs(since, until))


def read_prediction_rows(log: PredictionLog, schema: Schema, since: datetime | None = None,
                         until: datetime | None = None) -> pd.DataFrame:
    """Every scored prediction made in [since, until) as a row (what an export writes out; what-ifs and unscored
    rows left out), oldest first, with `event` (True, False, or missing when no outcome is linked) and the subgroup
    features' inputs (`input_column`)."""
    return scored_with_outcomes(log, [s.feature for s in schema.subgroups], since, until)
