import math

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from recovery_model.monitoring.statistics import (
    auroc_interval,
    average_precision,
    calibration_intercept_slope,
    expected_auroc,
    midrank_auroc,
    observed_expected,
    paired_auroc_difference,
    threshold_metrics,
)

Z_95 = norm.ppf(0.975)
Y_SMALL = np.array([0, 0, 1, 1])
RISK_SMALL = np.array([0.1, 0.4, 0.35, 0.8])


def tied_sample(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Risks on a coarse grid, so that many are tied, and outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    risk = rng.integers(1, 20, size) / 20
    return (rng.random(size) < risk).astype(int), risk


def logistic_sample(seed: int = 7, size: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """True log-odds and the outcomes drawn from them."""
    rng = np.random.default_rng(seed)
    log_odds = rng.normal(-1.0, 1.5, size)
    return (rng.random(size) < expit(log_odds)).astype(int), log_odds


def assert_plain(*values: object) -> None:
    for value in values:
        assert value is None or type(value) in (float, int), type(value)


class TestObservedExpected:
    def test_five_observed_five_expected_is_garwood(self):
        ratio, low, high = observed_expected(5, 5.0)
        assert ratio == 1.0
        assert low == pytest.approx(1.6235 / 5, abs=1e-4)
        assert high == pytest.approx(11.6683 / 5, abs=1e-4)
        assert_plain(ratio, low, high)

    def test_none_observed_has_a_zero_lower_bound(self):
        ratio, low, high = observed_expected(0, 2.0)
        assert (ratio, low) == (0.0, 0.0)
        assert high == pytest.approx(3.6889 / 2, abs=1e-4)

    def test_a_narrower_level_gives_a_narrower_interval(self):
        _, low_95, high_95 = observed_expected(5, 5.0)
        _, low_80, high_80 = observed_expected(5, 5.0, level=0.80)
        assert low_95 < low_80 < 1.0 < high_80 < high_95

    @pytest.mark.parametrize("expected", [0.0, -1.0])
    def test_no_expected_events_is_undefined(self, expected):
        assert observed_expected(3, expected) == (None, None, None)


class TestAurocInterval:
    def test_by_hand(self):
        # V10 = (1/2, 1), V01 = (1, 1/2): each variance 1/8, divided by 2: var = 1/8.
        auc, low, high = auroc_interval(Y_SMALL, RISK_SMALL)
        assert auc == pytest.approx(0.75)
        assert low == pytest.approx(0.75 - Z_95 * math.sqrt(1 / 8))
        assert high == 1.0
        assert_plain(auc, low, high)

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_auroc_is_sklearns(self, seed):
        rng = np.random.default_rng(seed)
        risk = rng.random(5000)
        y = (rng.random(5000) < risk).astype(int)
        assert auroc_interval(y, risk)[0] == pytest.approx(roc_auc_score(y, risk), abs=1e-12)
        y_tied, risk_tied = tied_sample(seed, 5000)
        assert auroc_interval(y_tied, risk_tied)[0] == pytest.approx(roc_auc_score(y_tied, risk_tied), abs=1e-12)

    @pytest.mark.parametrize("seed", [0, 1])
    def test_the_auroc_alone_is_the_same_number(self, seed):
        y_tied, risk_tied = tied_sample(seed, 5000)
        assert midrank_auroc(y_tied, risk_tied) == pytest.approx(roc_auc_score(y_tied, risk_tied), abs=1e-12)
        assert midrank_auroc(Y_SMALL, RISK_SMALL) == auroc_interval(Y_SMALL, RISK_SMALL)[0]
        assert midrank_auroc([1, 1], [0.2, 0.3]) is None

    def test_variance_is_delongs_textbook_definition(self):
        y, risk = tied_sample(3, 150)
        events, non_events = risk[y == 1], risk[y == 0]
        kernel = (events[:, None] > non_events[None, :]) + 0.5 * (events[:, None] == non_events[None, :])
        v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
        standard_error = math.sqrt(v10.var(ddof=1) / len(events) + v01.var(ddof=1) / len(non_events))

        auc, low, high = auroc_interval(y, risk)
        assert auc == pytest.approx(kernel.mean())
        assert low > 0 and high < 1
        assert (high - auc) / Z_95 == pytest.approx(standard_error, rel=1e-10)
        assert (auc - low) / Z_95 == pytest.approx(standard_error, rel=1e-10)

    def test_the_interval_narrows_with_the_level(self):
        y, risk = tied_sample(4, 500)
        _, low_95, high_95 = auroc_interval(y, risk)
        _, low_50, high_50 = auroc_interval(y, risk, level=0.5)
        assert low_95 < low_50 < high_50 < high_95

    @pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1], []])
    def test_one_class_is_undefined(self, y):
        assert auroc_interval(y, np.linspace(0.1, 0.9, len(y))) == (None, None, None)

    def test_a_single_event_has_no_interval(self):
        assert auroc_interval([0, 0, 1], [0.1, 0.5, 0.3]) == (0.5, None, None)


class TestPairedAurocDifference:
    def test_the_difference_is_sklearns_and_the_interval_covers_it(self):
        y, risk = tied_sample(3, 2_000)
        noisy = risk + np.random.default_rng(4).normal(0, 0.2, len(risk))
        difference, low, high = paired_auroc_difference(y, risk, noisy)
        assert difference == pytest.approx(roc_auc_score(y, risk) - roc_auc_score(y, noisy), abs=1e-12)
        assert low < difference < high and low > 0  # the noise costs AUROC, and 2,000 patients show it

    def test_pairing_makes_the_interval_narrower_than_either_auroc_alone(self):
        """Two scores that share most of their ranking differ little, and the paired interval knows it."""
        y, risk = tied_sample(5, 2_000)
        nearly = risk + np.random.default_rng(6).normal(0, 0.01, len(risk))
        _, low, high = paired_auroc_difference(y, risk, nearly)
        _, alone_low, alone_high = auroc_interval(y, risk)
        assert high - low < (alone_high - alone_low) / 4

    def test_a_score_against_itself_differs_by_exactly_nothing(self):
        y, risk = tied_sample(7, 500)
        assert paired_auroc_difference(y, risk, risk) == (0.0, 0.0, 0.0)

    def test_too_few_events_is_undefined(self):
        assert paired_auroc_difference([1, 0, 0], [0.9, 0.1, 0.2], [0.8, 0.3, 0.1]) == (None, None, None)


class TestAveragePrecision:
    def test_by_hand(self):
        # Ranked by risk: event, non-event, event, non-event: precision 1 at recall 1/2, 2/3 at recall 1.
        value = average_precision(Y_SMALL, RISK_SMALL)
        assert value == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
        assert_plain(value)

    @pytest.mark.parametrize("y", [[0, 0, 0], []])
    def test_no_events_is_undefined(self, y):
        assert average_precision(y, np.linspace(0.1, 0.9, len(y))) is None

    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_is_sklearns_with_ties_too(self, seed):
        from sklearn.metrics import average_precision_score

        rng = np.random.default_rng(seed)
        risk = rng.random(3000)
        y = (rng.random(3000) < risk).astype(int)
        assert average_precision(y, risk) == pytest.approx(average_precision_score(y, risk), abs=1e-12)
        y_tied, risk_tied = tied_sample(seed, 3000)
        assert average_precision(y_tied, risk_tied) == pytest.approx(average_precision_score(y_tied, risk_tied),
                                                                     abs=1e-12)


class TestCalibration:
    def test_saturated_by_hand(self):
        # Two risk groups, logit -1 and +1, with 1 and 3 events in 4: the fit is saturated, so the slope
        # is (logit(3/4) - logit(1/4)) / 2 = ln 3; by symmetry the mean risk already matches: intercept 0.
        y = [1, 0, 0, 0, 1, 1, 1, 0]
        risk = [expit(-1.0)] * 4 + [expit(1.0)] * 4
        intercept, slope = calibration_intercept_slope(y, risk)
        assert intercept == pytest.approx(0.0, abs=1e-12)
        assert slope == pytest.approx(math.log(3), abs=1e-12)
        assert_plain(intercept, slope)

    def test_intercept_by_hand_with_one_risk(self):
        # Every risk 0.5 (offset 0): the intercept is logit(1/4); the slope is not identifiable.
        assert calibration_intercept_slope([1, 0, 0, 0], [0.5] * 4) == (pytest.approx(-math.log(3)), None)

    def test_risks_are_clipped_before_the_logit(self):
        intercept, slope = calibration_intercept_slope([1, 0, 0, 0], [0.0] * 4)
        assert intercept == pytest.approx(logit(0.25) - logit(1e-6))
        assert slope is None

    def test_calibrated_risks(self):
        y, log_odds = logistic_sample()
        intercept, slope = calibration_intercept_slope(y, expit(log_odds))
        assert intercept == pytest.approx(0.0, abs=0.1)
        assert slope == pytest.approx(1.0, abs=0.1)

    def test_risks_squeezed_toward_a_half_have_slope_two(self):
        y, log_odds = logistic_sample()
        assert calibration_intercept_slope(y, expit(log_odds / 2))[1] == pytest.approx(2.0, abs=0.1)

    def test_risks_too_extreme_have_slope_below_one(self):
        y, log_odds = logistic_sample()
        assert calibration_intercept_slope(y, expit(3 * log_odds))[1] == pytest.approx(1 / 3, abs=0.05)

    @pytest.mark.parametrize("shift", [-5.0, 5.0])
    @pytest.mark.parametrize("seed", range(8))
    def test_risks_far_off_in_the_large(self, seed, shift):
        # From zero, a full Newton step overshoots and diverges; at the optimum, for some seeds, rounding
        # keeps every short step from raising the likelihood.
        y, log_odds = logistic_sample(seed)
        intercept, slope = calibration_intercept_slope(y, expit(log_odds + shift))
        assert intercept == pytest.approx(-shift, abs=0.1)
        assert slope == pytest.approx(1.0, abs=0.1)

    @pytest.mark.parametrize("squeeze", [0.5, 1.0, 3.0])
    def test_is_the_maximum_likelihood_fit_of_an_independent_solver(self, squeeze):
        from sklearn.linear_model import LogisticRegression

        y, log_odds = logistic_sample(1)
        risk = expit(squeeze * log_odds)
        clipped = logit(np.clip(risk, 1e-6, 1 - 1e-6))  # as the report clips a risk of 0 or 1
        fitted = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(clipped[:, None], y)
        assert calibration_intercept_slope(y, risk)[1] == pytest.approx(fitted.coef_[0, 0], abs=1e-6)

    def test_perfect_separation_has_no_slope(self):
        intercept, slope = calibration_intercept_slope([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
        assert intercept == pytest.approx(0.0, abs=1e-12)
        assert slope is None

    @pytest.mark.parametrize("y", [[0, 0, 0], [1, 1, 1], []])
    def test_one_class_is_undefined(self, y):
        assert calibration_intercept_slope(y, np.linspace(0.1, 0.9, len(y))) == (None, None)


def brute_force_expected_auroc(risk: np.ndarray) -> float:
    weight = risk[:, None] * (1 - risk[None, :])
    np.fill_diagonal(weight, 0.0)
    kernel = (risk[:, None] > risk[None, :]) + 0.5 * (risk[:, None] == risk[None, :])
    return float((weight * kernel).sum() / weight.sum())


class TestExpectedAuroc:
    def test_by_hand(self):
        # Pairs: (0.5 event, 0.2 not) weight 0.5·0.8 = 0.4 ranked right; (0.2 event, 0.5 not) 0.2·0.5 = 0.1 wrong.
        value = expected_auroc(np.array([0.2, 0.5]))
        assert value == pytest.approx(0.4 / 0.5)
        assert_plain(value)

    def test_equal_risks_give_a_half(self):
        assert expected_auroc(np.full(10, 0.3)) == pytest.approx(0.5)

    @pytest.mark.parametrize("seed", [0, 1])
    def test_is_the_brute_force_definition(self, seed):
        _, risk = tied_sample(seed, 200)
        assert len(np.unique(risk)) < 20
        assert expected_auroc(risk) == pytest.approx(brute_force_expected_auroc(risk), rel=1e-12)
        continuous = np.random.default_rng(seed).random(200)
        assert expected_auroc(continuous) == pytest.approx(brute_force_expected_auroc(continuous), rel=1e-12)

    def test_is_the_mean_auroc_of_outcomes_drawn_from_the_risks(self):
        _, risk = tied_sample(5, 300)
        draws = np.random.default_rng(6).random((2000, risk.size)) < risk
        simulated = np.mean([roc_auc_score(outcomes, risk) for outcomes in draws])
        assert expected_auroc(risk) == pytest.approx(simulated, abs=0.003)

    @pytest.mark.parametrize("risk", [[], [0.4], [0.0, 0.0, 0.0], [1.0, 1.0]])
    def test_undefined(self, risk):
        assert expected_auroc(np.array(risk)) is None


class TestThresholdMetrics:
    Y = np.array([1, 0, 1, 0, 0, 1])
    RISK = np.array([0.9, 0.8, 0.3, 0.1, 0.5, 0.5])

    def test_by_hand(self):
        # Flagged at >= 0.5: 0.9 (event), 0.8, 0.5, 0.5 (event): 2 of the 3 events among 4 flagged.
        metrics = threshold_metrics(self.Y, self.RISK, 0.5)
        assert metrics == {"flagged": 4, "ppv": 0.5, "sensitivity": pytest.approx(2 / 3)}
        assert_plain(*metrics.values())

    def test_no_one_flagged_has_no_ppv(self):
        assert threshold_metrics(self.Y, self.RISK, 0.95) == {"flagged": 0, "ppv": None, "sensitivity": 0.0}

    def test_no_events_has_no_sensitivity(self):
        assert threshold_metrics(np.zeros(6), self.RISK, 0.5) == {"flagged": 4, "ppv": 0.0, "sensitivity": None}

    def test_empty(self):
        assert threshold_metrics([], [], 0.5) == {"flagged": 0, "ppv": None, "sensitivity": None}
