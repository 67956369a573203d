"""A shadow model scores every patient beside the model in use, logged with the same run and row and never shown;
it never counts as a prediction, takes no outcome, and the monitor compares the two on the same patients."""

import pandas as pd
import pytest
from sqlalchemy import select

from recovery_model.cli import main
from recovery_model.errors import RegistryError
from recovery_model.log.registry import SHADOW, ModelRegistry, shadow_in_use
from recovery_model.log.tables import predictions
from recovery_model.paths import DEFAULT_CHECKPOINT
from recovery_model.scoring.checkpoint import read_header
from tests.conftest import DATA, recalibrated


def logged(log) -> pd.DataFrame:
    return log.read_frame(select(predictions.c.source, predictions.c.run_id, predictions.c.row_number,
                                 predictions.c.model_digest, predictions.c.risk, predictions.c.patient_id))


def test_shadow_then_unshadow_is_recorded_and_never_counts_as_a_change_of_the_model_in_use(empty_log, candidates):
    registry = ModelRegistry(empty_log)
    with pytest.raises(RegistryError, match="nothing to stop"):
        registry.stop_shadow("Dr Analyst", "why")
    registry.shadow(candidates[0], "Dr Analyst", "watch it")
    assert registry.shadowing().version == "test+0.5" and registry.listing()["status"][0] == SHADOW
    registry.shadow(candidates[1], "Dr Analyst", "a better one")  # one shadow at a time
    assert registry.shadowing().version == "test+1.0"
    registry.stop_shadow("Dr Analyst", "seen enough")
    assert registry.shadowing() is None and shadow_in_use() is None
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("Dr Lead", "shadowing changed no model in use")
    assert registry.changes()["action"].tolist() == ["shadow", "shadow", "unshadow"]


def test_recovery_predict_logs_the_shadow_beside_each_row_and_counts_only_the_shown(empty_log, candidates, tmp_path,
                                                                                   capsys, monkeypatch):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    assert main(["models", "shadow", str(candidates[1]), "--by", "Dr Analyst", "--reason", "watch it"]) == 0
    assert main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", str(tmp_path / "r.csv")]) == 0
    out = capsys.readouterr().out
    assert "48 predictions logged" in out and "Also scored in the shadow by test+1.0" in out
    rows = logged(empty_log)
    shown, shadow = rows[rows["source"] == "cli_predict"], rows[rows["source"] == "shadow"]
    assert len(shown) == len(shadow) == 48 and set(shadow["model_digest"]) == {read_header(candidates[1]).digest}
    pairs = shown.merge(shadow, on=["run_id", "row_number"], suffixes=("", "_shadow"))
    assert len(pairs) == 48 and (pairs["patient_id"] == pairs["patient_id_shadow"]).all()
    assert (pairs["risk_shadow"] > pairs["risk"]).all()  # +1 on the log-odds
    assert empty_log.history(str(shown["patient_id"].iloc[0]))["source"].tolist() == ["cli_predict"]


def test_the_monitor_compares_the_shadow_with_the_model_in_use_on_the_same_patients(tmp_path, default_predictor):
    from recovery_model.monitoring.data import read_monitoring_data
    from recovery_model.monitoring.report import ReportSettings, monitoring_report
    from tests.conftest import DRIFT, simulated_log

    updated = recalibrated(default_predictor, tmp_path / "updated", 1.0)
    from recovery_model.scoring.predictor import Predictor

    log = simulated_log(tmp_path, default_predictor, DRIFT, shadow=Predictor.load(updated))
    report = monitoring_report(read_monitoring_data(log, default_predictor.schema), default_predictor,
                               ReportSettings("month", 15))
    assert sum(p["scored"] for p in report["periods"]) == 5000  # the shadow's rows are not predictions
    (shadow,) = report["shadow"]
    assert shadow["version"] == "test+1.0" and shadow["beside"] == ["0.1.0"]
    drifted = [p for p in shadow["periods"] if p["start"] >= DRIFT.drift_start.date().isoformat()]
    assert drifted and all(p["in_use"]["observed_expected"]["value"] > 1.5 for p in drifted)
    assert all(0.7 < p["shadow"]["observed_expected"]["value"] < 1.35 for p in drifted)
    assert all(p["auroc_difference"]["value"] == pytest.approx(0.0) for p in drifted)  # a shift cannot reorder


def test_update_and_the_shadow_comparison_read_the_same_on_sqlite_and_postgresql(log, default_predictor, candidates):
    """The loop's queries on both databases: matured predictions for `update`, shadow pairs for the monitor."""
    from recovery_model.monitoring.shadow import shadow_comparison
    from recovery_model.monitoring.simulation import Deployment, simulate_deployment
    from recovery_model.scoring.predictor import Predictor
    from recovery_model.updating.update import UpdateSettings, update

    deployment = Deployment(months=3, drift_from_month=2, patients_per_week=150, seed=3)
    simulate_deployment(log, default_predictor, deployment, shadow=Predictor.load(candidates[1]))
    matured = log.matured(default_predictor.digest)
    assert len(matured) == 12 * 150 and matured["predicted_at"].is_monotonic_increasing
    result = update(log, default_predictor, UpdateSettings(since=deployment.drift_start, min_events=40))
    assert result.summary["method"] in ("intercept", "logistic")
    (shadow,) = shadow_comparison(log.shadow_pairs(), "month")
    assert shadow["all"]["patients"] == 12 * 150 and shadow["version"] == "test+1.0"


def test_a_past_version_rescored_on_the_logged_inputs_matches_what_it_scored_in_the_shadow(tmp_path,
                                                                                         default_predictor,
                                                                                         monkeypatch, capsys):
    """`recovery monitor --compare VERSION` scores the model in use's logged inputs again with a registered past
    version: for a model that also scored in the shadow, the two comparisons must agree."""
    import json

    from recovery_model.monitoring.simulation import Deployment
    from recovery_model.scoring.predictor import Predictor
    from tests.conftest import simulated_log

    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    updated = recalibrated(default_predictor, tmp_path / "updated", 1.0)
    log = simulated_log(tmp_path, default_predictor, Deployment(months=3, drift_from_month=2, patients_per_week=120),
                        shadow=Predictor.load(updated))
    registry = ModelRegistry(log)
    registry.promote(updated, DEFAULT_CHECKPOINT, "Dr Analyst", "register it")
    registry.rollback("Dr Analyst", "back: it becomes a past version")
    monkeypatch.setenv("RECOVERY_DATABASE_URL", log.engine.url.render_as_string(hide_password=False))
    assert main(["monitor", "--period", "month", "--compare", "test+1.0", "--output", str(tmp_path / "r.json")]) == 0
    shadow, past = json.loads((tmp_path / "r.json").read_text())["shadow"]
    assert past["rescored"] and "rescored" not in shadow and past["version"] == shadow["version"] == "test+1.0"
    for live, again in zip(shadow["periods"], past["periods"], strict=True):
        assert again["patients"] == live["patients"] and again["events"] == live["events"]
        assert again["shadow"]["observed_expected"]["value"] == pytest.approx(
            live["shadow"]["observed_expected"]["value"], rel=1e-9)
    assert main(["monitor", "--period", "month", "--compare", "v9", "--output", str(tmp_path / "r.json")]) == 2
    assert "No registered model is called 'v9'" in capsys.readouterr().err
