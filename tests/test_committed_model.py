"""The committed default model: it loads, its report holds the targets, and it retrains identically."""

import numpy as np
import pandas as pd
import pytest

from recovery_model.baselines import ORACLE
from recovery_model.data import fingerprint
from recovery_model.evaluation import OURS
from recovery_model.predictor import Predictor
from tests.conftest import DATA


@pytest.fixture(scope="module")
def report(default_predictor):
    assert default_predictor.report is not None, "run `recovery train` to write checkpoints/default/report.json"
    return default_predictor.report


def _fresh(report, name):
    return next(b["fresh_metrics"] for b in report["baselines"] if b["name"] == name)


def test_default_model_was_trained_on_the_committed_data(default_predictor):
    assert default_predictor.metadata["training_data"]["fingerprint"] == fingerprint(
        pd.read_csv(DATA / "patients.csv"))


def test_calibrated_on_the_fresh_sample(report):
    ours = _fresh(report, OURS)
    assert 0.9 <= ours["calibration_slope"] <= 1.1
    assert abs(ours["calibration_intercept"]) <= 0.1


def test_beats_the_simple_baselines_on_the_fresh_sample(report):
    ours = _fresh(report, OURS)["auroc"]
    for row in report["baselines"]:
        if row["name"] in (OURS, ORACLE) or row["name"].startswith("Seed architecture"):
            continue
        assert ours > row["fresh_metrics"]["auroc"], row["name"]


def test_matches_the_seed_architecture_within_noise_and_stays_near_the_oracle(report):
    ours = _fresh(report, OURS)["auroc"]
    seed = next(b["fresh_metrics"]["auroc"] for b in report["baselines"] if b["name"].startswith("Seed"))
    assert ours >= seed - 0.003
    assert _fresh(report, ORACLE)["auroc"] - ours <= 0.025


@pytest.mark.slow
def test_retraining_reproduces_the_committed_model(default_predictor, schema):
    frame = pd.read_csv(DATA / "patients.csv")
    retrained, parts = Predictor.fit(frame, schema, "default", seed=default_predictor.metadata["seed"])
    np.testing.assert_allclose(retrained.risk(parts.test), default_predictor.risk(parts.test), atol=1e-6)
    assert retrained.model.best_epoch_ == default_predictor.model.best_epoch_
