import pandas as pd
import streamlit as st

from recovery_model.access import Page
from recovery_model.evaluation.baselines import LOGISTIC
from recovery_model.evaluation.evaluate import OURS, at_threshold
from recovery_model.evaluation.maintenance import maintenance_section
from recovery_model.scoring.narrative import percent

from charts import (
    beeswarm,
    calibration_plot,
    confusion_plot,
    decision_curve_plot,
    dependence,
    importance_bar,
    learning_curve,
    pr_plot,
    roc_plot,
    shape_plot,
)
from loading import page_setup, report_or_none, summary_or_stop
from prediction_log import kept_alerts, model_history
from updates import show_update
from widgets import shown_blank

st.title("Model")
predictor = page_setup(Page.MODEL)
schema = predictor.schema
summary = summary_or_stop()
# In plain text: a caption's code style is too faint to read (axe-core's colour contrast).
st.caption(f"In use: **{summary.version}** (digest {summary.digest[:12]}), from {summary.folder}.")

history = model_history()
if history is not None and len(history):
    latest = history.iloc[0]
    with st.expander(f"Changes of the model in use ({len(history)}; latest {latest['when']:%Y-%m-%d %H:%M} UTC, "
                     f"{latest['change']} by {latest['by']})", icon=":material/history:"):
        st.dataframe(history, hide_index=True, key="model_history",
                     column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
maintenance = maintenance_section(summary.metadata, summary.update, history, kept_alerts())
if (update := summary.update) is not None:
    show_update(update)
report = report_or_none(summary)
if report is None:
    with st.expander("Maintenance (for the model card)", icon=":material/build:"):
        st.markdown(maintenance)
    st.stop()

internal = report.internal
target = schema.target
st.caption(f"Internal validation on all {internal.rows:,} training patients ({internal.events} who "
           f"{target.event_label}): {internal.method} 95 % bootstrap confidence intervals.")
verdict = report.verdict
(st.success if verdict.beats_logistic_regression else st.warning)(verdict.text)

LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "brier": "Brier score", "scaled_brier": "Scaled Brier",
          "calibration_intercept": "Calibration intercept", "calibration_slope": "Calibration slope"}
estimates = {label: internal.metrics.estimate(name) for name, label in LABELS.items()}
metric_rows = [{"metric": label, "value": e.value, "95 % CI low": e.low, "95 % CI high": e.high}
               for label, e in estimates.items()]
st.dataframe(pd.DataFrame(metric_rows), hide_index=True, key="metrics_table",
             column_config={c: st.column_config.NumberColumn(format="%.3f")
                            for c in ("value", "95 % CI low", "95 % CI high")})

# Only the open tab is drawn (choosing another reruns the page): the first view waits for six charts, not twelve.
# Streamlit forgets a widget that a run does not draw: the choices in the tabs are kept across a visit elsewhere.
for kept in ("model_threshold", "shape_feature", "dependence_feature"):
    if kept in st.session_state:
        st.session_state[kept] = st.session_state[kept]
performance, baselines, subgroups, learning, explanations, card = st.tabs(
    ["Performance", "Baselines", "Subgroups", "Learning curve", "Explanations", "Model card"], key="model_tab",
    on_change="rerun")

with performance:
    if performance.open:
        left, right = st.columns(2)
        left.plotly_chart(roc_plot({OURS: internal.curves}), key="roc")
        right.plotly_chart(pr_plot({OURS: internal.curves}, internal.metrics.value.event_rate), key="pr")
        left, right = st.columns(2)
        left.plotly_chart(calibration_plot(internal.calibration_curve, schema, "Calibration (out-of-fold, deciles)"),
                          key="calibration")
        if report.fresh is not None:
            right.plotly_chart(calibration_plot(report.fresh.calibration_curve, schema,
                                                f"Calibration (fresh {report.fresh.rows:,}-row sample)"),
                               key="calibration_fresh")
        curve_source = "fresh sample, every model" if report.fresh else "out-of-fold"
        curve = (report.fresh or internal).decision_curve
        st.plotly_chart(decision_curve_plot(curve, f"Decision curve ({curve_source})",
                                            shown=(OURS, LOGISTIC)),
                        key="decision_curve")
        st.caption("Ours and logistic regression against flagging everyone or no one; the other models are in the "
                   "legend: click one to draw it.")
        st.caption("Net benefit of flagging patients above a threshold risk, against flagging everyone or no one. "
                   f"A threshold of 10 % means accepting 9 unnecessary reviews to find 1 patient who "
                   f"{target.event_label}.")
        st.markdown("#### At a threshold of your choice")
        threshold = st.slider("Flag risks at or above (%)", 0.5, 60.0, round(100 * predictor.thresholds.high, 1),
                              step=0.5, key="model_threshold") / 100
        counts = at_threshold(predictor.model.oof_event_, predictor.model.oof_risk_ >= threshold)
        left, right = st.columns([2, 3])
        left.plotly_chart(confusion_plot(counts, schema), key="confusion")
        right.markdown(
            f"- Flags **{percent(counts.flagged_share)}** of patients\n"
            f"- Sensitivity **{percent(counts.sensitivity)}** (share caught of those who {target.event_label})\n"
            f"- Specificity **{percent(counts.specificity)}**\n"
            f"- PPV **{percent(counts.ppv)}**: evaluate **{counts.nne:.1f}** flagged patients to find one "
            f"who {target.event_label}\n"
            f"- Default tiers: high ≥ {percent(predictor.thresholds.high)}, moderate ≥ "
            f"{percent(predictor.thresholds.moderate)} (chosen on the out-of-fold risks for "
            f"{percent(predictor.thresholds.high_sensitivity)} and "
            f"{percent(predictor.thresholds.moderate_sensitivity)} sensitivity)")

with baselines:
    if baselines.open:
        st.markdown("Every model fitted and scored on the same folds (out-of-fold)"
                    + (f" and on a fresh {report.fresh.rows:,}-patient sample where the true risk is known "
                       "(the oracle: the best any model could do)." if report.fresh else "."))
        table = report.baseline_table()
        st.dataframe(shown_blank(table, {c: "{:.3f}" for c in table.columns if c != "model"}), hide_index=True,
                     key="baselines_table")
        st.caption(f"The majority class is the original notebook's headline: "
                   f"{percent(report.majority.internal.accuracy_at_0_5)} accuracy, and it finds no one who "
                   f"{target.event_label}.")

with subgroups:
    if subgroups.open:
        if report.fresh is not None and len(patterns := report.pattern_table()):
            st.markdown(f"**Records that lack values** (the fresh {report.fresh.rows:,}-patient sample as records show "
                        "it): ours against the oracle given only what each record holds, the best any model could do.")
            st.dataframe(patterns, hide_index=True, key="patterns_table",
                         column_config={c: st.column_config.NumberColumn(format="%.3f")
                                        for c in patterns.columns if c not in ("record lacks", "patients", "events")})
        if report.subgroups:
            table = report.subgroup_table()
            st.dataframe(table, hide_index=True, key="subgroups_table",
                         column_config={c: st.column_config.NumberColumn(format="%.3f")
                                        for c in table.columns if c not in ("group", "level", "patients", "events")})
            st.caption("Out-of-fold risks. Few events per subgroup: read the confidence intervals before the point "
                       "estimates.")
        else:
            st.info("This model's schema defines no subgroups (add `[[subgroups]]` to it and retrain).")

with learning:
    if learning.open:
        training = report.training
        st.plotly_chart(learning_curve(training.history, training.best_epochs), key="learning_curve")
        st.caption(f"{len(training.best_epochs)} members trained as one network; each watched the loss on its own "
                   "held-out fold and kept its best epoch (0 = the logistic-regression start). Platt calibration on "
                   f"the out-of-fold logits: slope {training.calibration_slope:.3f}, intercept "
                   f"{training.calibration_intercept:.3f}.")

with explanations:
    if explanations.open:
        shap_data = report.explanations
        order = list(shap_data.importance)
        left, right = st.columns(2)
        left.plotly_chart(importance_bar(shap_data.importance, schema), key="importance")
        right.plotly_chart(beeswarm(shap_data.values, shap_data.attributions, shap_data.features, schema, order),
                           key="beeswarm")
        st.caption(f"SHAP values in log-odds for {len(shap_data.values)} training patients ("
                   f"{predictor.model.config_.explained_by}; background of {report.ensemble.background_rows} training "
                   "rows).")
        shapes = predictor.shape_functions()
        if shapes is None:
            feature = st.selectbox("Dependence plot for", order, key="dependence_feature",
                                   format_func=lambda n: schema.feature(n).label)
            st.plotly_chart(dependence(shap_data.values, shap_data.attributions, shap_data.features, feature, schema),
                            key="dependence")
        else:
            st.markdown("#### Shape functions: the model itself")
            feature = st.selectbox("Shape function of", order, key="shape_feature",
                                   format_func=lambda n: schema.feature(n).label)
            shape = next(s for s in shapes if s.feature == feature)
            st.plotly_chart(shape_plot(shape, schema, predictor.model.members), key="shape")
            low, high = shape.not_recorded[1:]
            st.caption("The model is a sum of one function per feature: this chart is "
                       f"{schema.feature(feature).label}'s contribution to every patient's log-odds, whatever their "
                       "other values (0: the average of the explanation background; +0.69 doubles the odds). The band "
                       "or bars span the cross-fitted members: wide where the training data say little. Not recorded, "
                       "the value counts as "
                       f"{shape.not_recorded[0]:+.2f} (members {low:+.2f} to {high:+.2f}).")

with card:
    if card.open:
        model_card = (summary.model_card or "").rstrip() + "\n\n" + maintenance
        st.download_button("Download the model card (Markdown)", model_card, "model_card.md", "text/markdown",
                           on_click="ignore")
        st.markdown(model_card)
