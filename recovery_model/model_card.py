"""The model card: the evaluation report in words, for clinicians, analysts and reviewers."""

from __future__ import annotations

from typing import Any


def _ci(metric: dict[str, float], digits: int = 3) -> str:
    return f"{metric['value']:.{digits}f} ({metric['low']:.{digits}f}–{metric['high']:.{digits}f})"


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def render_model_card(report: dict[str, Any]) -> str:
    """Markdown: intended use, data, metrics with CIs, baselines, subgroups, limitations."""
    model, test, thr = report["model"], report["test"], report["thresholds"]
    m = test["metrics"]
    data = model.get("training_data") or {}
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
        f"An MLP ({'-'.join(map(str, report['architecture']['hidden']))}, dropout "
        f"{report['architecture']['dropout']}, L2 weight decay {report['architecture']['weight_decay']}) "
        "trained with unweighted cross-entropy and early stopping on validation loss "
        f"(best epoch {report['training']['best_epoch']}), then Platt-scaled on the validation rows "
        f"(slope {report['training']['calibration']['slope']:.3f}, intercept "
        f"{report['training']['calibration']['intercept']:.3f}). Package {model.get('package_version')}, "
        f"trained {model.get('trained_at')}, seed {model.get('seed')}.",
        "",
        "## Data",
        f"{data.get('rows', '?'):,} patients ({data.get('events', '?')} events), split 70/15/15 stratified "
        f"into train/validation/test ({data.get('split_rows')}). Data fingerprint "
        f"`{str(data.get('fingerprint', ''))[:16]}`. The default data are synthetic (see data/README.md).",
        "",
        f"## Performance on the held-out test split ({test['rows']:,} patients, {test['events']} events)",
        "95 % bootstrap confidence intervals in brackets.",
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
        f"{_pct(thr['high_sensitivity_target'])} of the validation non-recoveries.",
        f"- **Moderate**: {_pct(thr['moderate'])} ≤ risk < {_pct(thr['high'])}: down to where "
        f"{_pct(thr['moderate_sensitivity_target'])} of them were caught. **Low**: below.",
        "",
        "| rule | flagged | sensitivity | specificity | PPV | number needed to evaluate |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (("High-risk threshold", "at_high_threshold"), ("Moderate threshold", "at_moderate_threshold"),
                      (f"Top {_pct(test['top_k_share'])} (monitoring slots)", "at_top_k")):
        t = test[key]
        lines.append(f"| {name} | {_pct(t['flagged_share'])} | {_pct(t['sensitivity'])} | "
                     f"{_pct(t['specificity'])} | {_pct(t['ppv'])} | {t['nne']:.1f} |")
    lines += ["", "## Compared with what a ward would otherwise use (trained on the same rows)", "",
              _baseline_table(report), "",
              "Accuracy is shown only to make a point: the majority class scores about 96 % while "
              "finding no one.", ""]
    lines += ["## Subgroups (test split)", "", "| group | level | patients | events | AUROC (95 % CI) |",
              "|---|---|---|---|---|"]
    for row in report["subgroups"]:
        auroc = (f"{row['auroc']:.3f} ({row['auroc_low']:.3f}–{row['auroc_high']:.3f})"
                 if "auroc" in row else "too few events")
        lines.append(f"| {row['group']} | {row['level']} | {row['patients']} | {row['events']} | {auroc} |")
    importance = list(report["explanations"]["importance"].items())[:5]
    lines += ["", "## What drives the predictions",
              "Mean |SHAP| in log-odds over test patients: " +
              ", ".join(f"{name} {value:.2f}" for name, value in importance) + ".", "",
              "## Limitations",
              "- Trained and tested on synthetic data: the figures show the method works, not that the "
              "model is valid for any real population.",
              "- Few events (about 500 in 15,000): subgroup estimates are imprecise; see the CIs.",
              "- Missing values are imputed with training medians (at most 3 per patient) and flagged.",
              "- Attributions (SHAP, DeepLIFT rescale rule) explain the model, not the patient's biology; "
              "they are not causal effects of changing a factor.",
              "- The explanation background holds 100 standardised training rows.", ""]
    return "\n".join(lines)


def _baseline_table(report: dict[str, Any]) -> str:
    fresh = "fresh" in report
    header = "| model | test AUROC | test AUPRC | test Brier | accuracy |"
    rule = "|---|---|---|---|---|"
    if fresh:
        header += " fresh-sample AUROC | fresh AUPRC | calibration slope |"
        rule += "---|---|---|"
    rows = [header, rule]
    for row in report["baselines"]:
        t = row["test_metrics"]
        line = (f"| {row['name']} | {t['auroc']:.3f} | {t['auprc']:.3f} | {t['brier']:.4f} | "
                f"{_pct(t['accuracy_at_0_5'])} |")
        if fresh:
            f = row["fresh_metrics"]
            line += f" {f['auroc']:.3f} | {f['auprc']:.3f} | {f['calibration_slope']:.2f} |"
        rows.append(line)
    return "\n".join(rows)
