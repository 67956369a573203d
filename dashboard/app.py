"""Entry script: the sign-in gate and routing by role, nothing else.

Navigation is always declared, so before sign-in every address leads to the sign-in page, and
pages live in views/ (not pages/) so that Streamlit never serves them by its own discovery.
"""

import streamlit as st

from recovery_model.access import NO_ROLE, Page, pages_for

from gate import access_banner, current_user, no_role_page, sign_in_page

st.set_page_config(page_title="Recovery risk", page_icon=":material/stethoscope:", layout="wide")
user = current_user()
if user is None:
    st.navigation([st.Page(sign_in_page, title="Sign in", icon=":material/login:", default=True)]).run()
    st.stop()
if user.role == NO_ROLE:
    st.navigation([st.Page(no_role_page, title="No access", icon=":material/block:", default=True)]).run()
    st.stop()
ROLE_PAGES = {
    Page.PATIENT: st.Page("views/patient.py", title="Patient", icon=":material/stethoscope:", url_path="patient"),
    Page.WARD: st.Page("views/ward.py", title="Ward", icon=":material/bed:", url_path="ward"),
    Page.MODEL: st.Page("views/model.py", title="Model", icon=":material/monitoring:", url_path="model"),
    Page.MONITORING: st.Page("views/monitoring.py", title="Monitoring", icon=":material/query_stats:",
                             url_path="monitoring"),
}
allowed = pages_for(user.role)
navigation = st.navigation([st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
                            *[page for name, page in ROLE_PAGES.items() if name in allowed]])
access_banner(user)
navigation.run()
