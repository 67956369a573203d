import numpy as np
import pytest

from recovery_model.model.risk_model import RiskModel, fit_platt, sigmoid


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


def test_cross_fitting_uses_every_row_once_per_repeat(small_fit, cohort_small, tiny_config):
    model = small_fit.model
    assert model.members == tiny_config.folds * model.config_.repeats
    assert len(model.folds_) == len(cohort_small) and set(model.folds_) == set(range(tiny_config.folds))
    assert np.isfinite(model.oof_logit_).all() and len(model.oof_logit_) == len(cohort_small)


def test_out_of_fold_logits_come_from_the_members_that_did_not_train_on_the_row(small_fit, cohort_small):
    model = small_fit.model
    members = model.member_logits(cohort_small)
    first_repeat = members[:model.config_.folds]
    own = first_repeat[model.folds_, np.arange(len(cohort_small))]
    if model.config_.repeats == 1:
        np.testing.assert_allclose(model.oof_logit_, own, atol=1e-5)
    np.testing.assert_allclose(model.network_logit(cohort_small), members.mean(axis=0))


def test_each_member_scales_with_its_own_training_folds(cohort_small, schema, tiny_config):
    event = schema.event_from_target(cohort_small["recovered"])
    model = RiskModel(schema.feature_names, tiny_config, seed=2).fit(cohort_small, event)
    values = cohort_small[schema.feature_names].to_numpy(float)
    for member in range(tiny_config.folds):
        training = values[model.folds_ != member]
        np.testing.assert_allclose(model.transform_.centres[member], training.mean(axis=0))


def test_missing_indicators_and_limit_follow_the_training_data(cohort_small, schema, tiny_config):
    frame = cohort_small.copy()
    frame.loc[frame.index[::5], "bmi"] = np.nan
    frame.loc[frame.index[::50], ["sugar_level", "cholesterol", "heart_rate", "bmi"]] = np.nan
    event = schema.event_from_target(frame["recovered"])
    model = RiskModel(schema.feature_names, tiny_config, seed=2).fit(frame, event)
    flagged = {schema.feature_names[j] for j in model.transform_.indicators}
    assert flagged == {"bmi", "sugar_level", "cholesterol", "heart_rate"}
    assert model.max_missing_ == 4


def test_linear_path_starts_at_the_regularised_logistic_regression(cohort_small, schema, tiny_config):
    from dataclasses import replace

    event = schema.event_from_target(cohort_small["recovered"])
    stuck = replace(tiny_config, max_epochs=0)
    model = RiskModel(schema.feature_names, stuck, seed=2).fit(cohort_small, event)
    assert model.best_epochs_ == [0] * model.members and model.linear_c_ in stuck.linear_c
    from sklearn.linear_model import LogisticRegression

    inputs = model.transform_.transform(cohort_small[schema.feature_names].to_numpy(float))
    train = model.folds_ != 0
    logistic = LogisticRegression(C=model.linear_c_, solver="newton-cholesky").fit(inputs[0, train], event[train])
    wide = model.network_.wide
    line = inputs[0] @ wide.weight.detach()[0, :, 0].double().numpy() + float(wide.bias.detach()[0, 0, 0])
    np.testing.assert_allclose(line, logistic.decision_function(inputs[0]), atol=2e-3)  # both to the solver tol
    # the MLP's output layer starts near zero: the whole member is that regression, to a few hundredths
    np.testing.assert_allclose(model.member_logits(cohort_small)[0], line, atol=0.05)


def test_missing_values_are_imputed_with_training_medians(small_fit, schema, cohort_unseen):
    predictor = small_fit
    row = cohort_unseen.head(1).copy()
    with_median = row.copy()
    row["bmi"] = np.nan
    with_median["bmi"] = predictor.model.medians_[schema.feature_names.index("bmi")]
    assert predictor.model.transform_.indicators == ()  # no bmi missing in training: no indicator to differ
    np.testing.assert_allclose(predictor.predict_risk(row)["risk"], predictor.predict_risk(with_median)["risk"],
                               atol=1e-3)


def test_state_round_trip_reproduces_predictions(small_fit, cohort_unseen):
    tensors, settings = small_fit.model.state()
    rebuilt = RiskModel.from_state(tensors, settings)
    np.testing.assert_array_equal(rebuilt.predict_proba(cohort_unseen), small_fit.model.predict_proba(cohort_unseen))


def test_the_inputs_are_the_candidate_with_the_lowest_held_out_loss(cohort_small, schema, tiny_config):
    from dataclasses import replace

    from recovery_model.model.inputs import InputTransform
    from recovery_model.model.risk_model import logistic_paths

    event = schema.event_from_target(cohort_small["recovered"])
    config = replace(tiny_config, max_epochs=0)
    model = RiskModel(schema.feature_names, config, seed=2).fit(cohort_small, event)
    values = cohort_small[schema.feature_names].to_numpy(float)
    masks = np.stack([model.folds_ != k for k in range(config.folds)])
    losses = {}
    for encoding, knots in config.input_candidates:
        transform = InputTransform.fit(values, masks, config.scaling, config.missing_indicators, knots, encoding)
        start = logistic_paths(transform.transform(values), event, masks, config.linear_c)
        losses[encoding, knots] = start.held_out_loss
    assert len(losses) == 4 and len(set(losses.values())) == 4
    assert (model.transform_.encoding, model.transform_.knots.shape[2]) == min(losses, key=losses.get)


def test_piecewise_linear_bins_ramp_from_knot_to_knot():
    from recovery_model.model.inputs import InputTransform

    values = np.arange(100, dtype=float).reshape(-1, 1)
    ramps = InputTransform.fit(values, np.ones((1, 100), bool), "standard", False, 3, "ple")
    hinges = InputTransform.fit(values, np.ones((1, 100), bool), "standard", False, 3, "hinges")
    knots, scale = ramps.knots[0, 0], ramps.scales[0, 0]
    encoded = ramps.transform(np.array([[knots[0] - 1], [knots[1]], [knots[2] + 10]]))[0, :, 1:] * scale
    np.testing.assert_allclose(encoded, [[0, 0, 0], [knots[1] - knots[0], 0, 0],
                                         [knots[1] - knots[0], knots[2] - knots[1], 10]])
    # the same knots span the same functions: each ramp is a hinge minus the next
    inputs_ramps, inputs_hinges = ramps.transform(values)[0, :, 1:], hinges.transform(values)[0, :, 1:]
    np.testing.assert_allclose(inputs_ramps[:, :2], inputs_hinges[:, :2] - inputs_hinges[:, 1:])
    np.testing.assert_allclose(inputs_ramps[:, 2], inputs_hinges[:, 2])


def test_a_checkpoint_of_the_previous_recipe_still_reads():
    from recovery_model.model.config import NetworkConfig

    old = NetworkConfig().to_dict() | {"hinges": 3}
    del old["freeze_linear"], old["encodings"], old["sub_members"]
    config = NetworkConfig.from_dict(old)
    assert config.hinges == (3,) and not config.freeze_linear and config.sub_members == 1
    assert NetworkConfig.from_dict(NetworkConfig().to_dict()) == NetworkConfig()
