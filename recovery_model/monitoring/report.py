"""The monitoring report: per period (UTC; ISO weeks from Monday, or calendar months), what the model predicted
and, once outcomes have arrived, how right it was; and the alerts that follow from it.

A period's outcome figures are over its predictions that are linked to an outcome (each outcome counts once,
with the prediction it is linked to); `scored` counts all of them. A period is *matured* when its end plus the
outcome window lies at or before the latest outcome recorded: before that, a missing outcome may still come, so
its figures are not reported as observed, and the calibrated risks alone give an estimate (expected events, and
the AUROC to expect if the model is calibrated). Undefined values are None (null in JSON), never NaN.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from recovery_model.monitoring.data import PERIODS, MonitoringData, PeriodRows
from recovery_model.monitoring.shadow import ShadowComparison, shadow_comparison
from recovery_model.monitoring.statistics import (
    auroc_interval,
    average_precision,
    calibration_intercept_slope,
    expected_auroc,
    observed_expected,
    proportion_interval,
    threshold_metrics,
)

if TYPE_CHECKING:
    from recovery_model.scoring.predictor import Predictor

DRIFT_SAMPLE = 5_000
READERS = 2  # periods read and computed at once
MIN_CELL = 10  # subgroup cells under this are suppressed
FAIR_LOW, FAIR_HIGH = 0.8, 1.25  # seismometer's default fairness bounds
BURDEN_FACTOR = 1.5
STRONG_LEVEL = 0.999
ALERT_KINDS = ("calibration", "discrimination", "drift", "subgroup", "alert_burden")
METHODS = {
    "observed_expected": "observed events / the sum of the risks of the same predictions; exact Poisson "
                         "(Garwood) 95 % interval on the count",
    "auroc": "AUROC with DeLong's 95 % interval",
    "calibration": "intercept: logistic calibration-in-the-large (logit risk as offset); slope: logistic "
                   "regression of the outcome on logit risk",
    "estimate": "for periods not yet matured: expected events = sum of risks; expected AUROC = the AUROC if "
                "outcomes were drawn from the risks (assumes the model is calibrated on this population)",
    "subgroups": f"each group's figure over the reference group's (the largest); groups under {MIN_CELL} are "
                 f"suppressed; outside {FAIR_LOW}–{FAIR_HIGH} is noted",
    "drift": f"the scoring drift test on a uniform sample of at most {DRIFT_SAMPLE} of the period's inputs",
}


class Reference(TypedDict):
    """What the model showed in training (out of fold): what the alert rules compare against."""

    auroc: float | None
    auroc_low: float | None
    auroc_high: float | None
    flag_rate: float
    thresholds: dict[str, float]
    model_digest: str


class Estimated(TypedDict):
    expected_events: float
    expected_auroc: float | None


class DriftFigures(TypedDict):
    drifted: bool
    summary: str
    tested: bool
    missing_more: list[str]


class CardFeedback(TypedDict):
    cards: int
    accepted: int
    overridden: int
    accept_rate: float | None
    override_reasons: dict[str, int]


class Group(TypedDict):
    """One group of a subgroup; the figures only when it is not suppressed (under `MIN_CELL` patients), and the
    ratios to the reference group's when any group is shown."""

    group: str
    n: int
    suppressed: bool
    events: NotRequired[int]
    observed_expected: NotRequired[float | None]
    observed_expected_low: NotRequired[float | None]
    observed_expected_high: NotRequired[float | None]
    flag_rate: NotRequired[float]
    sensitivity: NotRequired[float | None]
    reference: NotRequired[bool]
    flag_rate_ratio: NotRequired[float | None]
    flag_rate_outside_bounds: NotRequired[bool]
    sensitivity_ratio: NotRequired[float | None]
    sensitivity_outside_bounds: NotRequired[bool]


class Subgroup(TypedDict):
    feature: str
    label: str
    groups: list[Group]


class OutcomeFigures(TypedDict):
    """Over a period's predictions linked to an outcome; None before the period has matured."""

    events: int | None
    expected_events: float | None
    observed_expected: float | None
    observed_expected_low: float | None
    observed_expected_high: float | None
    auroc: float | None
    auroc_low: float | None
    auroc_high: float | None
    auprc: float | None
    calibration_intercept: float | None
    calibration_slope: float | None
    at_thresholds: dict[str, dict[str, Any]]


class Period(OutcomeFigures):
    start: str
    end: str
    scored: int
    with_outcome: int
    matured: bool
    flag_rate: float
    range_width: float
    atypical_rate: float
    model_versions: list[str]
    estimated: Estimated
    alert_burden: dict[str, float]
    drift: DriftFigures
    feedback: CardFeedback
    subgroups: list[Subgroup]


class Alert(TypedDict):
    period: str  # the period's first day
    kind: str  # one of ALERT_KINDS
    message: str


class MonitoringReport(TypedDict):
    """The report as plain data (what `recovery monitor --output report.json` writes)."""

    generated_at: str
    period: str
    since: str | None
    until: str | None
    window_days: int
    outcomes_through: str | None
    reference: Reference
    methods: dict[str, str]
    periods: list[Period]
    alerts: list[Alert]
    shadow: list[ShadowComparison]


@dataclass(frozen=True)
class ReportSettings:
    period: str = "week"
    window_days: int = 30
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {self.period!r}")

    @property
    def whole_log(self) -> bool:
        """No span chosen: the report is the log's as a whole (its alerts are the ones Home shows)."""
        return self.since is None and self.until is None


def monitoring_report(data: MonitoringData, predictor: Predictor, settings: ReportSettings) -> MonitoringReport:
    """The report as plain data (what `recovery monitor --output report.json` writes), read a period at a time."""
    reference = _reference(predictor)

    def one_period(start: pd.Timestamp) -> Period | None:
        end = period_end(start, settings.period)
        matured = (data.outcomes_through is not None and
                   end + timedelta(days=settings.window_days) <= data.outcomes_through)
        rows = data.rows(start, end, with_inputs=matured and bool(predictor.schema.subgroups))
        return _period(rows, start, end, matured, predictor, data) if rows.scored else None

    with ThreadPoolExecutor(READERS) as pool:  # the database reads one period while the other's is computed
        periods = [p for p in pool.map(one_period, data.period_starts(settings.period)) if p is not None]
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "period": settings.period,
            "since": _iso(settings.since), "until": _iso(settings.until), "window_days": settings.window_days,
            "outcomes_through": _iso(data.outcomes_through), "reference": reference, "methods": METHODS,
            "periods": periods, "alerts": alerts(periods, reference),
            "shadow": [] if data.shadow is None else shadow_comparison(data.shadow, settings.period)}


def period_starts(times: pd.Series, period: str) -> pd.Series:
    naive = times.dt.tz_convert(UTC).dt.tz_localize(None)
    return naive.dt.to_period(PERIODS[period]).dt.start_time.dt.tz_localize(UTC)


def period_end(start: pd.Timestamp, period: str) -> pd.Timestamp:
    return start + (pd.Timedelta(days=7) if period == "week" else pd.offsets.MonthBegin(1))


def _reference(predictor: Predictor) -> Reference:
    """What the model showed in training (out of fold), for the alert rules to compare against."""
    risk, event = predictor.model.oof_risk_, predictor.model.oof_event_
    auroc, low, high = auroc_interval(event, risk)
    return {"auroc": auroc, "auroc_low": low, "auroc_high": high,
            "flag_rate": float(np.mean(risk >= predictor.thresholds.high)),
            "thresholds": {"high": predictor.thresholds.high, "moderate": predictor.thresholds.moderate},
            "model_digest": predictor.digest}


def _period(rows: PeriodRows, start: pd.Timestamp, end: pd.Timestamp, matured: bool, predictor: Predictor,
            data: MonitoringData) -> Period:
    linked = rows.linked
    figures = _outcome_figures(rows.event[linked] if matured else np.empty(0),
                               rows.risk[linked] if matured else np.empty(0), predictor)
    return Period(
        start=start.date().isoformat(), end=end.date().isoformat(), scored=rows.scored,
        with_outcome=int(linked.sum()), matured=bool(matured),
        flag_rate=float(np.mean(rows.high)),
        range_width=_mean_known(rows.range_width),
        atypical_rate=_mean_known(rows.atypical),
        model_versions=sorted(f"{version} ({digest[:12]})" for version, digest in rows.models),
        estimated=Estimated(expected_events=float(rows.risk.sum()), expected_auroc=expected_auroc(rows.risk)),
        alert_burden=_burden(rows, start, end),
        drift=_drift(rows, start, end, predictor, data),
        feedback=_feedback(rows),
        **figures,
        subgroups=_subgroups(rows, predictor) if matured else [],
    )


def _mean_known(values: np.ndarray) -> float:
    """The mean of the values that are known (NaN when none is)."""
    known = values[~np.isnan(values)]
    return float(known.mean()) if len(known) else float("nan")


def _outcome_figures(event: np.ndarray, risk: np.ndarray, predictor: Predictor) -> OutcomeFigures:
    """Over the predictions linked to an outcome (`event` 1 or 0); all None when there are none."""
    y = (event == 1).astype(int)
    events, expected = int(y.sum()), float(risk.sum())
    ratio, low, high = observed_expected(events, expected) if len(y) else (None, None, None)
    auroc, auroc_low, auroc_high = auroc_interval(y, risk)
    intercept, slope = calibration_intercept_slope(y, risk)
    thresholds = {"high": predictor.thresholds.high, "moderate": predictor.thresholds.moderate}
    return {"events": events if len(y) else None, "expected_events": expected if len(y) else None,
            "observed_expected": ratio, "observed_expected_low": low, "observed_expected_high": high,
            "auroc": auroc, "auroc_low": auroc_low, "auroc_high": auroc_high, "auprc": average_precision(y, risk),
            "calibration_intercept": intercept, "calibration_slope": slope,
            "at_thresholds": {tier: {"threshold": value, **threshold_metrics(y, risk, value)}
                              for tier, value in thresholds.items()}}


def _burden(rows: PeriodRows, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    """Patients in the high tier per ward per day of the period: each patient once a day, however often scored
    (a ward list uploaded again, or as CSV and as Parquet, is the same patients, not twice the burden)."""
    days = (min(end, pd.Timestamp.now(UTC)) - start) / pd.Timedelta(days=1)
    return {ward: float(count / max(days, 1.0)) for ward, count in rows.high_tier_patient_days.items()}


def _drift(rows: PeriodRows, start: pd.Timestamp, end: pd.Timestamp, predictor: Predictor,
           data: MonitoringData) -> DriftFigures:
    """The drift test on a uniform sample of at most `DRIFT_SAMPLE` of the period's inputs (drawn as pandas'
    `sample(random_state=0)` draws it from the rows by time, run and input row)."""
    positions = (np.random.RandomState(0).choice(rows.scored, DRIFT_SAMPLE, replace=False)
                 if rows.scored > DRIFT_SAMPLE else None)
    report = predictor.check_drift(data.inputs(start, end, positions))
    return {"drifted": report.drifted, "summary": report.summary, "tested": report.tested,
            "missing_more": list(report.missing_more)}


def _feedback(rows: PeriodRows) -> CardFeedback:
    answers = rows.feedback
    shown = int(rows.card.sum())
    accepted = int((answers["outcome"] == "accepted").sum())
    overridden = int((answers["outcome"] == "overridden").sum())
    reasons: dict[str, int] = {}
    for listed in answers.loc[answers["outcome"] == "overridden", "reasons"]:
        for reason in listed or []:
            reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    answered = accepted + overridden
    return {"cards": shown, "accepted": accepted, "overridden": overridden,
            "accept_rate": accepted / answered if answered else None, "override_reasons": reasons}


def _subgroups(rows: PeriodRows, predictor: Predictor) -> list[Subgroup]:
    """Per schema subgroup, each group's O/E, sensitivity and flag rate, and their ratios to the largest group's,
    over the predictions with an outcome."""
    schema = predictor.schema
    linked = rows.linked
    y = rows.event[linked] == 1
    risk = rows.risk[linked]
    high = rows.high[linked]
    out: list[Subgroup] = []
    for subgroup in schema.subgroups:
        feature = schema.feature(subgroup.feature)
        groups: list[Group] = []
        for label, mask in subgroup.masks(feature, rows.inputs[subgroup.feature][linked]):
            n = int(mask.sum())
            figures = Group(group=label, n=n, suppressed=n < MIN_CELL)
            if n >= MIN_CELL:
                ratio, low, high_ = observed_expected(int(y[mask].sum()), float(risk[mask].sum()))
                events = int(y[mask].sum())
                figures.update({"events": events, "observed_expected": ratio, "observed_expected_low": low,
                                "observed_expected_high": high_, "flag_rate": float(high[mask].mean()),
                                "sensitivity": float((high[mask] & y[mask]).sum() / events) if events else None})
            groups.append(figures)
        out.append(Subgroup(feature=feature.name, label=feature.display_name, groups=_ratios(groups)))
    return out


def _ratios(groups: list[Group]) -> list[Group]:
    shown = [g for g in groups if not g["suppressed"]]
    if not shown:
        return groups
    reference = max(shown, key=lambda g: g["n"])
    for group in shown:
        group["reference"] = group is reference
        rate = _ratio(group.get("flag_rate"), reference.get("flag_rate"))
        sensitivity = _ratio(group.get("sensitivity"), reference.get("sensitivity"))
        group.update({"flag_rate_ratio": rate, "flag_rate_outside_bounds": _outside(rate),
                      "sensitivity_ratio": sensitivity, "sensitivity_outside_bounds": _outside(sensitivity)})
    return groups


def _ratio(mine: float | None, theirs: float | None) -> float | None:
    return mine / theirs if mine is not None and theirs else None


def _outside(ratio: float | None) -> bool:
    return ratio is not None and not FAIR_LOW <= ratio <= FAIR_HIGH


def alerts(periods: list[Period], reference: Reference) -> list[Alert]:
    """The rules, each over matured periods unless it needs no outcome:

    - calibration: the O/E 95 % interval excludes 1 in this and the previous matured period, on the same side
      (one period alone does so 1 time in 20 by chance), or its 99.9 % interval does in this period alone (a
      departure that large needs no second period);
    - discrimination: the AUROC's upper bound lies below the training AUROC's lower bound;
    - subgroup: a group's O/E 95 % interval excludes 1 in this and the previous matured period, on the same
      side (one alert per period, naming the groups);
    - drift: the period's inputs differ from the training data (needs no outcome);
    - alert_burden: the high-tier rate is half again the training's (the thresholds were set for that rate) and
      its exact 95 % interval lies above the training's rate (not a busy week by chance).
    """
    found: list[Alert] = []
    matured = [p for p in periods if p["matured"]]
    for previous, period in zip([None, *matured], matured, strict=False):
        if _calibration_off(previous, period):
            direction = "more" if _side(period) > 0 else "fewer"
            found.append(_alert(period, "calibration", f"{direction} events than the risks predicted (observed/"
                                f"expected {period['observed_expected']:.2f}, 95 % CI "
                                f"{period['observed_expected_low']:.2f}–{period['observed_expected_high']:.2f})"))
        upper, floor = period["auroc_high"], reference["auroc_low"]
        if upper is not None and floor is not None and upper < floor:
            found.append(_alert(period, "discrimination", f"AUROC {period['auroc']:.3f} (up to "
                                f"{upper:.3f}) is below training's {reference['auroc']:.3f}"))
        found += _subgroup_alerts(previous, period)
    for period in periods:
        if period["drift"]["drifted"]:
            found.append(_alert(period, "drift", period["drift"]["summary"]))
        rate, low, _ = proportion_interval(round(period["flag_rate"] * period["scored"]), period["scored"])
        if rate is not None and low is not None and rate > BURDEN_FACTOR * reference["flag_rate"] \
                and low > reference["flag_rate"]:
            found.append(_alert(period, "alert_burden", f"{rate:.1%} of predictions in the high tier (95 % CI from "
                                f"{low:.1%}) against {reference['flag_rate']:.1%} in training"))
    return sorted(found, key=lambda a: (a["period"], ALERT_KINDS.index(a["kind"])))


def _calibration_off(previous: Period | None, period: Period) -> bool:
    events, expected = period["events"], period["expected_events"]
    if period["observed_expected"] is None or events is None or expected is None:
        return False
    _, low, high = observed_expected(events, expected, STRONG_LEVEL)
    strong = low is not None and high is not None and not low <= 1 <= high
    return _side(period) != 0 and (_side(period) == _side(previous) or strong)


def _side(figures: Period | Group | None) -> int:
    """+1 when the O/E 95 % interval lies above 1, -1 below, 0 when it holds 1 (or there is none)."""
    if figures is None:
        return 0
    low, high = figures.get("observed_expected_low"), figures.get("observed_expected_high")
    if low is None or high is None:
        return 0
    return 1 if low > 1 else -1 if high < 1 else 0


def _subgroup_alerts(previous: Period | None, period: Period) -> list[Alert]:
    if previous is None:
        return []
    before = {(s["feature"], g["group"]): g for s in previous["subgroups"] for g in s["groups"]}
    off = [f"{subgroup['label']} {group['group']} ({group['observed_expected']:.2f})"
           for subgroup in period["subgroups"] for group in subgroup["groups"]
           if not group["suppressed"] and _side(group) != 0
           and _side(group) == _side(before.get((subgroup["feature"], group["group"])))]
    if not off:
        return []
    return [_alert(period, "subgroup", f"observed/expected off in two periods running for {len(off)} group"
                   f"{'s' if len(off) > 1 else ''}: {', '.join(off)}")]


def _alert(period: Period, kind: str, message: str) -> Alert:
    return Alert(period=period["start"], kind=kind, message=message)


def _iso(moment: datetime | pd.Timestamp | None) -> str | None:
    return None if moment is None else pd.Timestamp(moment).isoformat()
