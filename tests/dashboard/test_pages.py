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


def fill(app: AppTest, values: dict, suffix: str = "") -> AppTest:
    """Type `values` into the Patient form, each field as its widget takes it (None empties it)."""
    from recovery_model.schema import load_schema

    schema = load_schema()
    for name, value in values.items():
        key = f"patient_{name}{suffix}"
        feature = schema.feature(name)
        value = None if value is None else (int(value) if feature.is_integer else float(value))
        if feature.is_binary:
            app.radio(key=key).set_value(value)
        elif feature.levels:
            app.selectbox(key=key).set_value(value)
        else:
            app.number_input(key=key).set_value(value)
    return app


def estimate(app: AppTest) -> AppTest:
    return app.button(key="estimate").click().run()


def test_a_fresh_form_holds_no_value(schema):
    app = open_page("patient")
    widgets = [w for w in (*app.number_input, *app.radio, *app.selectbox) if w.key.startswith("patient_")]
    assert len(widgets) == len(schema.features) and all(w.value is None for w in widgets)
    estimate(app)
    assert not app.metric
    assert any(e.value.startswith("**Not estimated.** 15 of 15 features are missing") for e in app.error)


def test_patient_form_shows_the_predictors_risk(default_predictor, schema):
    app = open_page("patient")
    entered = schema.defaults() | {"oxygen_level": 87.5, "age": 78, "previous_conditions": 3}
    estimate(fill(app, entered))
    _no_errors(app)
    expected = default_predictor.predict_risk(pd.DataFrame([entered]))["risk"].iloc[0]
    assert app.metric[0].label == "Risk of not recovering"
    assert app.metric[0].value == percent(expected)
    assert any("SpO2 = 87.5%" in w.value for w in app.warning)  # outside the typical range: flagged
    assert any(c.value.startswith("Estimated ") and "UTC for the values on the left" in c.value for c in app.caption)


def test_an_emptied_field_is_not_recorded_and_named(default_predictor, schema):
    app = open_page("patient")
    entered = schema.defaults() | {"bmi": None, "smoker": None, "stress_level": None}
    estimate(fill(fill(app, schema.defaults()), {"bmi": None, "smoker": None, "stress_level": None}))
    _no_errors(app)
    row = default_predictor.predict_risk(pd.DataFrame([entered])).iloc[0]
    assert app.metric[0].value == percent(row["risk"])
    assert any(i.value.startswith("Not recorded: BMI, Smoker, Stress.") for i in app.info)
    assert app.number_input(key="patient_bmi").value is None and app.radio(key="patient_smoker").value is None


def test_impossible_values_are_listed_and_no_risk_is_shown(schema):
    app = open_page("patient")
    estimate(fill(app, schema.defaults()))
    assert app.metric
    estimate(fill(app, {"oxygen_level": 860, "age": 250}))
    assert not app.metric  # the earlier risk belongs to other values: gone
    refusal = next(e.value for e in app.error if "Not possible, so not estimated" in e.value)
    assert "SpO2: 860 is outside the possible range 50–100%" in refusal
    assert "Age: 250 is outside the possible range 0–120 years" in refusal


def test_a_changed_field_marks_the_estimate_out_of_date(schema):
    app = open_page("patient")
    estimate(fill(app, schema.defaults() | {"age": 84}))
    assert app.metric
    fill(app, {"age": 85}).run()
    assert not app.metric
    assert any("**Out of date.**" in w.value and "Age from 84 years to 85 years" in w.value for w in app.warning)
    estimate(app)
    assert app.metric and not any("Out of date" in w.value for w in app.warning)


def test_what_if_updates_the_risk(default_predictor, schema):
    app = open_page("patient")
    estimate(fill(app, schema.defaults()))
    app.selectbox(key="whatif_medication_adherence_1_0").set_value(1).run()
    _no_errors(app)
    changed = schema.defaults() | {"medication_adherence": 1}
    expected = default_predictor.predict_risk(pd.DataFrame([changed]))["risk"].iloc[0]
    what_if = next(m for m in app.metric if m.label == "What if")
    assert what_if.value == percent(expected)


def test_patient_shows_the_range_and_options_that_fill_the_what_if(default_predictor, schema):
    app = open_page("patient")
    values = schema.defaults() | {"medication_adherence": 2, "age": 82, "oxygen_level": 88.0}
    estimate(fill(app, values))
    _no_errors(app)
    patient = pd.DataFrame([values])
    row = default_predictor.predict_risk(patient).iloc[0]
    sentence = f"between {percent(row['risk_low'])} and {percent(row['risk_high'])} did not recover"
    assert any(sentence in m.value for m in app.markdown)
    assert any("not a confidence interval for this person" in m.value for m in app.markdown)  # the method
    options = default_predictor.suggest_changes(patient)
    assert len(options) and any("Option 1." in m.value and " from " in m.value for m in app.markdown)
    app.button(key="option_0_1").click().run()
    _no_errors(app)
    what_if = next(m for m in app.metric if m.label == "What if")
    assert what_if.value == percent(options["risk"].iloc[0])


def test_an_atypical_patient_is_warned_and_still_scored(schema):
    app = open_page("patient")
    estimate(fill(app, schema.defaults() | {"days_hospitalized": 300, "heart_rate": 210}))
    assert not app.exception
    assert any("Unlike the patients this model learned from" in w.value and "Length of stay = 300" in w.value
               for w in app.warning)
    assert app.metric[0].value.endswith("%")


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
    estimate(app)
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
    estimate(app)
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
    uploader = next(u for u in app.get("file_uploader") if "folder of NDJSON" in u.label)
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
    estimate(app)
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
    app.number_input(key="patient_lactate").set_value(-1.0)
    app.number_input(key="patient_sofa").set_value(3)
    estimate(app)
    assert not app.metric and any("Lactate: -1 is below the possible minimum 0" in e.value for e in app.error)
    app.number_input(key="patient_lactate").set_value(float(frame["lactate"].max()) * 5)
    estimate(app)
    _no_errors(app)
    assert app.metric[0].label == "Risk of died = 1"
    assert any("outside the typical range" in w.value for w in app.warning)


def test_a_file_that_is_not_a_table_gets_a_sentence():
    app = open_page("ward")
    app.file_uploader[0].upload("scan.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png").run()
    assert not app.exception
    assert any("scan.png is not a ward list this page reads (.png). Upload a CSV file (.csv, .txt, .tsv); a Parquet "
               "file (.parquet, .pq); a FHIR R4 Bundle" in e.value for e in app.error)


MODEL_TABS = {"Performance": "roc", "Baselines": "baselines", "Subgroups": "subgroups",
              "Learning curve": "learning_curve", "Explanations": "shape", "Model card": "card"}


def _drawn(app: AppTest) -> set[str]:
    """Which tabs' own content is on the page: their charts' keys, their tables' columns, the card's headings."""
    keys = {getattr(e, "key", None) for e in app.main}
    tables = [set(d.value.columns) for d in app.dataframe]
    return ({name for name in MODEL_TABS.values() if name in keys}
            | ({"baselines"} if any({"model", "fresh AUROC"} <= t for t in tables) else set())
            | ({"subgroups"} if any({"group", "level"} <= t for t in tables) else set())
            | ({"card"} if any("## Intended use" in m.value for m in app.markdown) else set()))


@pytest.mark.parametrize("tab", MODEL_TABS)
def test_each_model_tab_draws_when_opened_and_only_then(tab):
    """The Model page draws the open tab alone: each one, opened, renders without an error and holds its own."""
    app = open_page("model")
    app.session_state["model_tab"] = tab
    app.run()
    _no_errors(app)
    assert _drawn(app) == {MODEL_TABS[tab]}


def test_the_model_page_draws_the_additive_models_shape_functions(schema):
    """The committed model is additive: the Model page draws each feature's curve (not a scatter of SHAP values) and
    says what a missing value counts as."""
    app = open_page("model")
    _no_errors(app)
    assert not [s for s in app.selectbox if s.key == "shape_feature"]  # only the open tab is drawn
    app.session_state["model_tab"] = "Explanations"
    app.run()
    assert not [s for s in app.selectbox if s.key == "dependence_feature"]
    app.selectbox(key="shape_feature").set_value("smoker").run()
    _no_errors(app)
    caption = next(c.value for c in app.caption if "sum of one function per feature" in c.value)
    assert schema.feature("smoker").label in caption and "Not recorded, the value counts as" in caption


def test_a_deep_model_keeps_its_dependence_plot(tmp_path, monkeypatch, cohort_small, schema, tiny_config):
    """One MLP over all inputs has no shape functions: the page shows the dependence plot of its SHAP values, and
    says they come from DeepLIFT."""
    from dataclasses import replace

    from recovery_model.evaluation.evaluate import EvaluationSettings, evaluate
    from recovery_model.evaluation.model_card import render_model_card
    from recovery_model.evaluation.summary import write_report
    from recovery_model.scoring.predictor import Predictor

    deep = replace(tiny_config, additive=False)
    predictor = Predictor.fit(cohort_small, schema, deep, seed=0)
    predictor.save(tmp_path / "deep")
    report = evaluate(predictor, cohort_small, include_oracle=False, settings=EvaluationSettings(
        n_bootstrap=20, fresh_rows=0, explain_rows=30, seed_config=replace(deep, linear_path=False), peer=False))
    write_report(tmp_path / "deep", report, render_model_card(report, schema))
    monkeypatch.setenv("RECOVERY_CHECKPOINT", str(tmp_path / "deep"))
    app = open_page("model")
    app.session_state["model_tab"] = "Explanations"
    app.run()
    _no_errors(app)
    assert app.selectbox(key="dependence_feature") and not [s for s in app.selectbox if s.key == "shape_feature"]
    assert any("DeepLIFT" in c.value for c in app.caption)


def test_a_choice_in_a_model_tab_survives_a_visit_to_another_tab():
    """Only the open tab is drawn, and Streamlit forgets a widget that is not: the page keeps the threshold and the
    feature chosen while another tab is open."""
    app = open_page("model")
    app.slider(key="model_threshold").set_value(20.0).run()
    app.session_state["model_tab"] = "Explanations"
    app.run()
    app.selectbox(key="shape_feature").set_value("bmi").run()
    for tab in ("Baselines", "Performance", "Explanations"):
        app.session_state["model_tab"] = tab
        app.run()
        _no_errors(app)
        assert not app.warning or all("Session State" not in w.value for w in app.warning)
    assert app.selectbox(key="shape_feature").value == "bmi"
    app.session_state["model_tab"] = "Performance"
    app.run()
    assert app.slider(key="model_threshold").value == 20.0
