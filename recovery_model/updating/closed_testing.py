"""Which update a model needs, chosen by Vergouwe et al.'s closed testing procedure (Stat Med 2017;36:4529-39).

Four nested models of the local outcomes, from the deployed model's calibrated log-odds `lp`:

- `none`: lp as it is (nothing estimated);
- `intercept`: a + lp, recalibration in the large (1 parameter);
- `logistic`: a + b·lp, logistic recalibration (2 parameters);
- `refit`: the model revised on the local patients (our recipe refitted on their logged inputs).

The most extensive model is tested against the original by a likelihood-ratio test; only if it is better is it
tested against recalibration in the large, and only if it is better still against logistic recalibration. Each test
is at the same level; because each is reached only when the one before rejected, the chance of choosing an update
when the model needs none stays at that level (closed testing), and the simplest update that the outcomes do not
reject is kept. Where Vergouwe et al. revise a regression and count its coefficients, our refit is a network: its
likelihood is taken out-of-fold (its optimism removed) and counted as a logistic revision would be (one parameter
per feature and an intercept), which makes choosing it harder, not easier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recovery_model.monitoring.statistics import log_likelihood, logistic_fit

PARAMETERS = {"none": 0, "intercept": 1, "logistic": 2}
LEVEL = 0.05


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """`larger` against `smaller`: the statistic 2·(LL_larger − LL_smaller) on `df` degrees of freedom."""

    larger: str
    smaller: str
    statistic: float
    df: int
    p_value: float

    @property
    def rejects(self) -> bool:
        return self.p_value < LEVEL


@dataclass(frozen=True)
class ClosedTest:
    """The chosen method, the fitted recalibration (a, b: new log-odds = a + b·lp), each model's log-likelihood on
    the development patients, and the tests in the order they were made."""

    method: str
    intercept: float
    slope: float
    log_likelihoods: dict[str, float]
    tests: list[LikelihoodRatioTest]
    level: float = LEVEL


def closed_test(event: np.ndarray, lp: np.ndarray, refit_lp: np.ndarray | None = None,
                refit_parameters: int = 0) -> ClosedTest:
    """Choose among keeping the model, recalibrating it (in the large, or intercept and slope) and the refit
    (`refit_lp`: its out-of-fold log-odds for the same patients, None when there are too few events to refit)."""
    event = np.asarray(event, dtype=float)
    lp = np.asarray(lp, dtype=float)
    ones = np.ones_like(lp)
    in_the_large = logistic_fit(ones[:, None], event, offset=lp)
    logistic = logistic_fit(np.column_stack([ones, lp]), event, offset=np.zeros_like(lp))
    if in_the_large is None or logistic is None:
        raise ValueError("the recalibration did not converge (the outcomes are all one kind, or separate perfectly)")
    fitted = {"none": (0.0, 1.0), "intercept": (float(in_the_large[0]), 1.0),
              "logistic": (float(logistic[0]), float(logistic[1]))}
    likelihoods = {name: log_likelihood(a + b * lp, event) for name, (a, b) in fitted.items()}
    parameters = dict(PARAMETERS)
    largest = "logistic"
    if refit_lp is not None:
        likelihoods["refit"] = log_likelihood(np.asarray(refit_lp, dtype=float), event)
        parameters["refit"] = refit_parameters
        largest = "refit"
    tests = []
    method = largest
    for smaller in [m for m in PARAMETERS if m != largest]:
        test = _likelihood_ratio(largest, smaller, likelihoods, parameters)
        tests.append(test)
        if not test.rejects:
            method = smaller
            break
    a, b = fitted.get(method, (0.0, 1.0))
    return ClosedTest(method, a, b, likelihoods, tests)


def _likelihood_ratio(larger: str, smaller: str, likelihoods: dict[str, float],
                      parameters: dict[str, int]) -> LikelihoodRatioTest:
    from scipy.stats import chi2

    statistic = max(0.0, 2 * (likelihoods[larger] - likelihoods[smaller]))
    df = parameters[larger] - parameters[smaller]
    return LikelihoodRatioTest(larger, smaller, statistic, df, float(chi2.sf(statistic, df)))
