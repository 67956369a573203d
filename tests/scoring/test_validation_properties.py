"""Property tests: whatever arrives, the validator answers with our own error or a full accounting."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recovery_model.errors import DataValidationError
from recovery_model.readers.csv import read_patient_csv
from recovery_model.schema import load_schema
from recovery_model.scoring.validation import MAX_MISSING_SHARE, validate

SCHEMA = load_schema()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

cells = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-10**6, max_value=10**6),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["yes", "no", "95%", "120 mmHg", "36,6", "NA", "", " ", "1e400", "-0", "=1+1", "7 kg"]),
)


@SETTINGS
@given(st.lists(st.fixed_dictionaries({name: cells for name in SCHEMA.feature_names}), min_size=1, max_size=12))
def test_random_rows_are_all_accounted_for(rows):
    frame = pd.DataFrame(rows, columns=SCHEMA.feature_names).assign(patient_id=[f"p{i}" for i in range(len(rows))])
    result = validate(frame, SCHEMA)
    out = result.rows
    assert len(out) == len(frame) and list(out["patient_id"]) == list(frame["patient_id"])
    assert set(out["status"]) <= {"scored", "rejected"}
    assert (out.loc[out["status"] == "rejected", "problems"] != "").all()
    scored = out[out["status"] == "scored"]
    for feature in SCHEMA.features:
        values = scored[feature.name].dropna()
        assert values.between(feature.valid_min, feature.valid_max).all()
    assert (scored[SCHEMA.feature_names].isna().sum(axis=1) <= int(MAX_MISSING_SHARE * len(SCHEMA.features))).all()
    counts = result.counts()
    assert counts["scored"] + counts["rejected"] == counts["rows"] == len(frame)


@SETTINGS
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_our_error(data):
    try:
        frame = read_patient_csv(data, "random.bin")
        result = validate(frame, SCHEMA)
    except DataValidationError as error:
        assert "random.bin" in str(error) or "column" in str(error)
        return
    assert len(result.rows) == len(frame)


header = ",".join(["patient_id", *SCHEMA.feature_names]).encode()


@SETTINGS
@given(st.lists(st.binary(max_size=120).filter(lambda b: b"\n" not in b and b"\r" not in b), min_size=1,
                max_size=8))
def test_random_lines_under_a_valid_header(lines):
    data = header + b"\n" + b"\n".join(lines) + b"\n"
    try:
        frame = read_patient_csv(data, "ward.csv")
        result = validate(frame, SCHEMA)
    except DataValidationError:
        return
    assert result.counts()["rows"] == len(frame)
    assert np.all(result.rows["row"].to_numpy() == np.arange(1, len(frame) + 1))


def test_a_cell_in_a_unit_the_schema_converts_gets_the_same_value_as_a_fhir_record(schema):
    """'7.5 mmol/L' of glucose is read as a FHIR Observation in mmol/L would be: the schema's factor, exactly."""
    from decimal import Decimal

    import pandas as pd

    from recovery_model.scoring.validation import validate

    rows = pd.DataFrame([schema.defaults() | {"sugar_level": "7.5 mmol/L", "blood_pressure": "128 mm[Hg]"}],
                        dtype=object)
    parsed = validate(rows, schema).rows.iloc[0]
    assert parsed["status"] == "scored" and parsed["problems"] == ""
    factor = schema.feature("sugar_level").fhir.units["mmol/L"]
    assert parsed["sugar_level"] == float(Decimal("7.5") * Decimal(str(factor)))
    assert parsed["blood_pressure"] == 128.0
