import pandas as pd
import streamlit as st

from recovery_model import DataValidationError
from recovery_model.access import Page, file_digest
from recovery_model.log.records import Source
from recovery_model.readers.fhir.reader import form_values, read_fhir
from recovery_model.scoring.columns import (
    ATYPICAL,
    ATYPICAL_FEATURES,
    BELOW_THRESHOLD,
    CHANGED,
    MISSING_RISK_HIGH,
    MISSING_RISK_LOW,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    TIER,
    TYPICALITY,
)
from recovery_model.scoring.narrative import (
    atypical_note,
    change_text,
    describe_risk,
    interval_text,
    missing_note,
    percent,
    tier_rule,
    unusual_value_note,
    wide_interval_note,
)

from charts import driver_comparison, risk_history, waterfall, waterfall_placeholder
from gate import audit
from loading import page_setup
from prediction_log import log_rows, prediction_log
from widgets import TIER_BADGE, feature_input, fill_form, fill_what_if, form_key, what_if_key

st.title("Patient")
st.caption("Enter one patient's values. Every field shows its unit and typical range; values that are "
           "impossible cannot be entered.")
predictor = page_setup(Page.PATIENT)
schema = predictor.schema

if (opened := st.query_params.get("prediction")) and st.session_state.get("opened_prediction") != opened:
    st.session_state["opened_prediction"] = opened  # a link from a card: the logged values, never in the URL
    log = prediction_log()
    record = log.get(opened) if log is not None else None
    if record is None:
        st.error("No logged assessment has the id in this link; it may have been purged. Enter the values below.")
    else:
        audit("log_read", page="patient", what="opened_prediction", rows=1)
        values = {name: value for name, value in record["inputs"].items() if value is not None}
        notes = [f"{schema.feature(name).display_name}: not in the record it was scored from; left empty (not "
                 "recorded)" for name in record["imputed"]]
        fill_form(values, notes, record["patient_id"] or "")

with st.expander("Load the patient from a FHIR record", icon=":material/upload_file:"):
    record_file = st.file_uploader("FHIR R4 Bundle (.json) or NDJSON (.ndjson)", type=["json", "ndjson"],
                                   key="fhir_upload")
    if record_file is not None:
        digest = file_digest(record_file.getvalue())
        try:
            if st.session_state.get("fhir_record", (None,))[0] != digest:  # read once per file, not per rerun
                st.session_state["fhir_record"] = (digest, read_fhir(record_file.getvalue(), schema,
                                                                     name=record_file.name))
            record = st.session_state["fhir_record"][1]
        except DataValidationError as exc:
            st.error(f"**This record cannot be read.** {exc}")
        else:
            ids = record.frame[schema.id_column].astype(str).tolist()
            chosen = st.selectbox(f"Patient ({len(ids)} in the record)", range(len(ids)),
                                  format_func=lambda i: ids[i], key="fhir_patient")
            st.button("Fill the form", on_click=fill_form, args=(*form_values(record, chosen, schema), ids[chosen]),
                      key="fhir_fill")
if filled := st.session_state.get("form_filled_from"):
    st.success(f"The form holds patient **{filled}** from the FHIR record: the latest value of each, at or before "
               "now. Check it before you estimate.")
    for note in st.session_state.get("form_notes", []):
        st.warning(note, icon=":material/warning:")

with st.form("patient_form"):
    entered = {}
    start = st.session_state.get("form_start", {})
    patient_id = st.text_input("Patient id (optional: links this estimate to the patient's earlier ones)",
                               value=st.session_state.get("form_filled_from") or "",
                               key=f"patient_id_{st.session_state.get('form_round', 0)}").strip()
    groups = list(schema.by_group().items())
    for row_start in range(0, len(groups), 3):
        columns = st.columns(3)
        for column, (group, features) in zip(columns, groups[row_start:row_start + 3], strict=False):
            with column:
                st.markdown(f"**{schema.group_title(group)}**")
                for feature in features:
                    # a record's form leaves what the record lacks empty; a fresh form starts from the defaults
                    value = start.get(feature.name) if "form_start" in st.session_state else feature.default
                    entered[feature.name] = feature_input(feature, value, key=form_key(feature))
    submitted = st.form_submit_button("Estimate risk", type="primary")

if submitted:
    st.session_state["patient"] = entered
    st.session_state["patient_id"] = patient_id or None
    st.session_state.pop("what_if_start", None)
    st.session_state["patient_version"] = st.session_state.get("patient_version", 0) + 1
    audit("score_patient", page="patient", rows=1)

patient = st.session_state.get("patient")
if patient is None:
    st.info("Fill in the form and press **Estimate risk**.")
    st.plotly_chart(waterfall_placeholder(schema), key="patient_waterfall_placeholder")
    st.stop()

patient_id = st.session_state.get("patient_id")
assessment = predictor.assess(pd.DataFrame([{schema.id_column: patient_id, **patient}]))
scored, explanation = assessment.rows.iloc[0], assessment.explanation
if st.session_state.get("logged_version") != st.session_state["patient_version"]:  # once per estimate, not per rerun
    st.session_state["logged_version"] = st.session_state["patient_version"]
    log_rows(predictor, assessment, Source.PATIENT)
risk, tier = float(scored[RISK]), str(scored[TIER])

st.divider()
left, right = st.columns([2, 3])
with left:
    low, high = float(scored[RISK_LOW]), float(scored[RISK_HIGH])
    st.metric(schema.target.risk_of.capitalize(), percent(risk))
    st.markdown(f"**{percent(risk)} ({percent(low)}–{percent(high)})** &nbsp; {TIER_BADGE[tier]} &nbsp; "
                f"{tier_rule(tier, predictor.thresholds)}")
    st.caption(interval_text(low, high, schema.target))
    missing_low, missing_high = float(scored[MISSING_RISK_LOW]), float(scored[MISSING_RISK_HIGH])
    if lacks := missing_note(assessment.missing_inputs(0, schema), missing_low, missing_high, low, high):
        st.info(lacks, icon=":material/help:")
    if wide := wide_interval_note(low, high, missing_low, missing_high):
        st.warning(wide, icon=":material/error:")
    if scored[ATYPICAL]:
        st.warning(atypical_note(float(scored[TYPICALITY]), scored[ATYPICAL_FEATURES]), icon=":material/warning:")
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

if patient_id and (log := prediction_log()) is not None:
    history = log.history(patient_id)
    audit("log_read", page="patient", what="patient_history", rows=len(history))
    if len(history) > 1:
        with st.expander(f"Earlier estimates for {patient_id} ({len(history) - 1})", icon=":material/history:"):
            st.plotly_chart(risk_history(history, predictor.thresholds), key="patient_history")

st.subheader("What could lower the risk")
version = st.session_state["patient_version"]
if st.session_state.get("options_for") != version:
    st.session_state["options"] = predictor.suggest_changes(pd.DataFrame([patient]))
    st.session_state["options_for"] = version
options = st.session_state["options"]
if not len(options):
    st.info("No change to the factors a care plan can change lowers this patient's risk in the model.")
else:
    target_text = ("below the patient's tier threshold" if options[BELOW_THRESHOLD].any() else
                   "no option reaches a lower tier; these are the largest reductions")
    st.caption(f"Up to three options, each changing at most three of the factors a care plan can change ("
               f"{target_text}). They are associations the model learned from data, not causal advice: "
               "changing a factor may not change the outcome. Choose one to try it in the what-if below.")
    for number, option in options.iterrows():
        changes = "; ".join(change_text(schema.feature(name), patient[name], option[name]) for name in option[CHANGED])
        text, button = st.columns([5, 1])
        text.markdown(f"**Option {number + 1}.** {changes} → **{percent(option[RISK])}** "
                      f"({percent(option[RISK_LOW])}–{percent(option[RISK_HIGH])})"
                      + (" · :orange[unlike the training patients]" if option[ATYPICAL] else ""))
        button.button("Try it", key=f"option_{number}_{version}", on_click=fill_what_if,
                      args=({name: option[name] for name in option[CHANGED]},))

st.subheader("What if…")
st.caption("Change the factors a care plan can change and compare. The model's response is an association "
           "learned from data, not a promise that changing the factor changes the outcome.")
columns = st.columns(3)
changed = dict(patient)
for i, feature in enumerate(schema.modifiable):
    with columns[i % 3]:
        start = st.session_state.get("what_if_start", {}).get(feature.name, patient[feature.name])
        changed[feature.name] = feature_input(feature, start, key=what_if_key(feature, version))

changed_assessment = predictor.assess(pd.DataFrame([{schema.id_column: patient_id, **changed}]))
changed_scored, changed_explanation = changed_assessment.rows.iloc[0], changed_assessment.explanation
what_if = (st.session_state["patient_version"], tuple(sorted(changed.items())))
if changed != patient and st.session_state.get("logged_what_if") != what_if:  # shown: logged, never as a prediction
    st.session_state["logged_what_if"] = what_if
    log_rows(predictor, changed_assessment, Source.PATIENT_WHATIF)
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
