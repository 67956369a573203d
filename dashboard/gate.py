"""Who may see what: sign-in, the access banner, the per-page check and the audit trail."""

from __future__ import annotations

import os

import streamlit as st

from recovery_model import RecoveryError
from recovery_model.access import OPEN_ACCESS, AuditLog, SignIn, TooManyAttempts, User, Users, pages_for

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
                   "app. Configure sign-in before it sees real patients (docs: The dashboard → Sign-in and roles).",
                   icon=":material/lock_open:")
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.replace('_', ' ')})")
        if st.button("Sign out", key="sign_out"):
            audit("sign_out")
            for key in list(st.session_state):
                del st.session_state[key]
            st.rerun()
