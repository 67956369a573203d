import numpy as np
import pandas as pd
import streamlit as st

from recovery_model.evaluation import OURS, at_threshold
from recovery_model.narrative import percent
from recovery_model.plots import (
    beeswarm,
    calibration_plot,
    confusion_plot,
    decision_curve_plot,
    dependence,
    importance_bar,
    learning_curve,
    pr_plot,
    roc_plot,
)

from components import page_setup

st.title("Model")
predictor = page_setup("model")
schema = predictor.schema
report = predictor.report
if report is None:
    st.warning("This model has no evaluation report yet. Run `.venv/bin/recovery evaluate` and reload.")
    st.stop()

test = report["test"]
st.caption(f"Held-out test split: {test['rows']:,} patients, {test['events']} did not recover. "
           "95 % bootstrap confidence intervals. Positive class: did not recover.")

LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier score", "scaled_brier": "Scaled Brier",
          "calibration_intercept": "Calibration intercept", "calibration_slope": "Calibration slope"}
metric_rows = [{"metric": label, "value": test["metrics"][key]["value"], "95 % CI low": test["metrics"][key]["low"],
                "95 % CI high": test["metrics"][key]["high"]} for key, label in LABELS.items()]
st.dataframe(pd.DataFrame(metric_rows), hide_index=True, key="metrics_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("value", "95 % CI low", "95 % CI high")})

performance, baselines, subgroups, learning, explanations, card = st.tabs(
    ["Performance", "Baselines", "Subgroups", "Learning curve", "Explanations", "Model card"])

with performance:
    left, right = st.columns(2)
    left.plotly_chart(roc_plot({OURS: test["curves"]}), key="roc")
    right.plotly_chart(pr_plot({OURS: test["curves"]}, test["metrics"]["event_rate"]["value"]), key="pr")
    left, right = st.columns(2)
    left.plotly_chart(calibration_plot(test["calibration_curve"], "Calibration (test split, deciles)"),
                      key="calibration")
    if "fresh" in report:
        right.plotly_chart(calibration_plot(report["fresh"]["calibration_curve"],
                                            f"Calibration (fresh {report['fresh']['rows']:,}-row sample)"),
                           key="calibration_fresh")
    curve_source = "fresh sample, every model" if "fresh" in report else "test split"
    st.plotly_chart(decision_curve_plot(report.get("fresh", test)["decision_curve"],
                                        f"Decision curve ({curve_source})"), key="decision_curve")
    st.caption("Net benefit of flagging patients above a threshold risk, against flagging everyone or no one. "
               "A threshold of 10 % means accepting 9 unnecessary reviews to catch 1 non-recovery.")
    st.markdown("#### At a threshold of your choice")
    threshold = st.slider("Flag risks at or above (%)", 0.5, 60.0, round(100 * predictor.thresholds.high, 1),
                          step=0.5, key="model_threshold") / 100
    predictions = test["predictions"]
    counts = at_threshold(np.asarray(predictions["event"]), np.asarray(predictions["risk"]) >= threshold)
    left, right = st.columns([2, 3])
    left.plotly_chart(confusion_plot(counts), key="confusion")
    right.markdown(
        f"- Flags **{percent(counts['flagged_share'])}** of patients\n"
        f"- Sensitivity **{percent(counts['sensitivity'])}** (non-recoveries caught)\n"
        f"- Specificity **{percent(counts['specificity'])}**\n"
        f"- PPV **{percent(counts['ppv'])}**: evaluate **{counts['nne']:.1f}** flagged patients to find one "
        "who will not recover\n"
        f"- Default tiers: high ≥ {percent(predictor.thresholds.high)}, moderate ≥ "
        f"{percent(predictor.thresholds.moderate)} (chosen on validation rows for 50 % and 80 % sensitivity)")

with baselines:
    st.markdown("Every model trained on the same rows, scored on the same test split"
                + (f" and on a fresh {report['fresh']['rows']:,}-patient sample where the true risk is known "
                   "(the oracle: the best any model could do)." if "fresh" in report else "."))
    rows = []
    for b in report["baselines"]:
        row = {"model": b["name"], "test AUROC": b["test_metrics"]["auroc"], "test AUPRC": b["test_metrics"]["auprc"],
               "test Brier": b["test_metrics"]["brier"],
               "sensitivity at top 10 %": b["test_at_top_k"]["sensitivity"],
               "accuracy (not a goal)": b["test_metrics"]["accuracy_at_0_5"]}
        if "fresh_metrics" in b:
            row |= {"fresh AUROC": b["fresh_metrics"]["auroc"], "fresh AUPRC": b["fresh_metrics"]["auprc"],
                    "fresh calibration slope": b["fresh_metrics"]["calibration_slope"]}
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="baselines_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in rows[0] if c != "model"})
    st.caption("The majority class is the original notebook's '96 % accuracy': it finds no one who will not recover.")

with subgroups:
    st.dataframe(pd.DataFrame(report["subgroups"]), hide_index=True, key="subgroups_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("auroc", "auroc_low", "auroc_high", "mean_risk", "event_rate")})
    st.caption("Test split. Few events per subgroup: read the confidence intervals before the point estimates.")

with learning:
    training = report["training"]
    st.plotly_chart(learning_curve(training["history"], training["best_epoch"], training["stopped_epoch"]),
                    key="learning_curve")
    st.caption(f"Early stopping watched validation loss; the weights of epoch {training['best_epoch']} were "
               f"restored. Platt calibration afterwards: slope {training['calibration']['slope']:.3f}, intercept "
               f"{training['calibration']['intercept']:.3f}.")

with explanations:
    shap_data = report["explanations"]
    order = list(shap_data["importance"])
    left, right = st.columns(2)
    left.plotly_chart(importance_bar(shap_data["importance"], schema), key="importance")
    right.plotly_chart(beeswarm(shap_data["values"], shap_data["attributions"], shap_data["features"], schema,
                                order), key="beeswarm")
    feature = st.selectbox("Dependence plot for", order, key="dependence_feature",
                           format_func=lambda n: schema.feature(n).label)
    st.plotly_chart(dependence(shap_data["values"], shap_data["attributions"], shap_data["features"], feature,
                               schema), key="dependence")
    st.caption(f"SHAP values in log-odds for {len(shap_data['values'])} test patients (DeepLIFT rescale rule, "
               "as shap's DeepExplainer; background of 100 training rows).")

with card:
    model_card = predictor.model_card or ""
    st.download_button("Download the model card (Markdown)", model_card, "model_card.md", "text/markdown",
                       on_click="ignore")
    st.markdown(model_card)
