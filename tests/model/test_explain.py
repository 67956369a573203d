import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATA


def test_local_accuracy_in_log_odds(default_predictor):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    explanation = default_predictor.assess(ward).explanation
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-5
    np.testing.assert_allclose(explanation.risk, default_predictor.predict_risk(ward)["risk"].to_numpy(), atol=1e-6)


def test_values_are_shown_unscaled(default_predictor, schema):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    explanation = default_predictor.assess(ward).explanation
    np.testing.assert_allclose(explanation.values.to_numpy(), ward[schema.feature_names].to_numpy(dtype=float))


def test_drivers_are_ordered_by_size_and_read_clinically(default_predictor, schema):
    patient = pd.DataFrame([schema.defaults()]).assign(oxygen_level=85.0)
    explanation = default_predictor.assess(patient).explanation
    drivers = explanation.drivers(0, schema)
    assert drivers["log_odds"].abs().is_monotonic_decreasing
    assert drivers.iloc[0]["feature"] == "oxygen_level" and drivers.iloc[0]["log_odds"] > 0
    assert explanation.driver_text(0, schema, 1) == ["SpO2 = 85.0% ↑ risk"]


def test_every_rows_drivers_in_words_are_its_own_top_drivers(default_predictor, schema):
    """The log's drivers for a whole ward come from one sort; each row's are the first of its own driver table, a
    value the record lacked said as not recorded."""
    from recovery_model.cohort import generate_cohort
    from recovery_model.record_view import record_view

    rows = record_view(generate_cohort(300, seed=8), seed=9).drop(columns="recovered")
    explanation = default_predictor.assess(rows).explanation
    every = explanation.driver_texts(schema, top=len(schema.features))
    assert len(every) == len(explanation.values) and any("not recorded" in t for row in every for t in row)
    for i, texts in enumerate(every):
        table = explanation.drivers(i, schema)
        assert texts == [f"{r.shown_as} {'↑' if r.log_odds > 0 else '↓'} risk" for r in table.itertuples()]
        assert texts[:3] == explanation.driver_text(i, schema) == explanation.driver_texts(schema)[i]


def test_imputed_values_are_explained_at_the_imputed_value(default_predictor, schema):
    patient = pd.DataFrame([schema.defaults()]).assign(bmi=np.nan)
    explanation = default_predictor.assess(patient).explanation
    median = default_predictor.model.medians_[schema.feature_names.index("bmi")]
    assert explanation.values.iloc[0]["bmi"] == median


@pytest.fixture(scope="module")
def deep_predictor(cohort_small, schema, tiny_config):
    """The `deep` recipe's shape (one MLP over all inputs), explained by DeepLIFT's rescale rule."""
    from dataclasses import replace

    from recovery_model.scoring.predictor import Predictor

    return Predictor.fit(cohort_small, schema, replace(tiny_config, additive=False), seed=3)


def test_the_default_model_is_additive_and_the_deep_recipe_is_explained_by_deeplift(default_predictor,
                                                                                   deep_predictor):
    from recovery_model.model.explain import AdditiveExplainer, Explainer, explainer_for

    assert isinstance(explainer_for(default_predictor.model, default_predictor.background), AdditiveExplainer)
    assert type(explainer_for(deep_predictor.model, deep_predictor.background)) is Explainer


def test_matches_shaps_deep_explainer(deep_predictor, schema):
    """Our batched DeepLIFT computes what shap's DeepExplainer computes, row by row, for this ensemble.

    shap sees the calibrated ensemble as one module over all members' inputs side by side (every layer
    its own nn.Linear / nn.ReLU); its attributions, summed per feature, must equal ours.
    """
    import shap
    import torch
    from torch import nn

    model = deep_predictor.model
    members, width = model.members, model.transform_.n_inputs
    slope, intercept = model.calibration_

    class Calibrated(nn.Module):
        def __init__(self):
            super().__init__()
            self.deep = nn.ModuleList()
            self.wide = nn.ModuleList()
            for k in range(members):
                layers = []
                for index, stacked in enumerate(model.network_.stacked_linears):
                    linear = nn.Linear(*stacked.weight.shape[1:]).double()
                    with torch.no_grad():
                        linear.weight.copy_(stacked.weight[k].T)
                        linear.bias.copy_(stacked.bias[k, 0])
                    layers += [linear] if index == len(model.network_.stacked_linears) - 1 else [linear, nn.ReLU()]
                self.deep.append(nn.Sequential(*layers))
                wide = nn.Linear(width, 1).double()
                with torch.no_grad():
                    wide.weight.copy_(model.network_.wide.weight[k].T)
                    wide.bias.copy_(model.network_.wide.bias[k, 0])
                self.wide.append(wide)

        def forward(self, x):
            chunks = x.split(width, dim=1)
            total = sum(d(c) + w(c) for d, w, c in zip(self.deep, self.wide, chunks, strict=True))
            return total * (slope / members) + intercept

    def side_by_side(frame_values):
        stacked = model.transform_.transform(frame_values)
        return torch.as_tensor(np.concatenate(list(stacked), axis=1))

    module = Calibrated().eval()
    reference = shap.DeepExplainer(module, side_by_side(deep_predictor.background))
    ward = pd.read_csv(DATA / "sample_ward.csv").head(12)
    per_input = np.asarray(reference.shap_values(side_by_side(ward[schema.feature_names].to_numpy(float)),
                                                 check_additivity=False)).reshape(len(ward), -1)
    grouping = np.eye(len(schema.feature_names))[np.tile(model.transform_.source_feature, members)]
    np.testing.assert_allclose(deep_predictor.assess(ward).explanation.attributions.to_numpy(), per_input @ grouping,
                               atol=1e-7)


@pytest.mark.parametrize("fixture", ["default_predictor", "deep_predictor"])
def test_local_accuracy_holds_for_a_large_batch_too(fixture, request):
    from recovery_model.cohort import generate_cohort
    from recovery_model.model.explain import FLOAT32_FROM_ROWS

    predictor = request.getfixturevalue(fixture)
    rows = generate_cohort(FLOAT32_FROM_ROWS + 500, seed=3).drop(columns="recovered")
    explanation = predictor.assess(rows).explanation
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-5
    small = predictor.assess(rows.head(20)).explanation
    np.testing.assert_allclose(explanation.attributions.head(20), small.attributions, atol=1e-5)


def test_a_value_the_row_lacked_is_shown_as_not_recorded_never_as_its_median(default_predictor, schema):
    from recovery_model.cohort import generate_cohort

    row = generate_cohort(1, seed=5)[schema.feature_names].astype(float).assign(stress_level=float("nan"))
    explanation = default_predictor.assess(row).explanation
    drivers = explanation.drivers(0, schema)
    stress = drivers.set_index("feature").loc["stress_level"]
    assert stress["shown_as"] == "Stress not recorded"
    assert all("not recorded" not in text for text in drivers.loc[drivers.feature != "stress_level", "shown_as"])


def test_local_accuracy_holds_for_tabm_copies_and_piecewise_linear_inputs(cohort_small, schema, tiny_config):
    """A member made of k TabM copies is explained as its k plain networks, each copy's adapter folded into its
    first layer: the attributions still add up to the log-odds, whatever the adapters hold."""
    from dataclasses import replace

    import torch

    from recovery_model.model.explain import Explainer
    from recovery_model.model.risk_model import RiskModel

    config = replace(tiny_config, additive=False, sub_members=3, hinges=(3,), encodings=("ple",), max_epochs=4,
                     patience=10)
    model = RiskModel(schema.feature_names, config, seed=1).fit(cohort_small, schema.event_from_target(
        cohort_small["recovered"]))
    adapter = model.network_.adapter
    assert adapter.shape[:2] == (model.members, 3) and model.transform_.encoding == "ple"
    with torch.no_grad():
        adapter.copy_(torch.empty_like(adapter).uniform_(-2, 2, generator=torch.Generator().manual_seed(0)))
    values = cohort_small[schema.feature_names]
    explanation = Explainer(model, values.head(50).to_numpy(float)).explain(values.tail(40))
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-5
    np.testing.assert_allclose(explanation.log_odds, model.decision_function(values.tail(40)), atol=1e-5)


@pytest.fixture(scope="module")
def additive_model(cohort_small, schema, tiny_config):
    """A neural additive network whose per-feature MLPs carry weight: trained a few epochs, then its output layer
    scaled up so that the deep part is far from the near-zero start."""
    from dataclasses import replace

    import torch

    from recovery_model.model.risk_model import RiskModel

    config = replace(tiny_config, max_epochs=4, patience=10)
    model = RiskModel(schema.feature_names, config, seed=1).fit(cohort_small, schema.event_from_target(
        cohort_small["recovered"]))
    with torch.no_grad():
        model.network_.deep.output_weight.mul_(300.0)
    return model


def test_an_additive_network_is_explained_exactly_by_its_own_parts(additive_model, cohort_small, schema):
    """Each feature's attribution is its own output against the background: the attributions add up to the
    log-odds, and changing one value moves that feature's attribution alone, by exactly the change in log-odds."""
    from recovery_model.model.explain import AdditiveExplainer, explainer_for

    values = cohort_small[schema.feature_names]
    explainer = explainer_for(additive_model, values.head(50).to_numpy(float))
    assert isinstance(explainer, AdditiveExplainer)
    rows = values.tail(40)
    explanation = explainer.explain(rows)
    total = explanation.base_value + explanation.attributions.sum(axis=1).to_numpy()
    assert np.max(np.abs(total - explanation.log_odds)) <= 1e-9
    np.testing.assert_allclose(explanation.log_odds, additive_model.decision_function(rows), atol=1e-5)
    assert explanation.attributions["age"].std() > 0.05  # the deep part is not idle
    older = rows.assign(age=rows["age"] + 15)
    moved = explainer.explain(older)
    change = moved.attributions - explanation.attributions
    np.testing.assert_allclose(change.drop(columns="age").to_numpy(), 0.0, atol=1e-9)
    np.testing.assert_allclose(change["age"].to_numpy(), moved.log_odds - explanation.log_odds, atol=1e-9)


def test_an_additive_network_round_trips_through_its_checkpoint(additive_model, cohort_small, schema):
    """Saved and rebuilt as any other model's state: still additive, the same risks to the bit."""
    from recovery_model.model.risk_model import RiskModel

    tensors, settings = additive_model.state()
    loaded = RiskModel.from_state(tensors, settings)
    rows = cohort_small[schema.feature_names].tail(30)
    assert loaded.config_.additive
    np.testing.assert_array_equal(loaded.decision_function(rows), additive_model.decision_function(rows))


def test_rows_scored_and_explained_a_pass_at_a_time_are_what_one_pass_gives(default_predictor, monkeypatch):
    """Large inputs go through the network `ROWS_PER_PASS` rows at a time (one pass over 200,000 rows wrote
    gigabytes); the passes' seams change nothing but the float32 network's last digits."""
    from recovery_model.cohort import generate_cohort
    from recovery_model.model import risk_model

    rows = generate_cohort(250, seed=5).drop(columns="recovered")
    whole = default_predictor.assess(rows)
    monkeypatch.setattr(risk_model, "ROWS_PER_PASS", 60)
    passes = default_predictor.assess(rows)
    np.testing.assert_allclose(passes.rows["risk"], whole.rows["risk"], atol=1e-6)  # a float32 network's rounding
    np.testing.assert_allclose(passes.explained.attributions, whole.explained.attributions, atol=1e-9)
    np.testing.assert_allclose(passes.explained.log_odds, whole.explained.log_odds, atol=1e-9)
