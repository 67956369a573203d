"""The statistics of a monitoring report, over numpy arrays.

`y` is 1 for the adverse event and 0 otherwise; `risk` is the predicted probability of the event.
Every function returns plain Python numbers, and None where a value is undefined: never NaN, so that
a report can tell "not computable this period" from a number. SciPy and scikit-learn are imported
inside the functions that use them, to keep start-up fast.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

RISK_CLIP = 1e-6
NEWTON_TOLERANCE = 1e-10
NEWTON_MAX_STEPS = 100
MAX_STEP_HALVINGS = 30
ROUNDING = 1e-13  # relative: a sum of thousands of log-likelihood terms is no more exact than this

Interval = tuple[float | None, float | None, float | None]


def _events(y: ArrayLike) -> np.ndarray:
    return np.asarray(np.asarray(y) == 1, dtype=bool)


def observed_expected(observed: int, expected: float, level: float = 0.95) -> Interval:
    """O/E and its exact Poisson (Garwood) interval: the interval of the count O, divided by E.

    E, a sum of predicted risks, is taken as fixed. None×3 when E <= 0.
    """
    if expected <= 0:
        return None, None, None
    from scipy.stats import chi2

    alpha = 1 - level
    low = chi2.ppf(alpha / 2, 2 * observed) / 2 if observed > 0 else 0.0
    high = chi2.ppf(1 - alpha / 2, 2 * (observed + 1)) / 2
    return float(observed / expected), float(low / expected), float(high / expected)


def midrank_auroc(y: ArrayLike, risk: ArrayLike) -> float | None:
    """The AUROC alone, from the events' midranks (Mann–Whitney; one ranking, where DeLong's interval needs three);
    None with one class only."""
    events = _events(y)
    m, n = int(events.sum()), int((~events).sum())
    if m == 0 or n == 0:
        return None
    from scipy.stats import rankdata

    return float((rankdata(np.asarray(risk, dtype=float))[events].sum() - m * (m + 1) / 2) / (m * n))


def auroc_interval(y: ArrayLike, risk: ArrayLike, level: float = 0.95) -> Interval:
    """AUROC with DeLong's interval, auc ± z·se clipped to [0, 1].

    DeLong's variance from the structural components V10 and V01. None×3 with one class only; with a single
    event or a single non-event the variance is undefined, so the AUROC comes without its interval.
    """
    events = _events(y)
    m, n = int(events.sum()), int((~events).sum())
    if m == 0 or n == 0:
        return None, None, None
    from scipy.stats import norm

    v10, v01 = _structural_components(events, np.asarray(risk, dtype=float))
    auc = float(v10.mean())
    if m < 2 or n < 2:
        return auc, None, None
    half_width = norm.ppf((1 + level) / 2) * np.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    return auc, float(max(auc - half_width, 0.0)), float(min(auc + half_width, 1.0))


def paired_auroc_difference(y: ArrayLike, risk_a: ArrayLike, risk_b: ArrayLike, level: float = 0.95) -> Interval:
    """AUROC(a) − AUROC(b) on the same patients with DeLong's paired interval (the two models' structural components
    are correlated through the patients they share). None×3 unless there are at least two events and two non-events."""
    events = _events(y)
    m, n = int(events.sum()), int((~events).sum())
    if m < 2 or n < 2:
        return None, None, None
    from scipy.stats import norm

    a10, a01 = _structural_components(events, np.asarray(risk_a, dtype=float))
    b10, b01 = _structural_components(events, np.asarray(risk_b, dtype=float))
    difference = float(a10.mean() - b10.mean())
    half_width = norm.ppf((1 + level) / 2) * np.sqrt((a10 - b10).var(ddof=1) / m + (a01 - b01).var(ddof=1) / n)
    return difference, float(difference - half_width), float(difference + half_width)


def _structural_components(events: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's V10 (per event) and V01 (per non-event), with midranks in O(n log n) (Sun & Xu 2014)."""
    from scipy.stats import rankdata

    event_risks, non_event_risks = risk[events], risk[~events]
    m, n = len(event_risks), len(non_event_risks)
    midranks = rankdata(np.concatenate([event_risks, non_event_risks]))
    v10 = (midranks[:m] - rankdata(event_risks)) / n
    v01 = 1 - (midranks[m:] - rankdata(non_event_risks)) / m
    return v10, v01


def average_precision(y: ArrayLike, risk: ArrayLike) -> float | None:
    """scikit-learn's average precision (the step-wise area under the precision–recall curve: each distinct risk,
    from the highest, a threshold; the precision there weighted by the recall it adds), without its input checks:
    bootstraps call it thousands of times. None without an event."""
    events = _events(y)
    if not events.any():
        return None
    order = np.argsort(-np.asarray(risk, dtype=float), kind="stable")
    ranked_risk, ranked_events = np.asarray(risk, dtype=float)[order], events[order]
    last_of_each_value = np.r_[np.flatnonzero(np.diff(ranked_risk)), len(ranked_risk) - 1]
    true_positives = np.cumsum(ranked_events)[last_of_each_value]
    precision = true_positives / (last_of_each_value + 1)
    recall_added = np.diff(true_positives, prepend=0) / true_positives[-1]
    return float(recall_added @ precision)


def calibration_intercept_slope(y: ArrayLike, risk: ArrayLike) -> tuple[float | None, float | None]:
    """Calibration-in-the-large and calibration slope, by logistic regression of y on logit(risk).

    The intercept is that of a model with logit(risk) as an offset (slope fixed at 1): 0 when the
    mean risk matches the event rate. The slope is the coefficient of logit(risk) fitted with its own
    intercept: 1 when the spread of the risks is right, below 1 when they are too extreme. Risks are
    clipped to [1e-6, 1 - 1e-6] so that 0 and 1 have a finite logit. Each is None with one class
    only, or when its fit does not converge (the slope under perfect separation).
    """
    events = _events(y).astype(float)
    if events.size == 0 or events.min() == events.max():
        return None, None
    from scipy.special import logit

    log_odds = logit(np.clip(np.asarray(risk, dtype=float), RISK_CLIP, 1 - RISK_CLIP))
    ones = np.ones_like(log_odds)
    in_the_large = logistic_fit(ones[:, None], events, offset=log_odds)
    recalibration = logistic_fit(np.column_stack([ones, log_odds]), events, offset=np.zeros_like(log_odds),
                                 start=np.array([0.0, 1.0]))  # from the risks as they are: few steps when near
    intercept = None if in_the_large is None else float(in_the_large[0])
    slope = None if recalibration is None else float(recalibration[1])
    return intercept, slope


def logistic_fit(design: np.ndarray, events: np.ndarray, offset: np.ndarray,
                 start: np.ndarray | None = None) -> np.ndarray | None:
    """Logistic maximum-likelihood coefficients by Newton–Raphson from `start` (zero unless given); None if it does
    not converge."""
    from scipy.special import expit

    coefficients = np.zeros(design.shape[1]) if start is None else np.asarray(start, dtype=float)
    likelihood = log_likelihood(offset + design @ coefficients, events)
    for _ in range(NEWTON_MAX_STEPS):
        fitted = expit(offset + design @ coefficients)
        hessian = design.T @ (design * (fitted * (1 - fitted))[:, None])
        try:
            step = np.linalg.solve(hessian, design.T @ (events - fitted))
        except np.linalg.LinAlgError:
            return None
        if np.max(np.abs(step)) < NEWTON_TOLERANCE:
            return coefficients + step
        coefficients, likelihood = _damped_step(coefficients, step, likelihood, design, events, offset)
    return None


def _damped_step(coefficients: np.ndarray, step: np.ndarray, likelihood: float, design: np.ndarray,
                 events: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, float]:
    """The Newton step halved until the likelihood rises, or the full step if none does.

    A full step overshoots, and then diverges, when the risks are far off (all 0.001 against a 10 %
    event rate, say). Near the optimum rounding alone can keep a short step from raising the likelihood:
    then the full step is taken, at once when its likelihood is the same within rounding (halving it
    again would only repeat the sum thirty times).
    """
    for scale in 0.5 ** np.arange(MAX_STEP_HALVINGS):
        candidate = coefficients + scale * step
        candidate_likelihood = log_likelihood(offset + design @ candidate, events)
        if candidate_likelihood > likelihood or (
                scale == 1 and candidate_likelihood >= likelihood - ROUNDING * abs(likelihood)):
            return candidate, candidate_likelihood
    candidate = coefficients + step
    return candidate, log_likelihood(offset + design @ candidate, events)


def log_likelihood(log_odds: np.ndarray, events: np.ndarray) -> float:
    return float(events @ log_odds - np.logaddexp(0, log_odds).sum())


def expected_auroc(risk: ArrayLike) -> float | None:
    """The AUROC to expect if the risks are calibrated, before any outcome is known.

    An ordered pair (i, j) is an event–non-event pair with probability p_i (1 - p_j); the expected
    AUROC is the share of that weight where the event has the higher risk, ties counting half. Equal
    risks are grouped, so the sum over pairs takes a sort and cumulative sums: O(n log n). None for
    fewer than two risks, or when no pair can be an event–non-event pair (all risks 0, or all 1).
    """
    risk = np.asarray(risk, dtype=float)
    if risk.size < 2:
        return None
    values, counts = np.unique(risk, return_counts=True)
    event_weight = counts * values
    non_event_weight = counts * (1 - values)
    self_pairs = (counts * values * (1 - values)).sum()
    non_event_weight_below = np.cumsum(non_event_weight) - non_event_weight
    ranked_higher = event_weight @ non_event_weight_below
    tied = event_weight @ non_event_weight - self_pairs
    total = event_weight.sum() * non_event_weight.sum() - self_pairs
    if total <= 0:
        return None
    return float((ranked_higher + tied / 2) / total)


def threshold_metrics(y: ArrayLike, risk: ArrayLike, threshold: float) -> dict[str, int | float | None]:
    """Patients flagged (risk >= threshold), the PPV among them and the sensitivity.

    `ppv` is None when no one is flagged, `sensitivity` None when there is no event.
    """
    events = _events(y)
    flagged = np.asarray(risk, dtype=float) >= threshold
    flagged_count = int(flagged.sum())
    flagged_events = int((events & flagged).sum())
    event_count = int(events.sum())
    return {
        "flagged": flagged_count,
        "ppv": flagged_events / flagged_count if flagged_count else None,
        "sensitivity": flagged_events / event_count if event_count else None,
    }


def proportion_interval(count: int, total: int, level: float = 0.95) -> Interval:
    """A share and its exact (Clopper–Pearson) interval; None×3 when `total` is 0."""
    if total <= 0:
        return None, None, None
    from scipy.stats import beta

    alpha = 1 - level
    low = beta.ppf(alpha / 2, count, total - count + 1) if count > 0 else 0.0
    high = beta.ppf(1 - alpha / 2, count + 1, total - count) if count < total else 1.0
    return float(count / total), float(low), float(high)
