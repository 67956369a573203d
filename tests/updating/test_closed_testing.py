"""The closed testing procedure chooses the simplest update the outcomes do not reject."""

import numpy as np
import pytest

from recovery_model.updating.closed_testing import closed_test

PATIENTS = 20_000


@pytest.fixture(scope="module")
def lp():
    return np.random.default_rng(0).normal(-3.0, 1.2, PATIENTS)


def outcomes(log_odds: np.ndarray, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(len(log_odds)) < 1 / (1 + np.exp(-log_odds))).astype(int)


def test_a_calibrated_model_is_kept_after_a_single_test(lp):
    test = closed_test(outcomes(lp), lp)
    assert test.method == "none" and (test.intercept, test.slope) == (0.0, 1.0)
    assert len(test.tests) == 1 and test.tests[0].smaller == "none" and not test.tests[0].rejects


def test_a_shifted_world_gets_its_intercept_and_nothing_more(lp):
    test = closed_test(outcomes(lp + 1.0), lp)
    assert test.method == "intercept" and test.slope == 1.0
    assert test.intercept == pytest.approx(1.0, abs=0.1)
    assert [t.smaller for t in test.tests] == ["none", "intercept"]
    assert test.tests[0].rejects and not test.tests[1].rejects and test.tests[1].df == 1


def test_risks_too_extreme_get_a_slope(lp):
    test = closed_test(outcomes(-1.5 + 0.5 * lp), lp)
    assert test.method == "logistic" and test.slope == pytest.approx(0.5, abs=0.08)
    assert all(t.rejects for t in test.tests)


def test_a_refit_is_chosen_only_when_it_explains_what_recalibration_cannot(lp):
    rng = np.random.default_rng(2)
    truth = lp + rng.normal(0, 1.5, len(lp))  # the model misses a strong signal a refit finds
    event = outcomes(truth)
    chosen = closed_test(event, lp, refit_lp=truth, refit_parameters=16)
    assert chosen.method == "refit" and [t.smaller for t in chosen.tests] == ["none", "intercept", "logistic"]
    assert chosen.tests[-1].df == 14
    shifted = outcomes(lp + 1.0)
    noisy_refit = lp + 1.0 + rng.normal(0, 0.3, len(lp))  # no better than the recalibration it could be
    assert closed_test(shifted, lp, refit_lp=noisy_refit, refit_parameters=16).method == "intercept"


def test_outcomes_of_one_kind_are_refused(lp):
    with pytest.raises(ValueError, match="did not converge"):
        closed_test(np.zeros(len(lp), dtype=int), lp)
