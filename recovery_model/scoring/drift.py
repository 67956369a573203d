"""Does a ward look like the training data? Per-feature two-sample tests and one multivariate test.

Per feature: the ward's recorded values against the training patients who had that value recorded, by a
two-sample Kolmogorov-Smirnov test, Holm-corrected across features. Multivariate: the two-sample Hotelling's T² of
the ward's mean against the training rows' (an F test with the pooled covariance) over the features training
recorded for nearly everyone, which sees a joint shift no single feature shows. The two halves share the 5 %
false-alarm budget (Bonferroni), so a ward like the training patients raises an alarm at most about 5 % of the time.

Records differ in how complete they are, and that is not a shift in values. Training lacked some values for some
patients (an outpatient has no stay, labs were not drawn); a ward that records more of them holds values training
never saw recorded, such as the short stays of patients who in training had none. So where the ward records a
value more often than training did, only the share of its values that training's recording rate accounts for must
look like training's; the rest may be anything (a band around training's distribution, whose width is the extra
share recorded). A ward more complete than training is never drifted for that alone. A ward that records a value
much less often is reported apart (`missing_more`): its ranges are wider, but its values have not shifted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recovery_model.schema import Feature, Schema

FALSE_ALARM_RATE = 0.05
MIN_PATIENTS, CAUTION_BELOW = 10, 30
RECORDED_FOR_NEARLY_ALL = 0.99  # the multivariate test's features: recorded for at least this share in training
MORE_MISSING_BY = 0.10  # a ward "missing more" lacks a value this much more often than training, beyond chance
STATISTIC, P_VALUE, SHIFTED, WARD_MEAN, TRAINING_MEAN = "statistic", "corrected_p_value", "shifted", "ward_mean", \
    "training_mean"
WARD_MISSING, TRAINING_MISSING = "ward_missing", "training_missing"


@dataclass(frozen=True)
class DriftReport:
    """`drifted`: the ward differs from the training data; `features`: one row per feature; `summary`: words."""

    drifted: bool
    features: pd.DataFrame
    summary: str
    patients: int
    tested: bool
    multivariate_p_value: float = float("nan")
    missing_more: tuple[str, ...] = ()  # features the ward lacks much more often than training did

    def to_dict(self) -> dict:
        return {"drifted": self.drifted, "tested": self.tested, "patients": self.patients, "summary": self.summary,
                "multivariate_p_value": self.multivariate_p_value, "missing_more": list(self.missing_more),
                "features": self.features.reset_index().to_dict(orient="records")}


def check_drift(values: pd.DataFrame, reference: np.ndarray, schema: Schema) -> DriftReport:
    """Compare the scored rows of a ward (`values`: parsed features) with a sample of training rows."""
    n = len(values)
    if n < MIN_PATIENTS:
        return DriftReport(False, pd.DataFrame(), f"Not tested for drift: {n} patients; at least {MIN_PATIENTS} "
                           "are needed to compare a ward with the training data.", n, tested=False)
    ward = values[schema.feature_names].to_numpy(dtype=float)
    rows = [_feature_test(ward[:, j], reference[:, j]) for j in range(len(schema.features))]
    table = pd.DataFrame(rows, index=pd.Index(schema.feature_names, name="feature"))
    half = FALSE_ALARM_RATE / 2
    table[P_VALUE] = _holm(table["p_value"].to_numpy())
    table[SHIFTED] = table[P_VALUE] < half
    complete = np.isnan(reference).mean(axis=0) <= 1 - RECORDED_FOR_NEARLY_ALL
    multivariate = _hotelling(ward[:, complete], reference[:, complete]) if complete.any() else 1.0
    drifted = bool(table[SHIFTED].any() or multivariate < half)
    missing_more = _missing_more(table, n)
    return DriftReport(drifted, table.drop(columns="p_value"),
                       _summary(table, multivariate < half, n, schema, missing_more), n, tested=True,
                       multivariate_p_value=multivariate, missing_more=missing_more)


def _feature_test(ward: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The ward's recorded values against training's: two-sample Kolmogorov-Smirnov, widened to a band where the
    ward records the value more often than training did (see the module's docstring). On yes/no and short scales
    its p-values are conservative (ties), which keeps false alarms down (measured: a chi-square test of the counts
    raised three times as many)."""
    from scipy import stats  # only where a ward is tested: a small ward is not, and scoring starts faster

    shares = {WARD_MISSING: float(np.isnan(ward).mean()), TRAINING_MISSING: float(np.isnan(reference).mean())}
    recorded_ward, recorded_training = ward[~np.isnan(ward)], reference[~np.isnan(reference)]
    if len(recorded_ward) < 2 or len(recorded_training) < 2:
        mean = float(np.mean(recorded_training)) if len(recorded_training) else np.nan
        return {STATISTIC: np.nan, "p_value": 1.0, WARD_MEAN: np.nan, TRAINING_MEAN: mean, **shares}
    means = {WARD_MEAN: float(np.mean(recorded_ward)), TRAINING_MEAN: float(np.mean(recorded_training))}
    explained = min(1.0, (1 - shares[TRAINING_MISSING]) / (1 - shares[WARD_MISSING]))
    if explained >= 1.0:
        result = stats.ks_2samp(recorded_ward, recorded_training)
        return {STATISTIC: float(result.statistic), "p_value": float(result.pvalue), **means, **shares}
    distance = _band_distance(recorded_ward, recorded_training, explained)
    n, m = len(recorded_ward), len(recorded_training)
    p_value = float(stats.kstwobign.sf(distance * np.sqrt(n * m / (n + m))))
    return {STATISTIC: distance, "p_value": p_value, **means, **shares}


def _band_distance(ward: np.ndarray, training: np.ndarray, explained: float) -> float:
    """How far the ward's distribution lies outside every mixture of `explained` × training's and anything else:
    0 inside the band explained·F(x) ≤ G(x) ≤ explained·F(x) + 1 − explained, else the largest excess."""
    points = np.union1d(ward, training)
    ward_cdf = np.searchsorted(np.sort(ward), points, side="right") / len(ward)
    training_cdf = np.searchsorted(np.sort(training), points, side="right") / len(training)
    low, high = explained * training_cdf, explained * training_cdf + 1 - explained
    return float(max(0.0, np.max(low - ward_cdf), np.max(ward_cdf - high)))


def _missing_more(table: pd.DataFrame, n: int) -> tuple[str, ...]:
    """Features the ward lacks at least `MORE_MISSING_BY` more often than training, and more than chance allows
    (a one-sided binomial test at the false-alarm rate, Holm-corrected across features)."""
    from scipy import stats

    missing = np.rint(table[WARD_MISSING].to_numpy() * n).astype(int)
    p_values = np.array([stats.binomtest(int(k), n, min(max(share, 1e-9), 1 - 1e-9), alternative="greater").pvalue
                         for k, share in zip(missing, table[TRAINING_MISSING], strict=True)])
    wider = (table[WARD_MISSING] - table[TRAINING_MISSING] >= MORE_MISSING_BY).to_numpy()
    return tuple(table.index[wider & (_holm(p_values) < FALSE_ALARM_RATE)])


def _holm(p_values: np.ndarray) -> np.ndarray:
    order = np.argsort(p_values)
    adjusted = np.minimum(1, np.maximum.accumulate(p_values[order] * (len(p_values) - np.arange(len(p_values)))))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _hotelling(ward: np.ndarray, reference: np.ndarray) -> float:
    """Two-sample Hotelling's T² of the means with the pooled covariance, as an F test: exact for normal data,
    and unlike a test that takes the training covariance as known, it stays calibrated when the training
    data are small (measured on the real data sets)."""
    from scipy import stats

    means = np.nanmean(reference, axis=0)  # not the median: a ward lacking a yes/no would seem to shift to "no"
    ward, reference = (np.where(np.isnan(a), means, a) for a in (ward, reference))
    n, m = len(ward), len(reference)
    scale = reference.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    ward, reference = ward / scale, reference / scale
    pooled = ((n - 1) * np.cov(ward, rowvar=False) + (m - 1) * np.cov(reference, rowvar=False)) / (n + m - 2)
    rank = int(np.linalg.matrix_rank(pooled))
    if rank == 0 or n + m - rank - 1 <= 0:
        return 1.0
    difference = ward.mean(axis=0) - reference.mean(axis=0)
    t2 = n * m / (n + m) * difference @ np.linalg.pinv(pooled) @ difference
    return float(stats.f.sf((n + m - rank - 1) / (rank * (n + m - 2)) * t2, rank, n + m - rank - 1))


def _summary(table: pd.DataFrame, joint: bool, n: int, schema: Schema, missing_more: tuple[str, ...]) -> str:
    shifted = table[table[SHIFTED]]
    caution = (f" With {n} patients this is a rough check; read it with caution." if n < CAUTION_BELOW else "")
    lacking = ""
    if missing_more:
        shares = "; ".join(f"{schema.feature(name).display_name} {100 * table.loc[name, WARD_MISSING]:.0f} % "
                           f"against {100 * table.loc[name, TRAINING_MISSING]:.0f} %" for name in missing_more)
        lacking = (f" Their records lack values more often than training's did ({shares}): their ranges are wider, "
                   "which is not a shift in values.")
    if shifted.empty and not joint:
        return f"These {n} patients look like the training data: no feature has shifted.{lacking}{caution}"
    moves = [_movement(schema.feature(name), row[WARD_MEAN], row[TRAINING_MEAN]) for name, row in shifted.iterrows()]
    text = f"These {n} patients differ from the training data"
    text += (": " + "; ".join(moves) + "." if moves else
             " in their combination of values, though no single feature has shifted on its own.")
    return (text + " The model's risks may be less accurate for them; check the data source and season." + lacking
            + caution)


def _movement(feature: Feature, ward_mean: float, training_mean: float) -> str:
    """'SpO2 4.1 % lower than training on average', 'Current smoker 45 % against 20 % in training'."""
    if feature.is_binary:
        return f"{feature.display_name}: {100 * ward_mean:.0f} % against {100 * training_mean:.0f} % in training"
    difference = ward_mean - training_mean
    unit = feature.display_unit
    amount = f"{abs(difference):.{max(feature.decimals, 1)}f}{'' if unit == '%' else ' '}{unit}".rstrip()
    return f"{feature.display_name} {amount} {'higher' if difference > 0 else 'lower'} than training on average"
