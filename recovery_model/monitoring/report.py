"""The monitoring report: per period (UTC; ISO weeks from Monday, or calendar months), what the model predicted
and, once outcomes have arrived, how right it was; and the alerts that follow from it.

A period's outcome figures are over its predictions that are linked to an outcome (each outcome counts once,
with the prediction it is linked to); `scored` counts all of them. A period is *matured* when its end plus the
outcome window lies at or before the latest outcome recorded: before that, a missing outcome may still come, so
its figures are not reported as observed, and the calibrated risks alone give an estimate (expected events, and
the AUROC to expect if the model is calibrated). Undefined values are None (null in JSON), never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from recovery_model.monitoring.data import MonitoringData, input_column
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

PERIODS = {"week": "W-SUN", "month": "M"}
DRIFT_SAMPLE = 5_000
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
    """The report as plain data (what `recovery monitor --output report.json` writes)."""
    frame = data.predictions
    starts = period_starts(frame["predicted_at"], settings.period)
    reference = _reference(predictor)
    periods = []
    for start, rows in frame.groupby(starts, sort=True):
        end = _period_end(start, settings.period)
        matured = (data.outcomes_through is not None and
                   end + timedelta(days=settings.window_days) <= data.outcomes_through)
        periods.append(_period(rows, start, end, matured, predictor, data))
    return {"generated_at": datetime.now(UTC).isoformat(timespec="seconds"), "period": settings.period,
            "since": _iso(settings.since), "until": _iso(settings.until), "window_days": settings.window_days,
            "outcomes_through": _iso(data.outcomes_through), "reference": reference, "methods": METHODS,
            "periods": periods, "alerts": alerts(periods, reference),
            "shadow": [] if data.shadow is None else shadow_comparison(data.shadow, settings.period)}


def period_starts(times: pd.Series, period: str) -> pd.Series:
    naive = times.dt.tz_convert(UTC).dt.tz_localize(None)
    return naive.dt.to_period(PERIODS[period]).dt.start_time.dt.tz_localize(UTC)


def _period_end(start: pd.Timestamp, period: str) -> pd.Timestamp:
    return start + (pd.Timedelta(days=7) if period == "week" else pd.offsets.MonthBegin(1))


def _reference(predictor: Predictor) -> Reference:
    """What the model showed in training (out of fold), for the alert rules to compare against."""
    risk, event = predictor.model.oof_risk_, predictor.model.oof_event_
    auroc, low, high = auroc_interval(event, risk)
    return {"auroc": auroc, "auroc_low": low, "auroc_high": high,
            "flag_rate": float(np.mean(risk >= predictor.thresholds.high)),
            "thresholds": {"high": predictor.thresholds.high, "moderate": predictor.thresholds.moderate},
            "model_digest": predictor.digest}


def _period(rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, matured: bool, predictor: Predictor,
            data: MonitoringData) -> Period:
    risk = rows["risk"].to_numpy(dtype=float)
    linked = rows[rows["event"].notna()]
    figures = _outcome_figures(linked if matured else linked.iloc[:0], predictor)
    return Period(
        start=start.date().isoformat(), end=end.date().isoformat(), scored=len(rows),
        with_outcome=len(linked), matured=bool(matured),
        flag_rate=float(np.mean(rows["tier"] == "high")),
        range_width=float(np.mean(rows["risk_high"] - rows["risk_low"])),
        atypical_rate=float(rows["atypical"].astype(float).mean()),
        model_versions=sorted(f"{v} ({d[:12]})" for v, d in
                              rows.groupby(["model_version", "model_digest"], observed=True).size().index),
        estimated=Estimated(expected_events=float(risk.sum()), expected_auroc=expected_auroc(risk)),
        alert_burden=_burden(rows, start, end),
        drift=_drift(rows, predictor, data),
        feedback=_feedback(rows, data.feedback),
        **figures,
        subgroups=_subgroups(linked, predictor) if matured else [],
    )


def _outcome_figures(linked: pd.DataFrame, predictor: Predictor) -> OutcomeFigures:
    y = linked["event"].to_numpy(dtype=bool).astype(int)
    risk = linked["risk"].to_numpy(dtype=float)
    events, expected = int(y.sum()), float(risk.sum())
    ratio, low, high = observed_expected(events, expected) if len(linked) else (None, None, None)
    auroc, auroc_low, auroc_high = auroc_interval(y, risk)
    intercept, slope = calibration_intercept_slope(y, risk)
    thresholds = {"high": predictor.thresholds.high, "moderate": predictor.thresholds.moderate}
    return {"events": events if len(linked) else None, "expected_events": expected if len(linked) else None,
            "observed_expected": ratio, "observed_expected_low": low, "observed_expected_high": high,
            "auroc": auroc, "auroc_low": auroc_low, "auroc_high": auroc_high, "auprc": average_precision(y, risk),
            "calibration_intercept": intercept, "calibration_slope": slope,
            "at_thresholds": {tier: {"threshold": value, **threshold_metrics(y, risk, value)}
                              for tier, value in thresholds.items()}}


def _burden(rows: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    """Patients in the high tier per ward per day of the period: each patient once a day, however often scored
    (a ward list uploaded again, or as CSV and as Parquet, is the same patients, not twice the burden)."""
    days = (min(end, pd.Timestamp.now(UTC)) - start) / pd.Timedelta(days=1)
    high = rows[rows["tier"] == "high"]
    patient = high["patient_id"].fillna(high["id"])  # a row without a patient id is a patient of its own
    day = pd.to_datetime(high["predicted_at"], utc=True).dt.floor("D")
    distinct = pd.DataFrame({"ward": high["ward"].fillna("(no ward)"), "patient": patient, "day": day})
    flagged = distinct.drop_duplicates().groupby("ward").size()
    return {str(ward): float(count / max(days, 1.0)) for ward, count in flagged.items()}


def _drift(rows: pd.DataFrame, predictor: Predictor, data: MonitoringData) -> DriftFigures:
    sample = rows.sample(DRIFT_SAMPLE, random_state=0) if len(rows) > DRIFT_SAMPLE else rows
    report = predictor.check_drift(data.inputs(sample["id"].tolist()))
    return {"drifted": report.drifted, "summary": report.summary, "tested": report.tested,
            "missing_more": list(report.missing_more)}


def _feedback(rows: pd.DataFrame, cards: pd.DataFrame) -> CardFeedback:
    mine = cards[cards["card_uuid"].isin(rows["card_uuid"].dropna())]
    shown = int(rows["card_uuid"].notna().sum())
    accepted = int((mine["outcome"] == "accepted").sum())
    overridden = int((mine["outcome"] == "overridden").sum())
    reasons: dict[str, int] = {}
    for listed in mine.loc[mine["outcome"] == "overridden", "reasons"]:
        for reason in listed or []:
            reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    answered = accepted + overridden
    return {"cards": shown, "accepted": accepted, "overridden": overridden,
            "accept_rate": accepted / answered if answered else None, "override_reasons": reasons}


def _subgroups(linked: pd.DataFrame, predictor: Predictor) -> list[Subgroup]:
    """Per schema subgroup, each group's O/E, sensitivity and flag rate, and their ratios to the largest group's."""
    schema = predictor.schema
    y = linked["event"].to_numpy(dtype=bool)
    risk = linked["risk"].to_numpy(dtype=float)
    high = linked["tier"].to_numpy() == "high"
    out: list[Subgroup] = []
    for subgroup in schema.subgroups:
        feature = schema.feature(subgroup.feature)
        groups: list[Group] = []
        for label, mask in subgroup.masks(feature, linked[input_column(subgroup.feature)].to_numpy(dtype=float)):
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
