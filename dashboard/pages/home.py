import streamlit as st

from recovery_model.schema import load_schema

st.title("Recovery risk")
st.info("The model and its pages are being built. This page lists the patient schema the tool reads.")
schema = load_schema()
st.dataframe([{"feature": f.label, "unit": f.unit, "typical range": f.typical_range_text(),
               "group": f.group} for f in schema.features], hide_index=True)
