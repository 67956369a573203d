"""`recovery update` on simulated deployments: the right choice, a candidate that fixes what drifted on patients it
never saw, and nothing written when the log cannot support an update."""

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from recovery_model.cli import main
from recovery_model.errors import UpdateError
from recovery_model.monitoring.simulation import Deployment
from recovery_model.scoring.predictor import Predictor
from recovery_model.updating.update import UPDATE_JSON, UpdateSettings, split_in_time, update, write_update
from tests.conftest import DRIFT, simulated_log


@pytest.fixture(scope="module")
def calm(tmp_path_factory, default_predictor):
    return simulated_log(tmp_path_factory.mktemp("calm"), default_predictor, Deployment(shift=0.0))


def test_after_drift_the_update_recalibrates_and_fixes_calibration_on_later_patients(after_the_alert):
    summary = after_the_alert.summary
    assert summary["method"] in ("intercept", "logistic")
    assert summary["tests"][0]["smaller"] == "none" and summary["tests"][0]["p_value"] < 0.001
    champion, candidate = summary["holdout"]["champion"], summary["holdout"]["candidate"]
    assert champion["observed_expected"]["value"] > 1.6  # about 2: the world moved by +1 on the log-odds
    assert 0.8 <= candidate["observed_expected"]["value"] <= 1.25
    assert champion["patients"] == candidate["patients"] and champion["events"] == candidate["events"]
    if summary["method"] == "intercept":  # a shift of the log-odds cannot reorder patients
        assert candidate["auroc"]["value"] == champion["auroc"]["value"]
        assert summary["holdout"]["difference"]["auroc"]["value"] == 0.0


def test_the_held_out_patients_are_the_latest_and_hold_a_third_of_the_events(drifted, default_predictor):
    matured = drifted.matured(default_predictor.digest)
    development, holdout = split_in_time(matured, 1 / 3)
    assert len(development) + len(holdout) == len(matured)
    assert development["predicted_at"].max() <= holdout["predicted_at"].min()
    assert holdout["event"].sum() == pytest.approx(matured["event"].sum() / 3, abs=1)
    assert holdout["event"].iloc[0]  # the holdout starts at its first event


def test_the_candidate_is_a_checkpoint_of_its_own_that_scores_the_recalibrated_risk(after_the_alert, tmp_path,
                                                                                      default_predictor):
    path = write_update(after_the_alert, tmp_path / "candidate")
    written = json.loads(path.read_text())
    candidate = Predictor.load(tmp_path / "candidate")
    assert written["candidate"]["digest"] == candidate.digest != default_predictor.digest
    assert candidate.version == written["candidate"]["version"] and f"+{written['method']}." in candidate.version
    assert candidate.metadata["updates"][-1]["from_digest"] == default_predictor.digest
    ward = default_predictor.schema.defaults()
    before = default_predictor.predict_risk(pd.DataFrame([ward]))["risk"].iloc[0]
    after = candidate.predict_risk(pd.DataFrame([ward]))["risk"].iloc[0]
    a, b = written["recalibration"]["intercept"], written["recalibration"]["slope"]
    assert np.log(after / (1 - after)) == pytest.approx(a + b * np.log(before / (1 - before)))
    assert set(written["holdout"]) == {"champion", "candidate", "difference"}
    for figures in (written["holdout"]["champion"], written["holdout"]["candidate"]):
        assert {"patients", "events", "observed_expected", "auroc", "calibration_slope"} <= set(figures)


def test_a_calm_deployment_keeps_the_model_and_writes_no_checkpoint(calm, default_predictor, tmp_path):
    result = update(calm, default_predictor)
    assert result.summary["method"] == "none" and result.candidate is None
    write_update(result, tmp_path / "kept")
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [UPDATE_JSON]


def test_too_few_events_is_said_with_what_to_do(drifted, default_predictor):
    with pytest.raises(UpdateError, match=r"Only \d+ events .* at least 100"):
        update(drifted, default_predictor, UpdateSettings(since=datetime(2026, 6, 20, tzinfo=UTC)))


def test_the_cli_refuses_a_log_of_another_models_predictions(drifted, after_the_alert, tmp_path, monkeypatch,
                                                             capsys):
    write_update(after_the_alert, tmp_path / "candidate")
    monkeypatch.setenv("RECOVERY_DATABASE_URL", drifted.engine.url.render_as_string(hide_password=False))
    assert main(["update", "--checkpoint", str(tmp_path / "candidate"), "--output", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert "No prediction of this model" in said and "other models' predictions" in said
    assert not (tmp_path / "out").exists()


def test_the_cli_on_an_empty_log_says_what_to_do(empty_log, tmp_path, capsys):
    assert main(["update", "--output", str(tmp_path / "out")]) == 2
    assert "recovery outcomes --input" in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_the_cli_writes_the_candidate_and_says_it_is_not_in_use(drifted, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RECOVERY_DATABASE_URL", drifted.engine.url.render_as_string(hide_password=False))
    assert main(["update", "--since", DRIFT.drift_start.date().isoformat(), "--output", str(tmp_path / "c")]) == 0
    assert "It is not in use" in capsys.readouterr().out and (tmp_path / "c" / UPDATE_JSON).exists()


def test_a_refit_is_weighed_when_events_allow_and_loses_to_the_intercept_it_cannot_beat(drifted, default_predictor):
    """1,600 patients are few to learn fifteen effects from: out of fold, the refit fits the later months worse than
    the old model with a new intercept, and the procedure keeps the simpler update (as in Vergouwe et al.)."""
    result = update(drifted, default_predictor, UpdateSettings(since=DRIFT.drift_start, refit_events_per_feature=5))
    summary = result.summary
    assert summary["refit"]["considered"] and summary["refit"]["development_events_needed"] == 75
    assert [t["larger"] for t in summary["tests"]] == ["refit", "refit"]
    assert summary["tests"][-1]["smaller"] == "intercept" and not summary["tests"][-1]["rejects"]
    assert summary["method"] == "intercept"
    assert summary["log_likelihoods"]["refit"] < summary["log_likelihoods"]["intercept"]
