"""The model card: the evaluation report in words, for clinicians, analysts and reviewers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recovery_model.evaluation.report import AtThreshold, Estimate, EvaluationReport
from recovery_model.schema import Schema


def _ci(estimate: Estimate, digits: int = 3) -> str:
    return f"{estimate.value:.{digits}f} ({estimate.low:.{digits}f}–{estimate.high:.{digits}f})"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table, numbers to `digits` decimals."""
    def cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return "–" if np.isnan(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def render_model_card(report: EvaluationReport, schema: Schema) -> str:
    """Markdown: intended use, data, metrics with CIs, baselines, subgroups, limitations."""
    internal, thresholds, ensemble = report.internal, report.thresholds, report.ensemble
    provenance = report.provenance
    data = provenance.training_data
    m = internal.metrics
    target = schema.target
    lines = [
        "# Model card: recovery risk",
        "",
        "## Intended use",
        f"Estimates the probability that an adult inpatient **{target.event_label}** after treatment "
        f"(the *{target.risk_of}*), to help clinicians prioritise review and bed managers allocate monitoring. "
        "It is decision support, not a diagnosis: it never replaces clinical judgement, and a low risk "
        "is no reason to withhold care.",
        "",
        "**Users:** clinicians (one patient), bed managers (a ward list), analysts (this report).",
        "",
        "**Out of scope:** children; patients unlike the training data (flagged when their typicality "
        "p-value is below 1 % or a value is outside its typical range; a ward whose patients differ from the "
        "training data is called out); triage in emergencies; any use on real patients before the model is "
        "retrained and validated on real data from the hospital that uses it.",
        "",
        "**How sure:** every risk comes with a range (Venn-Abers calibration on the out-of-fold risks: among "
        "patients scored alike, the event rate lies in it), widened where needed to hold the shown risk. "
        "Suggested changes to modifiable factors are associations the model learned, not causal advice.",
        "",
        "## Model",
        _model_paragraph(report),
        "",
        "## Data",
        f"{data.rows:,} patients ({data.events} {target.event_label}), every one used for training: "
        f"no rows are held out for good. Data fingerprint `{data.fingerprint[:16]}`.",
        "",
        f"## Internal validation ({internal.rows:,} patients, {internal.events} events)",
        f"{internal.method} Every baseline below was fitted and scored on the same folds. 95 % bootstrap "
        "confidence intervals in brackets.",
        "",
        f"**{report.verdict.text}**",
        "",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {_ci(m.estimate('auroc'))} |",
        f"| AUPRC (event rate {_pct(m.value.event_rate)}) | {_ci(m.estimate('auprc'))} |",
        f"| Brier score | {_ci(m.estimate('brier'), 4)} |",
        f"| Scaled Brier | {_ci(m.estimate('scaled_brier'))} |",
        f"| Calibration intercept | {_ci(m.estimate('calibration_intercept'), 2)} |",
        f"| Calibration slope | {_ci(m.estimate('calibration_slope'), 2)} |",
        "",
        "### Thresholds and tiers",
        f"- **High risk**: risk ≥ {_pct(thresholds.high)}: the riskiest patients who held "
        f"{_pct(thresholds.high_sensitivity)} of the events (out-of-fold risks).",
        f"- **Moderate**: {_pct(thresholds.moderate)} ≤ risk < {_pct(thresholds.high)}: down to where "
        f"{_pct(thresholds.moderate_sensitivity)} of them were caught. **Low**: below.",
        "",
        "| rule | flagged | sensitivity | specificity | PPV | number needed to evaluate |",
        "|---|---|---|---|---|---|",
        _rule_row("High-risk threshold", internal.at_high_threshold),
        _rule_row("Moderate threshold", internal.at_moderate_threshold),
        _rule_row(f"Top {_pct(internal.top_k_share)} (monitoring slots)", internal.at_top_k),
        "",
        "## Compared with what a ward would otherwise use (same folds)",
        "",
        markdown_table(report.baseline_table()),
        "",
        "Accuracy is shown only to make a point: the majority class scores "
        f"{_pct(report.majority.internal.accuracy_at_0_5)} while finding no one.",
        "",
        *_record_section(report),
        "## Subgroups (out-of-fold risks)",
        "",
        markdown_table(report.subgroup_table()) if report.subgroups else "The schema defines no subgroups.",
        "",
        "## What drives the predictions",
        "Mean |SHAP| in log-odds over training patients: "
        + ", ".join(f"{name} {value:.2f}" for name, value in list(report.explanations.importance.items())[:5]) + ".",
        "",
        "## Limitations",
        "- Internal validation only: the figures hold for patients like these; a new hospital or "
        "season needs its own check (retrain with `recovery train --data`).",
        f"- {data.events} events in {data.rows:,} patients: subgroup estimates are imprecise; see the CIs.",
        "- Missing values are imputed with training medians and flagged, and the range widens to hold the risk "
        "over plausible values of them (from the training patients most like this one who had them recorded); "
        f"a patient with more than {ensemble.max_missing} missing features (the most any training patient had, "
        "and never fewer than a fifth of the features) is refused.",
        f"- Attributions (SHAP values, {report.architecture.explained_by}) explain the model, not the patient's "
        "biology; they are not causal effects of changing a factor.",
        f"- The explanation background holds {ensemble.background_rows} training rows.",
        f"- Package {provenance.package_version}, trained {provenance.trained_at}, seed {provenance.seed}, "
        f"configuration '{provenance.config_name}'.",
        "",
    ]
    return "\n".join(lines)


def _record_section(report: EvaluationReport) -> list[str]:
    """For a model trained on the record view: how it does on records that lack values, pattern by pattern."""
    if report.fresh is None or not report.fresh.patterns:
        return []
    return [
        f"## Records that lack values (fresh {report.fresh.rows:,}-patient sample, as records show it)",
        "Each row is the patients whose records lack the same blocks of values (seed "
        f"{report.fresh.record_view_seed}; see the datasheet). *Oracle given what is recorded*: the true risk "
        "averaged over the missing values given the observed ones, the best any model could do with these records.",
        "",
        markdown_table(report.pattern_table()),
        "",
        "The same fresh patients with every value recorded, AUROC: "
        + ", ".join(f"{name} {auroc:.3f}" for name, auroc in report.fresh.complete_auroc.items()) + ".",
        "",
    ]


def _model_paragraph(report: EvaluationReport) -> str:
    ensemble, architecture, training = report.ensemble, report.architecture, report.training
    repeats = f" × {ensemble.repeats} repeats" if ensemble.repeats > 1 else ""
    text = (f"A cross-fitted ensemble of {ensemble.members} networks ({ensemble.folds} stratified folds{repeats}), "
            "trained as one batched network: each member trains on all folds but its own and early-stops on its "
            f"own (best epochs {min(training.best_epochs)}–{max(training.best_epochs)}). "
            + ("Each member's deep part is a neural additive model: one MLP per feature, seeing that feature alone "
               if architecture.additive else "Each member is an MLP ")
            + f"({'-'.join(map(str, architecture.hidden))}, dropout {architecture.dropout}, decoupled weight decay "
            f"{architecture.weight_decay})")
    if architecture.linear_path:
        kept = ("which stays where that regression put it (the deep part learns what the line leaves)"
                if architecture.freeze_linear else "which trains with the deep part")
        text += (f" beside a linear path that starts at an L2-regularised logistic regression (C = "
                 f"{ensemble.linear_c} and the input encoding chosen on the held-out folds), {kept}; the deep part "
                 "starts near zero and must earn its place")
    text += f". Inputs: {architecture.scaling}-scaled values"
    if ensemble.hinged_features:
        shape = ("hinges" if ensemble.encoding == "hinges" else
                 "piecewise-linear bin ramps") + f" at {ensemble.knots} training-quantile knots"
        text += f", {shape} for {len(ensemble.hinged_features)} continuous features"
    if ensemble.missing_indicators:
        text += f", missing-value indicators for {', '.join(ensemble.missing_indicators)}"
    return text + (". The risk averages the members' logits, Platt-scaled on the out-of-fold logits "
                   f"(slope {training.calibration_slope:.3f}, intercept {training.calibration_intercept:.3f}).")


def _rule_row(name: str, rule: AtThreshold) -> str:
    return (f"| {name} | {_pct(rule.flagged_share)} | {_pct(rule.sensitivity)} | {_pct(rule.specificity)} | "
            f"{_pct(rule.ppv)} | {rule.nne:.1f} |")
