"""What every page shares: the model, loaded once per process, and how it is shown when missing.

Pages that only describe the model (Home) read its summary, which needs no torch; pages that score
load the Predictor.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from recovery_model import RecoveryError
from recovery_model.access import OPEN_ACCESS, AuditLog, SignIn, TooManyAttempts, User, Users, pages_for
from recovery_model.narrative import percent
from recovery_model.paths import checkpoint_folder
from recovery_model.report import EvaluationReport
from recovery_model.schema import Feature
from recovery_model.summary import ModelSummary

if TYPE_CHECKING:
    from recovery_model.predictor import Predictor

TIER_BADGE = {"high": ":red-background[**HIGH RISK**]", "moderate": ":orange-background[**MODERATE RISK**]",
              "low": ":green-background[**LOW RISK**]"}
FIX_COMMAND = "make model        # or: .venv/bin/recovery train"


@st.cache_resource(show_spinner="Loading the model…")
def _load_predictor(folder: str) -> Predictor:
    from recovery_model.predictor import Predictor  # imports torch: only pages that score pay for it

    predictor = Predictor.load(folder)
    # Build the explainer off the request path: the first Patient submit then need not wait for it.
    threading.Thread(target=predictor.warm_up, daemon=True).start()
    return predictor


def predictor_or_stop() -> Predictor:
    """The loaded model, or a plain message with the command that fixes it (and the page stops).

    Loaded once per process and checkpoint folder ($RECOVERY_CHECKPOINT, else the committed default);
    a failed load is not cached, so fixing the checkpoint and reloading the page is enough.
    """
    try:
        return _load_predictor(str(checkpoint_folder()))
    except RecoveryError as exc:
        _no_model(exc)


@st.cache_resource(show_spinner=False)
def _read_summary(folder: str, written: float) -> ModelSummary:
    return ModelSummary.read(folder)


def summary_or_stop() -> ModelSummary:
    """What the checkpoint says about its model, without loading it (re-read when the checkpoint changes)."""
    folder = checkpoint_folder()
    try:
        written = (folder / "model.json").stat().st_mtime if (folder / "model.json").is_file() else 0.0
        return _read_summary(str(folder), written)
    except RecoveryError as exc:
        _no_model(exc)


def report_or_none(summary: ModelSummary) -> EvaluationReport | None:
    """The model's evaluation report; None (with a message saying how to write one) when it has none."""
    try:
        report = summary.report
    except RecoveryError as exc:
        st.warning(f"**The evaluation report cannot be shown.** {exc}")
        return None
    if report is None:
        st.info("No evaluation report next to this model. Run `.venv/bin/recovery evaluate` to write one.")
    return report


def _no_model(exc: Exception) -> None:
    st.error(f"**No model is loaded.** {exc}")
    st.markdown("Run this in the project folder, then reload the page:")
    st.code(FIX_COMMAND, language="bash")
    st.stop()


def field_label(feature: Feature) -> str:
    """'Systolic blood pressure, mmHg · typical 95–170': unit and typical range in the label itself."""
    unit = feature.display_unit
    label = f"{feature.label}, {unit}" if unit else feature.label
    return label if feature.is_binary or feature.levels else f"{label} · typical {feature.typical_range_text(False)}"


def feature_input(feature: Feature, value: float, key: str):
    """The widget for one feature, bounded by its hard limits so impossible values cannot be entered."""
    help_text = feature.help_text()
    if feature.is_binary:
        return st.radio(field_label(feature), [0, 1], index=int(value), key=key, horizontal=True, help=help_text,
                        format_func=lambda v: feature.levels.get(v, str(v)).capitalize())
    if feature.levels:
        return st.slider(field_label(feature), int(feature.valid_min), int(feature.valid_max), int(value), key=key,
                         help=help_text)
    if feature.is_integer:
        return st.number_input(field_label(feature), int(feature.valid_min), int(feature.valid_max), int(value),
                               step=1, key=key, help=help_text)
    step = 10.0 ** -feature.decimals if feature.decimals else 1.0
    return st.number_input(field_label(feature), float(feature.valid_min), float(feature.valid_max), float(value),
                           step=step, format=f"%.{feature.decimals}f", key=key, help=help_text)


def risk_column(label: str):
    return st.column_config.ProgressColumn(label, format="percent", min_value=0.0, max_value=1.0)


def format_risk(value: float) -> str:
    return percent(value) if pd.notna(value) else "—"


# ----- access -----------------------------------------------------------------------------------
USERS_SECTION = "recovery_users"


def configured_users() -> Users | None:
    """Accounts from .streamlit/secrets.toml ([recovery_users.NAME]); None runs the app open."""
    try:
        section = st.secrets.get(USERS_SECTION)
    except FileNotFoundError:
        return None
    return Users.from_secrets(section)


@st.cache_resource
def _sign_in_service(accounts: tuple) -> SignIn:
    """One per process, so slowing down repeated failures holds across sessions."""
    return SignIn(Users(dict(accounts)))


@st.cache_resource
def _audit_log(path: str | None) -> AuditLog:
    return AuditLog(path)


def audit(event: str, **details) -> None:
    """Record who did what; the caller passes counts and hashes only, never patient values."""
    user: User = st.session_state.get("user") or User("local", OPEN_ACCESS)
    _audit_log(os.environ.get("RECOVERY_AUDIT_LOG")).record(event, user=user.name, role=user.role, **details)


def current_user() -> User | None:
    """The signed-in user; in open mode a local user with every page; None before sign-in."""
    try:
        users = configured_users()
    except RecoveryError as exc:
        st.error(f"**Sign-in is misconfigured.** {exc}")
        st.stop()
    if users is None:
        return User("local", OPEN_ACCESS)
    return st.session_state.get("user")


def sign_in_page() -> None:
    """The only page anyone sees before signing in, whatever address they open."""
    users = configured_users()
    if users is not None:
        _sign_in_form(_sign_in_service(tuple(sorted(users.accounts.items()))))


def check_access(page: str) -> None:
    """Refuse a user whose role does not include this page (Home is everyone's)."""
    user = current_user()
    if user is None or (page != "home" and page not in pages_for(user.role)):
        st.error("You do not have access to this page.")
        st.stop()


def page_setup(page: str) -> Predictor:
    """A scoring page's first line: refuse a user whose role does not include it, then the model."""
    check_access(page)
    return predictor_or_stop()


def _sign_in_form(service: SignIn) -> None:
    st.title("Recovery risk")
    st.caption("Sign in to continue. Your role decides which pages you see.")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        user = service.attempt(name, password)
    except TooManyAttempts as exc:
        audit("sign_in", outcome="throttled", wait_seconds=round(exc.wait))
        st.error(str(exc))
        return
    if user is None:
        st.session_state.pop("user", None)
        _audit_log(os.environ.get("RECOVERY_AUDIT_LOG")).record("sign_in", user=name, outcome="failed")
        st.error("User name or password not recognised.")
        return
    st.session_state["user"] = user
    audit("sign_in", outcome="ok")
    st.rerun()


def access_banner(user: User) -> None:
    """Every page says how it is protected: open mode, or who is signed in (with sign-out)."""
    if user.role == OPEN_ACCESS:
        st.warning("**Open mode**: no sign-in is configured, so anyone who can reach this address can use the "
                   "app. Configure users before it sees real patients (README → Access).",
                   icon=":material/lock_open:")
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.replace('_', ' ')})")
        if st.button("Sign out", key="sign_out"):
            audit("sign_out")
            for key in list(st.session_state):
                del st.session_state[key]
            st.rerun()
