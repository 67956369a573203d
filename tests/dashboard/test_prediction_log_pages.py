"""The pages and the prediction log: what is shown is logged, once; the Monitoring page and Home's banner."""

import pandas as pd
from streamlit.testing.v1 import AppTest

from recovery_model.log.store import PredictionLog
from recovery_model.schema import load_schema
from tests.conftest import ROOT
from tests.dashboard.test_pages import estimate, fill

APP = str(ROOT / "dashboard" / "app.py")


def open_page(page: str) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.switch_page(f"views/{page}.py").run()
    return app


def logged(log: PredictionLog) -> pd.DataFrame:
    from sqlalchemy import select

    from recovery_model.log.tables import predictions

    return log.read_frame(select(predictions.c.id, predictions.c.source, predictions.c.patient_id,
                                 predictions.c.risk, predictions.c.ward))


def submit_patient(app: AppTest, patient_id: str, oxygen: float) -> AppTest:
    app.text_input(key="patient_id_0").set_value(patient_id)
    return estimate(fill(app, load_schema().defaults() | {"oxygen_level": oxygen}))


def test_an_estimate_is_logged_once_and_its_history_shown(empty_log):
    app = submit_patient(open_page("patient"), "BED-7", 91.0)
    assert not app.exception and not app.error
    rows = logged(empty_log)
    assert list(rows["source"]) == ["patient"] and list(rows["patient_id"]) == ["BED-7"]
    app.run()  # a rerun is not a new estimate
    assert len(logged(empty_log)) == 1
    submit_patient(app, "BED-7", 88.0)
    assert len(logged(empty_log)) == 2
    assert any("Earlier estimates for BED-7" in e.label for e in app.expander)


def test_a_what_if_is_logged_as_one_and_never_counts_in_the_history(empty_log):
    app = submit_patient(open_page("patient"), "BED-8", 91.0)
    app.selectbox(key="whatif_medication_adherence_1_0").set_value(1).run()
    app.run()
    assert sorted(logged(empty_log)["source"]) == ["patient", "patient_whatif"]
    assert len(empty_log.history("BED-8")) == 1


def test_a_link_to_a_logged_assessment_fills_the_form_with_its_values(empty_log):
    submit_patient(open_page("patient"), "BED-9", 89.5)
    prediction = logged(empty_log)["id"].iloc[0]
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.query_params["prediction"] = prediction
    app.switch_page("views/patient.py").run()
    assert app.number_input(key="patient_oxygen_level_1").value == 89.5
    assert app.text_input(key="patient_id_1").value == "BED-9"


def test_a_ward_upload_logs_every_scored_row_once(empty_log):
    app = open_page("ward")
    app.toggle(key="use_sample").set_value(True).run()
    rows = logged(empty_log)
    wards = set(pd.read_csv(ROOT / "data" / "sample_ward.csv")["ward"])
    assert len(rows) == 48 and set(rows["source"]) == {"ward"} and set(rows["ward"]) == wards  # not the file's name
    app.number_input(key="slots").set_value(7).run()  # re-flagging is not re-scoring
    assert len(logged(empty_log)) == 48


def test_a_log_that_cannot_be_used_is_said_plainly_and_the_risk_still_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("RECOVERY_DATABASE_URL", f"sqlite:///{tmp_path / 'never-migrated.sqlite'}")
    app = submit_patient(open_page("patient"), "BED-1", 91.0)
    assert any("risks shown here are not being logged" in e.value and "recovery db upgrade" in e.value
               for e in app.error)
    assert app.metric[0].label == "Risk of not recovering"


def test_monitoring_shows_the_alerts_of_a_drifting_deployment_and_home_its_banner(empty_log, default_predictor):
    from recovery_model.monitoring.simulation import Deployment, simulate_deployment

    simulate_deployment(empty_log, default_predictor, Deployment(months=3, drift_from_month=2, shift=1.5,
                                                                 patients_per_week=120, seed=2))
    app = open_page("monitoring")
    assert not app.exception
    app.number_input(key="monitor_window").set_value(15).run()
    app.radio(key="monitor_period").set_value("month").run()
    assert any("calibration" in w.value for w in app.warning)
    assert len(app.dataframe) >= 1 and app.metric[0].label == "Predictions"
    monthly = _alert_count(app)
    table = next(d.value for d in app.dataframe if "O/E" in d.value.columns and "Period" in d.value.columns)
    shown = table[["Events", "O/E", "AUROC", "Cards accepted"]].astype(str)
    assert not shown.isin(["None", "nan", "NaT"]).any().any() and (shown == "—").any().any()  # not known yet: —
    matured = table.loc[table["Matured"], "Period"].iloc[-1]
    assert app.selectbox(key="monitor_detail").value == matured  # details open where outcomes have arrived
    weekly = _alert_count(app.radio(key="monitor_period").set_value("week").run())
    home = open_page("home")
    banner = next(w.value for w in home.warning if "Monitoring:" in w.value)
    assert "calibration" in banner  # each report counted as its page counts it, never the two summed
    assert f"{weekly} alert{'' if weekly == 1 else 's'} in the weekly report (" in banner
    assert f"{monthly} alert{'' if monthly == 1 else 's'} in the monthly report (" in banner


def _alert_count(app: AppTest) -> int:
    """The Monitoring page's one alert summary, checked against the alerts it lists."""
    summary = next(w.value for w in app.warning if "in these periods:" in w.value)
    listed = next(m.value for m in app.markdown if m.value.startswith("- **")).count("\n- **") + 1
    assert summary.startswith(f"**{listed} alert")
    return listed


def test_the_pages_door_to_the_log_does_not_load_torch():
    """Home shows the alerts banner through it, and Home starts without torch."""
    import subprocess
    import sys

    code = "import sys; import prediction_log; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "dashboard", capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_the_model_page_shows_the_update_in_use_and_who_put_it_there(after_the_alert, empty_log, tmp_path,
                                                                      monkeypatch):
    from recovery_model.log.registry import ModelRegistry
    from recovery_model.paths import DEFAULT_CHECKPOINT
    from recovery_model.updating.update import write_update

    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    write_update(after_the_alert, tmp_path / "candidate")
    ModelRegistry(empty_log).promote(tmp_path / "candidate", DEFAULT_CHECKPOINT, "Dr Analyst", "O/E 1.9 since April")
    app = open_page("model")
    assert not app.exception
    assert any("In use: **0.1.0+intercept." in c.value for c in app.caption)
    assert any(e.label.startswith("Changes of the model in use (1; latest") and "promote by Dr Analyst" in e.label
               for e in app.expander)
    history = next(d.value for d in app.dataframe if "why" in d.value.columns)
    assert history["why"].tolist() == ["O/E 1.9 since April"] and history["in use before"].tolist() == ["0.1.0"]
    assert any(i.value.startswith("**An update of 0.1.0**") and "recalibrated" in i.value for i in app.info)
    compared = next(d.value for d in app.dataframe if "this model" in d.value.columns)
    assert compared["on the held-out patients"].tolist() == ["O/E (1 is calibrated)", "AUROC", "Calibration slope"]
    assert not compared.astype(str).isin(["None", "nan", "NaT"]).any().any()


def test_a_shadow_model_scores_the_ward_silently(empty_log, candidates, monkeypatch):
    from recovery_model.log.registry import ModelRegistry

    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    ModelRegistry(empty_log).shadow(candidates[1], "Dr Analyst", "watch it")
    app = open_page("ward")
    app.toggle(key="use_sample").set_value(True).run()
    assert not app.exception and not app.error
    rows = logged(empty_log)
    assert sorted(set(rows["source"])) == ["shadow", "ward"] and (rows["source"] == "shadow").sum() == 48
    shown = " ".join(str(e.value) for e in (*app.markdown, *app.caption, *app.info, *app.warning))
    assert "test+1.0" not in shown  # never shown


def test_the_monitoring_page_shows_the_shadow_beside_the_model_in_use(empty_log, default_predictor, candidates,
                                                                     tmp_path, monkeypatch):
    from recovery_model.monitoring.simulation import Deployment
    from recovery_model.scoring.predictor import Predictor
    from tests.conftest import simulated_log

    log = simulated_log(tmp_path, default_predictor, Deployment(months=3, drift_from_month=2, patients_per_week=120),
                        shadow=Predictor.load(candidates[1]))
    monkeypatch.setenv("RECOVERY_DATABASE_URL", log.engine.url.render_as_string(hide_password=False))
    app = open_page("monitoring")
    assert not app.exception
    assert any(s.value == "In the shadow: test+1.0" for s in app.subheader)
    table = next(d.value for d in app.dataframe if "O/E shadow" in d.value.columns)
    assert table["Period"].iloc[-1] == "all" and not table.astype(str).isin(["None", "nan", "NaT"]).any().any()


def test_an_estimate_made_while_the_database_is_away_is_kept_and_written_when_it_is_back(tmp_path, monkeypatch):
    from recovery_model.log.database import upgrade
    from tests.log.postgres_server import PrivateServer

    server = PrivateServer()
    try:
        upgrade(server.url)
        monkeypatch.setenv("RECOVERY_DATABASE_URL", server.url)
        monkeypatch.setenv("RECOVERY_SPOOL_DIR", str(tmp_path / "spool"))
        app = submit_patient(open_page("patient"), "BED-3", 91.0)
        server.stop()
        submit_patient(app, "BED-3", 88.0)
        assert not app.exception
        assert any("Logged on this server for now" in w.value for w in app.warning)
        assert app.metric[0].label == "Risk of not recovering"  # the risk is shown all the same
        server.start()
        submit_patient(app, "BED-3", 86.0)
        assert not app.exception
        assert sorted(logged(PredictionLog.open(server.url))["source"]) == ["patient"] * 3
    finally:
        server.remove()
