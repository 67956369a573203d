"""Plain-language sentences about a risk, for the Patient page and any other face."""

from __future__ import annotations

import numpy as np

from recovery_model.schema import Feature, Target
from recovery_model.scoring.thresholds import Thresholds, Tier

WIDE_INTERVAL = 0.10  # a range wider than 10 percentage points is called out: limited evidence


def percent(p: float | np.floating) -> str:
    """A risk as a clinician reads it: one decimal, two below 1 %."""
    return f"{100 * p:.1f} %" if p >= 0.01 else f"{100 * p:.2f} %"


def tier_rule(tier: str, thresholds: Thresholds) -> str:
    """The threshold behind a tier, e.g. 'risk ≥ 16.2 %'."""
    if tier == Tier.HIGH:
        return f"risk ≥ {percent(thresholds.high)}"
    if tier == Tier.MODERATE:
        return f"{percent(thresholds.moderate)} ≤ risk < {percent(thresholds.high)}"
    return f"risk < {percent(thresholds.moderate)}"


def describe_risk(risk: float, tier: str, thresholds: Thresholds, average: float, target: Target) -> str:
    """One paragraph: the risk in natural frequencies, how it compares, and what the tier means."""
    per_100 = 100 * risk
    frequency = f"about {per_100:.0f} in 100" if per_100 >= 1.5 else f"about {1000 * risk:.0f} in 1,000"
    comparison = ("higher than" if risk > 1.2 * average else "lower than" if risk < 0.8 * average
                  else "close to")
    tier_text = {
        Tier.HIGH: f"This is **high risk** ({tier_rule(Tier.HIGH, thresholds)}): {_high_tier(thresholds, target)}",
        Tier.MODERATE: (f"This is **moderate risk** ({tier_rule(Tier.MODERATE, thresholds)}): together with the high "
                     f"tier this group held {percent(thresholds.moderate_sensitivity)} of all who "
                     f"{target.event_label} in validation."),
        Tier.LOW: (f"This is **low risk** ({tier_rule(Tier.LOW, thresholds)}): in validation, fewer than "
                f"{percent(1 - thresholds.moderate_sensitivity)} of those who {target.event_label} were below "
                "this line."),
    }[Tier(tier)]
    return (f"The model estimates that {frequency} patients like this one {target.event_label} "
            f"({percent(risk)}), {comparison} the average patient's {percent(average)}. {tier_text}")


def _high_tier(thresholds: Thresholds, target: Target) -> str:
    """What the high threshold promises: a PPV guaranteed on local outcomes, or the share of events it held."""
    if thresholds.high_ppv is not None and thresholds.ppv_confidence is not None:
        return (f"this threshold was chosen on this hospital's own outcomes so that at least "
                f"{percent(thresholds.high_ppv)} of the patients above it {target.event_label} "
                f"({percent(thresholds.ppv_confidence)} confidence).")
    return (f"in validation, the patients above this threshold held {percent(thresholds.high_sensitivity)} of all "
            f"who {target.event_label}.")


def unusual_value_note(feature: Feature, value: float) -> str:
    return (f"{feature.format_value(value)} is outside the typical range {feature.typical_range_text()}: "
            "the model saw few such patients, so read this estimate with extra caution.")


def range_sentence(low: float, high: float, target: Target) -> str:
    """The range in one plain sentence; `interval_text` says how it is made."""
    return (f"Of patients the model scores like this one, between {percent(low)} and {percent(high)} "
            f"{target.event_label}.")


def tier_crossing_note(low: float, high: float, tier: str, thresholds: Thresholds) -> str | None:
    """When the range reaches into another tier: which, and its threshold; None when it stays in the tier."""
    reached = [other for other in (Tier.HIGH, Tier.MODERATE, Tier.LOW) if other != tier
               and _tier_overlaps(other, low, high, thresholds)]
    if not reached:
        return None
    named = " and ".join(f"the {other} tier ({tier_rule(other, thresholds)})" for other in reached)
    return (f"The range reaches into {named}: the estimate is close to a tier's threshold, so weigh the tier "
            "with the range.")


def _tier_overlaps(tier: Tier, low: float, high: float, thresholds: Thresholds) -> bool:
    bottom, top = {Tier.HIGH: (thresholds.high, 1.0), Tier.MODERATE: (thresholds.moderate, thresholds.high),
                   Tier.LOW: (0.0, thresholds.moderate)}[tier]
    return low < top and high >= bottom if tier != Tier.HIGH else high >= bottom


def interval_text(low: float, high: float, target: Target) -> str:
    """What the risk interval means, in words."""
    return (f"Range {percent(low)}–{percent(high)}: among patients the model scores like this one, the share who "
            f"{target.event_label} lies in this range (Venn-Abers calibration on the training patients' out-of-fold "
            "risks), widened to hold the risk over plausible values of any input the record lacks. It describes "
            "the evidence behind the risk, not a confidence interval for this person.")


def missing_note(missing: list[str], missing_low: float, missing_high: float, low: float, high: float) -> str | None:
    """Which inputs the record lacked and how much of the range they account for; None when nothing was missing."""
    if not missing:
        return None
    share = (missing_high - missing_low) / (high - low) if high > low else 0.0
    return (f"Not recorded: {', '.join(missing)}. The risk shown fills them with typical values; over plausible "
            f"values for a patient like this one it would lie between {percent(missing_low)} and "
            f"{percent(missing_high)}, {100 * share:.0f} % of the range's width. Recording them narrows the range.")


def wide_interval_note(low: float, high: float, missing_low: float = np.nan, missing_high: float = np.nan
                       ) -> str | None:
    """A warning when the range is wider than `WIDE_INTERVAL`, saying why; None when it is not."""
    if high - low <= WIDE_INTERVAL:
        return None
    if np.isfinite(missing_low) and missing_high - missing_low > (high - low) / 2:
        return (f"The range is {100 * (high - low):.0f} percentage points wide, mostly because the record lacks "
                "inputs that move this risk: record them for a firmer estimate.")
    return (f"Limited evidence for risks like this: the range is {100 * (high - low):.0f} percentage points wide, "
            "because the training data held few patients scored like this one.")


def atypical_note(p_value: float, because: str) -> str:
    return (f"Unlike the patients this model learned from (typicality p = {p_value:.3f}; fewer than 1 in 100 "
            f"training patients are this unusual), mostly because of: {because}. The risk is shown, but the model "
            "has little experience with patients like this; rely on clinical judgement first.")


def change_text(feature: Feature, before: float | None, after: float | None) -> str:
    """'Medication adherence from 4 to 9', 'Current smoker from yes to no': the arrow is kept for results; a blank
    value reads as the feature shows a missing one."""
    def shown(value: float | None) -> str:
        return feature.format_value(float("nan") if value is None else value).split(" = ", 1)[1]

    return f"{feature.display_name} from {shown(before)} to {shown(after)}"
