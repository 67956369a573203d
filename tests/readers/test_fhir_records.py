"""FHIR R4 records shaped like Synthea's: every value read against one computed by hand in the test.

tests/fixtures/fhir/synthea_*.json are hand-written transaction Bundles in Synthea's shape, one patient each
(fullUrl and references as urn:uuid, a blood-pressure panel 85354-9, AUDIT-C in {score}, social-history findings
on the problem list, Claims, Provenance and the like), read at 2026-11-30 12:00 UTC:
- outpatient: a man of 65 seen at a wellness visit in October: demographics, vitals, smoking status and a problem
  list of three chronic disorders among social-history findings; no labs, no SpO2, no questionnaire, no stay.
- inpatient: a woman of 77 (78 tomorrow), admitted through the emergency department on 27 November, still in
  hospital, with an ambulatory physiotherapy visit in progress this morning; a little of everything.
- no_conditions: a man of 34 at an urgent-care visit today, with no Condition at all.
- empty_problem_list: no gender recorded, discharged on 24 November, a problem List with nothing on it.
"""

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from recovery_model.cli import main
from recovery_model.errors import SchemaError
from recovery_model.readers.fhir.reader import read_fhir
from recovery_model.readers.fhir.sample import to_bundle
from recovery_model.readers.fhir.values import ValueSet
from recovery_model.readers.freshness import shelf_life_text
from recovery_model.schema import FhirMapping, Schema
from recovery_model.scoring.columns import OLDEST_VALUE_TIME, OUTDATED, source_column
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "fhir"
NAMES = ("outpatient", "inpatient", "no_conditions", "empty_problem_list")
AS_OF = datetime(2026, 11, 30, 12, tzinfo=UTC)
FINDINGS = ("(finding)", "(situation)")


# ----- reading the fixtures ------------------------------------------------------------------------------------
def _bundle(name: str) -> dict:
    return json.loads((FIXTURES / f"synthea_{name}.json").read_text(encoding="utf-8"))


def _resources(name: str, kind: str) -> list[dict]:
    return [e["resource"] for e in _bundle(name)["entry"] if e["resource"]["resourceType"] == kind]


def _pid(name: str) -> str:
    return _resources(name, "Patient")[0]["id"]


def _codes(resource: dict) -> list[str]:
    return [c["code"] for c in resource["code"]["coding"]]


def _condition(name: str, code: str) -> str:
    """The reference of the first Condition coded `code`."""
    return "Condition/" + next(r["id"] for r in _resources(name, "Condition") if code in _codes(r))


def _observation(name: str, code: str, day: str) -> str:
    return "Observation/" + next(r["id"] for r in _resources(name, "Observation")
                                 if code in _codes(r) and r["effectiveDateTime"].startswith(day))


def _encounter(name: str, klass: str, status: str) -> str:
    return "Encounter/" + next(r["id"] for r in _resources(name, "Encounter")
                               if r["class"]["code"] == klass and r["status"] == status)


def _read(name: str, schema: Schema, edit=None):
    """One fixture as it is, or with `edit(bundle)` applied to it first."""
    bundle = _bundle(name)
    if edit is not None:
        edit(bundle)
    return read_fhir(json.dumps(bundle).encode(), schema, AS_OF, name=f"synthea_{name}.json")


def _row(record, name: str) -> pd.Series:
    return record.frame.set_index("patient_id").loc[_pid(name)]


def _where(bundle: dict, kind: str, code: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == kind and code in _codes(e["resource"])]


def _drop(bundle: dict, kind: str) -> None:
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != kind]


@pytest.fixture(scope="module")
def record(schema):
    """The four files read together, as an uploaded bulk export."""
    files = [(f"synthea_{name}.json", (FIXTURES / f"synthea_{name}.json").read_bytes()) for name in NAMES]
    return read_fhir(files, schema, AS_OF)


def _check(record, schema, name: str, expected: dict[str, float], outdated: dict[str, str] | None = None) -> None:
    """Every feature: the value computed by hand, or blank and named: as too old to use (`outdated`: the feature and
    the day it was last measured), or as not in the record."""
    outdated = outdated or {}
    row = _row(record, name)
    missing = [f for f in schema.features if f.name not in expected and f.name not in outdated]
    assert {n: row[n] for n in expected} == pytest.approx(expected)
    for feature in [*missing, *map(schema.feature, outdated)]:
        assert pd.isna(row[feature.name]) and row[source_column(feature.name)] == "", feature.name
    too_old = [f"last measured {day}, older than {shelf_life_text(schema.feature(feature).max_age_hours)} at "
               f"2026-11-30; not recorded" for feature, day in outdated.items()]
    said = [p.message for p in record.problems if p.patient == _pid(name)]
    assert said == too_old + ([f"not in the record at 2026-11-30T12:00Z: {', '.join(f.display_name for f in missing)}"]
                              if missing else [])
    assert row[OUTDATED] == "; ".join(f"{schema.feature(f).display_name}: {text}" for f, text in zip(outdated, too_old,
                                                                                                     strict=True))


# ----- every value, by patient ---------------------------------------------------------------------------------
def test_one_row_per_file_and_a_file_alone_reads_the_same(schema, record):
    assert sorted(record.frame["patient_id"]) == sorted(_pid(name) for name in NAMES)
    alone = _read("inpatient", schema).frame.set_index("patient_id")
    together = record.frame.set_index("patient_id").loc[[_pid("inpatient")]]
    pd.testing.assert_frame_equal(alone[schema.feature_names], together[schema.feature_names])


def test_the_outpatient_has_demographics_vitals_smoking_and_a_problem_list(schema, record):
    counted = {"hypertension": "59621000", "obesity": "162864005"}  # hyperlipidemia is in no Elixhauser category
    assert round(96.5 / 1.782 ** 2, 2) == 30.39  # the recorded BMI agrees with that visit's weight and height
    _check(record, schema, "outpatient", {
        "age": 2026 - 1961,  # born 1961-03-08: this year's birthday has passed
        "bmi": 30.39,  # recorded (39156-5) at the October visit, taken as recorded: within its year
        "smoker": 0,  # ex-smoker (8517006) in October; "smokes tobacco daily" in 2025 is older
        "previous_conditions": len(counted),  # not the hyperlipidemia, prediabetes, employment, stress, ... findings
    }, outdated={  # October's panel (systolic 138; 2025's 132 is older still) and pulse: vitals keep a day
        "blood_pressure": "2026-10-14", "heart_rate": "2026-10-14"})
    row = _row(record, "outpatient")
    assert row[source_column("previous_conditions")] == ", ".join(
        f"{_condition('outpatient', code)} ({name})" for name, code in counted.items())
    assert row[source_column("smoker")] == f"{_observation('outpatient', '72166-2', '2026')} 2026-10-14T13:05Z"
    assert row[OLDEST_VALUE_TIME] == "2026-10-14T13:05Z"  # the BMI and smoking status of that visit


def test_the_outpatient_read_at_the_visit_has_its_vitals(schema):
    """At the October visit itself the same record's vitals are current: the shelf life runs from the index time."""
    visit = _read("outpatient", schema).frame  # read at AS_OF: too old
    assert pd.isna(visit["blood_pressure"].iloc[0])
    at_visit = read_fhir((FIXTURES / "synthea_outpatient.json").read_bytes(), schema,
                         datetime(2026, 10, 14, 15, tzinfo=UTC)).frame.iloc[0]
    assert at_visit["blood_pressure"] == 138 and at_visit["heart_rate"] == 74 and at_visit[OUTDATED] == ""
    assert at_visit[source_column("blood_pressure")] == (f"{_observation('outpatient', '85354-9', '2026')} "
                                                         "2026-10-14T13:05Z")


INPATIENT_COUNTED = {"diabetes": "44054006", "renal failure": "433144002", "congestive heart failure": "88805009",
                     "cardiac arrhythmias": "I48.91", "hypertension": "59621000"}


def test_the_inpatient_has_everything(schema, record):
    admitted = datetime(2026, 11, 27, 1, 10, tzinfo=timezone(timedelta(hours=-5)))
    _check(record, schema, "inpatient", {
        "age": 2026 - 1948 - 1,  # born 1948-12-01: 78 only tomorrow
        "bmi": round(68.0 / 1.620 ** 2, 2),  # none recorded: the admission weight over June's height squared
        "blood_pressure": 128,  # this morning's panel, not the 152 in the emergency department
        "oxygen_level": 93,  # 59408-5 this morning; the ED's 91 carried both 2708-6 and 59408-5
        "heart_rate": 96,
        "sugar_level": 7.8 * 18.016,  # 15074-8 in mmol/L this morning, not the ED's 9.4
        "cholesterol": 212,  # June's lipid panel; triglycerides, LDL and HDL are not inputs
        "days_hospitalized": (AS_OF - admitted) // timedelta(days=1),  # the IMP stay, not the ED visit before it
        "previous_conditions": len(INPATIENT_COUNTED),
        "smoker": 0,  # never smoked (266919005)
        "alcohol_use": 1,  # AUDIT-C 3 ≥ 3, the women's cut-off, at 10:00; the form's "no" at 09:00 is older
        "treatment_intensity": 4, "medication_adherence": 6, "followup_visits": 3, "stress_level": 7,
    })
    row = _row(record, "inpatient")
    assert row["days_hospitalized"] == 3
    assert row[source_column("days_hospitalized")] == f"{_encounter('inpatient', 'IMP', 'in-progress')} from " \
                                                      "2026-11-27T06:10Z"
    assert row[source_column("previous_conditions")] == ", ".join(
        f"{_condition('inpatient', code)} ({name})" for name, code in INPATIENT_COUNTED.items())
    assert row[source_column("alcohol_use")] == (f"{_observation('inpatient', '75626-2', '2026-11-27')} "
                                                 "2026-11-27T10:00Z (score 3 ≥ 3, the cut-off for female)")
    assert row[source_column("cholesterol")].endswith("2026-06-01T14:20Z")  # 10:20 at -04:00, in UTC


def test_the_man_with_no_condition_at_all(schema, record):
    _check(record, schema, "no_conditions", {
        "age": 2026 - 1992,  # born on 29 February 1992
        "bmi": 24.28, "blood_pressure": 118, "oxygen_level": 98, "heart_rate": 64,  # SpO2 as 2708-6 alone
        "sugar_level": 92,  # 2339-0 in mg/dL
        "smoker": 1,  # smokes tobacco daily (449868002)
        "alcohol_use": 0,  # AUDIT-C 3 < 4, the men's cut-off, today; the 5 of 2025 is older
    })  # and blank: no Condition is not "no chronic condition", and an urgent-care visit (AMB) is not a stay
    assert _row(record, "no_conditions")[source_column("alcohol_use")].endswith("(score 3 < 4, the cut-off for male)")


DISCHARGE_VITALS = {"blood_pressure": "2026-11-24", "heart_rate": "2026-11-24"}  # 124 and 70: six days old


def test_an_empty_problem_list_is_none_and_no_gender_takes_the_lower_cut_off(schema, record):
    _check(record, schema, "empty_problem_list", {
        "age": 2026 - 1979,  # born 1979-07-31
        "bmi": round(58.0 / 1.65 ** 2, 2), "sugar_level": 101, "smoker": 0,  # the glucose keeps a week
        "previous_conditions": 0,  # the problem List (11450-4) is empty: nil known
        "alcohol_use": 1,  # AUDIT-C 3 ≥ 3, the default cut-off, with no gender recorded
    }, outdated=DISCHARGE_VITALS)  # and blank: discharged on 24 November, so no stay at the index time
    row = _row(record, "empty_problem_list")
    problem_list = "List/" + _resources("empty_problem_list", "List")[0]["id"]
    assert row[source_column("previous_conditions")] == f"{problem_list} an empty problem list"
    assert "the default cut-off, gender not recorded" in row[source_column("alcohol_use")]


def test_what_is_not_read_is_counted_in_the_notes(record):
    text = " ".join(record.warnings)
    for kind in ("Claim", "ExplanationOfBenefit", "Provenance", "Immunization", "Device", "DiagnosticReport",
                 "CareTeam", "MedicationRequest", "Procedure"):
        assert f"{kind} resource" in text, kind
    assert "http://loinc.org|2571-8 (1)" in text and "72514-3 (3)" in text  # triglycerides, pain scores
    assert "75626-2" not in text and "8462-4" not in text  # AUDIT-C is read; a panel's diastolic is no code of its own


# ----- chronic conditions: the value set -----------------------------------------------------------------------
def test_social_history_findings_are_never_counted(schema, record):
    value_set = {e.split("|")[1] for codes in schema.feature("previous_conditions").fhir.conditions.values()
                 for e in codes}
    for name in NAMES:
        findings = [r for r in _resources(name, "Condition") if r["code"]["text"].endswith(FINDINGS)
                    and not set(_codes(r)) & value_set]
        source = _row(record, name)[source_column("previous_conditions")]
        assert not any(f"Condition/{r['id']}" in source for r in findings), name
    assert len([r for r in _resources("outpatient", "Condition") if r["code"]["text"].endswith(FINDINGS)]) == 8


def test_a_hospital_counting_its_problem_list_category_keeps_the_findings_out(schema):
    encounter_diagnosis = "http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis"
    mapping = replace(schema.feature("previous_conditions").fhir, conditions={}, prefix_systems=(),
                      categories=(encounter_diagnosis,))
    hospital = _with(schema, "previous_conditions", mapping)
    outpatient = _row(_read("outpatient", hospital), "outpatient")
    assert outpatient["previous_conditions"] == len(["59621000 hypertension", "55822004 hyperlipidemia"])
    # by category, each code counts once: hypertension recorded twice is one, and the pneumonia now counts
    inpatient = _row(_read("inpatient", hospital), "inpatient")
    assert inpatient["previous_conditions"] == len(INPATIENT_COUNTED) + len(["233604007 pneumonia"])
    careless = _with(schema, "previous_conditions", replace(mapping, excluded_displays=()))
    active = [r for r in _resources("outpatient", "Condition") if r["clinicalStatus"]["coding"][0]["code"] == "active"]
    assert _row(_read("outpatient", careless), "outpatient")["previous_conditions"] == len(active) == 9


def test_a_hospital_gives_its_own_value_set(schema):
    mapping = replace(schema.feature("previous_conditions").fhir,
                      conditions={"prediabetes": ("http://snomed.info/sct|15777000",)})
    row = _row(_read("outpatient", _with(schema, "previous_conditions", mapping)), "outpatient")
    assert row["previous_conditions"] == 1 and row[source_column("previous_conditions")] == \
        f"{_condition('outpatient', '15777000')} (prediabetes)"


def test_conditions_none_of_them_chronic_are_zero_and_no_condition_is_missing(schema):
    chronic = ("59621000", "55822004", "162864005")

    def without_the_chronic_ones(bundle):
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Condition"
                           or not set(_codes(e["resource"])) & set(chronic)]

    record = _read("outpatient", schema, without_the_chronic_ones)  # findings, and a resolved pharyngitis
    assert record.frame["previous_conditions"][0] == 0
    assert record.frame[source_column("previous_conditions")][0] == "no chronic condition among 8 Conditions"
    gone = _read("outpatient", schema, lambda b: _drop(b, "Condition"))
    assert pd.isna(gone.frame["previous_conditions"][0])
    assert "Chronic conditions" in next(p.message for p in gone.problems if p.feature == "")


def test_what_an_empty_problem_list_is(schema):
    def no_problems_condition(bundle):
        _drop(bundle, "List")
        patient = bundle["entry"][0]["fullUrl"]
        bundle["entry"].append({"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": {
            "resourceType": "Condition", "id": "00000000-0000-4000-8000-000000000001",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "160245001",
                                 "display": "No current problems or disability (situation)"}]},
            "subject": {"reference": patient}, "recordedDate": "2026-11-24T16:00:00Z"}})

    def edited_list(**changes):
        return lambda bundle: _resources_of(bundle, "List")[0].update(changes)

    assert _read("empty_problem_list", schema, no_problems_condition).frame["previous_conditions"][0] == 0
    for not_empty in (edited_list(entry=[{"item": {"reference": "Condition/elsewhere"}}]),
                      edited_list(status="retired"), edited_list(date="2026-12-01T08:00:00Z"),
                      edited_list(code={"coding": [{"system": "http://loinc.org", "code": "10160-0"}]}),
                      lambda bundle: _drop(bundle, "List")):
        assert pd.isna(_read("empty_problem_list", schema, not_empty).frame["previous_conditions"][0])


def _resources_of(bundle: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize(("system", "code", "name"), [
    ("http://hl7.org/fhir/sid/icd-10-cm", "E11.9", "diabetes"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "E119", "diabetes"),  # written without its dot
    ("http://hl7.org/fhir/sid/icd-10-cm", "I10", "hypertension"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "C50.911", "solid_tumour"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "C78.00", "metastatic_cancer"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "I42.5", "congestive_heart_failure"),  # Quan's I42.5-I42.9, written out
    ("http://hl7.org/fhir/sid/icd-10-cm", "I42.4", None),
    ("http://hl7.org/fhir/sid/icd-10-cm", "F32.9", "depression"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "D50.9", "deficiency_anaemia"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "D50.0", "blood_loss_anaemia"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "E78.1", None),  # hypertriglyceridaemia: not an Elixhauser category
    ("http://hl7.org/fhir/sid/icd-10-cm", "M10.9", None),  # gout: neither
    ("http://hl7.org/fhir/sid/icd-10-cm", "G47.33", None),  # obstructive sleep apnoea: neither
    ("http://hl7.org/fhir/sid/icd-10-cm", "R00.0", None),  # tachycardia: a sign, not a comorbidity
    ("http://hl7.org/fhir/sid/icd-10-cm", "Z71.42", None),  # counselling for a family member of an alcoholic
    ("http://hl7.org/fhir/sid/icd-10-cm", "Z71.41", "alcohol_abuse"),
    ("http://hl7.org/fhir/sid/icd-10-cm", "E1", None),  # shorter than the entry: not diabetes
    ("http://hl7.org/fhir/sid/icd-10-cm", "R73.03", None),  # prediabetes: not in the value set
    ("http://hl7.org/fhir/sid/icd-10", "E11.9", None),  # WHO ICD-10 is another system: a hospital maps it
    ("http://snomed.info/sct", "44054006", "diabetes"),
    ("http://snomed.info/sct", "370143000", "depression"),  # major depressive disorder, as Synthea writes it
    ("http://snomed.info/sct", "271737000", "deficiency_anaemia"),
    ("http://snomed.info/sct", "302870006", None),  # hypertriglyceridemia
    ("http://snomed.info/sct", "4405400", None),  # SNOMED CT matches exactly, never by prefix
    ("http://snomed.info/sct", "224299000", None),  # Received higher education (finding)
])
def test_the_value_set_matches_icd_10_cm_by_prefix_and_snomed_exactly(schema, system, code, name):
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    value_set = ValueSet.of(schema.feature("previous_conditions").fhir)
    assert value_set.names(CodeableConcept(coding=[{"system": system, "code": code}])) == ([name] if name else [])


def test_a_mapping_without_a_value_set_counts_every_active_condition(schema):
    """The rule of the mappings in checkpoints trained before the value set: retrain to leave findings out."""
    legacy = _with(schema, "previous_conditions", FhirMapping(source="active_conditions"))
    active = [r for r in _resources("outpatient", "Condition") if r["clinicalStatus"]["coding"][0]["code"] == "active"]
    assert _read("outpatient", legacy).frame["previous_conditions"][0] == len(active)
    assert _read("no_conditions", legacy).frame["previous_conditions"][0] == 0


# ----- alcohol use from AUDIT-C --------------------------------------------------------------------------------
def _audit_c(bundle: dict) -> dict:
    """The patient's latest AUDIT-C."""
    return max(_where(bundle, "Observation", "75626-2"), key=lambda r: r["effectiveDateTime"])


def _score(score: int):
    def edit(bundle):
        latest = _audit_c(bundle)
        latest.pop("valueInteger", None)
        latest["valueQuantity"] = {"value": score, "unit": "{score}", "system": "http://unitsofmeasure.org",
                                   "code": "{score}"}
    return edit


@pytest.mark.parametrize(("name", "gender", "score", "harmful"), [
    ("no_conditions", "male", 3, 0), ("no_conditions", "male", 4, 1),  # men: ≥ 4
    ("inpatient", "female", 2, 0), ("inpatient", "female", 3, 1),  # women: ≥ 3
    ("no_conditions", "other", 3, 1), ("no_conditions", "unknown", 3, 1), ("no_conditions", None, 3, 1),
    ("empty_problem_list", None, 2, 0), ("empty_problem_list", None, 12, 1), ("empty_problem_list", None, 0, 0),
])
def test_audit_c_is_cut_by_sex(schema, name, gender, score, harmful):
    def edit(bundle):
        _score(score)(bundle)
        patient = _resources_of(bundle, "Patient")[0]
        patient.pop("gender", None)
        patient.update({"gender": gender} if gender else {})

    assert _read(name, schema, edit).frame["alcohol_use"][0] == harmful


def test_the_latest_of_the_form_and_the_score_wins(schema):
    def form_after_the_score(bundle):
        _resources_of(bundle, "QuestionnaireResponse")[0]["authored"] = "2026-11-27T11:00:00Z"

    row = _read("inpatient", schema, form_after_the_score).frame.iloc[0]
    assert row["alcohol_use"] == 0 and row[source_column("alcohol_use")].startswith("QuestionnaireResponse/")


def _absent(bundle):
    latest = _audit_c(bundle)
    latest.pop("valueQuantity")
    latest["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                              "code": "asked-declined"}]}


def _in_percent(bundle):
    _audit_c(bundle)["valueQuantity"].update(unit="%", code="%")


@pytest.mark.parametrize(("edit", "says"), [
    (_score(13), "has 13, outside 0–12, the values its code can take; not read"),
    (_score(-1), "has -1, outside 0–12"),
    (_absent, "has no value we can read (data absent: asked-declined); not read"),
    (_in_percent, "is in '%', which this schema cannot convert"),
])
def test_a_bad_audit_c_is_left_blank_and_named(schema, edit, says):
    record = _read("empty_problem_list", schema, edit)
    audit_c = "Observation/" + _audit_c(_bundle("empty_problem_list"))["id"]
    assert pd.isna(record.frame["alcohol_use"][0]) and len(record.frame) == 1
    problem = next(p for p in record.problems if p.feature == "alcohol_use")
    assert (problem.patient, problem.resource) == (_pid("empty_problem_list"), audit_c)
    assert problem.message.startswith(audit_c) and says in problem.message
    assert str(problem).startswith("Alcohol use: ")


# ----- length of stay: the Encounter classes -------------------------------------------------------------------
def test_an_ambulatory_visit_is_not_a_stay_unless_the_hospital_says_so(schema):
    stays = replace(schema.feature("days_hospitalized").fhir, classes=(
        *schema.feature("days_hospitalized").fhir.classes, "http://terminology.hl7.org/CodeSystem/v3-ActCode|AMB"))
    hospital = _with(schema, "days_hospitalized", stays)
    inpatient = _read("inpatient", hospital).frame.iloc[0]  # the physiotherapy visit since 09:00 is the latest
    assert inpatient["days_hospitalized"] == 0
    assert inpatient[source_column("days_hospitalized")].startswith(_encounter("inpatient", "AMB", "in-progress"))
    assert _read("no_conditions", hospital).frame["days_hospitalized"][0] == 0
    assert pd.isna(_read("outpatient", hospital).frame["days_hospitalized"][0])  # all his visits have ended


def test_an_emergency_stay_counts_and_a_wellness_visit_does_not(schema):
    def still_in_the_emergency_department(bundle):
        for encounter in _resources_of(bundle, "Encounter"):
            if encounter["class"]["code"] == "IMP" and encounter["status"] == "in-progress":
                encounter["status"] = "cancelled"
            if encounter["class"]["code"] == "EMER":
                encounter.update(status="in-progress", period={"start": encounter["period"]["start"]})

    row = _read("inpatient", schema, still_in_the_emergency_department).frame.iloc[0]
    arrived = datetime(2026, 11, 26, 21, 40, tzinfo=timezone(timedelta(hours=-5)))
    assert row["days_hospitalized"] == (AS_OF - arrived) // timedelta(days=1) == 3

    def wellness_in_progress(bundle):
        visit = next(e for e in _resources_of(bundle, "Encounter") if e["class"]["code"] == "WELLNESS")
        visit.update(status="in-progress", period={"start": "2026-11-30T08:00:00Z"})

    assert pd.isna(_read("outpatient", schema, wellness_in_progress).frame["days_hospitalized"][0])


# ----- through `recovery predict`, and the schema ------------------------------------------------------------
def test_recovery_predict_keeps_every_patient_and_names_a_bad_score(small_predictor, tmp_path, capsys):
    bundle = _bundle("empty_problem_list")
    _score(14)(bundle)
    source = tmp_path / "record.json"
    source.write_text(json.dumps(bundle), encoding="utf-8")
    code = main(["predict", "--input", str(source), "--output", str(tmp_path / "ranked.csv"), "--no-log",
                 "--checkpoint", str(small_predictor.folder), "--as-of", "2026-11-30T12:00:00Z"])
    captured = capsys.readouterr()
    audit_c = "Observation/" + _audit_c(bundle)["id"]
    assert code == 0 and "1 rows in:" in captured.out and "Traceback" not in captured.err
    assert f"patient {_pid('empty_problem_list')}: Alcohol use: {audit_c} has 14, outside 0–12" in captured.err


def test_the_mapping_round_trips_through_toml(schema):
    import tomllib

    assert Schema.from_dict(schema.to_dict()) == schema
    assert Schema.from_dict(tomllib.loads(schema.to_toml())) == schema
    alcohol = schema.feature("alcohol_use").fhir
    assert alcohol.threshold == {"male": 4, "female": 3, "default": 3} and alcohol.limits == (0, 12)
    assert FhirMapping.from_dict(alcohol.to_dict()) == alcohol


@pytest.mark.parametrize(("feature", "changes", "says"), [
    ("alcohol_use", {"threshold": {"male": 4, "female": 3}}, "needs a 'default'"),
    ("alcohol_use", {"threshold": {"men": 4, "default": 3}}, "not men"),
    ("alcohol_use", {"limits": (12.0, 0.0)}, "low ≤ high"),
    ("alcohol_use", {"classes": ("http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP",)}, "length_of_stay"),
    ("heart_rate", {"conditions": {"diabetes": ("http://snomed.info/sct|44054006",)}}, "active_conditions mapping"),
    ("previous_conditions", {"conditions": {}, "categories": ()}, "need a value set"),
    ("previous_conditions", {"conditions": {"diabetes": ()}}, "'diabetes' lists no codes"),
    ("previous_conditions", {"conditions": {"diabetes": ("E11",)}}, "must be written \"system|code\""),
    ("smoker", {"threshold": {"default": 1}, "source": "questionnaire"}, "needs an Observation mapping"),
])
def test_a_mapping_that_cannot_be_read_is_refused(schema, feature, changes, says):
    mapping = replace(schema.feature(feature).fhir, **changes)
    with pytest.raises(SchemaError, match=None) as error:
        _with(schema, feature, mapping)
    assert says in str(error.value)


def test_the_sample_writes_the_value_set_and_a_score(schema):
    rows = pd.read_csv(ROOT / "data" / "sample_ward.csv", dtype={"patient_id": str}).head(2)
    assert list(rows["previous_conditions"]) == [4, 0] and list(rows["alcohol_use"]) == [0, 0]
    rows.loc[1, "alcohol_use"] = 1
    scored = _with(schema, "alcohol_use", replace(schema.feature("alcohol_use").fhir, link_id=""))
    bundle = to_bundle(rows, scored, AS_OF)
    lists = _resources_of(bundle, "List")
    assert [r["subject"]["reference"] for r in lists] == [f"Patient/{rows['patient_id'][1]}"]
    scores = [r["valueQuantity"]["value"] for r in _resources_of(bundle, "Observation") if "75626-2" in _codes(r)]
    assert scores == [0, 3]  # the scale's bottom for "no"; the default cut-off for "yes", as no gender is written
    back = read_fhir(json.dumps(bundle).encode(), scored, AS_OF)
    assert list(back.frame["previous_conditions"]) == [4, 0] and list(back.frame["alcohol_use"]) == [0, 1]
    rows.loc[0, "previous_conditions"] = 30
    with pytest.raises(ValueError, match="previous_conditions = 30 cannot be written: the value set names 29"):
        to_bundle(rows, schema, AS_OF)


def _with(schema: Schema, name: str, mapping: FhirMapping) -> Schema:
    """The schema with one feature mapped otherwise, checked as a hospital's schema file is."""
    return replace(schema, features=tuple(replace(f, fhir=mapping) if f.name == name else f for f in schema.features))


# ----- comorbidities: the Elixhauser index and the codes real records carry --------------------------------------
SYNTHEA_CODES = json.loads((FIXTURES / "synthea_condition_codes.json").read_text(encoding="utf-8"))


def test_every_condition_synthea_writes_counts_as_its_elixhauser_category_or_not_at_all(schema):
    """Synthea's modules (every SNOMED CT code a ConditionOnset state writes, now or in earlier versions), each
    with the category it was given by reading Quan's ICD-10 table: the value set holds each decision."""
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    value_set = ValueSet.of(schema.feature("previous_conditions").fhir)
    found = {row["code"]: next(iter(value_set.names(CodeableConcept(coding=[{"system": "http://snomed.info/sct",
                                                                             "code": row["code"]}]))), None)
             for row in SYNTHEA_CODES}
    assert found == {row["code"]: row["category"] for row in SYNTHEA_CODES}
    social = [r for r in SYNTHEA_CODES if r["display"].endswith(FINDINGS) and r["category"]]
    assert {r["code"] for r in social} <= {"162864005", "408512008"}  # only the BMI findings of obesity count
    assert len(SYNTHEA_CODES) > 300 and sum(bool(r["category"]) for r in SYNTHEA_CODES) > 60


def _problem(pid_url: str, number: int, system: str, code: str, display: str) -> dict:
    return {"fullUrl": f"urn:uuid:00000000-0000-4000-8000-00000000010{number}", "resource": {
        "resourceType": "Condition", "id": f"00000000-0000-4000-8000-00000000010{number}",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": {"reference": pid_url}, "recordedDate": "2026-10-14T13:05:00Z"}}


def test_a_problem_list_counted_by_hand(schema):
    """The outpatient's problem list (hypertension and obesity count; hyperlipidemia, prediabetes and eight social
    findings do not) with depression, anaemia, hypertension again under its ICD-10-CM code, gout, sleep apnoea
    and one more social finding: 2 + depression + anaemia = 4."""
    sct, icd = "http://snomed.info/sct", "http://hl7.org/fhir/sid/icd-10-cm"
    added = [(sct, "370143000", "Major depressive disorder (disorder)"), (sct, "271737000", "Anemia (disorder)"),
             (icd, "I10", "Essential (primary) hypertension"), (sct, "90560007", "Gout (disorder)"),
             (sct, "73430006", "Sleep apnea (disorder)"), (sct, "73438004", "Unemployed (finding)")]

    def more_problems(bundle):
        patient = bundle["entry"][0]["fullUrl"]
        bundle["entry"] += [_problem(patient, i, *code) for i, code in enumerate(added)]

    row = _row(_read("outpatient", schema, more_problems), "outpatient")
    assert row["previous_conditions"] == 4
    assert [part.split(" (", 1)[1] for part in row[source_column("previous_conditions")].split(", ")] == [
        "hypertension)", "obesity)", "depression)", "deficiency anaemia)"]


def test_a_code_in_two_categories_counts_in_both(schema):
    from fhir.resources.R4B.codeableconcept import CodeableConcept

    value_set = ValueSet.of(schema.feature("previous_conditions").fhir)
    both = CodeableConcept(coding=[{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I12.0"}])
    assert value_set.names(both) == ["hypertension", "renal_failure"]  # Quan's hypertensive CKD with renal failure


def test_a_fresh_weight_beats_a_bmi_recorded_too_long_ago(schema):
    """The outpatient's BMIs (2025, 2026) made older than a year, and a weight of 88 kg taken yesterday: the BMI is
    that weight over the height squared, not blank because an outdated BMI was found first."""
    def old_bmi_new_weight(bundle):
        for bmi in _where(bundle, "Observation", "39156-5"):
            bmi["effectiveDateTime"] = "2024-06-01T09:00:00Z"
        latest = max(_where(bundle, "Observation", "29463-7"), key=lambda r: r["effectiveDateTime"])
        latest["effectiveDateTime"] = "2026-11-29T09:00:00Z"
        latest["valueQuantity"]["value"] = 88.0

    row = _row(_read("outpatient", schema, old_bmi_new_weight), "outpatient")
    assert row["bmi"] == round(88.0 / 1.782 ** 2, 2) and row[source_column("bmi")].startswith("from Observation/")
    assert "BMI" not in row[OUTDATED]
