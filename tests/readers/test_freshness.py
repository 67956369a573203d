"""A value's shelf life: how old it may be at the index time, for a file's `<feature>_time` columns."""

from datetime import UTC, datetime
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from recovery_model.errors import SchemaError
from recovery_model.readers.freshness import apply_shelf_life, shelf_life_text
from recovery_model.readers.table import open_frames
from recovery_model.schema import load_schema
from recovery_model.scoring.columns import OLDEST_VALUE_TIME, OUTDATED
from tests.conftest import DATA

AS_OF = datetime(2026, 12, 4, 12, tzinfo=UTC)


@pytest.fixture
def ward() -> pd.DataFrame:
    return pd.read_csv(DATA / "sample_ward.csv", dtype=str).head(4)


def test_a_table_without_times_is_left_as_it_is(schema, ward):
    assert apply_shelf_life(ward, schema, AS_OF) is ward


def _dated(ward: pd.DataFrame, schema, when: str = "2026-12-04T09:00Z") -> pd.DataFrame:
    """Every value with a shelf life given a time: `when`."""
    for feature in schema.features:
        if feature.max_age_hours is not None:
            ward[f"{feature.name}_time"] = when
    return ward


def test_each_value_is_judged_by_its_own_shelf_life(schema, ward):
    ward = _dated(ward, schema)
    ward["heart_rate_time"] = ["2026-12-04T07:00Z", "2026-12-03T11:00Z", "2026-12-04T11:00+01:00", "2026-12-04"]
    ward["bmi_time"] = ["2026-01-10", "2025-12-01", "2026-06-01T00:00:00", "2026-06-01T00:00:00"]
    out = apply_shelf_life(ward, schema, AS_OF)
    assert out["heart_rate"].notna().tolist() == [True, False, True, True]  # 24 h: the day-old one is out
    assert out["bmi"].notna().tolist() == [True, False, True, True]  # a year
    assert out[OUTDATED].tolist() == [
        "", "BMI: last measured 2025-12-01, older than 1 year at 2026-12-04; not recorded; Heart rate: last measured "
        "2026-12-03, older than 24 h at 2026-12-04; not recorded", "", ""]
    assert out[OLDEST_VALUE_TIME].tolist() == ["2026-01-10T00:00Z", "2026-12-04T09:00Z", "2026-06-01T00:00Z",
                                             "2026-06-01T00:00Z"]
    assert ward["heart_rate"].notna().all()  # the input is not changed


def test_the_oldest_value_is_unknown_while_a_value_with_a_shelf_life_has_no_time(schema, ward):
    ward["heart_rate_time"] = "2026-12-04T07:00Z"  # SpO2, glucose, ... used, of unknown age
    assert set(apply_shelf_life(ward, schema, AS_OF)[OLDEST_VALUE_TIME]) == {""}
    ward = _dated(ward, schema)
    ward.loc[0, "oxygen_level"] = np.nan  # a blank value with no time is no value of unknown age
    ward.loc[0, "oxygen_level_time"] = ""
    assert apply_shelf_life(ward, schema, AS_OF)[OLDEST_VALUE_TIME][0] == "2026-12-04T09:00Z"


def test_a_naive_index_time_is_utc(schema, ward):
    ward["heart_rate_time"] = "2026-12-03T11:00Z"
    naive = apply_shelf_life(ward, schema, AS_OF.replace(tzinfo=None))
    assert naive[OUTDATED].str.contains("older than 24 h").all()


def test_a_blank_value_needs_no_time(schema, ward):
    ward.loc[0, "heart_rate"] = np.nan
    ward["heart_rate_time"] = ["", "2026-12-04T07:00Z", None, "2026-12-04T07:00Z"]
    out = apply_shelf_life(ward, schema, AS_OF)
    assert out[OUTDATED].tolist()[:2] == ["", ""] and "no time in heart_rate_time" in out[OUTDATED][2]


def test_a_feature_without_a_shelf_life_keeps_any_age(schema, ward):
    ward = _dated(ward, schema)
    ward["age_time"] = ["1990-01-01"] * 4
    out = apply_shelf_life(ward, schema, AS_OF)
    assert out["age"].notna().all() and set(out[OLDEST_VALUE_TIME]) == {"1990-01-01T00:00Z"}


def test_the_reader_judges_a_file_at_its_index_time(schema, ward, tmp_path):
    ward["heart_rate_time"] = ["2026-12-04T07:00Z"] * 4
    path = tmp_path / "ward.csv"
    ward.to_csv(path, index=False)
    at = {when: next(open_frames(path, schema, 100, as_of=when).chunks) for when in
          (AS_OF, datetime(2026, 12, 6, tzinfo=UTC))}
    assert at[AS_OF]["heart_rate"].notna().all() and at[datetime(2026, 12, 6, tzinfo=UTC)]["heart_rate"].isna().all()


@pytest.mark.parametrize(("hours", "text"), [(24, "24 h"), (12.5, "12.5 h"), (168, "7 days"), (720, "30 days"),
                                             (8760, "1 year"), (17520, "2 years")])
def test_shelf_lives_in_words(hours, text):
    assert shelf_life_text(hours) == text


@pytest.mark.parametrize("age", [0, -1, '"a day"', "true"])
def test_a_shelf_life_must_be_hours_above_zero(tmp_path, age):
    source = resources.files("recovery_model.schemas").joinpath("recovery.toml").read_text("utf-8")
    path = tmp_path / "schema.toml"
    path.write_text(source.replace("max_age_hours = 24  #", f"max_age_hours = {age}  #", 1), encoding="utf-8")
    with pytest.raises(SchemaError, match="feature 'blood_pressure': max_age_hours must be a number of hours above"):
        load_schema(path)
