"""Every page driven headlessly with Streamlit's AppTest."""

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from recovery_model.evaluation.summary import ModelSummary
from recovery_model.scoring.narrative import percent
from tests.conftest import DATA, ROOT

APP = str(ROOT / "dashboard" / "app.py")
PAGES = ["home", "patient", "ward", "model", "monitoring"]


def open_page(page: str) -> AppTest:
    """Run the entry script first (it registers the pages a user may see), then open the page."""
    app = AppTest.from_file(APP, default_timeout=60).run()
    app.switch_page(f"views/{page}.py").run()
    return app


def _no_errors(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_exception(page):
    _no_errors(open_page(page))


def test_home_names_the_model_and_its_metrics(default_predictor):
    app = open_page("home")
    auroc = ModelSummary.read(default_predictor.folder).report.internal.metrics.value.auroc
    assert any(m.value == f"{auroc:.3f}" for m in app.metric)
    assert any("Decision support, not a diagnosis" in w.value for w in app.warning)


def test_patient_form_shows_the_predictors_risk(default_predictor, schema):
    app = open_page("patient")
    entered = schema.defaults() | {"oxygen_level": 87.5, "age": 78, "previous_conditions": 3}
    app.number_input(key="patient_oxygen_level").set_value(87.5)
    app.number_input(key="patient_age").set_value(78)
    app.number_input(key="patient_previous_conditions").set_value(3)
    app.form_submit_button[0].click().run()
    _no_errors(app)
    expected = default_predictor.predict_risk(pd.DataFrame([entered]))["risk"].iloc[0]
    assert app.metric[0].label == "Risk of not recovering"
    assert app.metric[0].value == percent(expected)
    assert any("SpO2 = 87.5%" in w.value for w in app.warning)  # outside the typical range: flagged


def test_impossible_values_are_refused_at_the_field():
    app = open_page("patient")
    app.number_input(key="patient_oxygen_level").set_value(150).run()
    assert app.number_input(key="patient_oxygen_level").value == 96.0
    assert app.number_input(key="patient_oxygen_level").max == 100


def test_what_if_updates_the_risk(default_predictor, schema):
    app = open_page("patient")
    app.form_submit_button[0].click().run()
    app.slider(key="whatif_medication_adherence_1_0").set_value(1).run()
    _no_errors(app)
    changed = schema.defaults() | {"medication_adherence": 1}
    expected = default_predictor.predict_risk(pd.DataFrame([changed]))["risk"].iloc[0]
    what_if = next(m for m in app.metric if m.label == "What if")
    assert what_if.value == percent(expected)


def test_patient_shows_the_interval_and_options_that_fill_the_what_if(default_predictor, schema):
    app = open_page("patient")
    app.slider(key="patient_medication_adherence").set_value(2)
    app.number_input(key="patient_age").set_value(82)
    app.number_input(key="patient_oxygen_level").set_value(88.0)
    app.form_submit_button[0].click().run()
    _no_errors(app)
    patient = pd.DataFrame([schema.defaults() | {"medication_adherence": 2, "age": 82, "oxygen_level": 88.0}])
    row = default_predictor.predict_risk(patient).iloc[0]
    interval = f"({percent(row['risk_low'])}–{percent(row['risk_high'])})"
    assert any(interval in m.value for m in app.markdown)
    assert any("not a confidence interval for this person" in c.value for c in app.caption)
    options = default_predictor.suggest_changes(patient)
    assert len(options) and any("Option 1." in m.value for m in app.markdown)
    app.button(key="option_0_1").click().run()
    _no_errors(app)
    what_if = next(m for m in app.metric if m.label == "What if")
    assert what_if.value == percent(options["risk"].iloc[0])


def test_an_atypical_patient_is_warned_and_still_scored():
    app = open_page("patient")
    app.number_input(key="patient_days_hospitalized").set_value(300)
    app.number_input(key="patient_heart_rate").set_value(210)
    app.form_submit_button[0].click().run()
    assert not app.exception
    assert any("Unlike the patients this model learned from" in w.value and "Length of stay = 300" in w.value
               for w in app.warning)
    assert app.metric[0].value.endswith("%")


def test_ward_page_says_whether_the_ward_is_like_the_training_data():
    app = open_page("ward")
    app.file_uploader[0].upload("sample_ward.csv", (DATA / "sample_ward.csv").read_bytes(), "text/csv").run()
    banners = [b.value for b in [*app.info, *app.warning] if "the training data?" in b.value]
    assert len(banners) == 1 and "48 patients" in banners[0]
    table = next(d.value for d in app.dataframe if "in_top_k" in d.value.columns)
    assert {"risk_low", "risk_high", "atypical", "typicality"} <= set(table.columns)


def _ranked_risks(app: AppTest) -> pd.Series:
    table = next(d.value for d in app.dataframe if "risk" in d.value.columns and "rank" in d.value.columns)
    return table["risk"]


def test_ward_ranks_the_sample_ward_in_descending_risk():
    app = open_page("ward")
    app.file_uploader[0].upload("sample_ward.csv", (DATA / "sample_ward.csv").read_bytes(), "text/csv").run()
    _no_errors(app)
    risks = _ranked_risks(app)
    assert len(risks) == len(pd.read_csv(DATA / "sample_ward.csv"))
    assert risks.is_monotonic_decreasing
    assert [m.value for m in app.metric][:4] == ["48", "48", "10", "0"]


def test_ward_reports_bad_rows_and_still_scores_the_rest():
    lines = (DATA / "sample_ward.csv").read_text().splitlines()
    header = lines[0].split(",")
    broken = lines[1].split(",")
    broken[header.index("oxygen_level")] = "250"
    lines[1] = ",".join(broken)
    wrong = lines[2].split(",")
    wrong[header.index("age")] = "unknown"
    lines[2] = ",".join(wrong)
    app = open_page("ward")
    app.file_uploader[0].upload("ward.csv", "\n".join(lines).encode(), "text/csv").run()
    rejected = next(d.value for d in app.dataframe if "problems" in d.value.columns)
    assert list(rejected["row"]) == [1, 2]
    assert "oxygen_level = '250'" in rejected["problems"].iloc[0]
    assert "age = 'unknown'" in rejected["problems"].iloc[1]
    assert len(_ranked_risks(app)) == 46


def test_ward_refuses_a_file_without_the_columns():
    app = open_page("ward")
    app.file_uploader[0].upload("ward.csv", b"patient_id,Age,oxygen level\nA1,70,95\n", "text/csv").run()
    assert app.error and "Missing required columns" in app.error[0].value
    assert "'Age' → 'age'" in app.error[0].value


def test_model_page_shows_the_reports_numbers(default_predictor):
    app = open_page("model")
    report = ModelSummary.read(default_predictor.folder).report
    metrics = app.dataframe[0].value.set_index("metric")
    assert metrics.loc["AUROC", "value"] == pytest.approx(report.internal.metrics.value.auroc)
    slope_low = report.internal.metrics.low.calibration_slope
    assert metrics.loc["Calibration slope", "95 % CI low"] == pytest.approx(slope_low)
    assert any(report.verdict.text == box.value for box in [*app.success, *app.warning])
    baselines = next(d.value for d in app.dataframe if "model" in d.value.columns)
    assert len(baselines) == len(report.baselines)
    subgroups = next(d.value for d in app.dataframe if "level" in d.value.columns)
    assert list(subgroups["level"][:3]) == ["under 50", "50–69", "70+"]


@pytest.mark.parametrize("page", PAGES)
def test_without_a_model_every_page_says_how_to_fix_it(page, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOVERY_CHECKPOINT", str(tmp_path / "missing"))
    app = open_page(page)
    assert not app.exception
    assert app.error and "No model is loaded" in app.error[0].value
    assert any("recovery train" in c.value for c in app.code)


@pytest.mark.parametrize("page", ["home", "model"])
def test_a_damaged_report_is_named_and_the_page_still_works(page, tmp_path, monkeypatch):
    """A report from another version, or cut short, is refused with the command that rewrites it."""
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(ROOT / "checkpoints" / "default", folder)
    text = (folder / "report.json").read_text()
    (folder / "report.json").write_text(text[: len(text) // 2])
    monkeypatch.setenv("RECOVERY_CHECKPOINT", str(folder))
    app = open_page(page)
    assert not app.exception and not app.error
    assert any("cannot be shown" in w.value and "recovery evaluate" in w.value for w in app.warning)


def test_ward_slots_and_threshold_re_flag_without_re_scoring():
    app = open_page("ward")
    app.file_uploader[0].upload("sample_ward.csv", (DATA / "sample_ward.csv").read_bytes(), "text/csv").run()
    scored = app.session_state["ward_scored"]
    app.number_input(key="slots").set_value(3).run()
    app.number_input(key="threshold").set_value(5.0).run()
    table = next(d.value for d in app.dataframe if "in_top_k" in d.value.columns)
    assert table["in_top_k"].sum() == 3 and table["in_top_k"].iloc[:3].all()
    assert (table["above_threshold"] == (table["risk"] >= 0.05)).all()
    assert app.session_state["ward_scored"] is scored  # scored and explained once per file


def _record(rows: int, blank: str = "") -> tuple[pd.DataFrame, bytes]:
    """The sample ward's first rows as a FHIR Bundle, measured an hour ago (so 'now' finds every value);
    `blank`: a feature left out of the record."""
    import json
    from datetime import UTC, datetime

    from recovery_model.readers.fhir.sample import to_bundle
    from recovery_model.schema import load_schema

    ward = pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).head(rows)
    if blank:
        ward[blank] = None
    return ward, json.dumps(to_bundle(ward, load_schema(), datetime.now(UTC))).encode()


def test_patient_form_fills_from_a_fhir_record(default_predictor, schema):
    ward, bundle = _record(3)
    app = open_page("patient")
    app.file_uploader[0].upload("record.json", bundle, "application/fhir+json").run()
    app.selectbox(key="fhir_patient").select_index(1).run()
    app.button(key="fhir_fill").click().run()
    _no_errors(app)
    chosen = ward.iloc[1]
    assert any(chosen["patient_id"] in s.value for s in app.success)
    assert app.number_input(key="patient_heart_rate_1").value == chosen["heart_rate"]
    app.form_submit_button[0].click().run()
    expected = default_predictor.predict_risk(ward.iloc[[1]])["risk"].iloc[0]
    assert app.metric[0].value == percent(expected)


def test_patient_form_names_what_the_record_lacks():
    _, bundle = _record(1, blank="stress_level")
    app = open_page("patient")
    app.file_uploader[0].upload("record.json", bundle, "application/fhir+json").run()
    app.button(key="fhir_fill").click().run()
    note = "Not in the record, left empty (not recorded): Stress. Enter any you know."
    assert any(w.value == note for w in app.warning)
    stress = next(w for w in (*app.selectbox, *app.number_input) if w.key == "patient_stress_level_1")
    assert stress.value is None  # empty, never a default shown as if it had been recorded
    app.form_submit_button[0].click().run()
    _no_errors(app)
    assert any(i.value.startswith("Not recorded: Stress.") and "of the range's width" in i.value for i in app.info)


def test_ward_shows_where_each_fhir_value_came_from():
    _, bundle = _record(12)
    app = open_page("ward")
    app.file_uploader[0].upload("ward.json", bundle, "application/fhir+json").run()
    _no_errors(app)
    assert {m.label: m.value for m in app.metric}["Scored"] == "12"
    sources = next(d.value for d in app.dataframe if "From" in d.value.columns)
    assert sources["From"].str.startswith(("Observation/", "Patient/", "Encounter/", "Condition/",
                                           "QuestionnaireResponse/", "from Observation/")).all()
    ranked = next(d.value for d in app.dataframe if "rank" in d.value.columns)
    assert "bmi_source" in ranked.columns  # in the table's data (and its download), folded out of the view


def test_ward_ranks_a_fhir_bulk_export_folder():
    """One NDJSON file per resource type, as a bulk export writes them, chosen as a folder."""
    import json

    ward, bundle = _record(6)
    by_type: dict[str, list[str]] = {}
    for entry in json.loads(bundle)["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(json.dumps(entry["resource"]))
    app = open_page("ward")
    uploader = next(u for u in app.get("file_uploader") if "bulk export" in u.label)
    for kind, lines in by_type.items():
        uploader.upload(f"{kind}.ndjson", ("\n".join(lines) + "\n").encode(), "application/fhir+ndjson")
    app.run()
    _no_errors(app)
    assert {m.label: m.value for m in app.metric}["Scored"] == "6"
    ranked = next(d.value for d in app.dataframe if "rank" in d.value.columns)
    assert set(ranked["patient_id"]) == set(ward["patient_id"])


def test_a_loaded_record_is_read_once_not_on_every_rerun(monkeypatch):
    import recovery_model.readers.fhir.reader as fhir

    _, bundle = _record(2)
    reads = []
    real = fhir.read_fhir
    monkeypatch.setattr(fhir, "read_fhir", lambda *a, **k: reads.append(1) or real(*a, **k))
    app = open_page("patient")
    app.file_uploader[0].upload("record.json", bundle, "application/fhir+json").run()
    app.button(key="fhir_fill").click().run()
    app.form_submit_button[0].click().run()
    _no_errors(app)
    assert len(reads) == 1


def test_a_model_trained_on_an_inferred_schema_scores_from_the_form(tmp_path, monkeypatch, tiny_config):
    """An inferred schema's only hard limit is the sign: its form fields are open above, and a patient entered
    beyond the training range is scored and flagged."""
    import numpy as np

    from recovery_model.schema import Schema
    from recovery_model.scoring.predictor import Predictor

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"lactate": rng.gamma(4, 0.5, 500).round(2), "sofa": rng.integers(0, 12, 500)})
    frame["died"] = (rng.random(500) < 1 / (1 + np.exp(2 - 0.5 * frame["lactate"]))).astype(int)
    Predictor.fit(frame, Schema.infer(frame, "died", 1), tiny_config, seed=0).save(tmp_path / "icu")
    monkeypatch.setenv("RECOVERY_CHECKPOINT", str(tmp_path / "icu"))
    app = open_page("patient")
    field = app.number_input(key="patient_lactate")
    assert field.min == 0 and field.max is None
    field.set_value(float(frame["lactate"].max()) * 5)
    app.form_submit_button[0].click().run()
    _no_errors(app)
    assert app.metric[0].label == "Risk of died = 1"
    assert any("outside the typical range" in w.value for w in app.warning)
