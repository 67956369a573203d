import numpy as np
import pytest

from recovery_model.model import RiskModel, fit_platt, sigmoid


def test_platt_recovers_a_known_miscalibration():
    rng = np.random.default_rng(0)
    logits = rng.normal(-3, 1.5, 40_000)
    event = (rng.random(len(logits)) < sigmoid(0.7 * logits - 0.4)).astype(int)
    slope, intercept = fit_platt(logits, event)
    assert slope == pytest.approx(0.7, abs=0.05) and intercept == pytest.approx(-0.4, abs=0.15)


def test_fit_predict_proba_follows_sklearn_conventions(cohort_small, schema, tiny_config):
    event = schema.event_from_target(cohort_small["recovered"])
    model = RiskModel(schema.feature_names, tiny_config, seed=1)
    assert model.config is tiny_config and not hasattr(model, "network_")
    model.fit(cohort_small, event)
    proba = model.predict_proba(cohort_small.head(50))
    assert proba.shape == (50, 2) and np.allclose(proba.sum(axis=1), 1)
    assert hasattr(model, "calibration_") and hasattr(model, "history_")


def test_standardisation_is_fitted_on_training_rows_only(cohort_small, schema, tiny_config):
    train, val = cohort_small.iloc[:2000], cohort_small.iloc[2000:]
    event = schema.event_from_target(cohort_small["recovered"])
    model = RiskModel(schema.feature_names, tiny_config).fit(train, event[:2000], val, event[2000:])
    np.testing.assert_allclose(model.means_, train[schema.feature_names].mean().to_numpy())
    np.testing.assert_allclose(model.medians_, train[schema.feature_names].median().to_numpy())


def test_missing_values_are_imputed_with_training_medians(small_fit, schema):
    predictor, parts = small_fit
    row = parts.test.head(1).copy()
    with_median = row.copy()
    row["bmi"] = np.nan
    with_median["bmi"] = predictor.model.medians_[schema.feature_names.index("bmi")]
    np.testing.assert_allclose(predictor.risk(row), predictor.risk(with_median))


def test_state_round_trip_reproduces_predictions(small_fit):
    predictor, parts = small_fit
    tensors, settings = predictor.model.state()
    rebuilt = RiskModel.from_state(tensors, settings)
    np.testing.assert_array_equal(rebuilt.predict_proba(parts.test), predictor.model.predict_proba(parts.test))
