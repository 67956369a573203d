"""The record view: which values a record holds, reproducibly, and the oracle given only those."""

import numpy as np
import pandas as pd
import pytest

from recovery_model.cohort import generate_cohort, true_risk
from recovery_model.readers.training import load_training_data
from recovery_model.record_view import (
    ALWAYS_RECORDED,
    BLOCKS,
    COMPLETE,
    RECORD_SEED,
    missing_pattern,
    observed_risk,
    record_view,
)
from tests.conftest import DATA


@pytest.fixture(scope="module")
def sample():
    full = generate_cohort(6000, seed=31)
    return full, record_view(full, seed=32)


def test_the_committed_record_file_is_the_record_view_of_the_committed_cohort(schema):
    full = load_training_data(DATA / "patients.csv", schema)
    record = load_training_data(DATA / "patients_record.csv", schema)
    expected = record_view(full, RECORD_SEED, schema)
    np.testing.assert_array_equal(record.to_numpy(float), expected.to_numpy(float))


def test_same_rows_same_outcomes_values_only_blanked(sample, schema):
    full, record = sample
    assert list(record.columns) == schema.columns and len(record) == len(full)
    assert ((record == full) | record.isna()).all().all()
    assert record[schema.target.name].equals(full[schema.target.name])
    assert record[list(ALWAYS_RECORDED)].notna().all().all()
    for features in BLOCKS.values():
        for name in features:  # an integer stays an integer where recorded: a CSV cell reads "4", not "4.0"
            assert record[name].dtype == ("Int64" if schema.feature(name).is_integer else "float64"), name


def test_reproducible_by_seed(sample):
    full, record = sample
    pd.testing.assert_frame_equal(record, record_view(full, seed=32))
    assert not record.isna().equals(record_view(full, seed=33).isna())


def test_blocks_go_missing_together_and_depend_on_the_patient(sample):
    full, record = sample
    for features in BLOCKS.values():
        gone = record[list(features)].isna()
        assert (gone.all(axis=1) | ~gone.any(axis=1)).all()
    outpatient = record["days_hospitalized"].isna()
    assert 0.2 < outpatient.mean() < 0.45
    assert full.loc[outpatient, "days_hospitalized"].mean() < full.loc[~outpatient, "days_hospitalized"].mean() - 1
    labs = record["sugar_level"].notna()
    sicker = full["previous_conditions"] >= 2
    assert labs[sicker].mean() > labs[~sicker].mean() + 0.1  # sicker patients have more labs
    assert record["oxygen_level"].isna()[outpatient].mean() > 0.5 > record["oxygen_level"].isna()[~outpatient].mean()
    assert (missing_pattern(record) == COMPLETE).mean() > 0.3


def test_the_observed_oracle_is_the_true_risk_on_complete_rows_and_right_on_average_in_every_pattern(sample, schema):
    full, record = sample
    features = record[schema.feature_names]
    risk = observed_risk(features, draws=256)
    truth = true_risk(full)
    pattern = missing_pattern(features)
    complete = (pattern == COMPLETE).to_numpy()
    np.testing.assert_allclose(risk[complete], truth[complete])
    # E[oracle | observed, pattern] averages to E[true risk | pattern]: the weighting is right, not just plausible
    frame = pd.DataFrame({"pattern": pattern, "observed": risk, "truth": truth})
    means = frame.groupby("pattern").agg(rows=("truth", "size"), observed=("observed", "mean"),
                                         truth=("truth", "mean"))
    for name, row in means[means.rows >= 300].iterrows():
        assert row.observed == pytest.approx(row.truth, rel=0.12, abs=0.002), name


def test_an_outpatients_missing_stay_is_taken_as_short_as_the_missingness_says(sample, schema):
    """Being an outpatient says the stay was probably short: the weights lower the risk below what the average
    stay would give (plain forward sampling would draw the stay as if nothing were known)."""
    full, record = sample
    outpatients = record[record["days_hospitalized"].isna() & record["oxygen_level"].notna()][schema.feature_names]
    weighted = observed_risk(outpatients, draws=256).mean()
    assert weighted < true_risk(full.loc[record.index.isin(outpatients.index)].assign(
        days_hospitalized=full["days_hospitalized"].mean())).mean()


def test_rows_without_what_a_record_always_holds_are_refused(schema):
    record = record_view(generate_cohort(20, 1))[schema.feature_names].astype(float)
    record.loc[3, "age"] = np.nan
    with pytest.raises(ValueError, match="age"):
        observed_risk(record)
