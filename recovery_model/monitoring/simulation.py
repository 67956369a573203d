"""A deployment simulated end to end, to test the monitor and to show it at work.

Every week for `months` months a ward is drawn from the synthetic generator, shown to the model as its records
hold it (the record view, as the default model is trained: `records=False` scores the complete rows), scored and logged
with its index time (as `recovery predict --as-of` would), and each patient's outcome is drawn from the oracle
and imported some days later (as `recovery outcomes` would). From `drift_from_month` on, the world changes under
the model: the outcomes are drawn with the oracle's log-odds shifted by `shift`, so the model's risks are no
longer calibrated. The monitor must alert from then on, and not before.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model.cohort import generate_cohort, risk_logit
from recovery_model.log.outcomes import OUTCOME_TIME, import_outcomes
from recovery_model.log.records import Context, Source, prediction_records
from recovery_model.log.shadow import shadow_records
from recovery_model.log.store import PredictionLog
from recovery_model.parameters import POSITIVE_COUNT, check
from recovery_model.record_view import record_view
from recovery_model.scoring.predictor import Predictor

OUTCOME_DAYS = (1, 14)  # an outcome is known this many days after the prediction (uniform)


@dataclass(frozen=True)
class Deployment:
    """The simulated deployment's settings. `start` is a Monday (UTC); months are 4 weeks and a bit."""

    months: int = 6
    drift_from_month: int = 4
    shift: float = 1.0
    patients_per_week: int = 200
    wards: int = 2
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    seed: int = 0
    records: bool = True

    def __post_init__(self) -> None:
        for name in ("months", "drift_from_month", "patients_per_week", "wards"):
            check(name, getattr(self, name), POSITIVE_COUNT)

    @property
    def drift_start(self) -> datetime:
        """The first day of the drifted month (calendar months from the start's month)."""
        month = self.start.month - 1 + self.drift_from_month - 1
        return datetime(self.start.year + month // 12, month % 12 + 1, 1, tzinfo=UTC)

    def weeks(self) -> list[datetime]:
        end_month = self.start.month - 1 + self.months
        end = datetime(self.start.year + end_month // 12, end_month % 12 + 1, 1, tzinfo=UTC)
        count = (end - self.start).days // 7
        return [self.start + timedelta(weeks=w) for w in range(count)]


def simulate_deployment(log: PredictionLog, predictor: Predictor, deployment: Deployment,
                        shadow: Predictor | None = None) -> dict[str, int]:
    """Log the predictions and import the outcomes of the whole deployment; the counts. With a `shadow`, every
    patient is also scored by it, logged beside and never shown, as `recovery models shadow` does."""
    schema = predictor.schema
    target = schema.target
    rng = np.random.default_rng(deployment.seed)
    outcomes = []
    predicted = 0
    for number, week in enumerate(deployment.weeks()):
        ward = generate_cohort(deployment.patients_per_week, seed=deployment.seed * 10_000 + number, schema=schema)
        ward.insert(0, schema.id_column, [f"SIM{number:03d}-{i:04d}" for i in range(len(ward))])
        when = week + timedelta(hours=float(rng.uniform(0, 24 * 6)))
        shown = record_view(ward, deployment.seed * 10_000 + number, schema) if deployment.records else ward
        ranked = predictor.rank(shown.drop(columns=[target.name]), explain=False)
        for ward_number in range(deployment.wards):
            rows = ranked.ranked.iloc[ward_number::deployment.wards]
            context = Context.for_model(predictor, Source.CLI_PREDICT, predicted_at=when,
                                        ward=f"simulated ward {ward_number + 1}")
            predicted += log.write(prediction_records(rows, schema, context))
            if shadow is not None:
                log.write(shadow_records(shadow, rows, context))
        logit = risk_logit(ward) + (deployment.shift if when >= deployment.drift_start else 0.0)
        event = rng.random(len(ward)) < 1 / (1 + np.exp(-logit))
        delay = rng.uniform(*OUTCOME_DAYS, len(ward))
        outcomes.append(pd.DataFrame({
            schema.id_column: ward[schema.id_column],
            OUTCOME_TIME: [(when + timedelta(days=float(d))).isoformat() for d in delay],
            target.name: np.where(event, target.event_value, 1 - target.event_value)}))
    with tempfile.TemporaryDirectory(prefix="recovery-simulation-") as scratch:
        path = Path(scratch) / "outcomes.csv"
        pd.concat(outcomes, ignore_index=True).to_csv(path, index=False)
        imported = import_outcomes(log, path, schema, window_days=OUTCOME_DAYS[1] + 1)
    return {"weeks": len(deployment.weeks()), "predictions": predicted, "outcomes": imported.recorded,
            "linked": imported.linked}

