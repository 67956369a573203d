"""Plotly figures for the dashboard: each takes data and returns a figure, nothing else.

Attributions live in log-odds, where they add up; axes that show them are labelled in risk %
so a clinician reads percentages while the bars still sum exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recovery_model.evaluation.report import AtThreshold, CalibrationBin, Curves, DecisionCurve, Epoch
from recovery_model.model.explain import Explanation, ShapeFunction
from recovery_model.model.risk_model import sigmoid
from recovery_model.schema import Schema
from recovery_model.scoring.narrative import percent
from recovery_model.scoring.predictor import FEW_VALUES
from recovery_model.scoring.thresholds import Thresholds

RAISES, LOWERS, NEUTRAL = "#c0392b", "#1f7a4d", "#5d6d7e"
OURS_COLOUR = "#1f6f8b"
RISK_TICKS = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.8, 0.95])


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def _layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, template="plotly_white", margin=dict(l=10, r=10, t=50, b=10),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def _risk_axis(low: float, high: float) -> dict:
    """Tick marks in risk % for an axis that is in log-odds."""
    ticks = RISK_TICKS[(_logit(RISK_TICKS) >= low - 0.3) & (_logit(RISK_TICKS) <= high + 0.3)]
    return dict(tickvals=_logit(ticks), ticktext=[percent(t) for t in ticks])


def waterfall(explanation: Explanation, row: int, schema: Schema, top: int = 8, title: str = "") -> go.Figure:
    """From the average patient's risk to this patient's: one bar per driver, largest first.

    Each bar starts where the previous one ended, so the bars walk from the average to this
    patient; they add up exactly in log-odds, and the axis is labelled in risk %.
    """
    drivers = explanation.drivers(row, schema)
    shown, rest = drivers.iloc[:top], drivers.iloc[top:]
    labels, steps = list(shown["shown_as"]), list(shown["log_odds"])
    if len(rest):
        labels.append(f"{len(rest)} other factors")
        steps.append(float(rest["log_odds"].sum()))
    base, final = explanation.base_value, float(explanation.log_odds[row])
    starts = base + np.cumsum([0.0, *steps[:-1]])
    ends = starts + np.asarray(steps)
    hover = [f"{'raises' if v > 0 else 'lowers'} risk from {percent(float(sigmoid(a)))} to {percent(float(sigmoid(b)))}"
             for v, a, b in zip(steps, starts, ends, strict=True)]
    fig = go.Figure(go.Bar(y=labels, x=steps, base=starts, orientation="h", hovertext=hover, hoverinfo="text",
                           marker_color=[RAISES if v > 0 else LOWERS for v in steps], showlegend=False))
    for value, label, symbol in ((base, f"Typical patient {percent(float(sigmoid(base)))}", "line-ns"),
                                 (final, f"This patient {percent(float(sigmoid(final)))}", "diamond")):
        fig.add_vline(x=value, line_dash="dot", line_color=OURS_COLOUR, line_width=1)
        fig.add_trace(go.Scatter(x=[value], y=[label], mode="markers", showlegend=False, hoverinfo="x+y",
                                 marker=dict(symbol=symbol, size=12, color=OURS_COLOUR,
                                             line=dict(width=2, color=OURS_COLOUR))))
    order = [f"Typical patient {percent(float(sigmoid(base)))}", *labels,
             f"This patient {percent(float(sigmoid(final)))}"]
    low, high = min(starts.min(), ends.min(), final), max(starts.max(), ends.max(), final)
    fig.update_xaxes(title=f"{schema.target.risk_of} (log-odds scale)", range=[low - 0.4, high + 0.4],
                     **_risk_axis(low, high))
    fig.update_yaxes(categoryorder="array", categoryarray=order, autorange="reversed")
    return _layout(fig, title or f"Why this risk: {percent(float(sigmoid(final)))}", height=140 + 30 * len(order))


def driver_comparison(before: Explanation, after: Explanation, schema: Schema, top: int = 8) -> go.Figure:
    """The drivers of two versions of one patient side by side, largest change or size first."""
    a, b = before.drivers(0, schema).set_index("feature"), after.drivers(0, schema).set_index("feature")
    order = (b["log_odds"] - a["log_odds"]).abs().add(a["log_odds"].abs()).sort_values(ascending=False).index[:top]
    fig = go.Figure()
    for name, table, colour in (("as entered", a, NEUTRAL), ("what if", b, OURS_COLOUR)):
        fig.add_trace(go.Bar(y=[schema.feature(f).display_name for f in order], x=table.loc[order, "log_odds"],
                             name=name, orientation="h", marker_color=colour,
                             hovertext=list(table.loc[order, "shown_as"]), hoverinfo="text+x"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="effect on risk (log-odds; right raises, left lowers)", zeroline=True)
    return _layout(fig, "Drivers: as entered vs what if", height=160 + 44 * len(order))


def risk_histogram(risk: Sequence[float], threshold: float, schema: Schema,
                   title: str = "Risk across the ward") -> go.Figure:
    fig = go.Figure(go.Histogram(x=100 * np.asarray(risk), nbinsx=30, marker_color=OURS_COLOUR,
                                 hovertemplate="%{x}%: %{y} patients<extra></extra>"))
    fig.add_vline(x=100 * threshold, line_dash="dash", line_color=RAISES,
                  annotation_text=f"threshold {percent(threshold)}", annotation_position="top right")
    fig.update_xaxes(title=f"{schema.target.risk_of} (%)")
    fig.update_yaxes(title="patients")
    return _layout(fig, title)


def importance_bar(importance: dict[str, float], schema: Schema, title: str = "What drives risk overall") -> go.Figure:
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(x=[v for _, v in items], y=[schema.feature(k).display_name for k, _ in items],
                           orientation="h", marker_color=OURS_COLOUR,
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig.update_xaxes(title="mean |SHAP| (log-odds)")
    return _layout(fig, title, height=120 + 24 * len(items))


def beeswarm(values: np.ndarray, attributions: np.ndarray, features: list[str], schema: Schema,
             order: list[str] | None = None) -> go.Figure:
    """Each dot a patient: its attribution for a feature, coloured by the feature's value (low→high)."""
    values, attributions = np.asarray(values, dtype=float), np.asarray(attributions, dtype=float)
    order = order or features
    rng = np.random.default_rng(0)
    fig = go.Figure()
    for position, name in enumerate(reversed(order)):
        j = features.index(name)
        v = values[:, j]
        span = np.ptp(v) or 1.0
        fig.add_trace(go.Scattergl(
            x=attributions[:, j], y=position + rng.uniform(-0.3, 0.3, len(v)), mode="markers",
            marker=dict(size=5, color=(v - v.min()) / span, colorscale="RdBu_r", cmin=0, cmax=1,
                        showscale=position == 0, colorbar=dict(title="value", tickvals=[0, 1],
                                                               ticktext=["low", "high"])),
            text=[schema.feature(name).format_value(x) for x in v],
            hovertemplate="%{text}<br>SHAP %{x:.3f}<extra></extra>", showlegend=False))
    fig.update_yaxes(tickvals=list(range(len(order))),
                     ticktext=[schema.feature(n).display_name for n in reversed(order)])
    fig.update_xaxes(title=f"SHAP value (log-odds, {schema.target.risk_of})", zeroline=True)
    return _layout(fig, "Every patient, every feature", height=140 + 28 * len(order))


def dependence(values: np.ndarray, attributions: np.ndarray, features: list[str], feature: str,
               schema: Schema) -> go.Figure:
    j = features.index(feature)
    f = schema.feature(feature)
    fig = go.Figure(go.Scattergl(x=np.asarray(values)[:, j], y=np.asarray(attributions)[:, j], mode="markers",
                                 marker=dict(size=6, color=OURS_COLOUR, opacity=0.6),
                                 hovertemplate=f"{f.display_name} %{{x}}<br>SHAP %{{y:.3f}}<extra></extra>"))
    fig.add_vrect(x0=f.typical_min, x1=f.typical_max, fillcolor="#d5f5e3", opacity=0.25, line_width=0)
    fig.update_xaxes(title=f"{f.label} ({f.unit})" if f.unit else f.label)
    fig.update_yaxes(title="SHAP value (log-odds)")
    return _layout(fig, f"How {f.display_name} moves the risk (shaded: typical range)")


def shape_plot(shape: ShapeFunction, schema: Schema, members: int) -> go.Figure:
    """An additive model's shape function: the feature's exact contribution over its training values, the members'
    range around it and the contribution of a missing value; below it, how many training patients had each value, so
    that a reader sees where the curve rests on data."""
    f = schema.feature(shape.feature)
    few = len(shape.values) <= FEW_VALUES  # read at each value: drawn as points, not a curve
    if few:  # a bar on each value the feature takes
        counts = np.array([np.sum(shape.observed == value) for value in shape.values])
        centres = shape.values
        widths = np.full(len(centres), 0.5 * (np.min(np.diff(centres)) if len(centres) > 1 else 1.0))
    else:
        counts, edges = np.histogram(shape.observed, bins=30, range=(shape.values[0], shape.values[-1]))
        centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.78, 0.22], vertical_spacing=0.04)
    hover = f"{f.display_name} %{{x}}<br>%{{y:+.3f}} log-odds<extra></extra>"
    if few:
        fig.add_trace(go.Scatter(x=shape.values, y=shape.contribution, mode="markers", name="the model",
                                 marker=dict(size=11, color=OURS_COLOUR), hovertemplate=hover,
                                 error_y=dict(type="data", symmetric=False, array=shape.high - shape.contribution,
                                              arrayminus=shape.contribution - shape.low,
                                              color=OURS_COLOUR, thickness=1.5)), row=1, col=1)
    else:
        fig.add_trace(go.Scatter(x=shape.values, y=shape.high, mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=shape.values, y=shape.low, mode="lines", line=dict(width=0), fill="tonexty",
                                 fillcolor="rgba(31, 111, 139, 0.25)", name=f"range of its {members} members",
                                 hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Scatter(x=shape.values, y=shape.contribution, mode="lines", name="the model",
                                 line=dict(color=OURS_COLOUR, width=3), hovertemplate=hover), row=1, col=1)
    fig.add_trace(go.Bar(x=centres, y=counts, width=widths, marker_color=NEUTRAL, opacity=0.45,
                         name=f"training patients (a sample of {len(shape.observed):,} recorded)",
                         hovertemplate="%{y} of the sampled training patients<extra></extra>"),
                  row=2, col=1)
    fig.add_hline(y=0, line_color=NEUTRAL, line_width=1, row=1, col=1)
    fig.add_hline(y=shape.not_recorded[0], line_dash="dot", line_color=RAISES, annotation_position="top left",
                  annotation_text=f"not recorded: {shape.not_recorded[0]:+.2f}", row=1, col=1)
    if not f.is_binary:  # a yes/no feature's typical range is both answers: nothing to shade
        fig.add_vrect(x0=f.typical_min, x1=f.typical_max, fillcolor="#d5f5e3", opacity=0.25, line_width=0,
                      row="all", col=1)
    fig.update_xaxes(title=f"{f.label} ({f.unit})" if f.unit else f.label, row=2, col=1,
                     **(dict(tickvals=shape.values) if few else {}))
    fig.update_yaxes(title="contribution (log-odds)", row=1, col=1)
    fig.update_yaxes(title="patients", row=2, col=1)
    shaded = "" if f.is_binary else " (shaded: typical range)"
    return _layout(fig, f"How {f.display_name} moves the {schema.target.risk_of}, read off the model{shaded}",
                   height=460)


def roc_plot(curves: dict[str, Curves]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color=NEUTRAL),
                               name="chance"))
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c.fpr, y=c.tpr, mode="lines", name=name, line_color=OURS_COLOUR))
    fig.update_xaxes(title="1 − specificity", range=[0, 1])
    fig.update_yaxes(title="sensitivity", range=[0, 1])
    return _layout(fig, "ROC curve (out-of-fold)")


def pr_plot(curves: dict[str, Curves], prevalence: float) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 1], y=[prevalence, prevalence], mode="lines", name="no skill",
                               line=dict(dash="dot", color=NEUTRAL)))
    for name, c in curves.items():
        fig.add_trace(go.Scatter(x=c.recall, y=c.precision, mode="lines", name=name, line_color=OURS_COLOUR))
    fig.update_xaxes(title="sensitivity (recall)", range=[0, 1])
    fig.update_yaxes(title="PPV (precision)", range=[0, 1])
    return _layout(fig, "Precision–recall curve (out-of-fold)")


def calibration_plot(bins: list[CalibrationBin], schema: Schema, title: str = "Calibration") -> go.Figure:
    """Observed against predicted on log axes: most risks are a few per cent, and a linear axis squashes them into
    its corner. A bin where no one had the event is drawn open at the axis' floor."""
    predicted = [100 * b.predicted for b in bins]
    observed = [100 * b.observed for b in bins]
    floor = min(p for p in predicted if p > 0) / 2
    top = max(max(predicted), max(100 * b.high for b in bins)) * 1.2
    fig = go.Figure(go.Scatter(x=[floor, top], y=[floor, top], mode="lines", name="perfect",
                               line=dict(dash="dot", color=NEUTRAL)))
    fig.add_trace(go.Scatter(
        x=predicted, y=[max(o, floor) for o in observed], mode="markers+lines", name="observed",
        marker=dict(color=OURS_COLOUR, symbol=["circle" if o > 0 else "circle-open" for o in observed]),
        error_y=dict(type="data", symmetric=False,
                     array=[max(100 * b.high - max(o, floor), 0) for b, o in zip(bins, observed, strict=True)],
                     arrayminus=[max(max(o, floor) - max(100 * b.low, floor), 0)
                                 for b, o in zip(bins, observed, strict=True)]),
        customdata=observed, hovertemplate="predicted %{x:.2f}%<br>observed %{customdata:.2f}%<extra></extra>"))
    axis = dict(type="log", range=[float(np.log10(floor)), float(np.log10(top))])
    fig.update_xaxes(title="predicted risk (%, log scale)", **axis)
    fig.update_yaxes(title=f"observed: share who {schema.target.event_label} (%)", **axis)
    return _layout(fig, title)


def decision_curve_plot(curve: DecisionCurve, title: str = "Decision curve", shown: tuple[str, ...] = ()
                        ) -> go.Figure:
    """Net benefit by threshold. The models in `shown` are drawn; the others are a click on the legend away (nine
    lines at once hid ours)."""
    x = [100 * t for t in curve.thresholds]
    fig = go.Figure([go.Scatter(x=x, y=curve.treat_all, name="flag everyone", line=dict(color=NEUTRAL)),
                     go.Scatter(x=x, y=curve.treat_none, name="flag no one", line=dict(color=NEUTRAL, dash="dot"))])
    for name, values in curve.models.items():
        fig.add_trace(go.Scatter(x=x, y=values, name=name, mode="lines",
                                 visible=True if not shown or name in shown else "legendonly"))
    top = max(max(v) for v in curve.models.values())
    fig.update_yaxes(title="net benefit", range=[-0.005, top * 1.15])
    fig.update_xaxes(title="threshold risk (%)")
    return _layout(fig, title, height=440)


def learning_curve(history: list[Epoch], best_epochs: list[int]) -> go.Figure:
    """Training and held-out loss (averaged over the members still in the history) with each member's
    restored epoch marked on the held-out curve."""
    epochs = [h.epoch for h in history]
    held_out = {h.epoch: h.val_loss for h in history}
    fig = go.Figure([go.Scatter(x=epochs, y=[h.train_loss for h in history], name="training loss"),
                     go.Scatter(x=epochs, y=[h.val_loss for h in history], name="held-out loss (own fold)"),
                     go.Scatter(x=best_epochs, y=[held_out.get(e) for e in best_epochs], mode="markers",
                                marker={"color": LOWERS, "size": 10, "symbol": "diamond"},
                                name="a member's restored epoch")])
    fig.update_xaxes(title="epoch (0 = the warm start, before any step)")
    fig.update_yaxes(title="cross-entropy")
    return _layout(fig, "Learning curve")


def confusion_plot(counts: AtThreshold, schema: Schema) -> go.Figure:
    z = [[counts.tp, counts.fn], [counts.fp, counts.tn]]
    fig = go.Figure(go.Heatmap(z=z, x=["flagged", "not flagged"],
                               y=[schema.target.event_label, schema.target.non_event_label],
                               text=[[f"{int(v):,}" for v in r] for r in z], texttemplate="%{text}",
                               colorscale="Blues", showscale=False))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, "Confusion matrix (out-of-fold risks)", height=300)


def risk_history(history: pd.DataFrame, thresholds: Thresholds) -> go.Figure:
    """A patient's logged risks over time with their ranges, the tier thresholds and the model version of each."""
    fig = go.Figure(go.Scatter(
        x=history["predicted_at"], y=100 * history["risk"], mode="lines+markers", name="Risk",
        error_y={"type": "data", "symmetric": False, "array": 100 * (history["risk_high"] - history["risk"]),
                 "arrayminus": 100 * (history["risk"] - history["risk_low"])},
        customdata=np.stack([history["source"], history["model_version"]], axis=-1),
        hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.1f} % (%{customdata[0]}, model %{customdata[1]})<extra></extra>"))
    for name, value in (("high", thresholds.high), ("moderate", thresholds.moderate)):
        fig.add_hline(y=100 * value, line_dash="dot", annotation_text=f"{name} tier from {100 * value:.1f} %")
    fig.update_yaxes(title="Risk (%)", rangemode="tozero")
    return _layout(fig, "Earlier estimates", height=300)


def monitoring_chart(periods: Sequence[Mapping[str, Any]], value: str, title: str, axis: str,
                     reference: float | None = None, reference_label: str = "",
                     percent_axis: bool = False) -> go.Figure:
    """One monitoring figure per period with its 95 % interval (when it has one); periods not yet matured are
    hollow, and a dashed line marks where the model version changes."""
    starts = [p["start"] for p in periods]
    values = [p.get(value) for p in periods]
    low, high = [p.get(f"{value}_low") for p in periods], [p.get(f"{value}_high") for p in periods]
    has_interval = any(v is not None for v in low)
    fig = go.Figure(go.Scatter(
        x=starts, y=values, mode="lines+markers", name=title, connectgaps=False,
        marker={"symbol": ["circle" if p["matured"] else "circle-open" for p in periods], "size": 9},
        error_y={"type": "data", "symmetric": False,
                 "array": [h - v if h is not None and v is not None else 0 for v, h in zip(values, high, strict=True)],
                 "arrayminus": [v - lo if lo is not None and v is not None else 0
                                for v, lo in zip(values, low, strict=True)]} if has_interval else None))
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dot", annotation_text=reference_label)
    for before, after in itertools.pairwise(periods):
        if before["model_versions"] != after["model_versions"]:
            fig.add_vline(x=after["start"], line_dash="dash", line_color=NEUTRAL,
                          annotation_text=f"model {', '.join(after['model_versions'])}")
    fig.update_yaxes(title=axis, tickformat=".1%" if percent_axis else None)
    fig.update_xaxes(title="Period starting", type="category")  # periods, not a time axis: one period reads as one
    return _layout(fig, title, height=320)


def monitoring_counts(periods: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Scored, with an outcome, and events (observed, or expected where the period has not matured) on an axis of
    their own."""
    starts = [p["start"] for p in periods]
    fig = go.Figure([go.Bar(x=starts, y=[p["scored"] for p in periods], name="Scored", marker_color=NEUTRAL),
                     go.Bar(x=starts, y=[p["with_outcome"] for p in periods], name="With outcome",
                            marker_color=OURS_COLOUR),
                     go.Scatter(x=starts, y=[p["events"] if p["matured"] else p["estimated"]["expected_events"]
                                             for p in periods], name="Events (right axis)",
                                mode="lines+markers", marker_color=RAISES, yaxis="y2")])
    # events are tens where predictions are thousands: on their own axis, not flattened at the bottom of theirs
    fig.update_layout(barmode="group", yaxis2={"title": "Events", "overlaying": "y", "side": "right",
                                               "rangemode": "tozero", "showgrid": False, "tickformat": ".0f"})
    fig.update_yaxes(title="Patients", selector={"anchor": "x"}, rangemode="tozero")
    fig.update_xaxes(title="Period starting", type="category")
    _layout(fig, "Predictions and outcomes", height=320)
    return fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0, "font": {"size": 11}},
                             margin={"t": 90})
