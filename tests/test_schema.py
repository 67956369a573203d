import pandas as pd
import pytest

from recovery_model.errors import SchemaError
from recovery_model.schema import GROUPS, Schema, load_schema

SEED_COLUMNS = ["age", "bmi", "blood_pressure", "oxygen_level", "heart_rate", "sugar_level", "cholesterol",
                "days_hospitalized", "previous_conditions", "smoker", "alcohol_use", "treatment_intensity",
                "medication_adherence", "followup_visits", "stress_level", "recovered"]
INTEGER_FEATURES = {"age", "days_hospitalized", "previous_conditions", "smoker", "alcohol_use",
                    "treatment_intensity", "medication_adherence", "followup_visits", "stress_level"}
MODIFIABLE = {"medication_adherence", "followup_visits", "treatment_intensity", "smoker",
              "alcohol_use", "stress_level"}


def test_columns_are_the_seeds_in_order(schema):
    assert schema.columns == SEED_COLUMNS
    assert schema.target.name == "recovered" and schema.target.event_value == 0


def test_dtypes_match_the_seed(schema):
    assert {f.name for f in schema.features if f.is_integer} == INTEGER_FEATURES


def test_every_feature_is_fully_described(schema):
    for f in schema.features:
        assert f.label and f.description and f.group in GROUPS
        assert f.valid_min <= f.typical_min <= f.typical_max <= f.valid_max
        assert f.valid_min <= f.default <= f.valid_max


def test_modifiable_factors(schema):
    assert {f.name for f in schema.modifiable} == MODIFIABLE


@pytest.mark.parametrize("name, low, high", [
    ("treatment_intensity", 1, 5), ("medication_adherence", 0, 10), ("stress_level", 1, 10)])
def test_ordinal_scales(schema, name, low, high):
    assert (schema.feature(name).valid_min, schema.feature(name).valid_max) == (low, high)


def test_ordinals_document_their_scale(schema):
    for name in ("treatment_intensity", "medication_adherence", "stress_level", "smoker", "alcohol_use"):
        assert schema.feature(name).levels, name
    assert len(schema.feature("treatment_intensity").levels) == 5


def test_units_carry_clinical_meaning(schema):
    assert schema.feature("blood_pressure").unit == "mmHg"
    assert "Systolic" in schema.feature("blood_pressure").label
    assert schema.feature("oxygen_level").unit == "%" and "SpO2" in schema.feature("oxygen_level").label
    assert schema.feature("sugar_level").unit == "mg/dL"
    assert schema.feature("cholesterol").unit == "mg/dL"


def test_format_value_reads_like_a_clinician(schema):
    assert schema.feature("oxygen_level").format_value(87.0) == "SpO2 = 87.0%"
    assert schema.feature("blood_pressure").format_value(142.4) == "Systolic BP = 142 mmHg"
    assert schema.feature("smoker").format_value(1) == "Smoker = yes"
    assert schema.feature("stress_level").format_value(8) == "Stress = 8"


def test_toml_round_trip(schema, tmp_path):
    path = tmp_path / "schema.toml"
    path.write_text(schema.to_toml(), encoding="utf-8")
    assert load_schema(path) == schema


def test_fingerprint_changes_with_feature_order(schema):
    data = schema.to_dict()
    data["features"] = list(reversed(data["features"]))
    assert Schema.from_dict(data).fingerprint() != schema.fingerprint()


@pytest.mark.parametrize("break_it, message", [
    (lambda d: d["features"].append(dict(d["features"][0])), "twice"),
    (lambda d: d["features"][0].update(dtype="text"), "dtype"),
    (lambda d: d["features"][0].update(typical_min=-5), "nest"),
    (lambda d: d["features"][0].update(group="misc"), "group"),
    (lambda d: d.pop("target"), "not a valid schema"),
])
def test_inconsistent_schemas_are_refused(schema, break_it, message):
    data = schema.to_dict()
    break_it(data)
    with pytest.raises(SchemaError, match=message):
        Schema.from_dict(data)


def test_missing_or_broken_schema_files(tmp_path):
    with pytest.raises(SchemaError, match="not found"):
        load_schema(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(SchemaError, match="not valid TOML"):
        load_schema(bad)


def test_infer_a_foreign_schema():
    frame = pd.DataFrame({"lactate": [1.1, 2.5, 0.9, 4.0], "sofa": [2, 5, 1, 9], "died": [0, 1, 0, 0]})
    inferred = Schema.infer(frame, target="died", event_value=1)
    assert inferred.feature_names == ["lactate", "sofa"]
    assert inferred.feature("sofa").is_integer and not inferred.feature("lactate").is_integer
    assert inferred.target.event_value == 1
    with pytest.raises(SchemaError, match="two values"):
        Schema.infer(frame.assign(died=[0, 1, 2, 0]), target="died", event_value=1)


def test_inference_never_guesses_the_adverse_outcome():
    """The rarer value is not assumed: in a cohort where most patients died that would invert every risk."""
    frame = pd.DataFrame({"lactate": [1.1, 2.5, 0.9, 4.0], "alive": [0, 0, 0, 1]})
    with pytest.raises(SchemaError) as error:
        Schema.infer(frame, "alive", None)
    assert str(error.value) == ("Which value of 'alive' is the adverse outcome? Add --event 0 or --event 1 (0: 75 % "
                                "of rows, 1: 25 %).")
    with pytest.raises(SchemaError, match="2 is not one of them"):
        Schema.infer(frame, "alive", 2)
    assert Schema.infer(frame, "alive", 0).target.event_value == 0


def test_the_schema_owns_the_outcome_words_and_group_titles(schema):
    assert schema.target.risk_of == "risk of not recovering"
    assert (schema.target.event_label, schema.target.non_event_label) == ("did not recover", "recovered")
    assert schema.group_title("vitals") == "Vital signs"


def test_subgroups_are_bands_of_a_feature(schema):
    age = next(s for s in schema.subgroups if s.feature == "age")
    masks = dict(age.masks(schema.feature("age"), [18, 49, 50, 69, 70, 95]))
    assert {k: v.tolist() for k, v in masks.items()} == {
        "under 50": [True, True, False, False, False, False], "50–69": [False, False, True, True, False, False],
        "70+": [False, False, False, False, True, True]}


def test_a_subgroup_must_name_a_feature_and_cut_a_non_binary_one(schema):
    data = schema.to_dict()
    with pytest.raises(SchemaError, match="'pulse' is not a feature"):
        Schema.from_dict(data | {"subgroups": [{"feature": "pulse"}]})
    with pytest.raises(SchemaError, match="needs cuts"):
        Schema.from_dict(data | {"subgroups": [{"feature": "age"}]})
    assert Schema.from_dict(data).subgroups == schema.subgroups


def test_an_inferred_schema_words_its_outcome_from_the_column():
    frame = pd.DataFrame({"lactate": [1.0, 2.5, 4.0, 1.2], "died": [0, 1, 0, 0]})
    target = Schema.infer(frame, "died", 1).target
    assert target.risk_of == "risk of died = 1" and target.event_label == "had died = 1"


@pytest.mark.parametrize(("fhir", "says"), [
    ({"source": "labs"}, "fhir.source must be one of observation, age"),
    ({"codes": ["8480-6"]}, "FHIR code '8480-6' must be written \"system|code\""),
    ({"source": "observation"}, "an Observation mapping needs codes"),
    ({"codes": ["http://loinc.org|39156-5"], "weight": {"codes": ["http://loinc.org|29463-7"]}},
     "a BMI mapping needs both fhir.weight and fhir.height"),
])
def test_a_wrong_fhir_mapping_is_refused_with_the_feature_named(schema, fhir, says):
    data = schema.to_dict()
    data["features"][0]["fhir"] = fhir
    with pytest.raises(SchemaError, match="feature 'age'") as error:
        Schema.from_dict(data)
    assert says in str(error.value)
