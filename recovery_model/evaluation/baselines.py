"""What our model is compared with, each trained on the same rows.

Every baseline is a function from a frame of patients to a risk in [0, 1], so the report
treats them and our model alike.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recovery_model.evaluation.report import MAJORITY
from recovery_model.record_view import observed_risk
from recovery_model.schema import Schema

RiskFunction = Callable[[pd.DataFrame], np.ndarray]
NEWS2_INPUTS = ("oxygen_level", "blood_pressure", "heart_rate")
ORACLE = "Oracle (true risk)"
LOGISTIC = "Logistic regression"
EBM = "Explainable boosting (InterpretML EBM)"


def news2_partial(frame: pd.DataFrame) -> np.ndarray:
    """NEWS2 points for SpO2 (scale 1), systolic BP and pulse, RCP 2017 bands; 0–9."""
    spo2 = frame["oxygen_level"].to_numpy(float)
    sbp = frame["blood_pressure"].to_numpy(float)
    pulse = frame["heart_rate"].to_numpy(float)
    spo2_points = np.select([spo2 <= 91, spo2 <= 93, spo2 <= 95], [3, 2, 1], 0)
    sbp_points = np.select([sbp <= 90, sbp <= 100, sbp <= 110, sbp >= 220], [3, 2, 1, 3], 0)
    pulse_points = np.select([pulse <= 40, pulse <= 50, pulse <= 90, pulse <= 110, pulse <= 130],
                             [3, 1, 0, 1, 2], 3)
    return (spo2_points + sbp_points + pulse_points).astype(float)


def ebm_installed() -> bool:
    """InterpretML is in the test and benchmark extras, never the core: the peer is compared where it is installed."""
    import importlib.util

    return importlib.util.find_spec("interpret") is not None


def fit_baselines(train: pd.DataFrame, schema: Schema, seed: int, include_oracle: bool,
                  peer: bool = False) -> dict[str, RiskFunction]:
    """The comparison models, keyed by the name the report shows.

    The oracle is only meaningful for data drawn from our generator, so the caller says. `peer`: InterpretML's
    Explainable Boosting Machine too, with its defaults (the interpretable model clinical ML holds up), when it is
    installed (`ebm_installed`).
    """
    features = schema.feature_names
    y_train = schema.event_from_target(train[schema.target.name])
    prevalence = float(y_train.mean())
    baselines: dict[str, RiskFunction] = {
        MAJORITY: lambda x: np.full(len(x), prevalence),
    }
    logistic = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler(),
                             LogisticRegression(max_iter=2000)).fit(train[features], y_train)
    baselines[LOGISTIC] = lambda x: logistic.predict_proba(x[features])[:, 1]
    boosting = HistGradientBoostingClassifier(random_state=seed).fit(train[features], y_train)
    baselines["Gradient boosting (HistGradientBoosting)"] = lambda x: boosting.predict_proba(x[features])[:, 1]
    if all(name in features for name in NEWS2_INPUTS):
        news2 = LogisticRegression().fit(news2_partial(train).reshape(-1, 1), y_train)
        baselines["Partial NEWS2 (SpO2, systolic BP, pulse)"] = (
            lambda x: news2.predict_proba(news2_partial(x).reshape(-1, 1))[:, 1])
    if peer and ebm_installed():
        from interpret.glassbox import ExplainableBoostingClassifier

        with warnings.catch_warnings():  # its note that its plots do not draw missing values: not ours to show
            warnings.filterwarnings("ignore", "Missing values detected", UserWarning)
            # every core (its default leaves one idle): the same model to the bit, in 24 s, not 43, on two cores
            ebm = ExplainableBoostingClassifier(random_state=seed, n_jobs=-1).fit(train[features], y_train)
        baselines[EBM] = lambda x: ebm.predict_proba(x[features])[:, 1]
    if include_oracle:
        baselines[ORACLE] = observed_risk  # the true risk; for a record with values missing, given what it holds
    return baselines
