import pandas as pd
import streamlit as st
from gate import audit
from loading import page_setup
from widgets import TIER_BADGE, feature_input

from recovery_model.columns import RISK, TIER
from recovery_model.narrative import describe_risk, percent, tier_rule, unusual_value_note
from recovery_model.plots import driver_comparison, waterfall

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
                st.markdown(f"**{schema.group_title(group)}**")
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

assessment = predictor.assess(pd.DataFrame([patient]))
scored, explanation = assessment.rows.iloc[0], assessment.explanation
risk, tier = float(scored[RISK]), str(scored[TIER])

st.divider()
left, right = st.columns([2, 3])
with left:
    st.metric(schema.target.risk_of.capitalize(), percent(risk))
    st.markdown(f"{TIER_BADGE[tier]} &nbsp; {tier_rule(tier, predictor.thresholds)}")
    st.markdown(describe_risk(risk, tier, predictor.thresholds, predictor.average_risk, schema.target))
    for feature in assessment.unusual_features(0, schema):
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

changed_assessment = predictor.assess(pd.DataFrame([changed]))
changed_scored, changed_explanation = changed_assessment.rows.iloc[0], changed_assessment.explanation
before, after, chart = st.columns([1, 1, 3])
with before:
    st.metric("As entered", percent(risk))
    st.markdown(TIER_BADGE[tier])
with after:
    delta = float(changed_scored[RISK]) - risk
    st.metric("What if", percent(float(changed_scored[RISK])), delta_color="inverse",
              delta=f"{100 * delta:+.1f} percentage points" if abs(delta) >= 0.0005 else None)
    st.markdown(TIER_BADGE[str(changed_scored[TIER])])
with chart:
    st.plotly_chart(driver_comparison(explanation, changed_explanation, schema), key="whatif_drivers")
