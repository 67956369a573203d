"""Entry script: routes to the pages, nothing else."""

import streamlit as st

st.set_page_config(page_title="Recovery risk", page_icon="🩺", layout="wide")
navigation = st.navigation([st.Page("pages/home.py", title="Home", icon="🏠", default=True)])
navigation.run()
