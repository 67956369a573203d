"""The spread of the risk over what a record does not hold, and the one range a clinician sees."""

import numpy as np
import pandas as pd
import pytest

from recovery_model.cohort import generate_cohort
from recovery_model.record_view import record_view
from recovery_model.scoring.columns import MISSING_RISK_HIGH, MISSING_RISK_LOW, RISK, RISK_HIGH, RISK_LOW
from recovery_model.scoring.missing import missing_spread
from recovery_model.scoring.narrative import missing_note
from recovery_model.scoring.predictor import Predictor


@pytest.fixture(scope="module")
def record_predictor(schema, tiny_config):
    return Predictor.fit(record_view(generate_cohort(4000, seed=21), seed=22), schema, tiny_config, seed=3)


@pytest.fixture(scope="module")
def unseen():
    full = generate_cohort(1500, seed=23)
    return full, record_view(full, seed=24)


def test_nothing_missing_means_the_spread_is_the_risk(record_predictor, unseen, schema):
    full, _ = unseen
    rows = record_predictor.assess(full[schema.feature_names], explain=False).rows
    np.testing.assert_array_equal(rows[MISSING_RISK_LOW], rows[RISK])
    np.testing.assert_array_equal(rows[MISSING_RISK_HIGH], rows[RISK])


def test_the_range_holds_the_spread_and_widens_for_a_record_that_lacks_values(record_predictor, unseen, schema):
    full, record = unseen
    rows = record_predictor.assess(record[schema.feature_names], explain=False).rows
    assert (rows[MISSING_RISK_LOW] <= rows[MISSING_RISK_HIGH]).all()
    assert (rows[RISK_LOW] <= rows[MISSING_RISK_LOW]).all() and (rows[MISSING_RISK_HIGH] <= rows[RISK_HIGH]).all()
    assert (rows[RISK_LOW] <= rows[RISK]).all() and (rows[RISK] <= rows[RISK_HIGH]).all()
    incomplete = record[schema.feature_names].isna().any(axis=1).to_numpy()
    complete_rows = record_predictor.assess(full[schema.feature_names], explain=False).rows
    width = (rows[RISK_HIGH] - rows[RISK_LOW]).to_numpy()
    complete_width = (complete_rows[RISK_HIGH] - complete_rows[RISK_LOW]).to_numpy()
    assert np.median(width[incomplete] - complete_width[incomplete]) > 0


def test_the_spread_covers_the_risk_the_full_values_would_give_about_as_often_as_it_says(record_predictor, unseen,
                                                                                          schema):
    """The 10th–90th percentile spread should hold the risk of the patient's own (unrecorded) values ~80 % of the
    time; the donors are recorded patients, so some shortfall is expected where missingness is informative."""
    full, record = unseen
    rows = record_predictor.assess(record[schema.feature_names], explain=False).rows
    incomplete = record[schema.feature_names].isna().any(axis=1).to_numpy()
    own = record_predictor.model.predict_proba(full[schema.feature_names])[:, 1]
    inside = (rows[MISSING_RISK_LOW].to_numpy() <= own) & (own <= rows[MISSING_RISK_HIGH].to_numpy())
    assert 0.6 <= inside[incomplete].mean() <= 0.95


def test_no_donor_with_those_values_leaves_the_risk_alone(record_predictor, schema):
    values = np.full((1, len(schema.features)), np.nan)
    values[0, 0] = 60.0
    reference = np.full((5, len(schema.features)), np.nan)  # nobody had anything else recorded
    low, high = missing_spread(record_predictor.model, values, np.array([0.1]), reference, schema.feature_names)
    assert (low, high) == (0.1, 0.1)


def test_the_note_names_what_is_missing_and_its_share_of_the_range():
    assert missing_note([], 0.1, 0.1, 0.08, 0.12) is None
    note = missing_note(["SpO2", "Glucose"], 0.05, 0.11, 0.04, 0.12)
    assert note.startswith("Not recorded: SpO2, Glucose.") and "5.0 % and 11.0 %" in note and "75 %" in note


def test_a_record_with_only_demographics_vitals_smoking_and_a_problem_list_is_scored(default_predictor, schema):
    """What an outpatient record holds: the committed model scores it, names what is missing, and shows a wider
    range than for the complete record."""
    complete = generate_cohort(1, seed=5)[schema.feature_names]
    outpatient = complete.copy().astype(float)
    outpatient[["oxygen_level", "sugar_level", "cholesterol", "days_hospitalized", "treatment_intensity",
                "followup_visits", "stress_level", "medication_adherence", "alcohol_use"]] = np.nan
    both = default_predictor.assess(pd.concat([complete.astype(float), outpatient], ignore_index=True)).rows
    assert list(both["status"]) == ["scored", "scored"]
    assert both.loc[1, "imputed_values"].count(";") == 8
    widths = both[RISK_HIGH] - both[RISK_LOW]
    assert widths[1] > widths[0]


def test_suggestions_never_change_a_factor_the_record_lacks(default_predictor, schema):
    patient = generate_cohort(1, seed=5)[schema.feature_names].astype(float).assign(
        medication_adherence=np.nan, followup_visits=np.nan, smoker=1.0, alcohol_use=1.0)
    options = default_predictor.suggest_changes(patient)
    assert len(options)
    assert not {"medication_adherence", "followup_visits"} & {name for names in options["changed"] for name in names}
