"""Learn then Test: a high-tier threshold whose PPV holds on new patients, or a plain 'none qualifies'."""

import numpy as np
import pytest

from recovery_model.scoring.narrative import describe_risk
from recovery_model.scoring.thresholds import Thresholds
from recovery_model.updating.thresholds import guaranteed_high_threshold


def calibrated(patients: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.beta(0.6, 12, patients)
    return (rng.random(patients) < risk).astype(int), risk


def test_the_chosen_threshold_keeps_its_ppv_on_new_patients():
    event, risk = calibrated(5_000, 0)
    chosen = guaranteed_high_threshold(event, risk, target_ppv=0.15)
    assert chosen.threshold is not None and chosen.observed_ppv >= 0.15 and chosen.flagged > 50
    misses = 0
    for seed in range(1, 41):  # 90 % confidence: new samples may fall short now and then, rarely
        new_event, new_risk = calibrated(20_000, seed)
        misses += new_event[new_risk >= chosen.threshold].mean() < 0.15
    assert misses <= 8


def test_a_target_no_threshold_can_reach_is_said():
    event, risk = calibrated(2_000, 0)
    chosen = guaranteed_high_threshold(event, risk, target_ppv=0.95)
    assert chosen.threshold is None and chosen.valid_thresholds == 0 and chosen.observed_ppv is None


def test_a_guaranteed_threshold_says_what_it_promises(schema):
    tiers = Thresholds(high=0.2, moderate=0.05).with_guaranteed_high(0.12, 0.25, 0.9)
    assert (tiers.high, tiers.moderate) == (0.12, 0.05)
    assert Thresholds(high=0.2, moderate=0.15).with_guaranteed_high(0.12, 0.25, 0.9).moderate == 0.12
    text = describe_risk(0.3, "high", tiers, 0.034, schema.target)
    assert "chosen on this hospital's own outcomes so that at least 25.0 %" in text and "90.0 % confidence" in text


@pytest.mark.parametrize("target, applied", [(0.2, True), (0.9, False)])
def test_update_carries_the_threshold_into_the_candidate_or_says_none_qualifies(drifted, default_predictor,
                                                                                 target, applied):
    from recovery_model.updating.update import UpdateSettings, update
    from tests.conftest import DRIFT

    result = update(drifted, default_predictor, UpdateSettings(since=DRIFT.drift_start, high_ppv=target))
    tiers = result.summary["thresholds"]
    assert tiers["applied"] is applied and (tiers["threshold"] is not None) is applied
    if applied:
        assert result.candidate.thresholds.high == tiers["threshold"] and result.candidate.thresholds.high_ppv == 0.2
    else:
        assert result.candidate.thresholds == default_predictor.thresholds
