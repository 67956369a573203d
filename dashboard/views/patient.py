from datetime import UTC, datetime

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
    PROBLEMS,
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
    range_sentence,
    tier_crossing_note,
    tier_rule,
    unusual_value_note,
    wide_interval_note,
)
from recovery_model.scoring.thresholds import Tier
from recovery_model.scoring.validation import entry_problems

from charts import driver_comparison, risk_history, waterfall
from gate import audit
from loading import page_setup
from prediction_log import log_rows, read_log
from session import Key
from widgets import COMPACT_TOP, TIER_BADGE, feature_input, fill_form, fill_what_if, form_key, what_if_key

# The result column stays in view while the form scrolls: the answer is where the eye is after "Estimate risk".
STICKY_RESULT = """<style>
[data-testid="stColumn"]:has(.st-key-patient_result) {position: sticky; top: 3.75rem; align-self: flex-start;}
</style>"""

st.title("Patient")
st.caption("Enter what you know of one patient. A field left empty is **not recorded**: the estimate names it and "
           "its range widens; nothing is ever filled in for you as if it had been measured.")
predictor = page_setup(Page.PATIENT)
schema = predictor.schema
st.html(STICKY_RESULT + COMPACT_TOP)

if (opened := st.query_params.get("prediction")) and st.session_state.get(Key.OPENED_PREDICTION) != opened:
    st.session_state[Key.OPENED_PREDICTION] = opened  # a link from a card: the logged values, never in the URL
    link: str = opened
    record = read_log(lambda log: log.get(link), "The logged assessment in this link")
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
            if st.session_state.get(Key.FHIR_RECORD, (None,))[0] != digest:  # read once per file, not per rerun
                st.session_state[Key.FHIR_RECORD] = (digest, read_fhir(record_file.getvalue(), schema,
                                                                     name=record_file.name))
            record = st.session_state[Key.FHIR_RECORD][1]
        except DataValidationError as exc:
            st.error(f"**This record cannot be read.** {exc}")
        else:
            ids = record.frame[schema.id_column].astype(str).tolist()
            chosen = st.selectbox(f"Patient ({len(ids)} in the record)", range(len(ids)),
                                  format_func=lambda i: ids[i], key="fhir_patient")
            st.button("Fill the form", on_click=fill_form, args=(*form_values(record, chosen, schema), ids[chosen]),
                      key="fhir_fill")
if filled := st.session_state.get(Key.FORM_FILLED_FROM):
    st.success(f"The form holds patient **{filled}** from the FHIR record: the latest value of each, at or before "
               "now. Check it before you estimate.")
    for note in st.session_state.get(Key.FORM_NOTES, []):
        st.warning(note, icon=":material/warning:")


def changes_since(entered: dict, estimated: dict) -> list[str]:
    """What the form holds now that the shown estimate did not: 'Age from 84 to 85'."""
    def differs(a, b) -> bool:
        return (a is None) != (b is None) or (a is not None and float(a) != float(b))

    return [change_text(f, estimated.get(f.name), entered.get(f.name)) for f in schema.features
            if differs(entered.get(f.name), estimated.get(f.name))]


form_column, result_column = st.columns([3, 2], gap="large")
with form_column:
    entered = {}
    start = st.session_state.get(Key.FORM_START, {})
    patient_id = st.text_input("Patient id (optional: links this estimate to the patient's earlier ones)",
                               value=st.session_state.get(Key.FORM_FILLED_FROM) or "",
                               key=f"patient_id_{st.session_state.get(Key.FORM_ROUND, 0)}").strip()
    for group, features in schema.by_group().items():
        st.markdown(f"**{schema.group_title(group)}**")
        cells = st.columns(2)
        for i, feature in enumerate(features):
            with cells[i % 2]:
                entered[feature.name] = feature_input(feature, form_key(feature), start.get(feature.name))
    problems = entry_problems(entered, schema)
    if st.button("Estimate risk", type="primary", key="estimate"):
        if problems:
            st.session_state.pop(Key.PATIENT, None)  # never a risk for values that are not possible
            audit("score_patient", page="patient", rows=1, outcome="refused")
        else:
            st.session_state[Key.PATIENT] = entered
            st.session_state[Key.PATIENT_ID] = patient_id or None
            st.session_state[Key.ESTIMATED_AT] = datetime.now(UTC)
            st.session_state.pop(Key.WHAT_IF_START, None)
            st.session_state[Key.PATIENT_VERSION] = st.session_state.get(Key.PATIENT_VERSION, 0) + 1
            audit("score_patient", page="patient", rows=1)
    if problems:
        st.error("**Not possible, so not estimated:**\n" + "\n".join(f"- {text}" for text in problems.values())
                 + "\n\nCorrect them, or empty the field if the value is not known.", icon=":material/block:")

patient = st.session_state.get(Key.PATIENT)
stale = changes_since(entered, patient) if patient is not None else []
result = result_column.container(key="patient_result")
with result:
    if patient is None and problems:
        st.error("No estimate while a value is not possible: see the list beside the button.",
                 icon=":material/block:")
    elif patient is None:
        st.info("Fill in what you know and press **Estimate risk**. Fields left empty are not recorded.",
                icon=":material/edit_note:")
    elif stale:
        st.warning(f"**Out of date.** The form has changed since the last estimate ({'; '.join(stale[:4])}"
                   f"{'; …' if len(stale) > 4 else ''}). Press **Estimate risk** for the values on screen.",
                   icon=":material/update:")
if patient is None or stale:
    st.stop()
estimated: dict[str, float | None] = patient  # the values of the estimate on screen

patient_id = st.session_state.get(Key.PATIENT_ID)
assessment = predictor.assess(pd.DataFrame([{schema.id_column: patient_id, **patient}]))
scored = assessment.rows.iloc[0]
if st.session_state.get(Key.LOGGED_VERSION) != st.session_state[Key.PATIENT_VERSION]:  # once per estimate
    st.session_state[Key.LOGGED_VERSION] = st.session_state[Key.PATIENT_VERSION]
    log_rows(predictor, assessment, Source.PATIENT)
tier = str(scored[TIER])
estimated_at = st.session_state[Key.ESTIMATED_AT]

with result:
    if tier == Tier.NOT_SCORED:
        st.error(f"**Not estimated.** {scored[PROBLEMS]}.", icon=":material/block:")
        st.stop()
    risk, low, high = float(scored[RISK]), float(scored[RISK_LOW]), float(scored[RISK_HIGH])
    missing = assessment.missing_inputs(0, schema)
    st.metric(schema.target.risk_of.capitalize(), percent(risk))
    st.markdown(f"{TIER_BADGE[Tier(tier)]} &nbsp; {tier_rule(tier, predictor.thresholds)}")
    st.markdown(range_sentence(low, high, schema.target)
                + (f" Not recorded, and allowed for in the range: {', '.join(missing)}." if missing else ""))
    if crossing := tier_crossing_note(low, high, tier, predictor.thresholds):
        st.warning(crossing, icon=":material/swap_vert:")
    if scored[ATYPICAL]:
        st.warning(f"Unlike the patients the model learned from, mostly because of {scored[ATYPICAL_FEATURES]}: "
                   "rely on clinical judgement first (details below).", icon=":material/warning:")
    st.caption(f"Estimated {estimated_at:%Y-%m-%d %H:%M:%S} UTC for the values on the left.")

missing_low, missing_high = float(scored[MISSING_RISK_LOW]), float(scored[MISSING_RISK_HIGH])
if lacks := missing_note(missing, missing_low, missing_high, low, high):
    st.info(lacks, icon=":material/help:")
if wide := wide_interval_note(low, high, missing_low, missing_high):
    st.warning(wide, icon=":material/error:")
if scored[ATYPICAL]:
    st.warning(atypical_note(float(scored[TYPICALITY]), scored[ATYPICAL_FEATURES]), icon=":material/warning:")
st.markdown(describe_risk(risk, tier, predictor.thresholds, predictor.average_risk, schema.target))
for feature in assessment.unusual_features(0, schema):
    st.warning(unusual_value_note(feature, patient[feature.name]), icon=":material/warning:")
with st.expander("How the range is made, and the values this estimate used"):
    st.markdown(interval_text(low, high, schema.target))
    st.markdown("\n".join(f"- {f.format_value(float('nan') if patient[f.name] is None else patient[f.name])}"
                          for f in schema.features))
st.subheader("Why: the drivers")
explanation = assessment.explained  # a scored patient is explained
st.plotly_chart(waterfall(explanation, 0, schema), key="patient_waterfall")
top = explanation.drivers(0, schema, 3)
st.caption("Top drivers: " + "; ".join(
    f"{r.shown_as} {'raised' if r.log_odds > 0 else 'lowered'} the risk" for r in top.itertuples())
    + f". The walk starts from a typical patient ({percent(explanation.base_risk)}: the model's average "
    f"log-odds over reference patients; the average *risk*, {percent(predictor.average_risk)}, is higher "
    "because a few patients carry very high risk). Bars add up in log-odds; the axis shows risk. They "
    "explain the model, not the cause.")

history = read_log(lambda log: log.history(patient_id), "Earlier estimates") if patient_id else None
if history is not None:
    audit("log_read", page="patient", what="patient_history", rows=len(history))
    if len(history) > 1:
        with st.expander(f"Earlier estimates for {patient_id} ({len(history) - 1})", icon=":material/history:"):
            st.plotly_chart(risk_history(history, predictor.thresholds), key="patient_history")

st.subheader("What could lower the risk")
st.caption("Changes to the factors a care plan can change, as the model scores them: associations it learned "
           "from data, not causal advice. **Try it** puts an option into the what-if beside it.")
version = st.session_state[Key.PATIENT_VERSION]
if st.session_state.get(Key.OPTIONS_FOR) != version:
    st.session_state[Key.OPTIONS] = predictor.suggest_changes(pd.DataFrame([patient]))
    st.session_state[Key.OPTIONS_FOR] = version
options = st.session_state[Key.OPTIONS]
ideas, what_if_column = st.columns([1, 1], gap="large")


def show_option(number: int, option: pd.Series) -> None:
    changes = "; ".join(change_text(schema.feature(name), estimated[name], option[name]) for name in option[CHANGED])
    text, button = st.columns([3, 1], vertical_alignment="center")
    text.markdown(f"**Option {number + 1}.** {changes}: risk **{percent(option[RISK])}** "
                  f"({percent(option[RISK_LOW])}–{percent(option[RISK_HIGH])})")
    button.button("Try it", key=f"option_{number}_{version}", on_click=fill_what_if,
                  args=({name: option[name] for name in option[CHANGED]},))


with ideas:
    if not len(options):
        st.info("No change to the factors a care plan can change lowers this patient's risk in the model.")
    else:
        typical, unusual = options[~options[ATYPICAL].astype(bool)], options[options[ATYPICAL].astype(bool)]
        target_text = ("each reaches below the patient's tier threshold" if options[BELOW_THRESHOLD].all() else
                       "some reach below the tier threshold" if options[BELOW_THRESHOLD].any() else
                       "none reaches a lower tier; these are the largest reductions")
        st.caption(f"Up to three options, each changing at most three factors ({target_text}).")
        for number, option in typical.iterrows():
            show_option(number, option)
        if not len(typical):
            st.info("Every option the model finds would make this patient unlike the patients it learned from.")
        if len(unusual):
            with st.expander(f"Options unlike the training patients ({len(unusual)}): the model has little "
                             "experience of patients with these values, so its risk for them is less certain"):
                for number, option in unusual.iterrows():
                    show_option(number, option)

with what_if_column:
    st.markdown("**What if…** (the factors a care plan can change)")
    compared = st.container()  # the risks first, where the eye is; the inputs that move them below
    changed = dict(patient)
    cells = st.columns(2)
    for i, feature in enumerate(schema.modifiable):
        with cells[i % 2]:
            first = st.session_state.get(Key.WHAT_IF_START, {}).get(feature.name, patient[feature.name])
            changed[feature.name] = feature_input(feature, what_if_key(feature, version), first)
    changed_assessment = predictor.assess(pd.DataFrame([{schema.id_column: patient_id, **changed}]))
    changed_scored = changed_assessment.rows.iloc[0]
    what_if = (version, tuple(sorted(changed.items(), key=lambda item: item[0])))
    if changed != patient and st.session_state.get(Key.LOGGED_WHAT_IF) != what_if:  # shown: logged, not as a prediction
        st.session_state[Key.LOGGED_WHAT_IF] = what_if
        log_rows(predictor, changed_assessment, Source.PATIENT_WHATIF)
    before, after = compared.columns(2)
    before.metric("As entered", percent(risk))
    before.markdown(TIER_BADGE[Tier(tier)])
    if str(changed_scored[TIER]) == Tier.NOT_SCORED:
        after.error(f"Not estimated: {changed_scored[PROBLEMS]}")
    else:
        delta = float(changed_scored[RISK]) - risk
        after.metric("What if", percent(float(changed_scored[RISK])), delta_color="inverse",
                     delta=f"{100 * delta:+.1f} percentage points" if abs(delta) >= 0.0005 else None)
        after.markdown(TIER_BADGE[Tier(changed_scored[TIER])])
if str(changed_scored[TIER]) != Tier.NOT_SCORED:
    st.plotly_chart(driver_comparison(explanation, changed_assessment.explained, schema), key="whatif_drivers")
