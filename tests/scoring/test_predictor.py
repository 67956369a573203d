from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from recovery_model.scoring.thresholds import Thresholds, threshold_for_sensitivity
from tests.conftest import DATA


@pytest.fixture
def ward():
    return pd.read_csv(DATA / "sample_ward.csv")


def test_one_output_row_per_input_row_with_pass_through(small_predictor, ward):
    scored = small_predictor.predict_risk(ward)
    assert len(scored) == len(ward)
    pd.testing.assert_series_equal(scored["patient_id"], ward["patient_id"])
    pd.testing.assert_series_equal(scored["bed"], ward["bed"])
    assert scored["risk"].between(0, 1).all()
    assert set(scored["tier"]) <= {"low", "moderate", "high"}


def test_risk_is_the_calibrated_probability_of_not_recovering(small_predictor, ward, schema):
    scored = small_predictor.predict_risk(ward)
    np.testing.assert_allclose(scored["risk"], small_predictor.model.predict_proba(ward)[:, 1])


def test_rejected_rows_keep_their_place_and_reason(small_predictor, ward):
    ward = ward.astype({"oxygen_level": object, "age": object})
    ward.loc[2, "oxygen_level"] = 140
    ward.loc[5, "age"] = "old"
    scored = small_predictor.predict_risk(ward)
    assert len(scored) == len(ward)
    assert list(scored.loc[scored["status"] == "rejected", "row"]) == [3, 6]
    assert "oxygen_level = '140'" in scored.loc[2, "problems"] and "possible range" in scored.loc[2, "problems"]
    assert "not a number" in scored.loc[5, "problems"]
    assert scored.loc[[2, 5], "risk"].isna().all()


def test_imputed_and_unusual_values_are_flagged(small_predictor, ward):
    ward.loc[0, "bmi"] = np.nan
    ward.loc[1, "oxygen_level"] = 80.0
    scored = small_predictor.predict_risk(ward)
    assert scored.loc[0, "imputed_values"] == "BMI" and scored.loc[0, "status"] == "scored"
    assert "SpO2 = 80.0%" in scored.loc[1, "unusual_values"]


def test_rank_sorts_by_risk_and_flags_top_k(small_predictor, ward):
    result = small_predictor.rank(ward, top_k=5, threshold=0.05)
    ranked = result.ranked
    assert ranked["risk"].is_monotonic_decreasing
    assert ranked["in_top_k"].sum() == 5 and ranked["in_top_k"].iloc[:5].all()
    assert (ranked["above_threshold"] == (ranked["risk"] >= 0.05)).all()
    flagged = int(((ranked["unusual_values"] != "") | (ranked["imputed_values"] != "")).sum())
    assert result.counts == {"rows": len(ward), "scored": len(ward), "flagged": flagged, "rejected": 0}
    table = result.table(small_predictor.schema)
    assert list(table.columns[:4]) == ["rank", "patient_id", "ward", "bed"]
    assert table["driver_1"].str.contains("risk").all()


def test_counts_add_up(small_predictor, ward):
    ward = ward.astype({"heart_rate": object})
    ward.loc[[1, 4], "heart_rate"] = "-"  # missing: imputed
    ward.loc[7, "heart_rate"] = "fast"
    counts = small_predictor.rank(ward, explain=False).counts
    assert counts["scored"] + counts["rejected"] == counts["rows"] == len(ward)
    assert counts["rejected"] == 1 and counts["flagged"] >= 2


def test_thresholds_are_chosen_by_out_of_fold_sensitivity():
    risk = np.array([0.9, 0.8, 0.7, 0.3, 0.2, 0.1, 0.05])
    event = np.array([1, 0, 1, 1, 0, 1, 0])
    assert threshold_for_sensitivity(risk, event, 0.5) == 0.7
    assert threshold_for_sensitivity(risk, event, 0.75) == 0.3
    thresholds = Thresholds.from_risks(risk, event)
    assert list(thresholds.tier(np.array([0.95, 0.2, 0.01]))) == ["high", "moderate", "low"]


def test_concurrent_explanations_do_not_cross(small_predictor, ward):
    rows = [ward.iloc[[i]] for i in range(len(ward))]
    expected = [small_predictor.assess(r).explanation.attributions.to_numpy() for r in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda r: small_predictor.assess(r).explanation.attributions.to_numpy(), rows * 3))
    for i, attributions in enumerate(got):
        np.testing.assert_allclose(attributions, expected[i % len(rows)], atol=1e-12)


def test_assess_validates_scores_and_explains_in_one_pass(small_predictor, ward):
    """The one call the pages, the CLI and the batch path use: rejected rows keep their place, explanations
    cover the scored rows in order, and unusual values are known per feature."""
    ward = ward.astype({"age": object})
    ward.loc[3, "age"] = "old"
    ward.loc[1, "oxygen_level"] = 80.0
    assessment = small_predictor.assess(ward, first_row=101)
    assert list(assessment.rows["row"][:4]) == [101, 102, 103, 104]
    assert list(assessment.rejected["row"]) == [104] and assessment.rejected["tier"].iloc[0] == "not scored"
    assert len(assessment.explanation.log_odds) == len(ward) - 1
    np.testing.assert_allclose(assessment.explanation.risk, assessment.scorable["risk"], atol=1e-6)
    unusual = assessment.unusual_features(1, small_predictor.schema)
    assert "oxygen_level" in [f.name for f in unusual]
    assert assessment.rows["unusual_values"].iloc[1] == "; ".join(f.format_value(ward.loc[1, f.name]) for f in unusual)
    assert assessment.counts()["rejected"] == 1 and assessment.counts()["rows"] == len(ward)
    assert small_predictor.assess(ward, explain=False).explanation is None


def test_ranked_explanations_follow_the_ranking(small_predictor, ward):
    ranked = small_predictor.rank(ward)
    np.testing.assert_allclose(ranked.explanation.risk, ranked.ranked["risk"], atol=1e-6)
    assert list(ranked.explanation.values.index) == list(ranked.ranked.index)


@pytest.mark.parametrize("ranks, top_k, flagged", [([1, 2, 3], 2, [True, True, False]), ([1, 2], None, [False] * 2),
                                                   ([1, 2], 0, [False] * 2), (3, 3, True)])
def test_the_top_k_rule(ranks, top_k, flagged):
    from recovery_model.scoring.columns import in_top_k

    assert in_top_k(ranks, top_k).tolist() == flagged


def test_an_inferred_schema_scores_patients_beyond_the_training_range(tiny_config):
    """Beyond the training range is unusual, not impossible: scored and flagged on both sides of every feature;
    only what cannot be (a negative value of a feature never negative) is refused."""
    from recovery_model.schema import Schema
    from recovery_model.scoring.predictor import Predictor

    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame({"lactate": rng.gamma(4, 0.5, n).round(2) + 0.5, "sofa": rng.integers(2, 12, n),
                          "base_excess": rng.normal(0, 3, n).round(1), "ventilated": rng.integers(0, 2, n)})
    logit = -2 + 0.4 * frame["lactate"] + 0.1 * frame["sofa"]
    frame["died"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    schema = Schema.infer(frame, "died", 1)
    predictor = Predictor.fit(frame, schema, tiny_config, seed=0)
    lows, highs = frame.min(), frame.max()
    spans = highs - lows
    beyond = []
    for name in ("lactate", "sofa", "base_excess"):
        typical = frame.drop(columns="died").median().round().to_dict() | {"ventilated": 1}
        below = lows[name] / 2 if lows[name] > 0 else lows[name] - 10 * spans[name]
        beyond += [typical | {name: below}, typical | {name: highs[name] + 10 * spans[name]}]
    rows = predictor.predict_risk(pd.DataFrame(beyond).astype({"sofa": int}))
    assert (rows["status"] == "scored").all(), rows["problems"].tolist()
    assert (rows["unusual_values"] != "").all()
    refused = predictor.predict_risk(pd.DataFrame([beyond[0] | {"sofa": -1}, beyond[0] | {"ventilated": 2}]))
    assert refused["problems"].tolist() == [
        "sofa = '-1.0': cannot be negative; check the value or its unit",
        "ventilated = '2': outside the possible range 0–1; check the value or its unit"]


def test_shape_functions_are_the_additive_models_own_contributions(small_predictor, cohort_unseen, schema):
    """Each point of a shape function is what any patient with that value gets as the feature's attribution, whatever
    their other values, and 'not recorded' what a patient without it gets; the members' range holds the curve."""
    shapes = small_predictor.shape_functions()
    assert [s.feature for s in shapes] == schema.feature_names
    rows = cohort_unseen.head(max(len(s.values) for s in shapes)).drop(columns="recovered").reset_index(drop=True)
    for shape in shapes:
        assert np.all(shape.low <= shape.contribution + 1e-12) and np.all(shape.contribution <= shape.high + 1e-12)
        patients = rows.head(len(shape.values)).assign(**{shape.feature: shape.values})
        attributions = small_predictor.assess(patients).explanation.attributions[shape.feature]
        np.testing.assert_allclose(attributions, shape.contribution, atol=1e-9)
        lacking = small_predictor.assess(rows.head(3).assign(**{shape.feature: np.nan})).explanation
        np.testing.assert_allclose(lacking.attributions[shape.feature], shape.not_recorded[0], atol=1e-9)


def test_shape_functions_span_the_training_values(small_predictor, schema):
    """Every value of a feature with few (smoker: 0 and 1), else up to 101 points over the bulk of the training values,
    whole numbers for a whole-number feature (age); the training values travel with it, for where the curve rests on
    data."""
    from recovery_model.scoring.predictor import FEW_VALUES, SHAPE_POINTS

    for shape, column, feature in zip(small_predictor.shape_functions(), small_predictor.reference.T, schema.features,
                                      strict=True):
        recorded = column[~np.isnan(column)]
        np.testing.assert_array_equal(shape.observed, recorded)
        if len(np.unique(recorded)) <= FEW_VALUES:
            np.testing.assert_array_equal(shape.values, np.unique(recorded))
            continue
        assert recorded.min() <= shape.values[0] < shape.values[-1] <= recorded.max()
        assert np.all(np.diff(shape.values) > 0)
        if feature.is_integer:
            np.testing.assert_array_equal(shape.values, np.round(shape.values))
        else:
            assert len(shape.values) == SHAPE_POINTS
    assert list(next(s for s in small_predictor.shape_functions() if s.feature == "smoker").values) == [0.0, 1.0]


def test_a_deep_network_has_no_shape_functions(cohort_small, schema, tiny_config):
    """One MLP over all inputs: a feature's contribution depends on the others, so there is no curve to draw."""
    from dataclasses import replace

    from recovery_model.scoring.predictor import Predictor

    deep = Predictor.fit(cohort_small.head(1200), schema, replace(tiny_config, additive=False, max_epochs=2), seed=0)
    assert deep.shape_functions() is None


def test_a_feature_never_recorded_has_no_shape_point_only_what_missing_counts_as(small_predictor):
    """No training value to read the curve at: no point is invented (a median of nothing), the missing value's
    contribution alone is given."""
    from copy import copy

    predictor = copy(small_predictor)
    predictor.reference = small_predictor.reference.copy()
    predictor.reference[:, 0] = np.nan
    shape = predictor.shape_functions()[0]
    assert len(shape.values) == len(shape.contribution) == len(shape.observed) == 0
    assert np.isfinite(shape.not_recorded[0])
