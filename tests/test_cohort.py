import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from recovery_model.cli import main
from recovery_model.cohort import generate_cohort, make_sample_ward, true_risk
from tests.conftest import DATA


@pytest.fixture(scope="module")
def cohort():
    return pd.read_csv(DATA / "patients.csv")


@pytest.fixture(scope="module")
def fresh_sample():
    return generate_cohort(200_000, seed=2024)


def test_same_seed_same_cohort_other_seed_other_cohort():
    pd.testing.assert_frame_equal(generate_cohort(500, 3), generate_cohort(500, 3))
    assert not generate_cohort(500, 3).equals(generate_cohort(500, 4))


def test_schema_order_and_dtypes(schema):
    frame = generate_cohort(300, 1)
    assert list(frame.columns) == schema.columns
    for f in schema.features:
        assert frame[f.name].dtype == (np.int64 if f.is_integer else np.float64), f.name


def test_values_inside_hard_ranges(schema, cohort):
    for f in schema.features:
        assert cohort[f.name].between(f.valid_min, f.valid_max).all(), f.name


@pytest.mark.parametrize("name, low, high, share", [
    ("age", 18, 90, 1.0), ("bmi", 18, 40, 0.95), ("blood_pressure", 95, 170, 0.9),
    ("oxygen_level", 88, 100, 0.95), ("heart_rate", 50, 120, 0.95), ("sugar_level", 70, 250, 0.95),
    ("cholesterol", 130, 300, 0.93), ("days_hospitalized", 1, 30, 1.0), ("previous_conditions", 0, 6, 1.0),
])
def test_marginals_are_clinically_plausible(cohort, name, low, high, share):
    assert cohort[name].between(low, high).mean() >= share


def test_realistic_dependencies(cohort):
    assert cohort["age"].corr(cohort["blood_pressure"]) > 0.3
    assert cohort["age"].corr(cohort["previous_conditions"]) > 0.3
    assert cohort["oxygen_level"].corr(cohort["heart_rate"]) < -0.1


def test_prevalence_matches_the_seed(cohort):
    non_recovery = (cohort["recovered"] == 0).mean()
    assert 0.030 <= non_recovery <= 0.038


def test_true_risk_is_a_probability_and_uses_only_features(cohort, schema):
    risk = true_risk(cohort[schema.feature_names])
    assert risk.shape == (len(cohort),) and np.all((risk > 0) & (risk < 1))
    np.testing.assert_allclose(risk, true_risk(cohort))


@pytest.mark.parametrize("name, worse, better", [
    ("oxygen_level", 86.0, 97.0), ("age", 85, 45), ("previous_conditions", 4, 0),
    ("days_hospitalized", 20, 3), ("sugar_level", 240.0, 100.0), ("smoker", 1, 0),
    ("medication_adherence", 2, 9), ("followup_visits", 0, 4),
])
def test_risk_directions_are_clinically_sensible(schema, name, worse, better):
    patient = pd.DataFrame([schema.defaults()])
    assert true_risk(patient.assign(**{name: worse}))[0] > true_risk(patient.assign(**{name: better}))[0]


def test_bmi_is_u_shaped(schema):
    patient = pd.DataFrame([schema.defaults()])
    risk = {bmi: true_risk(patient.assign(bmi=bmi))[0] for bmi in (17.0, 25.0, 38.0)}
    assert risk[17.0] > risk[25.0] < risk[38.0]


def test_smoking_and_hypoxaemia_interact(schema):
    base = pd.DataFrame([schema.defaults()])

    def log_odds(smoker, spo2):
        p = true_risk(base.assign(smoker=smoker, oxygen_level=spo2))[0]
        return np.log(p / (1 - p))

    assert (log_odds(1, 86.0) - log_odds(0, 86.0)) > (log_odds(1, 97.0) - log_odds(0, 97.0)) + 0.5


@pytest.mark.slow
def test_oracle_auroc_and_the_gap_logistic_regression_cannot_close(cohort, fresh_sample, schema):
    y_fresh = schema.event_from_target(fresh_sample["recovered"])
    oracle = roc_auc_score(y_fresh, true_risk(fresh_sample))
    assert 0.82 <= oracle <= 0.90
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    logistic.fit(cohort[schema.feature_names], schema.event_from_target(cohort["recovered"]))
    lr_auroc = roc_auc_score(y_fresh, logistic.predict_proba(fresh_sample[schema.feature_names])[:, 1])
    assert oracle - lr_auroc >= 0.02


def test_outcomes_follow_the_oracle(fresh_sample, schema):
    risk = true_risk(fresh_sample)
    event = schema.event_from_target(fresh_sample["recovered"])
    assert abs(event.mean() - risk.mean()) < 0.002
    top = risk > np.quantile(risk, 0.9)
    assert abs(event[top].mean() - risk[top].mean()) < 0.01


@pytest.mark.slow
def test_generate_reproduces_the_committed_file_byte_for_byte(tmp_path):
    assert main(["generate", "--output", str(tmp_path / "patients.csv"),
                 "--ward-output", str(tmp_path / "ward.csv")]) == 0
    assert (tmp_path / "patients.csv").read_bytes() == (DATA / "patients.csv").read_bytes()
    assert (tmp_path / "ward.csv").read_bytes() == (DATA / "sample_ward.csv").read_bytes()


def test_sample_ward_is_a_realistic_extract(schema):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    assert 30 <= len(ward) <= 60
    assert ward[schema.id_column].is_unique
    assert list(ward.columns[3:]) == schema.feature_names and "recovered" not in ward
    pd.testing.assert_frame_equal(ward, make_sample_ward(), check_dtype=False)
