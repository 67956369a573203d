"""A synthetic cohort in the seed's schema whose true risk of non-recovery is known exactly.

`generate_cohort` draws correlated, clinically plausible patients and then draws each
outcome from `true_risk`, the generator's own risk model (the *oracle*). Because the
oracle is known, we can say how close any model comes to the best possible on this data.
The risk model is documented in docs/datasheet.md; keep the two in step.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from recovery_model.schema import Schema, load_schema

# Log-odds of non-recovery. Every term is written against the schema's feature names.
INTERCEPT = -5.20


def _hinge(x: np.ndarray, knot: float) -> np.ndarray:
    return np.maximum(0.0, x - knot)


def risk_logit(features: pd.DataFrame) -> np.ndarray:
    """The oracle's log-odds of non-recovery for each row (see docs/datasheet.md)."""
    f = {name: features[name].to_numpy(dtype=float) for name in _risk_inputs()}
    age, spo2, bmi = f["age"], f["oxygen_level"], f["bmi"]
    sbp, hr, glucose = f["blood_pressure"], f["heart_rate"], f["sugar_level"]
    conditions, days = f["previous_conditions"], f["days_hospitalized"]
    smoker, alcohol = f["smoker"], f["alcohol_use"]
    adherence, followup = f["medication_adherence"], f["followup_visits"]
    intensity, stress = f["treatment_intensity"], f["stress_level"]

    hypoxaemia = _hinge(93.0 - spo2, 0.0)                       # threshold: risk climbs below 93 %
    logit = (
        INTERCEPT
        + 0.030 * (age - 60.0) + 0.0020 * _hinge(age, 70.0) ** 2  # accelerates after 70
        + 0.40 * hypoxaemia
        + 0.018 * (bmi - 25.0) ** 2                              # U-shape: under- and overweight
        + 1.40 / (1.0 + np.exp(-(glucose - 180.0) / 12.0))       # step above ~180 mg/dL
        + 0.070 * _hinge(100.0 - sbp, 0.0)                       # hypotension
        + 0.015 * _hinge(sbp, 160.0)                             # severe hypertension
        + 0.025 * _hinge(hr, 100.0)                              # tachycardia
        + 0.22 * conditions
        + 0.035 * days
        + 0.45 * smoker
        + 0.30 * alcohol
        + 0.06 * (stress - 5.0)
        - 0.10 * (adherence - 7.0)
        - 0.55 * np.log1p(followup)                              # diminishing returns
        - 0.10 * (intensity - 3.0)
        + 0.20 * smoker * hypoxaemia                             # interaction: smoking x hypoxaemia
        - 0.05 * conditions * (adherence - 7.0)                  # interaction: adherence x comorbidity
        + 0.008 * (age - 60.0) * conditions                      # interaction: age x comorbidity
    )
    return logit


def true_risk(features: pd.DataFrame) -> np.ndarray:
    """P(recovered = 0 | features) under the generator's risk model: the oracle."""
    missing = [c for c in _risk_inputs() if c not in features.columns]
    if missing:
        raise KeyError(f"true_risk needs the columns {missing}.")
    return 1.0 / (1.0 + np.exp(-risk_logit(features)))


def generate_cohort(n_rows: int, seed: int, schema: Schema | None = None) -> pd.DataFrame:
    """`n_rows` synthetic patients: features in schema order and dtypes, then `recovered`.

    Deterministic for a given seed. Outcomes are drawn from `true_risk` of the rows as stored
    (after rounding), so the oracle is exact for every row of the returned frame.
    """
    if n_rows < 0:
        raise ValueError("n_rows must be non-negative.")
    schema = schema or load_schema()
    rng = np.random.default_rng(seed)
    frame = _draw_features(n_rows, rng)
    frame = _to_schema_dtypes(frame, schema)
    risk = true_risk(frame)
    frame[schema.target.name] = np.where(rng.random(n_rows) < risk, schema.target.event_value,
                                         1 - schema.target.event_value).astype(np.int64)
    return frame[schema.columns]


@cache
def _risk_inputs() -> tuple[str, ...]:
    """The features the oracle reads: the packaged schema's, parsed once."""
    return tuple(load_schema().feature_names)


# The generator's conditional distributions, one per feature in the order they are drawn. The record view's
# observed-value oracle (recovery_model.record_view) weighs draws with the same formulas, so each lives here once.
HEART_RATE_SD, INTENSITY_SD, STRESS_SD, ADHERENCE_SD, SPO2_TAIL = 12.0, 0.9, 2.0, 1.9, 1.9
LIMITS = {"bmi": (15.0, 55.0), "blood_pressure": (70.0, 230.0), "oxygen_level": (70.0, 100.0),
          "heart_rate": (38.0, 180.0), "sugar_level": (55.0, 500.0), "cholesterol": (100.0, 400.0),
          "days_hospitalized": (1, 30), "treatment_intensity": (1, 5), "stress_level": (1, 10),
          "medication_adherence": (0, 10), "followup_visits": (0, 10)}


def alcohol_probability(smoker: np.ndarray) -> np.ndarray:
    return 0.12 + 0.10 * smoker


def spo2_ceiling(age: np.ndarray, conditions: np.ndarray, smoker: np.ndarray) -> np.ndarray:
    """SpO2 is this minus an exponential tail (mean SPO2_TAIL), clipped."""
    return 98.8 - 0.025 * (age - 18.0) - 0.35 * conditions - 0.9 * smoker


def heart_rate_mean(spo2: np.ndarray) -> np.ndarray:
    return 74.0 + 1.2 * (97.0 - spo2)


def diabetic_probability(bmi: np.ndarray, age: np.ndarray, conditions: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(-2.2 + 0.09 * (bmi - 27.0) + 0.025 * (age - 50.0) + 0.25 * conditions)))


def stay_mean(age: np.ndarray, conditions: np.ndarray, spo2: np.ndarray) -> np.ndarray:
    """Days beyond the first are Poisson with a Gamma(2, mean / 2) rate: over-dispersed around this mean."""
    return np.exp(1.35 + 0.008 * (age - 50.0) + 0.12 * conditions + 0.06 * np.maximum(0, 94 - spo2))


def intensity_mean(days: np.ndarray, conditions: np.ndarray) -> np.ndarray:
    return 2.2 + 0.08 * days + 0.2 * conditions


def stress_mean(alcohol: np.ndarray) -> np.ndarray:
    return 5.0 + 0.6 * alcohol


def adherence_mean(stress: np.ndarray, alcohol: np.ndarray, age: np.ndarray) -> np.ndarray:
    return 7.6 - 0.15 * (stress - 5.0) - 0.8 * alcohol + 0.01 * (age - 50)


def followup_mean(conditions: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    return 1.6 + 0.25 * conditions + 0.2 * intensity


def draw_glucose(diabetic: np.ndarray, rng: np.random.Generator, size: int | tuple) -> np.ndarray:
    glucose = np.where(diabetic, rng.lognormal(np.log(165.0), 0.30, size), rng.normal(98.0, 14.0, size))
    return np.clip(glucose, *LIMITS["sugar_level"])


def draw_days(mean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip(1 + rng.poisson(rng.gamma(2.0, mean / 2.0)), *LIMITS["days_hospitalized"])


def draw_rounded(mean: np.ndarray, sd: float, feature: str, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(mean + rng.normal(0, sd, np.shape(mean))), *LIMITS[feature])


def _draw_features(n: int, rng: np.random.Generator) -> pd.DataFrame:
    age = 18.0 + 72.0 * rng.beta(2.2, 1.7, n)
    conditions = np.minimum(rng.poisson(np.exp(-1.3 + 0.032 * (age - 18.0))), 6)
    bmi = np.clip(rng.normal(27.0 + 0.03 * (age - 50.0), 4.8, n), *LIMITS["bmi"])
    smoker = (rng.random(n) < 0.24 - 0.0015 * (age - 50.0)).astype(float)
    alcohol = (rng.random(n) < alcohol_probability(smoker)).astype(float)
    sbp = np.clip(100.0 + 0.55 * age + 0.7 * (bmi - 27.0) + 3.0 * smoker + rng.normal(0, 15, n),
                  *LIMITS["blood_pressure"])
    spo2 = np.clip(spo2_ceiling(age, conditions, smoker) - rng.exponential(SPO2_TAIL, n), *LIMITS["oxygen_level"])
    hr = np.clip(heart_rate_mean(spo2) + rng.normal(0, HEART_RATE_SD, n), *LIMITS["heart_rate"])
    diabetic = rng.random(n) < diabetic_probability(bmi, age, conditions)
    glucose = draw_glucose(diabetic, rng, n)
    cholesterol = np.clip(188.0 + 0.35 * (age - 50.0) + 1.6 * (bmi - 27.0) + rng.normal(0, 36, n),
                          *LIMITS["cholesterol"])
    days = draw_days(stay_mean(age, conditions, spo2), rng)
    intensity = draw_rounded(intensity_mean(days, conditions), INTENSITY_SD, "treatment_intensity", rng)
    stress = draw_rounded(stress_mean(alcohol), STRESS_SD, "stress_level", rng)
    adherence = draw_rounded(adherence_mean(stress, alcohol, age), ADHERENCE_SD, "medication_adherence", rng)
    followup = np.clip(rng.poisson(followup_mean(conditions, intensity)), *LIMITS["followup_visits"])
    return pd.DataFrame({
        "age": age, "bmi": bmi, "blood_pressure": sbp, "oxygen_level": spo2, "heart_rate": hr,
        "sugar_level": glucose, "cholesterol": cholesterol, "days_hospitalized": days,
        "previous_conditions": conditions, "smoker": smoker, "alcohol_use": alcohol,
        "treatment_intensity": intensity, "medication_adherence": adherence,
        "followup_visits": followup, "stress_level": stress,
    })


def _to_schema_dtypes(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Round floats to the schema's decimals (bmi 0.1, SpO2 0.1, ...) and cast integers."""
    out = pd.DataFrame(index=frame.index)
    for f in schema.features:
        values = frame[f.name].to_numpy(dtype=float)
        if f.is_integer:
            out[f.name] = np.round(values).astype(np.int64)
        else:
            out[f.name] = np.round(values, max(f.decimals, 1))
    return out


def make_sample_ward(n_patients: int = 48, seed: int = 7, schema: Schema | None = None) -> pd.DataFrame:
    """A ward extract for bed managers to try: ids and beds first, features, no outcome."""
    schema = schema or load_schema()
    patients = generate_cohort(n_patients, seed, schema).drop(columns=schema.target.name)
    rng = np.random.default_rng(seed)
    beds = rng.permutation(np.arange(1, n_patients + 1))
    ids = [f"P{100000 + int(i):06d}" for i in rng.choice(900000, n_patients, replace=False)]
    head = pd.DataFrame({schema.id_column: ids,
                         "ward": ["Ward 7B" if b <= n_patients // 2 else "Ward 8A" for b in beds],
                         "bed": [f"Bed {b:02d}" for b in beds]})
    ward = pd.concat([head, patients], axis=1)
    return ward.sort_values(["ward", "bed"], ignore_index=True)
