import numpy as np
import pandas as pd

from tests.conftest import DATA


def test_local_accuracy_in_log_odds(default_predictor):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    explanation = default_predictor.explain(ward)
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-5
    np.testing.assert_allclose(explanation.risk, default_predictor.risk(ward), atol=1e-6)


def test_values_are_shown_unscaled(default_predictor, schema):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    explanation = default_predictor.explain(ward)
    np.testing.assert_allclose(explanation.values.to_numpy(), ward[schema.feature_names].to_numpy(dtype=float))


def test_drivers_are_ordered_by_size_and_read_clinically(default_predictor, schema):
    patient = pd.DataFrame([schema.defaults()]).assign(oxygen_level=85.0)
    explanation = default_predictor.explain(patient)
    drivers = explanation.drivers(0, schema)
    assert drivers["log_odds"].abs().is_monotonic_decreasing
    assert drivers.iloc[0]["feature"] == "oxygen_level" and drivers.iloc[0]["log_odds"] > 0
    assert explanation.driver_text(0, schema, 1) == ["SpO2 = 85.0% ↑ risk"]


def test_imputed_values_are_explained_at_the_imputed_value(default_predictor, schema):
    patient = pd.DataFrame([schema.defaults()]).assign(bmi=np.nan)
    explanation = default_predictor.explain(patient)
    median = default_predictor.model.medians_[schema.feature_names.index("bmi")]
    assert explanation.values.iloc[0]["bmi"] == median


def test_matches_shaps_deep_explainer(default_predictor, schema):
    """Our batched DeepLIFT computes what shap's DeepExplainer computes, row by row, for this network."""
    import copy

    import shap
    import torch

    class Calibrated(torch.nn.Module):
        def __init__(self, network, slope, intercept):
            super().__init__()
            self.network, self.platt = network, torch.nn.Linear(1, 1)
            with torch.no_grad():
                self.platt.weight.fill_(slope)
                self.platt.bias.fill_(intercept)

        def forward(self, x):
            return self.platt(self.network(x))

    model = default_predictor.model
    module = Calibrated(copy.deepcopy(model.network_).double().eval(), *model.calibration_).double().eval()
    reference = shap.DeepExplainer(module, torch.as_tensor(default_predictor.background.astype(np.float64)))
    ward = pd.read_csv(DATA / "sample_ward.csv").head(12)
    inputs = torch.as_tensor(model.standardise(ward).astype(np.float64))
    expected = np.asarray(reference.shap_values(inputs, check_additivity=False)).reshape(len(ward), -1)
    np.testing.assert_allclose(default_predictor.explain(ward).attributions.to_numpy(), expected, atol=1e-7)


def test_local_accuracy_holds_for_a_large_batch_too(default_predictor):
    from recovery_model.cohort import generate_cohort
    from recovery_model.explain import FLOAT32_FROM_ROWS

    rows = generate_cohort(FLOAT32_FROM_ROWS + 500, seed=3).drop(columns="recovered")
    explanation = default_predictor.explain(rows)
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-5
    small = default_predictor.explain(rows.head(20))
    np.testing.assert_allclose(explanation.attributions.head(20), small.attributions, atol=1e-5)
