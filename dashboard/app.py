"""Entry script: page set-up and routing, nothing else."""

import streamlit as st

st.set_page_config(page_title="Recovery risk", page_icon=":material/stethoscope:", layout="wide")
st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/patient.py", title="Patient", icon=":material/stethoscope:", url_path="patient"),
    st.Page("pages/ward.py", title="Ward", icon=":material/bed:", url_path="ward"),
    st.Page("pages/model.py", title="Model", icon=":material/monitoring:", url_path="model"),
]).run()
