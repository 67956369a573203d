import json

import numpy as np
import pandas as pd
import pytest

from recovery_model.errors import CheckpointError
from recovery_model.evaluation.baselines import news2_partial
from recovery_model.evaluation.evaluate import (
    OURS,
    EvaluationSettings,
    at_threshold,
    bootstrap,
    calibration_curve,
    evaluate,
    metrics,
    net_benefit,
    top_k_flags,
    verdict,
)
from recovery_model.evaluation.model_card import markdown_table, render_model_card
from recovery_model.evaluation.report import REPORT_ARRAYS, REPORT_FORMAT, REPORT_JSON, Estimate, EvaluationReport
from recovery_model.schema import load_schema


@pytest.fixture(scope="module")
def calibrated():
    rng = np.random.default_rng(1)
    risk = 1 / (1 + np.exp(-rng.normal(-3.5, 1.2, 50_000)))
    return (rng.random(len(risk)) < risk).astype(int), risk


def test_perfectly_calibrated_risks_have_slope_one_and_intercept_zero(calibrated):
    event, risk = calibrated
    m = metrics(event, risk)
    assert m["calibration_slope"] == pytest.approx(1, abs=0.05)
    assert m["calibration_intercept"] == pytest.approx(0, abs=0.05)
    assert 0 < m["scaled_brier"] < 1


def test_overconfident_risks_have_slope_below_one(calibrated):
    event, risk = calibrated
    logit = np.log(risk / (1 - risk))
    overconfident = 1 / (1 + np.exp(-(2 * (logit + 3.5) - 3.5)))
    assert metrics(event, overconfident)["calibration_slope"] == pytest.approx(0.5, abs=0.05)


def test_ranking_metrics_on_a_perfect_and_a_useless_model():
    event = np.array([0, 0, 0, 1, 1])
    perfect = metrics(event, np.array([0.1, 0.2, 0.3, 0.8, 0.9]))
    assert perfect["auroc"] == 1 and perfect["auprc"] == 1
    assert metrics(event, np.full(5, 0.4))["auroc"] == 0.5


def test_the_majority_class_has_high_accuracy_and_no_skill():
    event = np.array([0] * 966 + [1] * 34)
    m = metrics(event, np.full(1000, 0.034))
    assert m["accuracy_at_0_5"] == pytest.approx(0.966) and m["auroc"] == 0.5
    assert m["scaled_brier"] == pytest.approx(0, abs=1e-9)


def test_threshold_metrics_count_correctly():
    event = np.array([1, 1, 0, 0, 0, 1])
    flagged = np.array([True, False, True, False, False, True])
    t = at_threshold(event, flagged)
    assert (t.tp, t.fp, t.fn, t.tn) == (2, 1, 1, 2)
    assert t.sensitivity == pytest.approx(2 / 3) and t.ppv == pytest.approx(2 / 3)
    assert t.nne == pytest.approx(1.5)


def test_top_k_flags_exactly_k():
    flags = top_k_flags(np.array([0.1, 0.5, 0.3, 0.9]), 0.5)
    assert list(flags) == [False, True, False, True]


def test_net_benefit_matches_the_formula():
    event = np.array([1, 0, 0, 1, 0])
    risk = np.array([0.6, 0.4, 0.1, 0.3, 0.05])
    nb = net_benefit(event, risk, np.array([0.2]))[0]
    assert nb == pytest.approx(2 / 5 - 1 / 5 * 0.2 / 0.8)


def test_bootstrap_interval_contains_the_estimate(calibrated):
    event, risk = calibrated
    ci = bootstrap(event[:3000], risk[:3000], metrics, n=50, seed=0)["auroc"]
    assert ci["low"] < ci["value"] < ci["high"]


def test_calibration_curve_bins(calibrated):
    event, risk = calibrated
    curve = calibration_curve(event, risk, bins=5)
    assert len(curve) == 5 and sum(b.n for b in curve) == len(event)
    for b in curve:
        assert b.low <= b.observed <= b.high
        assert abs(b.observed - b.predicted) < 0.02


@pytest.mark.parametrize("spo2, sbp, pulse, points", [
    (97, 120, 70, 0), (95, 120, 70, 1), (93, 120, 70, 2), (91, 120, 70, 3),
    (97, 105, 70, 1), (97, 95, 70, 2), (97, 90, 70, 3), (97, 225, 70, 3),
    (97, 120, 45, 1), (97, 120, 100, 1), (97, 120, 120, 2), (97, 120, 135, 3), (97, 120, 40, 3),
    (88, 85, 140, 9),
])
def test_news2_bands(spo2, sbp, pulse, points):
    frame = pd.DataFrame({"oxygen_level": [spo2], "blood_pressure": [sbp], "heart_rate": [pulse]})
    assert news2_partial(frame)[0] == points


@pytest.fixture(scope="module")
def small_report(small_fit, cohort_small, tiny_config):
    from dataclasses import replace

    seed_config = replace(tiny_config, linear_path=False, missing_indicators=False, hinges=(0,), additive=False)
    return evaluate(small_fit, cohort_small, include_oracle=True,
                    settings=EvaluationSettings(n_bootstrap=20, fresh_rows=5000, explain_rows=30,
                                                seed_config=seed_config, peer=False))


def test_report_has_every_baseline_and_a_model_card(small_report):
    report = small_report
    assert report.fresh is not None and report.fresh.rows == 5000
    names = [b.name for b in report.baselines]
    assert len(names) == 8 and any("Oracle" in n for n in names) and any("NEWS2" in n for n in names)
    assert "linear path only" in names[2]
    assert all(b.fresh is not None and b.internal is not None for b in report.baselines)
    auroc = report.internal.metrics.estimate("auroc")
    assert auroc.low <= auroc.value <= auroc.high
    assert report.internal.rows == 3000 and "out-of-fold" in report.internal.method
    card = render_model_card(report, load_schema())
    assert "Intended use" in card and "Limitations" in card and "Oracle" in card
    assert report.verdict.text in card
    assert markdown_table(report.baseline_table()).count("\n") == len(names) + 1


def test_subgroups_follow_the_schema(small_report, cohort_small):
    """Age bands, smoking and chronic conditions, as the schema's [[subgroups]] define them: every patient in
    exactly one level of each group."""
    groups = {}
    for row in small_report.subgroups:
        groups.setdefault(row.group, []).append(row)
    assert [r.level for r in groups["Age"]] == ["under 50", "50–69", "70+"]
    assert [r.level for r in groups["Current smoker"]] == ["no", "yes"]
    assert [r.level for r in groups["Chronic conditions"]] == ["0", "1–2", "3+"]
    for rows in groups.values():
        assert sum(r.patients for r in rows) == len(cohort_small)
    assert sum(r.patients for r in groups["Age"][:1]) == int((cohort_small["age"] < 50).sum())


def test_report_survives_a_round_trip_through_its_files(small_report, tmp_path):
    """JSON for the meaning, .npz for the per-row matrices; read back, the report is equal and typed."""
    small_report.save(tmp_path)
    assert (tmp_path / REPORT_ARRAYS).is_file()
    stored = json.loads((tmp_path / REPORT_JSON).read_text())["explanations"]
    assert stored["attributions"] == {"stored_in": REPORT_ARRAYS, "name": "explanations.attributions"}
    loaded = EvaluationReport.load(tmp_path)
    for part in ("provenance", "architecture", "ensemble", "thresholds", "training", "internal", "baselines",
                 "verdict", "subgroups", "fresh"):
        assert repr(getattr(loaded, part)) == repr(getattr(small_report, part)), part  # repr: NaN equals NaN
    np.testing.assert_array_equal(loaded.explanations.attributions, small_report.explanations.attributions)
    assert isinstance(loaded.architecture.hidden, tuple) and isinstance(loaded.internal.metrics.low.auroc, float)


def test_an_unreadable_report_says_how_to_rewrite_it(small_report, tmp_path):
    small_report.save(tmp_path)
    text = (tmp_path / REPORT_JSON).read_text()
    (tmp_path / REPORT_JSON).write_text(text.replace(f'"format": {REPORT_FORMAT}', '"format": 1'))
    with pytest.raises(CheckpointError, match="recovery evaluate"):
        EvaluationReport.load(tmp_path)
    (tmp_path / REPORT_JSON).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match="recovery evaluate"):
        EvaluationReport.load(tmp_path)


def test_internal_validation_is_out_of_fold_and_baselines_share_the_folds(small_report, small_fit, cohort_small):
    from sklearn.metrics import roc_auc_score

    event = small_fit.schema.event_from_target(cohort_small["recovered"])
    ours = next(b for b in small_report.baselines if b.name == OURS).internal.auroc
    assert ours == pytest.approx(roc_auc_score(event, small_fit.model.oof_risk_))
    in_sample = roc_auc_score(event, small_fit.predict_risk(cohort_small)["risk"])
    assert in_sample > ours  # the deployed ensemble has seen every row: out-of-fold is the honest figure
    logistic = next(b for b in small_report.baselines if b.name == "Logistic regression")
    assert small_report.verdict.logistic_auroc == pytest.approx(logistic.internal.auroc)


def test_verdict_says_plainly_when_the_network_loses():
    rng = np.random.default_rng(0)
    event = (rng.random(4000) < 0.2).astype(int)
    good = np.clip(0.2 + 0.3 * (event - 0.2) + rng.normal(0, 0.1, 4000), 0.01, 0.99)
    noise = rng.random(4000)
    lost = verdict(event, noise, good, None)
    assert not lost.beats_logistic_regression and "does not beat logistic regression" in lost.text
    won = verdict(event, good, noise, good)
    assert won.beats_logistic_regression and won.difference.low > 0
    assert not won.mlp_earns_its_place and "no measurable gain" in won.text
    assert "What beats logistic regression is the recipe" in won.text
    assert "changes AUROC by less than 0.0001, the whole 95 % CI included" in won.text
    tiny = verdict(event, good, noise, None, fresh_gain=Estimate(-0.0001, -0.0004, 0.0002))
    assert "less than 0.001 (-0.0001, 95 % CI -0.0004 to +0.0002)" in tiny.text
    wide = verdict(event, good, noise, None, fresh_gain=Estimate(0.0001, -0.0003, 0.0006))
    assert "changes AUROC by +0.0001 (95 % CI -0.0003 to +0.0006)" in wide.text and "adds 0.000" not in wide.text
    assert "+0.000 (" not in won.text  # a gain that rounds to nothing is said in words, not as zeros
    near_zero = verdict(event, good, noise, None, fresh_gain=Estimate(0.0002, -0.00004, 0.0006))
    assert "changes AUROC by +0.0002 (95 % CI 0.0000 to +0.0006)" in near_zero.text  # not "+0.0000": it is below
    earned = verdict(event, good, noise, noise)
    assert earned.mlp_earns_its_place and "has earned its place" in earned.text and "adds 0." in earned.text


def test_the_interpretable_peer_is_fitted_beside_the_baselines_where_it_is_installed(cohort_small, schema):
    from recovery_model.evaluation.baselines import EBM, ebm_installed, fit_baselines

    train, test = cohort_small.iloc[:600], cohort_small.iloc[600:700]
    assert ebm_installed()  # the test extra installs interpret-core
    fitted = fit_baselines(train, schema, seed=0, include_oracle=False, peer=True)
    risk = fitted[EBM](test)
    assert len(risk) == len(test) and ((risk > 0) & (risk < 1)).all()
    assert EBM not in fit_baselines(train, schema, seed=0, include_oracle=False)  # only when asked
