"""The monitoring report in words and tables, for `recovery monitor --output report.md`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recovery_model.monitoring.report import MonitoringReport
    from recovery_model.monitoring.shadow import ShadowComparison


def report_markdown(report: MonitoringReport) -> str:
    reference = report["reference"]
    lines = [f"# Monitoring report: per {report['period']}", "",
             f"Generated {report['generated_at']}; outcomes recorded through {report['outcomes_through'] or 'none yet'}"
             f"; outcome window {report['window_days']} days. Training AUROC {_number(reference['auroc'], 3)}, "
             f"high-tier rate {_percent(reference['flag_rate'])}.", "", "## Alerts", ""]
    lines += [f"- **{a['period']} · {a['kind']}**: {a['message']}" for a in report["alerts"]] or ["No alerts."]
    lines += ["", "## Periods", "",
              "| Period | Scored | With outcome | Matured | Events | Expected | O/E (95 % CI) | AUROC (95 % CI) | "
              "High tier | Drift | Models |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["periods"]:
        expected = p["expected_events"] if p["matured"] else p["estimated"]["expected_events"]
        lines.append(f"| {p['start']} | {p['scored']} | {p['with_outcome']} | {'yes' if p['matured'] else 'not yet'} | "
                     f"{_number(p['events'], 0)} | {_number(expected, 1)}{'' if p['matured'] else ' (estimate)'} | "
                     f"{_interval(p, 'observed_expected', 2)} | {_interval(p, 'auroc', 3)} | "
                     f"{_percent(p['flag_rate'])} | {'yes' if p['drift']['drifted'] else 'no'} | "
                     f"{', '.join(p['model_versions'])} |")
    lines += _shadow_lines(report.get("shadow", []))
    lines += ["", "## Methods", ""] + [f"- {name}: {text}" for name, text in report["methods"].items()]
    return "\n".join(lines) + "\n"


def _shadow_lines(shadows: list[ShadowComparison]) -> list[str]:
    """Each shadow model beside the model in use, on the same patients with an outcome."""
    lines = []
    for shadow in shadows:
        how = ("its logged inputs scored again" if shadow.get("rescored") else "scored beside it, never shown")
        title = "Past version" if shadow.get("rescored") else "In the shadow"
        word = "past version" if shadow.get("rescored") else "shadow"
        lines += ["", f"## {title}: {shadow['version']} ({shadow['digest'][:12]})", "",
                  f"The same patients as {', '.join(shadow['beside'])}, {how}.", "",
                  f"| Period | Patients | Events | O/E in use | O/E {word} | AUROC in use | AUROC {word} | "
                  "AUROC difference (95 % CI) |", "|---|---|---|---|---|---|---|---|"]
        for p in [*shadow["periods"], shadow["all"]]:
            ratios = [_figure(p[model]["observed_expected"], 2) for model in ("in_use", "shadow")]
            aurocs = [_figure(p[model]["auroc"], 3) for model in ("in_use", "shadow")]
            lines.append(f"| {p['start'] or 'all'} | {p['patients']} | {p['events']} | {' | '.join(ratios)} | "
                         f"{' | '.join(aurocs)} | {_figure(p['auroc_difference'], 3, signed=True)} |")
    return lines


def _figure(figure: Mapping[str, Any], digits: int, signed: bool = False) -> str:
    if figure["value"] is None:
        return "—"
    shown = f"{figure['value']:+.{digits}f}" if signed else f"{figure['value']:.{digits}f}"
    if figure["low"] is None or figure["high"] is None:
        return shown
    return f"{shown} ({figure['low']:.{digits}f}–{figure['high']:.{digits}f})"


def _interval(period: Mapping[str, Any], name: str, digits: int) -> str:
    value, low, high = period.get(name), period.get(f"{name}_low"), period.get(f"{name}_high")
    if value is None:
        return "—"
    return f"{value:.{digits}f}" + (f" ({low:.{digits}f}–{high:.{digits}f})" if low is not None else "")


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
