"""FHIR R4 import: every value against one computed by hand from tests/fixtures/fhir/ward_bundle.json.

The fixture's three patients, at the index time 2026-11-30 12:00 UTC:
- p1 has everything, some of it twice: the latest value wins, a panel's systolic component counts, a value
  after the index time is ignored, glucose comes in mmol/L, BMI comes from weight and height.
- p2 has what leaves a value blank: a birth year only, a pressure in kPa, two glucose values at one time,
  an SpO2 with no value, no stay, no stress answer and no Condition (no problem list: missing, not 0).
- p3 is referenced by urn:uuid, weighs in pounds, is measured in inches, has one invalid Observation and no
  Condition either.
Records shaped like Synthea's, and the value set, AUDIT-C and Encounter-class rules, are in test_fhir_records.py.
"""

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from recovery_model.batch.local import rank_file
from recovery_model.cli import main
from recovery_model.errors import DataValidationError
from recovery_model.readers.fhir.reader import form_values, read_fhir
from recovery_model.readers.fhir.sample import to_bundle
from recovery_model.scoring.columns import FHIR_NOTES, source_column
from recovery_model.times import parse_as_of
from tests.conftest import ROOT

BUNDLE = ROOT / "tests" / "fixtures" / "fhir" / "ward_bundle.json"
AS_OF = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def record(schema):
    return read_fhir(BUNDLE, schema, AS_OF)


def _patient(record, pid):
    return record.frame.set_index("patient_id").loc[pid]


def test_one_row_per_patient_in_file_order_with_the_fhir_id(record):
    assert list(record.frame["patient_id"]) == ["p1", "p2", "p3"]


def test_latest_values_converted_with_their_provenance(record):
    p1 = _patient(record, "p1")
    expected = {"age": 76, "bmi": round(80 / 1.75 ** 2, 2), "blood_pressure": 142, "oxygen_level": 96,
                "heart_rate": 88, "sugar_level": 6.5 * 18.016, "cholesterol": 210, "days_hospitalized": 5,
                "previous_conditions": 2, "smoker": 0, "alcohol_use": 0, "treatment_intensity": 3,
                "medication_adherence": 8, "followup_visits": 2, "stress_level": 6}
    assert {name: p1[name] for name in expected} == pytest.approx(expected)
    assert p1[source_column("blood_pressure")] == "Observation/p1-bp-panel 2026-11-30T08:00Z"  # newer than 130
    assert p1[source_column("oxygen_level")] == "Observation/p1-spo2-b 2026-11-30T09:00Z"  # not tomorrow's 80
    assert p1[source_column("bmi")] == ("from Observation/p1-weight 2026-11-26T10:00Z and "
                                        "Observation/p1-height 2025-03-01T10:00Z")
    assert p1[source_column("age")] == "Patient/p1 birthDate 1950-06-15"
    assert p1[source_column("days_hospitalized")] == "Encounter/p1-stay from 2026-11-25T10:00Z"
    assert p1[source_column("previous_conditions")] == ("Condition/p1-diabetes (diabetes), "
                                                        "Condition/p1-copd (chronic pulmonary disease)")
    assert p1[source_column("stress_level")] == "QuestionnaireResponse/p1-form 2026-11-29T15:00Z"
    assert p1[FHIR_NOTES] == ""


def test_what_cannot_be_read_is_left_blank_and_said_by_patient_and_feature(record):
    p2 = _patient(record, "p2")
    for name in ("age", "blood_pressure", "sugar_level", "oxygen_level", "days_hospitalized", "previous_conditions",
                 "stress_level"):
        assert pd.isna(p2[name]) and p2[source_column(name)] == "", name
    assert p2["cholesterol"] == pytest.approx(5.2 * 38.67) and p2["smoker"] == 1 and p2["bmi"] == 31.2
    notes = {(p.feature, p.resource): p.message for p in record.problems if p.patient == "p2"}
    assert "65 or 66" in notes[("age", "Patient/p2")]
    assert "'kPa', which this schema cannot convert to mmHg" in notes[("blood_pressure", "Observation/p2-bp")]
    assert "Observation/p2-glucose-a = 100, Observation/p2-glucose-b = 140" in \
        notes[("sugar_level", "Observation/p2-glucose-a")]
    assert "data absent: not-performed" in notes[("oxygen_level", "Observation/p2-spo2")]
    assert notes[("", "Patient/p2")] == ("not in the record at 2026-11-30T12:00Z: Length of stay, Chronic conditions, "
                                         "Stress")
    assert "kPa" in p2[FHIR_NOTES] and "Length of stay, Chronic conditions, Stress" in p2[FHIR_NOTES]


def test_urn_references_imperial_units_and_an_invalid_resource(record):
    p3 = _patient(record, "p3")
    assert p3["bmi"] == pytest.approx(round(176 * 0.45359237 / (70 * 0.0254) ** 2, 2))
    assert p3["age"] == 37 and p3["days_hospitalized"] == 1 and p3["heart_rate"] == 64
    assert pd.isna(p3["previous_conditions"])
    invalid = [p for p in record.problems if p.patient == "p3" and p.feature != ""]
    assert invalid == []
    invalid = [p for p in record.problems if p.patient == "p3" and "not valid FHIR" in p.message]
    assert len(invalid) == 1 and invalid[0].resource == "Observation/p3-bad-date"
    assert "entry 41" in invalid[0].message and "effectiveDateTime" in invalid[0].message


def test_the_file_level_notes(record):
    text = " ".join(record.warnings)
    assert "1 MedicationRequest resource not read" in text
    assert "Observation/ghost-hr" in text
    assert "http://loinc.org|718-7 (1)" in text


def test_as_of_takes_the_values_known_then(schema):
    earlier = read_fhir(BUNDLE, schema, datetime(2026, 11, 29, 12, tzinfo=UTC))
    p1 = _patient(earlier, "p1")
    assert p1["blood_pressure"] == 130 and pd.isna(p1["oxygen_level"]) and p1["days_hospitalized"] == 4
    assert parse_as_of("2026-11-29") == datetime(2026, 11, 29, 23, 59, 59, 999999, tzinfo=UTC)


def test_a_bulk_export_folder_reads_like_the_bundle(schema, record, tmp_path):
    """NDJSON files, one per resource type, with plain Patient/id references (no fullUrl to resolve)."""
    text = BUNDLE.read_text().replace("urn:uuid:7f1c2a3e-0b7d-4d55-9f2a-3c9b1d6e8a01", "Patient/p3")
    by_type: dict[str, list[str]] = {}
    for entry in json.loads(text)["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(json.dumps(entry["resource"]))
    for kind, lines in by_type.items():
        (tmp_path / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
    folder = read_fhir(tmp_path, schema, AS_OF)
    features = schema.feature_names
    pd.testing.assert_frame_equal(folder.frame.set_index("patient_id")[features].sort_index(),
                                  record.frame.set_index("patient_id")[features].sort_index())
    assert "Observation.ndjson line" in next(p.message for p in folder.problems if p.patient == "p3")


def test_synthetic_patients_survive_the_round_trip(schema):
    rows = pd.read_csv(ROOT / "data" / "sample_ward.csv", dtype={"patient_id": str})
    rows.loc[2, "cholesterol"] = np.nan
    back = read_fhir(json.dumps(to_bundle(rows, schema, AS_OF)).encode(), schema, AS_OF, name="ward.json")
    assert list(back.frame["patient_id"]) == list(rows["patient_id"])
    np.testing.assert_allclose(back.frame[schema.feature_names].to_numpy(dtype=float),
                               rows[schema.feature_names].to_numpy(dtype=float))
    assert [(p.patient, p.message) for p in back.problems] == [
        (rows.loc[2, "patient_id"], "not in the record at 2026-11-30T12:00Z: Cholesterol")]


def test_recovery_predict_scores_a_bundle_and_keeps_the_provenance(small_predictor, tmp_path):
    result = rank_file(small_predictor, BUNDLE, tmp_path / "ranked.csv", tmp_path / "rejected.csv", as_of=AS_OF)
    assert result.counts["rows"] == 3 and result.counts["scored"] == 2 and result.counts["rejected"] == 1
    ranked = pd.read_csv(tmp_path / "ranked.csv", keep_default_na=False)
    assert set(ranked["patient_id"]) == {"p1", "p3"}
    assert "Observation/p1-bp-panel" in ranked.set_index("patient_id").loc["p1", source_column("blood_pressure")]
    rejected = pd.read_csv(tmp_path / "rejected.csv")
    assert list(rejected["patient_id"]) == ["p2"] and "7 of 15 features are missing" in rejected["problems"][0]
    assert "kPa" in rejected[FHIR_NOTES][0]


def test_the_cli_names_each_blank_value_by_patient(small_predictor, tmp_path, capsys):
    out = tmp_path / "ranked.parquet"
    code = main(["predict", "--input", str(BUNDLE), "--output", str(out), "--checkpoint", str(small_predictor.folder),
                 "--as-of", "2026-11-30T12:00:00Z"])
    captured = capsys.readouterr()
    assert code == 0 and "3 rows in: 2 scored" in captured.out
    assert "patient p2: Systolic BP: Observation/p2-bp is in 'kPa'" in captured.err
    assert "MedicationRequest" in captured.err and "Traceback" not in captured.err
    assert len(pd.read_parquet(out)) == 2


def test_form_values_fill_what_the_form_can_hold(schema, record):
    values, notes = form_values(record, 1, schema)
    assert values["heart_rate"] == 72 and "age" not in values
    assert any(n.startswith("Not in the record, left empty (not recorded): Age") for n in notes)
    assert any("kPa" in note for note in notes)


def test_a_schema_without_a_mapping_says_so(schema):
    from dataclasses import replace

    bare = replace(schema, features=tuple(replace(f, fhir=None) for f in schema.features))
    with pytest.raises(DataValidationError, match="says nowhere how its features are found in FHIR"):
        read_fhir(BUNDLE, bare, AS_OF)


def _one_patient_bundle(schema, edit) -> bytes:
    """The sample ward's first patient as a Bundle, with `edit(resources by id)` applied."""
    rows = pd.read_csv(ROOT / "data" / "sample_ward.csv", dtype={"patient_id": str}).head(1)
    bundle = to_bundle(rows, schema, AS_OF)
    edit({e["resource"]["id"]: e["resource"] for e in bundle["entry"]}, bundle, rows["patient_id"][0])
    return json.dumps(bundle).encode()


def test_a_bound_is_not_a_value(schema):
    def edit(by_id, _, pid):
        by_id[f"{pid}-sugar-level"]["valueQuantity"]["comparator"] = "<"

    record = read_fhir(_one_patient_bundle(schema, edit), schema, AS_OF)
    assert pd.isna(record.frame["sugar_level"][0])
    assert any("is a bound (< " in p.message and p.feature == "sugar_level" for p in record.problems)


def test_a_cancelled_stay_and_a_condition_recorded_later_do_not_count(schema):
    def edit(by_id, bundle, pid):
        by_id[f"{pid}-stay"]["status"] = "cancelled"
        by_id[f"{pid}-condition-1"]["recordedDate"] = "2026-12-24"

    record = read_fhir(_one_patient_bundle(schema, edit), schema, AS_OF)
    rows = pd.read_csv(ROOT / "data" / "sample_ward.csv").head(1)
    assert pd.isna(record.frame["days_hospitalized"][0])
    assert record.frame["previous_conditions"][0] == rows["previous_conditions"][0] - 1


def test_a_hospital_maps_its_own_codes_in_its_schema(schema):
    """A local code system and unit for heart rate, written in the schema as data: no code changes."""
    from dataclasses import replace

    local = replace(schema.feature("heart_rate").fhir, codes=("http://hospital.example/vitals|PULSE",),
                    units={"beats/min": 1.0})
    hospital = replace(schema, features=tuple(replace(f, fhir=local) if f.name == "heart_rate" else f
                                              for f in schema.features))

    def edit(by_id, _, pid):
        by_id[f"{pid}-heart-rate"]["code"]["coding"] = [{"system": "http://hospital.example/vitals", "code": "PULSE"}]
        by_id[f"{pid}-heart-rate"]["valueQuantity"].update(unit="beats/min", code="beats/min", system=None)

    record = read_fhir(_one_patient_bundle(schema, edit), hospital, AS_OF)
    rows = pd.read_csv(ROOT / "data" / "sample_ward.csv").head(1)
    assert record.frame["heart_rate"][0] == rows["heart_rate"][0]
    assert pd.isna(read_fhir(_one_patient_bundle(schema, edit), schema, AS_OF).frame["heart_rate"][0])


def test_the_form_is_not_filled_with_a_value_the_validator_refuses(schema):
    def edit(by_id, _, pid):
        by_id[f"{pid}-oxygen-level"]["valueQuantity"]["value"] = 140

    record = read_fhir(_one_patient_bundle(schema, edit), schema, AS_OF)
    values, notes = form_values(record, 0, schema)
    assert "oxygen_level" not in values and len(values) == len(schema.features) - 1
    assert notes == ["The oldest value filled in was measured 2026-11-30 11:00 UTC.",
                     "Not filled in: oxygen_level = '140.0': outside the possible range 50–100 %; check the value "
                     "or its unit"]
