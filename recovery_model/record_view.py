"""The synthetic cohort as an EHR record would show it, and the best risk given only what the record holds.

`generate_cohort` keeps every patient's full values (the truth the oracle scores). `record_view` draws, beside
them, which values a record would hold: no current inpatient Encounter for outpatients (no stay, no treatment
plan, no follow-ups booked), the questionnaire not done, labs not drawn, SpO2 not taken in clinic. Whether a
value is recorded depends on the patient (sicker patients have more labs; a short stay is more often an
outpatient visit), so missingness is informative, as in real records. docs/datasheet.md documents it.

`observed_risk` is the oracle given only the observed values and the missingness pattern: the oracle averaged
over the missing values drawn from the generator given what was observed. Plain forward sampling would be
wrong (an observed heart rate says something about a missing SpO2, and being an outpatient says something
about the stay), so each draw is weighted by the likelihood of the observed values and of the pattern
(likelihood weighting in the generator's own network of conditionals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from recovery_model import cohort
from recovery_model.schema import Schema, load_schema

RECORD_SEED = 2027  # data/patients_record.csv is the record view of data/patients.csv with this seed
FRESH_RECORD_SEED = 2028  # the record view of the evaluation's fresh sample
ALWAYS_RECORDED = ("age", "bmi", "blood_pressure", "heart_rate", "smoker", "previous_conditions")
BLOCKS: dict[str, tuple[str, ...]] = {
    "no stay": ("days_hospitalized", "treatment_intensity", "followup_visits"),  # an outpatient: no inpatient Encounter
    "no questionnaire": ("stress_level", "medication_adherence", "alcohol_use"),
    "no labs": ("sugar_level", "cholesterol"),
    "no SpO2": ("oxygen_level",),
}
COMPLETE = "complete"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def outpatient_probability(full: dict[str, np.ndarray]) -> np.ndarray:
    """Seen outside a stay: more likely the shorter the stay the full record would show, and the fewer conditions."""
    return _sigmoid(0.9 - 0.45 * (full["days_hospitalized"] - 1.0) - 0.10 * full["previous_conditions"])


def block_probabilities(full: dict[str, np.ndarray], outpatient: np.ndarray) -> dict[str, np.ndarray]:
    """P(each block is missing | the full values and whether the patient is an outpatient)."""
    age, conditions, out = full["age"], full["previous_conditions"], outpatient.astype(float)
    return {
        "no stay": outpatient_probability(full),
        "no questionnaire": _sigmoid(-0.9 + 1.1 * out + 0.015 * (age - 60.0)),
        "no labs": _sigmoid(-1.0 + 2.1 * out - 0.45 * conditions - 0.02 * (age - 60.0)),
        "no SpO2": 0.04 + 0.61 * out,
    }


def record_view(frame: pd.DataFrame, seed: int = RECORD_SEED, schema: Schema | None = None) -> pd.DataFrame:
    """The same rows with the values a record would not hold left blank (integer features stay integers)."""
    schema = schema or load_schema()
    rng = np.random.default_rng(seed)
    full = {name: frame[name].to_numpy(dtype=float) for name in schema.feature_names}
    outpatient = rng.random(len(frame)) < outpatient_probability(full)
    probabilities = block_probabilities(full, outpatient)
    missing = {"no stay": outpatient}
    for block in ("no questionnaire", "no labs", "no SpO2"):
        missing[block] = rng.random(len(frame)) < probabilities[block]
    view = frame.copy()
    for block, features in BLOCKS.items():
        for name in features:
            column = view[name].astype("Int64") if schema.feature(name).is_integer else view[name].astype(float)
            view[name] = column.mask(missing[block])
    return view


def missing_pattern(record: pd.DataFrame) -> pd.Series:
    """Each row's pattern: the blocks it lacks ("no labs + no SpO2"), or "complete"."""
    lacks = pd.DataFrame({block: record[list(features)].isna().all(axis=1) for block, features in BLOCKS.items()})
    return lacks.apply(lambda row: " + ".join(b for b, gone in row.items() if gone) or COMPLETE, axis=1)


def observed_risk(record: pd.DataFrame, draws: int = 128, seed: int = 0, chunk: int = 2000) -> np.ndarray:
    """P(not recovering | the observed values and which are missing), under the generator (rows with nothing
    missing get `true_risk` itself). 128 draws a row: against 4,096, the AUROC on 30,000 records is the same to
    the fourth decimal and a risk is off by 3.8 % of itself on average (512 draws: 2.0 %, at 4.7× the time)."""
    absent = [name for name in ALWAYS_RECORDED if record[name].isna().any()]
    if absent:
        raise ValueError(f"observed_risk needs {absent} in every row: the record view always holds them.")
    rng = np.random.default_rng(seed)
    out = cohort.true_risk(record.fillna(0.0))
    incomplete = np.flatnonzero(record[list(cohort._risk_inputs())].isna().any(axis=1).to_numpy())
    for start in range(0, len(incomplete), chunk):
        rows = incomplete[start:start + chunk]
        out[rows] = _weighted_risk(record.iloc[rows], draws, rng)
    return out


def _weighted_risk(record: pd.DataFrame, draws: int, rng: np.random.Generator) -> np.ndarray:
    names = cohort._risk_inputs()
    observed = {name: record[name].to_numpy(dtype=float) for name in names}
    full, log_weight = _draw_missing(observed, draws, rng)
    outpatient = np.isnan(observed["days_hospitalized"])[:, None]
    for block, p in block_probabilities(full, np.broadcast_to(outpatient, log_weight.shape)).items():
        lacks = np.isnan(observed[BLOCKS[block][0]])[:, None]
        log_weight += np.log(np.where(lacks, p, 1.0 - p))
    weight = np.exp(log_weight - log_weight.max(axis=1, keepdims=True))
    frame = pd.DataFrame({name: full[name].ravel() for name in names})
    risk = cohort.true_risk(frame).reshape(weight.shape)
    return (weight * risk).sum(axis=1) / weight.sum(axis=1)


def _draw_missing(observed: dict[str, np.ndarray], draws: int, rng: np.random.Generator
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every feature as [rows, draws]: observed values repeated, missing ones drawn from the generator's
    conditionals in its own order; and the log-likelihood of the observed values whose parents were drawn."""
    n = len(observed["age"])
    shape = (n, draws)
    log_weight = np.zeros(shape)
    full: dict[str, np.ndarray] = {}
    drawn: dict[str, np.ndarray] = {}

    def take(name: str, draw) -> np.ndarray:
        value = np.broadcast_to(observed[name][:, None], shape)
        missing = np.isnan(value)
        drawn[name] = missing
        full[name] = np.where(missing, draw() if missing.any() else 0.0, value)
        return full[name]

    for name in ALWAYS_RECORDED:
        take(name, lambda: 0.0)
    age, conditions, bmi, smoker = full["age"], full["previous_conditions"], full["bmi"], full["smoker"]
    alcohol = take("alcohol_use", lambda: (rng.random(shape) < cohort.alcohol_probability(smoker)).astype(float))
    spo2 = take("oxygen_level", lambda: np.clip(cohort.spo2_ceiling(age, conditions, smoker)
                                                - rng.exponential(cohort.SPO2_TAIL, shape),
                                                *cohort.LIMITS["oxygen_level"]))
    log_weight += np.where(drawn["oxygen_level"], _log_rounded_normal(full["heart_rate"], cohort.heart_rate_mean(spo2),
                                                                      cohort.HEART_RATE_SD, "heart_rate"), 0.0)
    take("sugar_level", lambda: cohort.draw_glucose(rng.random(shape) < cohort.diabetic_probability(bmi, age,
                                                                                                  conditions),
                                                    rng, shape))
    take("cholesterol", lambda: np.full(shape, 190.0))  # carries no risk, and nothing depends on it
    days = take("days_hospitalized", lambda: cohort.draw_days(cohort.stay_mean(age, conditions, spo2), rng))
    log_weight += np.where(drawn["oxygen_level"] & ~drawn["days_hospitalized"],
                           _log_days(days, cohort.stay_mean(age, conditions, spo2)), 0.0)
    intensity = take("treatment_intensity", lambda: cohort.draw_rounded(
        cohort.intensity_mean(days, conditions), cohort.INTENSITY_SD, "treatment_intensity", rng))
    log_weight += np.where(drawn["days_hospitalized"] & ~drawn["treatment_intensity"], _log_rounded_normal(
        intensity, cohort.intensity_mean(days, conditions), cohort.INTENSITY_SD, "treatment_intensity"), 0.0)
    stress = take("stress_level", lambda: cohort.draw_rounded(cohort.stress_mean(alcohol), cohort.STRESS_SD,
                                                              "stress_level", rng))
    log_weight += np.where(drawn["alcohol_use"] & ~drawn["stress_level"], _log_rounded_normal(
        stress, cohort.stress_mean(alcohol), cohort.STRESS_SD, "stress_level"), 0.0)
    adherence_mean = cohort.adherence_mean(stress, alcohol, age)
    adherence = take("medication_adherence", lambda: cohort.draw_rounded(adherence_mean, cohort.ADHERENCE_SD,
                                                                         "medication_adherence", rng))
    log_weight += np.where((drawn["alcohol_use"] | drawn["stress_level"]) & ~drawn["medication_adherence"],
                           _log_rounded_normal(adherence, adherence_mean, cohort.ADHERENCE_SD,
                                               "medication_adherence"), 0.0)
    followup_mean = cohort.followup_mean(conditions, intensity)
    followup = take("followup_visits", lambda: np.clip(rng.poisson(followup_mean), *cohort.LIMITS["followup_visits"]))
    log_weight += np.where(drawn["treatment_intensity"] & ~drawn["followup_visits"],
                           _log_followup(followup, followup_mean), 0.0)
    return full, log_weight


def _log_rounded_normal(value: np.ndarray, mean: np.ndarray, sd: float, feature: str) -> np.ndarray:
    """log P(round(clip(mean + N(0, sd))) = value): the generator rounds, and clips at the feature's limits."""
    low, high = cohort.LIMITS[feature]
    upper = np.where(value >= high, np.inf, (value + 0.5 - mean) / sd)
    lower = np.where(value <= low, -np.inf, (value - 0.5 - mean) / sd)
    return np.log(np.maximum(stats.norm.cdf(upper) - stats.norm.cdf(lower), 1e-300))


def _log_days(days: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """log P(days): 1 + a negative binomial (Poisson with a Gamma(2, mean / 2) rate), capped at 30."""
    p = 1.0 / (1.0 + mean / 2.0)
    high = cohort.LIMITS["days_hospitalized"][1]
    probability = np.where(days >= high, stats.nbinom.sf(high - 2, 2, p), stats.nbinom.pmf(days - 1, 2, p))
    return np.log(np.maximum(probability, 1e-300))


def _log_followup(visits: np.ndarray, mean: np.ndarray) -> np.ndarray:
    high = cohort.LIMITS["followup_visits"][1]
    probability = np.where(visits >= high, stats.poisson.sf(high - 1, mean), stats.poisson.pmf(visits, mean))
    return np.log(np.maximum(probability, 1e-300))
