"""The model card: the evaluation report in words, for clinicians, analysts and reviewers."""

from __future__ import annotations

from typing import Any


def _ci(metric: dict[str, float], digits: int = 3) -> str:
    return f"{metric['value']:.{digits}f} ({metric['low']:.{digits}f}–{metric['high']:.{digits}f})"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def render_model_card(report: dict[str, Any]) -> str:
    """Markdown: intended use, data, metrics with CIs, baselines, subgroups, limitations."""
    model, internal, thr = report["model"], report["internal"], report["thresholds"]
    ensemble, architecture, training = report["ensemble"], report["architecture"], report["training"]
    m = internal["metrics"]
    data = model.get("training_data") or {}
    epochs = training["best_epochs"]
    lines = [
        "# Model card: recovery risk",
        "",
        "## Intended use",
        f"Estimates the probability that an adult inpatient **{report['schema']['event']}** after treatment "
        "(the *risk*), to help clinicians prioritise review and bed managers allocate monitoring. "
        "It is decision support, not a diagnosis: it never replaces clinical judgement, and a low risk "
        "is no reason to withhold care.",
        "",
        "**Users:** clinicians (one patient), bed managers (a ward list), analysts (this report).",
        "",
        "**Out of scope:** children; patients unlike the training data (values outside the typical "
        "ranges are flagged); triage in emergencies; any use on real patients before the model is "
        "retrained and validated on real data from the hospital that uses it.",
        "",
        "## Model",
        f"A cross-fitted ensemble of {ensemble['members']} networks ({ensemble['folds']} stratified folds"
        f"{' × ' + str(ensemble['repeats']) + ' repeats' if ensemble['repeats'] > 1 else ''}), trained as one "
        "batched network: each member trains on all folds but its own and early-stops on its own "
        f"(best epochs {min(epochs)}–{max(epochs)}). Each member is an MLP "
        f"({'-'.join(map(str, architecture['hidden']))}, dropout {architecture['dropout']}, decoupled weight decay "
        f"{architecture['weight_decay']})"
        + (f" beside a linear path that starts at an L2-regularised logistic regression (C = {ensemble['linear_c']}, "
           "chosen on the held-out folds); the MLP starts near zero and must earn its place"
           if architecture['linear_path'] else "") + ". "
        f"Inputs: {architecture['scaling']}-scaled values"
        + (f", {architecture['hinges']} hinges at training quantiles for "
           f"{len(ensemble['hinged_features'])} continuous features" if ensemble['hinged_features'] else "")
        + (f", missing-value indicators for {', '.join(ensemble['missing_indicators'])}"
           if ensemble['missing_indicators'] else "") + ". "
        "The risk averages the members' logits, Platt-scaled on the out-of-fold logits "
        f"(slope {training['calibration']['slope']:.3f}, intercept {training['calibration']['intercept']:.3f}). "
        f"Package {model.get('package_version')}, trained {model.get('trained_at')}, seed {model.get('seed')}.",
        "",
        "## Data",
        f"{data.get('rows', '?'):,} patients ({data.get('events', '?')} events), every one used for training: "
        f"no rows are held out for good. Data fingerprint `{str(data.get('fingerprint', ''))[:16]}`.",
        "",
        f"## Internal validation ({internal['rows']:,} patients, {internal['events']} events)",
        f"{internal['method']} Every baseline below was fitted and scored on the same folds. 95 % bootstrap "
        "confidence intervals in brackets.",
        "",
        f"**{report['verdict']['text']}**",
        "",
        "| metric | value |",
        "|---|---|",
        f"| AUROC | {_ci(m['auroc'])} |",
        f"| AUPRC (event rate {_pct(m['event_rate']['value'])}) | {_ci(m['auprc'])} |",
        f"| Brier score | {_ci(m['brier'], 4)} |",
        f"| Scaled Brier | {_ci(m['scaled_brier'])} |",
        f"| Calibration intercept | {_ci(m['calibration_intercept'], 2)} |",
        f"| Calibration slope | {_ci(m['calibration_slope'], 2)} |",
        "",
        "### Thresholds and tiers",
        f"- **High risk**: risk ≥ {_pct(thr['high'])}: the riskiest patients who held "
        f"{_pct(thr['high_sensitivity_target'])} of the events (out-of-fold risks).",
        f"- **Moderate**: {_pct(thr['moderate'])} ≤ risk < {_pct(thr['high'])}: down to where "
        f"{_pct(thr['moderate_sensitivity_target'])} of them were caught. **Low**: below.",
        "",
        "| rule | flagged | sensitivity | specificity | PPV | number needed to evaluate |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("High-risk threshold", "at_high_threshold"), ("Moderate threshold", "at_moderate_threshold"),
                      (f"Top {_pct(internal['top_k_share'])} (monitoring slots)", "at_top_k")):
        t = internal[key]
        lines.append(f"| {name} | {_pct(t['flagged_share'])} | {_pct(t['sensitivity'])} | "
                     f"{_pct(t['specificity'])} | {_pct(t['ppv'])} | {t['nne']:.1f} |")
    majority = next(r for r in report["baselines"] if r["name"].startswith("Majority"))
    lines += ["", "## Compared with what a ward would otherwise use (same folds)", "",
              _baseline_table(report), "",
              "Accuracy is shown only to make a point: the majority class scores "
              f"{_pct(majority['internal_metrics']['accuracy_at_0_5'])} while finding no one.", ""]
    lines += ["## Subgroups (out-of-fold risks)", "", "| group | level | patients | events | AUROC (95 % CI) |",
              "|---|---|---|---|---|"]
    for row in report["subgroups"]:
        auroc = (f"{row['auroc']:.3f} ({row['auroc_low']:.3f}–{row['auroc_high']:.3f})"
                 if "auroc" in row else "too few events")
        lines.append(f"| {row['group']} | {row['level']} | {row['patients']} | {row['events']} | {auroc} |")
    importance = list(report["explanations"]["importance"].items())[:5]
    lines += ["", "## What drives the predictions",
              "Mean |SHAP| in log-odds over training patients: " +
              ", ".join(f"{name} {value:.2f}" for name, value in importance) + ".", "",
              "## Limitations",
              "- Internal validation only: the figures hold for patients like these; a new hospital or "
              "season needs its own check (retrain with `recovery train --data`).",
              f"- {data.get('events', '?')} events in {data.get('rows', '?'):,} patients: subgroup estimates "
              "are imprecise; see the CIs.",
              "- Missing values are imputed with training medians and flagged; a patient with more than "
              f"{ensemble['max_missing']} missing features (the most any training patient had, and never "
              "fewer than a fifth of the features) is refused.",
              "- Attributions (SHAP, DeepLIFT rescale rule) explain the model, not the patient's biology; "
              "they are not causal effects of changing a factor.",
              "- The explanation background holds 100 standardised training rows.", ""]
    return "\n".join(lines)


def _baseline_table(report: dict[str, Any]) -> str:
    fresh = "fresh" in report
    header = "| model | AUROC | AUPRC | Brier | calibration slope | accuracy |"
    rule = "|---|---|---|---|---|---|"
    if fresh:
        header += " fresh-sample AUROC | fresh AUPRC | calibration slope |"
        rule += "---|---|---|"
    rows = [header, rule]
    for row in report["baselines"]:
        t = row["internal_metrics"]
        line = (f"| {row['name']} | {t['auroc']:.3f} | {t['auprc']:.3f} | {t['brier']:.4f} | "
                f"{t['calibration_slope']:.2f} | {_pct(t['accuracy_at_0_5'])} |")
        if fresh:
            f = row["fresh_metrics"]
            line += f" {f['auroc']:.3f} | {f['auprc']:.3f} | {f['calibration_slope']:.2f} |"
        rows.append(line)
    return "\n".join(rows)
