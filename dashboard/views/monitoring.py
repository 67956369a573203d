import json
from datetime import UTC, datetime, time

import pandas as pd
import streamlit as st

from recovery_model.access import Page
from recovery_model.log.store import PredictionLog
from recovery_model.monitoring.report import MonitoringReport, ReportSettings
from recovery_model.monitoring.run import run_monitor
from recovery_model.scoring.narrative import percent

from charts import monitoring_chart, monitoring_counts
from gate import audit
from loading import page_setup
from prediction_log import prediction_log, read_log
from updates import shadow_table
from widgets import shown_blank

REPORT_TTL_S = 300

st.title("Monitoring")
st.caption("How the deployed model does: every risk the pages, the CLI and the EHR service showed, joined to the "
           "outcomes recorded since (`recovery outcomes`). Periods are in UTC.")
predictor = page_setup(Page.MONITORING)
log = prediction_log()
if log is None:
    st.stop()

period, window, since, until = st.columns(4)
kind = period.radio("Period", ["week", "month"], horizontal=True, key="monitor_period",
                    help="ISO weeks from Monday, or calendar months.")
window_days = window.number_input("Outcome window (days)", 1, 365, 30, key="monitor_window",
                                  help="A period matures this many days after it ends, once outcomes have arrived "
                                  "that far; before that its outcome figures are not shown as observed.")
first = since.date_input("From (inclusive)", value=None, key="monitor_since")
last = until.date_input("Until (exclusive)", value=None, key="monitor_until")
settings = ReportSettings(kind, int(window_days), datetime.combine(first, time(), UTC) if first else None,
                          datetime.combine(last, time(), UTC) if last else None)
opened: PredictionLog = log


@st.cache_data(ttl=REPORT_TTL_S, show_spinner="Reading the prediction log…", max_entries=8)
def monitoring_report_of(settings: ReportSettings, logged: int, outcomes: int) -> tuple[MonitoringReport, int]:
    """The report and its row count, computed again only when the log or the settings change (or after a while:
    a million rows take seconds); `logged` and `outcomes` are there to key the cache."""
    run = run_monitor(opened, predictor, settings)
    return run.report, run.rows


sizes = read_log(PredictionLog.sizes, "The prediction log")
if sizes is None:
    st.stop()
report, rows = monitoring_report_of(settings, *sizes)
audit("log_read", page="monitoring", what="monitor", rows=rows)
if not rows:
    st.info("No predictions logged in this span yet. Score patients on the Patient or Ward page or with "
            "`recovery predict`, then record what happened with `recovery outcomes --input outcomes.csv`.")
    st.stop()
if alerts := report["alerts"]:  # one summary, not a banner each: the charts stay on the first screen
    kinds = pd.Series([a["kind"].replace("_", " ") for a in alerts]).value_counts()
    st.warning(f"**{len(alerts)} alert{'' if len(alerts) == 1 else 's'} in these periods:** "
               + ", ".join(f"{count} {kind}" for kind, count in kinds.items()) + ".", icon=":material/warning:")
    with st.expander("The alerts, by period"):
        st.markdown("\n".join(f"- **{a['period']} · {a['kind'].replace('_', ' ')}**: {a['message']}" for a in alerts))

periods, reference = report["periods"], report["reference"]
matured = [p for p in periods if p["matured"]]
cols = st.columns(4)
cols[0].metric("Predictions", f"{sum(p['scored'] for p in periods):,}")
cols[1].metric("With an outcome", f"{sum(p['with_outcome'] for p in periods):,}")
cols[2].metric("Matured periods", f"{len(matured)} of {len(periods)}")
cols[3].metric("Outcomes recorded through", (report["outcomes_through"] or "none yet")[:10])

left, right = st.columns(2)
left.plotly_chart(monitoring_chart(periods, "observed_expected", "Observed / expected events", "O/E", 1.0,
                                   "calibrated"), key="monitor_oe")
right.plotly_chart(monitoring_chart(periods, "auroc", "AUROC", "AUROC", reference["auroc"],
                                    f"training {reference['auroc']:.3f}"), key="monitor_auroc")
left.plotly_chart(monitoring_counts(periods), key="monitor_counts")
right.plotly_chart(monitoring_chart(periods, "flag_rate", "High-tier rate", "Share of predictions",
                                    reference["flag_rate"], f"training {percent(reference['flag_rate'])}",
                                    percent_axis=True), key="monitor_flag_rate")
st.caption("Hollow points: periods not yet matured (their outcomes may still come). Bars: 95 % intervals (exact "
           "Poisson for O/E, DeLong for AUROC). A dashed vertical line marks a change of model version.")

st.subheader("Per period")
table = pd.DataFrame([{
    "Period": p["start"], "Scored": p["scored"], "With outcome": p["with_outcome"], "Matured": p["matured"],
    "Events": p["events"], "Expected": p["expected_events"] if p["matured"] else p["estimated"]["expected_events"],
    "O/E": p["observed_expected"], "AUROC": p["auroc"], "Expected AUROC": p["estimated"]["expected_auroc"],
    "Calibration slope": p["calibration_slope"], "High tier": p["flag_rate"], "Atypical": p["atypical_rate"],
    "Range width": p["range_width"], "Drift": p["drift"]["drifted"], "Cards accepted": p["feedback"]["accept_rate"],
    "Models": ", ".join(p["model_versions"])} for p in periods])
numbers = [c for c in table.columns if c not in ("Period", "Matured", "Drift", "Models")]
table[numbers] = table[numbers].apply(pd.to_numeric, errors="coerce")  # "not yet known" is blank, never "None"
st.dataframe(shown_blank(table, {
    "Events": "{:.0f}", "Expected": "{:.1f}", "O/E": "{:.2f}", "AUROC": "{:.3f}", "Expected AUROC": "{:.3f}",
    "Calibration slope": "{:.2f}", "High tier": "{:.1%}", "Atypical": "{:.1%}", "Range width": "{:.1%}",
    "Cards accepted": "{:.0%}"}), hide_index=True, key="monitor_table", column_config={
    "Expected": st.column_config.Column(help="Sum of risks; an estimate where not matured."),
    "Expected AUROC": st.column_config.Column(help=report["methods"]["estimate"])})

for shadow in report["shadow"]:
    st.subheader(f"In the shadow: {shadow['version']}")
    st.caption(f"Scored beside {', '.join(shadow['beside'])} on the same patients and never shown (digest "
               f"{shadow['digest'][:12]}); patients with an outcome recorded. The command recovery models promote "
               f"{shadow['version']} would put it in use.")  # plain: a caption's code style fails colour contrast
    st.dataframe(shadow_table(shadow), hide_index=True, key=f"shadow_{shadow['digest'][:12]}")

latest_matured = max((i for i, p in enumerate(periods) if p["matured"]), default=len(periods) - 1)
chosen = st.selectbox("Details of a period", [p["start"] for p in periods], index=latest_matured,
                      key="monitor_detail", help="Opens on the latest period whose outcomes have matured.")
detail = next(p for p in periods if p["start"] == chosen)
drift_col, burden_col = st.columns(2)
drift_col.markdown(f"**Inputs against training.** {detail['drift']['summary']}")
burden_col.markdown("**High-tier patients per ward per day.** " + ("; ".join(
    f"{ward}: {rate:.1f}" for ward, rate in detail["alert_burden"].items()) or "none"))
if detail["subgroups"]:
    group_rows = [{"Subgroup": s["label"], "Group": g["group"], "Patients": g["n"],
             "O/E": g.get("observed_expected"), "Sensitivity": g.get("sensitivity"),
             "Sensitivity ratio": g.get("sensitivity_ratio"), "High-tier rate": g.get("flag_rate"),
             "Rate ratio": g.get("flag_rate_ratio"), "Reference": g.get("reference", False),
             "Suppressed": g["suppressed"]} for s in detail["subgroups"] for g in s["groups"]]
    groups = pd.DataFrame(group_rows)
    numbers = ["O/E", "Sensitivity", "Sensitivity ratio", "High-tier rate", "Rate ratio"]
    groups[numbers] = groups[numbers].apply(pd.to_numeric, errors="coerce")
    ratios = groups[["Sensitivity ratio", "Rate ratio"]]
    groups.insert(2, "Outside 0.8–1.25", ((ratios < 0.8) | (ratios > 1.25)).any(axis=1).map({True: "⚠ yes",
                                                                                               False: ""}))
    st.dataframe(shown_blank(groups, {"O/E": "{:.2f}", "Sensitivity": "{:.0%}", "Sensitivity ratio": "{:.2f}",
                                      "High-tier rate": "{:.1%}", "Rate ratio": "{:.2f}"}),
                 hide_index=True, key="monitor_subgroups")
    st.caption(report["methods"]["subgroups"])
else:
    st.caption("Subgroup figures appear once the period has matured.")
feedback = detail["feedback"]
if feedback["cards"]:
    reasons = ", ".join(f"{reason} ×{count}" for reason, count in feedback["override_reasons"].items())
    st.markdown(f"**EHR cards.** {feedback['cards']} shown; {feedback['accepted']} accepted, "
                f"{feedback['overridden']} overridden{f' (reasons: {reasons})' if reasons else ''}.")
st.download_button("Download the report (JSON)", json.dumps(report, indent=1, allow_nan=False), "monitoring.json",
                   "application/json", on_click="ignore")
with st.expander("How each figure is computed"):
    st.markdown("\n".join(f"- **{name.replace('_', ' ')}**: {text}" for name, text in report["methods"].items()))
