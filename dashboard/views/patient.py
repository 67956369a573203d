import pandas as pd
import streamlit as st

from recovery_model.narrative import describe_risk, percent, tier_rule, unusual_value_note
from recovery_model.plots import driver_comparison, waterfall

from components import TIER_BADGE, audit, feature_input, page_setup

GROUP_TITLES = {"demographics": "Demographics", "vitals": "Vital signs", "clinical": "Clinical",
                "lifestyle": "Lifestyle", "treatment": "Treatment", "other": "Other"}

st.title("Patient")
st.caption("Enter one patient's values. Every field shows its unit and typical range; values that are "
           "impossible cannot be entered.")
predictor = page_setup("patient")
schema = predictor.schema

with st.form("patient_form"):
    entered = {}
    groups = list(schema.by_group().items())
    for row_start in range(0, len(groups), 3):
        columns = st.columns(3)
        for column, (group, features) in zip(columns, groups[row_start:row_start + 3], strict=False):
            with column:
                st.markdown(f"**{GROUP_TITLES.get(group, group.title())}**")
                for feature in features:
                    entered[feature.name] = feature_input(feature, feature.default, key=f"patient_{feature.name}")
    submitted = st.form_submit_button("Estimate risk", type="primary")

if submitted:
    st.session_state["patient"] = entered
    st.session_state["patient_version"] = st.session_state.get("patient_version", 0) + 1
    audit("score_patient", page="patient", rows=1)

patient = st.session_state.get("patient")
if patient is None:
    st.info("Fill in the form and press **Estimate risk**.")
    st.stop()

frame = pd.DataFrame([patient])
scored = predictor.predict_risk(frame).iloc[0]
explanation = predictor.explain(frame)
risk, tier = float(scored["risk"]), str(scored["tier"])

st.divider()
left, right = st.columns([2, 3])
with left:
    st.metric("Risk of not recovering", percent(risk))
    st.markdown(f"{TIER_BADGE[tier]} &nbsp; {tier_rule(tier, predictor.thresholds)}")
    st.markdown(describe_risk(risk, tier, predictor.thresholds, predictor.average_risk))
    unusual = [f for f in schema.features
               if not f.typical_min <= patient[f.name] <= f.typical_max]
    for feature in unusual:
        st.warning(unusual_value_note(feature, patient[feature.name]), icon=":material/warning:")
with right:
    st.plotly_chart(waterfall(explanation, 0, schema), key="patient_waterfall")
    top = explanation.drivers(0, schema, 3)
    st.caption("Top drivers: " + "; ".join(
        f"{r.shown_as} {'raised' if r.log_odds > 0 else 'lowered'} the risk" for r in top.itertuples())
        + f". The walk starts from a typical patient ({percent(explanation.base_risk)}: the model's average "
        f"log-odds over reference patients; the average *risk*, {percent(predictor.average_risk)}, is higher "
        "because a few patients carry very high risk). Bars add up in log-odds; the axis shows risk. They "
        "explain the model, not the cause.")

st.subheader("What if…")
st.caption("Change the factors a care plan can change and compare. The model's response is an association "
           "learned from data, not a promise that changing the factor changes the outcome.")
version = st.session_state["patient_version"]
columns = st.columns(3)
changed = dict(patient)
for i, feature in enumerate(schema.modifiable):
    with columns[i % 3]:
        changed[feature.name] = feature_input(feature, patient[feature.name], key=f"whatif_{feature.name}_{version}")

changed_frame = pd.DataFrame([changed])
changed_scored = predictor.predict_risk(changed_frame).iloc[0]
changed_explanation = predictor.explain(changed_frame)
before, after, chart = st.columns([1, 1, 3])
with before:
    st.metric("As entered", percent(risk))
    st.markdown(TIER_BADGE[tier])
with after:
    delta = float(changed_scored["risk"]) - risk
    st.metric("What if", percent(float(changed_scored["risk"])), delta_color="inverse",
              delta=f"{100 * delta:+.1f} percentage points" if abs(delta) >= 0.0005 else None)
    st.markdown(TIER_BADGE[str(changed_scored["tier"])])
with chart:
    st.plotly_chart(driver_comparison(explanation, changed_explanation, schema), key="whatif_drivers")
