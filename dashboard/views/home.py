import streamlit as st

from recovery_model.access import Page, pages_for
from recovery_model.scoring.narrative import percent

from gate import check_access, current_user
from loading import preload_predictor, report_or_none, summary_or_stop
from prediction_log import alerts_banner

check_access(Page.HOME)
model = summary_or_stop()
target = model.schema.target
st.title("Recovery risk")
st.markdown(
    f"Estimates each patient's **{target.risk_of}** after treatment, calibrated so that a risk of "
    f"10 % means about 10 in 100 such patients {target.event_label}, and shows the factors behind it.")
st.warning("**Decision support, not a diagnosis.** Use it to prioritise review and monitoring alongside "
           "clinical judgement. Never withhold care because a risk is low. Not for children, not for "
           "emergency triage, and not for real patients until retrained and validated on local data.",
           icon=":material/warning:")

DESTINATIONS = [
    ("patient", "**Patient** — clinicians", ":material/stethoscope:",
     "Enter one patient: risk with its range, tier, the drivers, a warning when the patient is unlike the "
     "training data, and what could lower the risk."),
    ("ward", "**Ward** — bed managers", ":material/bed:",
     "Upload a ward CSV: patients ranked by risk, flagged against your monitoring slots, checked against the "
     "training data, ready to download."),
    ("model", "**Model** — analysts", ":material/monitoring:",
     "Performance with confidence intervals, calibration, baselines, learning curve, explanations."),
    ("monitoring", "**Monitoring** — analysts", ":material/query_stats:",
     "The deployed model week by week: what it predicted, what happened, calibration, alerts."),
]
user = current_user()
allowed = pages_for(user.role) if user else []
alerts_banner(Page.MONITORING in allowed)
st.subheader("Where to go")
for column, (page, label, icon, text) in zip(st.columns(4), [d for d in DESTINATIONS if d[0] in allowed],
                                             strict=False):
    with column:
        st.page_link(f"views/{page}.py", label=label, icon=icon)
        st.caption(text)

st.subheader("The model loaded")
meta = model.metadata
data = meta.get("training_data", {})
st.markdown(
    f"**{model.version}** (digest `{model.digest[:12]}`), trained {meta.get('trained_at', '?')} on "
    f"**{data.get('rows', 0):,} patients** "
    f"({data.get('events', 0)} {target.event_label}, {percent(model.average_risk)}); schema "
    f"`{model.schema.name}`, {len(model.schema.features)} features; package "
    f"{meta.get('package_version', '?')}. Data fingerprint `{str(data.get('fingerprint', ''))[:12]}`."
    + "".join(f" Updated ({u['method']}) {u['at'][:10]} on {u['development']['patients']:,} of this hospital's "
              f"patients ({u['development']['events']} events), from {u['from_version']}."
              for u in meta.get("updates", [])))
report = report_or_none(model)
if report is not None:
    metrics = report.internal.metrics
    for col, (label, name, digits) in zip(st.columns(4), [("AUROC", "auroc", 3), ("AUPRC", "auprc", 3),
                                                          ("Calibration slope", "calibration_slope", 2),
                                                          ("Scaled Brier", "scaled_brier", 3)], strict=True):
        estimate = metrics.estimate(name)
        col.metric(label, f"{estimate.value:.{digits}f}",
                   help="Out-of-fold internal validation; 95 % bootstrap CI below.")
        col.caption(f"95 % CI {estimate.low:.{digits}f}–{estimate.high:.{digits}f}")
    st.caption(f"Out-of-fold on all {report.internal.rows:,} training patients ({report.internal.events} "
               "events). Accuracy is not shown: predicting the common outcome for everyone scores "
               f"{percent(report.majority.internal.accuracy_at_0_5)} and finds no one.")

preload_predictor()  # last: Home has rendered without torch; the scoring pages will find the model ready
