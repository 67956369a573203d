import pandas as pd
import streamlit as st

from recovery_model import DataValidationError
from recovery_model.access import Page, file_digest
from recovery_model.log.records import Source
from recovery_model.paths import SAMPLE_WARD
from recovery_model.readers.csv import to_safe_csv
from recovery_model.readers.table import read_upload
from recovery_model.scoring.columns import (
    ATYPICAL,
    ATYPICAL_FEATURES,
    FHIR_NOTES,
    FLAG_COLUMNS,
    IMPUTED,
    OLDEST_VALUE_TIME,
    OUTDATED,
    PROBLEMS,
    RANK,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    ROW,
    TIER,
    TYPICALITY,
    UNUSUAL,
    driver_columns,
    is_source_column,
    label,
    source_column,
)
from recovery_model.scoring.narrative import percent

from charts import importance_bar, risk_histogram, waterfall
from gate import audit
from loading import page_setup
from prediction_log import log_rows
from session import Key
from widgets import COMPACT_TOP, format_risk, risk_column

st.title("Ward")
st.caption("Upload a ward list to rank patients by risk and flag them against the monitoring slots you have.")
predictor = page_setup(Page.WARD)
schema = predictor.schema
st.html(COMPACT_TOP)

template = pd.DataFrame(columns=[schema.id_column, *schema.feature_names])
# No `type=` filter: a file of another kind is read and refused with a sentence that says what it is, rather than
# a red icon whose reason only a hover shows.
upload = st.file_uploader("Ward CSV or FHIR record", key="ward_upload",
                          help="CSV (.csv, .txt), Parquet (.parquet), or FHIR R4 (.json Bundle, .ndjson).")
needs, folder, sample = st.columns([1, 1, 1], vertical_alignment="center")
with needs.expander("What the file needs"):
    st.markdown(
        f"A CSV with a header row holding these {len(schema.features)} columns (any order): "
        + ", ".join(f"`{f.name}` ({f.unit or 'see help'})" for f in schema.features)
        + f". A `{schema.id_column}` column and any others (bed, ward, …) are passed through untouched. "
        f"Blank cells are filled with the training median and flagged (at most {predictor.missing_limit} per "
        "patient); impossible values reject the row with a message. Nothing is dropped silently. A "
        "`<feature>_time` column beside a value gives the time it was measured: one older than its shelf life "
        "is not recorded.\n\n"
        "Or a FHIR R4 record: a Bundle (`.json`) or NDJSON (`.ndjson`) of Patient, Observation, Encounter, "
        "Condition and QuestionnaireResponse resources, or a bulk export's folder of NDJSON files. Each value is "
        "the latest one recorded, and the table says which resource it came from.")
    st.download_button("Download an empty template", to_safe_csv(template), "ward_template.csv", "text/csv",
                       on_click="ignore")
with folder.expander("…or a FHIR bulk export's folder"):
    export = st.file_uploader("Choose its folder of NDJSON files", type=["ndjson"],
                              accept_multiple_files="directory", key="ward_export")
use_sample = sample.toggle("Use the sample ward (48 patients)", key="use_sample", value=False)
content: bytes | list[tuple[str, bytes]]
if upload is not None:
    content, name = upload.getvalue(), upload.name
elif export:
    content, name = [(part.name, part.getvalue()) for part in export], "the uploaded export"
elif use_sample:
    with open(SAMPLE_WARD, "rb") as handle:
        content, name = handle.read(), "sample_ward.csv"
else:
    st.info("Upload a ward CSV or a FHIR record, or switch on the sample ward to try the page.")
    st.stop()

cols = st.columns([1, 1, 1, 1, 1.4, 1.4])  # the counts and the two settings in one row: the ranking stays in view
slots = cols[4].number_input("Slots (flag the top K)", 0, 10_000, 5, step=1, key="slots",
                             help="Monitoring slots available: the K highest risks are flagged.")
threshold = cols[5].number_input("Flag risk ≥ (%)", 0.0, 100.0, round(100 * predictor.thresholds.high, 1),
                                 step=0.5, format="%.1f", key="threshold",
                                 help="Defaults to the model's high-risk threshold.") / 100

raw = content if isinstance(content, bytes) else b"".join(part.encode() + data for part, data in content)
digest = file_digest(raw)
audited = st.session_state.setdefault(Key.AUDITED_UPLOADS, set())
cached = st.session_state.get(Key.WARD_SCORED)
try:
    if cached is None or cached[0] != digest:  # score and explain once per file; inputs below only re-flag
        ward_file = read_upload(content, name, schema)
        ranked = predictor.rank(ward_file.frame)
        cached = (digest, ranked, predictor.check_drift(ranked), ward_file.notes)
        st.session_state[Key.WARD_SCORED] = cached
        log_rows(predictor, ranked.flagged(int(slots) or None, threshold), Source.WARD,  # wards from the rows
                 input_sha256=digest)
except DataValidationError as exc:
    if digest not in audited:
        audit("upload_ward", page="ward", outcome="refused", file_sha256=digest, file_bytes=len(raw))
        audited.add(digest)
    st.error(f"**This file cannot be used.** {exc}")
    st.stop()

ward = cached[1].flagged(int(slots) or None, threshold)
counts = ward.counts
if digest not in audited:
    audit("upload_ward", page="ward", outcome="scored", file_sha256=digest, file_bytes=len(raw), **counts)
    audited.add(digest)
cols[0].metric("Rows in the file", counts["rows"])
cols[1].metric("Scored", counts["scored"])
cols[2].metric("With flags", counts["flagged"], help="Scored, with unusual or imputed values: see the table.")
cols[3].metric("Rejected", counts["rejected"], help="Not scored: see the reasons below.")
if len(ward.rejected):
    st.error(f"**{len(ward.rejected)} of {counts['rows']} rows not scored:** the reasons are below the ranking.",
             icon=":material/block:")
if not len(ward.ranked):
    st.stop()

table = ward.table(schema)
st.markdown("#### Ranked by risk")
st.caption(f"Highest risk first. Top {int(slots)} flagged for the available slots; ⚑ marks risk ≥ "
           f"{percent(threshold)}. Tiers: high ≥ {percent(predictor.thresholds.high)}, moderate ≥ "
           f"{percent(predictor.thresholds.moderate)}.")
score_columns = [RANK, RISK, RISK_LOW, RISK_HIGH, TIER, *FLAG_COLUMNS, ATYPICAL, ATYPICAL_FEATURES, TYPICALITY,
                 *driver_columns(), UNUSUAL, IMPUTED, OUTDATED, OLDEST_VALUE_TIME, FHIR_NOTES]
passthrough = [c for c in table.columns if c not in score_columns and c not in schema.feature_names
               and not is_source_column(c, schema.feature_names)]
order = [RANK, *passthrough, *score_columns[1:]]
st.dataframe(table, hide_index=True, key="ranked_table", column_order=[c for c in order if c in table.columns],
             column_config={c: label(c) for c in order} | {
                 RANK: st.column_config.NumberColumn(label(RANK), width="small", pinned=True),
                 # who the row is stays on screen while the drivers are scrolled sideways
                 **{c: st.column_config.TextColumn(label(c), pinned=True) for c in (schema.id_column, "bed")
                    if c in table.columns},
                 RISK: risk_column(label(RISK)),
                 RISK_LOW: st.column_config.NumberColumn(label(RISK_LOW), format="percent"),
                 RISK_HIGH: st.column_config.NumberColumn(label(RISK_HIGH), format="percent"),
                 TYPICALITY: st.column_config.NumberColumn(label(TYPICALITY), format="%.3f"),
                 ATYPICAL: st.column_config.CheckboxColumn(label(ATYPICAL)),
                 **{c: st.column_config.CheckboxColumn(label(c)) for c in FLAG_COLUMNS}})
# Bytes, not a deferred callable, and no rerun on click: under 20 concurrent sessions Streamlit 1.67's
# clean-up deleted deferred files before the browser fetched them, and a rerun can orphan the file.
st.download_button("Download the ranked list (CSV)", to_safe_csv(table), f"ranked_ward_{digest[:8]}.csv",
                   "text/csv", type="primary", key="download_ranked", on_click="ignore")

for warning in ward.warnings:
    st.warning(warning)
if notes := cached[3]:
    with st.expander(f"Reading the FHIR record: {len(notes)} notes (values left blank, resources not read)"):
        st.markdown("\n".join(f"- {note}" for note in notes))
drift = cached[2]
(st.warning if drift.drifted else st.info)(f"**{'Unlike' if drift.drifted else 'Like'} the training data?** "
                                           f"{drift.summary}", icon=":material/compare_arrows:")
if drift.tested:
    with st.expander("How each feature compares with the training data"):
        st.dataframe(drift.features, key="drift_table", column_config={
            "statistic": st.column_config.NumberColumn(format="%.3f"),
            "corrected_p_value": st.column_config.NumberColumn("p (Holm-corrected)", format="%.4f"),
            "ward_mean": st.column_config.NumberColumn(format="%.2f"),
            "training_mean": st.column_config.NumberColumn(format="%.2f"),
            "ward_missing": st.column_config.NumberColumn("Not recorded (ward)", format="percent"),
            "training_missing": st.column_config.NumberColumn("Not recorded (training)", format="percent")})
        st.caption("Each feature's recorded values against the training patients who had it recorded "
                   "(Kolmogorov-Smirnov, Holm-corrected; where the ward records a value more often than training "
                   "did, the extra values may differ), with Hotelling's T² on the ward's mean for a joint shift. A "
                   "ward like the training patients raises this alarm at most about 5 % of the time, however "
                   "complete its records.")

if len(ward.rejected):
    st.subheader(f"Rejected rows ({len(ward.rejected)})")
    st.error("These patients were **not scored**. Fix the values below and upload again.")
    rejected = ward.rejected[[ROW, *[c for c in ward.rejected.columns if c == schema.id_column], PROBLEMS,
                              *[c for c in ward.rejected.columns if c == FHIR_NOTES]]]
    st.dataframe(rejected, hide_index=True, key="rejected_table",
                 column_config={c: label(c) for c in (ROW, PROBLEMS, FHIR_NOTES)})
    st.download_button("Download rejected rows", to_safe_csv(ward.rejected), "rejected_rows.csv", "text/csv",
                       on_click="ignore")

st.subheader("One patient's drivers")
labels = [f"#{r[RANK]} · {r.get(schema.id_column, 'row ' + str(r[RANK]))} · {format_risk(r[RISK])}"
          for _, r in table.iterrows()]
choice = st.selectbox("Patient", range(len(labels)), format_func=lambda i: labels[i], key="ward_patient")
st.plotly_chart(waterfall(ward.explained, choice, schema), key="ward_waterfall")
if source_column(schema.feature_names[0]) in table.columns:
    chosen = table.iloc[choice]
    st.caption("Where each value came from in the FHIR record")
    st.dataframe(pd.DataFrame({"Value": [f.format_value(chosen[f.name]) for f in schema.features],
                               "From": [chosen[source_column(f.name)] or "not in the record (imputed)"
                                        for f in schema.features]}), hide_index=True, key="ward_provenance")

st.subheader("The ward as a whole")
left, right = st.columns(2)
left.plotly_chart(risk_histogram(ward.ranked[RISK], threshold, schema), key="ward_histogram")
right.plotly_chart(importance_bar(ward.explained.importance(), schema, "What drives risk on this ward"),
                   key="ward_importance")
