import streamlit as st

from recovery_model.access import pages_for
from recovery_model.narrative import percent

from components import current_user, page_setup

st.title("Recovery risk")
st.markdown(
    "Estimates each patient's **risk of not recovering** after treatment, calibrated so that a risk of "
    "10 % means about 10 in 100 such patients do not recover, and shows the factors behind it.")
st.warning("**Decision support, not a diagnosis.** Use it to prioritise review and monitoring alongside "
           "clinical judgement. Never withhold care because a risk is low. Not for children, not for "
           "emergency triage, and not for real patients until retrained and validated on local data.",
           icon=":material/warning:")

predictor = page_setup("home")
meta, report = predictor.metadata, predictor.report
data = meta.get("training_data", {})

DESTINATIONS = [
    ("patient", "**Patient** — clinicians", ":material/stethoscope:",
     "Enter one patient: risk, tier, the drivers, and what-if for the factors you can change."),
    ("ward", "**Ward** — bed managers", ":material/bed:",
     "Upload a ward CSV: patients ranked by risk, flagged against your monitoring slots, ready to download."),
    ("model", "**Model** — analysts", ":material/monitoring:",
     "Performance with confidence intervals, calibration, baselines, learning curve, explanations."),
]
allowed = pages_for(current_user().role)
st.subheader("Where to go")
for column, (page, label, icon, text) in zip(st.columns(3), [d for d in DESTINATIONS if d[0] in allowed],
                                             strict=False):
    with column:
        st.page_link(f"views/{page}.py", label=label, icon=icon)
        st.caption(text)

st.subheader("The model loaded")
st.markdown(
    f"Trained {meta.get('trained_at', '?')} on **{data.get('rows', 0):,} patients** "
    f"({data.get('events', 0)} did not recover, {percent(predictor.average_risk)}); schema "
    f"`{predictor.schema.name}`, {len(predictor.schema.features)} features; package "
    f"{meta.get('package_version', '?')}. Data fingerprint `{str(data.get('fingerprint', ''))[:12]}`.")
if report is None:
    st.info("No evaluation report next to this model. Run `.venv/bin/recovery evaluate` to write one.")
else:
    metrics = report["internal"]["metrics"]
    cols = st.columns(4)
    for col, (label, key, digits) in zip(cols, [("AUROC", "auroc", 3), ("AUPRC", "auprc", 3),
                                                ("Calibration slope", "calibration_slope", 2),
                                                ("Scaled Brier", "scaled_brier", 3)], strict=True):
        m = metrics[key]
        col.metric(label, f"{m['value']:.{digits}f}", help="Out-of-fold internal validation; 95 % bootstrap CI below.")
        col.caption(f"95 % CI {m['low']:.{digits}f}–{m['high']:.{digits}f}")
    majority = next(b for b in report["baselines"] if b["name"].startswith("Majority"))
    st.caption(f"Out-of-fold on all {report['internal']['rows']:,} training patients ({report['internal']['events']} "
               "events). Accuracy is not shown: predicting the common outcome for everyone scores "
               f"{percent(majority['internal_metrics']['accuracy_at_0_5'])} and finds no one.")
