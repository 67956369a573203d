"""Who may see what: sign-in, the access banner, the per-page check, the idle time-out and the audit trail.

Three modes, chosen by .streamlit/secrets.toml: the hospital's identity provider when [auth] is there
(`st.login`; the signed cookie keeps the user across reloads and tabs), local accounts when only
[recovery_users] is (the sign-in lives in the browser tab's session), and open mode when neither is.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlparse

import streamlit as st
from streamlit import config as st_config

from recovery_model import RecoveryError
from recovery_model.access import (
    NO_ROLE,
    OPEN_ACCESS,
    AccessConfigError,
    Activity,
    AuditLog,
    IdleClock,
    RoleClaim,
    SignIn,
    TooManyAttempts,
    User,
    Users,
    check_provider_settings,
    issued_at,
    login_key,
    pages_for,
    provider_metadata,
    role_label,
    session_settings,
    user_from_claims,
)
from recovery_model.access.idle import SESSION_SECTION, beyond_max_age
from recovery_model.access.oidc import AUTH_SECTION, ROLES_SECTION
from recovery_model.access.passwords import USERS_SECTION
from recovery_model.access.roles import ROLE_SEPARATOR, ROLES
from recovery_model.settings import environment

from session import Key


class Mode(StrEnum):
    PROVIDER = "provider"
    LOCAL = "local"
    OPEN = "open"


def _secret(section: str) -> Any:
    """A section of secrets.toml; None when there is no secrets file. A file that exists but cannot be read is an
    error, never open mode (Streamlit raises the same FileNotFoundError subclass for both)."""
    try:
        return st.secrets.get(section)
    except FileNotFoundError as exc:
        present = [path for path in st_config.get_option("secrets.files") if Path(path).is_file()]
        if present:
            raise AccessConfigError(f"{present[0]} cannot be read ({exc}); fix it: until then nobody can sign "
                                    "in.") from None
        return None


def sign_in_mode() -> Mode:
    if _secret(AUTH_SECTION):
        return Mode.PROVIDER
    return Mode.LOCAL if _secret(USERS_SECTION) else Mode.OPEN


@st.cache_resource
def _sign_in_service(accounts: tuple) -> SignIn:
    """One per process, so slowing down repeated failures holds across sessions."""
    return SignIn(Users(dict(accounts)))


@st.cache_resource
def _audit_log(path: Path | None) -> AuditLog:
    return AuditLog(path)


@st.cache_resource
def _idle_clock() -> IdleClock:
    """One per process: a reload or a second tab is a new session, but the same sign-in."""
    return IdleClock()


@st.cache_data(ttl=30, show_spinner=False)
def _metadata(url: str) -> dict:
    return provider_metadata(url)


def audit(event: str, user: User | None = None, **details) -> None:
    """Record who did what; the caller passes counts and hashes only, never patient values."""
    user = user or st.session_state.get(Key.USER) or User("local", OPEN_ACCESS)
    subject = {"subject": user.subject} if user.subject else {}
    _audit_log(environment().audit_log).record(event, user=user.name, role=user.role, **subject,
                                                             **details)


def _misconfigured(exc: RecoveryError) -> NoReturn:
    st.error(f"**Sign-in is misconfigured.** {exc}", icon=":material/error:")
    st.stop()


def current_user() -> User | None:
    """The signed-in user (open mode: a local user with every page); None before sign-in or after the time-out."""
    try:
        mode = sign_in_mode()
        if mode is Mode.OPEN:
            return User("local", OPEN_ACCESS)
        minutes, max_hours = session_settings(_secret(SESSION_SECTION))
        if mode is Mode.PROVIDER:
            check_provider_settings(_secret(AUTH_SECTION))
            user, key, issued = _provider_user(RoleClaim.from_secrets(_secret(ROLES_SECTION)), minutes)
        else:
            Users.from_secrets(_secret(USERS_SECTION))
            user, key, issued = st.session_state.get(Key.USER), st.session_state.get(Key.LOGIN_KEY, ""), None
    except RecoveryError as exc:
        _misconfigured(exc)
    if user is not None and not _still_active(user, key, mode, minutes, issued, max_hours):
        user = None
    if user is None:
        st.session_state.pop(Key.USER, None)
    else:
        st.session_state[Key.USER] = user  # what the audit and the prediction log name
    return user


def _provider_user(role_claim: RoleClaim, minutes: float) -> tuple[User | None, str, float | None]:
    """The provider's signed-in user, the sign-in's key and when it was made; a sign-in whose claims cannot be
    used is refused on the page (audited once), with only a way to sign out."""
    if not st.user.get("is_logged_in", False):
        return None, "", None
    claims = st.user.to_dict()
    key = login_key(claims)
    try:
        return user_from_claims(claims, role_claim), key, issued_at(claims)
    except RecoveryError as exc:
        refused = User(str(claims.get("name") or claims.get("sub")), NO_ROLE, str(claims.get("sub", "")))
        if _idle_clock().touch(key, minutes) is Activity.NEW:
            audit("sign_in", refused, outcome="refused")
        st.error(f"**Sign-in is misconfigured.** {exc}", icon=":material/error:")
        _sign_out_button(Mode.PROVIDER, key, refused)
        st.stop()


def _still_active(user: User, key: str, mode: Mode, minutes: float, issued: float | None, max_hours: float) -> bool:
    """Touch the sign-in's idle clock; audit a provider's sign-in when first seen, and the time-out once."""
    activity = _idle_clock().touch(key, minutes, issued, max_hours if mode is Mode.PROVIDER else None)
    if activity is Activity.NEW and mode is Mode.PROVIDER:
        audit("sign_in", user, outcome="ok" if user.role != NO_ROLE else "no_role")
    if activity in (Activity.NEW, Activity.ACTIVE):
        return True
    if activity is Activity.ENDED:
        st.session_state[Key.SIGNED_OUT_ELSEWHERE] = True
        return False
    too_old = beyond_max_age(issued, max_hours)
    if activity is Activity.TIMED_OUT:
        audit("time_out", user, **({"what": "max_hours"} if too_old else {"idle_minutes": minutes}))
    st.session_state[Key.TIMED_OUT] = key
    st.session_state[Key.TIMED_OUT_MESSAGE] = (
        f"Your sign-in is more than {max_hours:g} hours old: sign in again." if too_old else
        f"You were signed out after {minutes:g} minute{'' if minutes == 1 else 's'} without activity.")
    if mode is Mode.LOCAL:
        st.session_state.pop(Key.LOGIN_KEY, None)
    return False


def sign_in_page() -> None:
    """The only page anyone sees before signing in, whatever address they open."""
    st.title("Recovery risk")
    if st.session_state.get(Key.TIMED_OUT):
        st.warning(st.session_state[Key.TIMED_OUT_MESSAGE], icon=":material/timer_off:")
    elif st.session_state.get(Key.SIGNED_OUT_ELSEWHERE):
        st.info("This sign-in was ended (signed out in another tab). Sign in again to continue.",
                icon=":material/logout:")
    if sign_in_mode() is Mode.PROVIDER:
        _provider_sign_in()
    elif sign_in_mode() is Mode.LOCAL:
        users = Users.from_secrets(_secret(USERS_SECTION))
        if users is None:
            _misconfigured(AccessConfigError(f"[{USERS_SECTION}] in secrets.toml names no user."))
        _sign_in_form(_sign_in_service(tuple(sorted(users.accounts.items()))))


def _provider_sign_in() -> None:
    try:
        issuer = _metadata(check_provider_settings(_secret(AUTH_SECTION))).get("issuer", "")
    except RecoveryError as exc:
        _misconfigured(exc)
    if st.session_state.get(Key.TIMED_OUT):
        # The provider's cookie is still in the browser: end it (and the provider's session) before a new sign-in.
        st.caption("Sign in again to continue; this first ends the earlier sign-in.")
        if st.button("Sign in again", type="primary", key="sign_in_again"):
            st.logout()
        return
    st.caption(f"Sign in with your hospital account ({urlparse(issuer).netloc or issuer}). "
               "Your role decides which pages you see.")
    if st.button("Sign in", type="primary", key="sign_in"):
        st.login()


def no_role_page() -> None:
    """A signed-in user whose directory entry grants none of our roles sees this and nothing else."""
    user: User = st.session_state[Key.USER]
    st.title("Recovery risk")
    st.warning(f"You are signed in as **{user.name}**, but your account has no role in this app, so there is "
               f"nothing to show. Ask your administrator to grant you one ({role_label(ROLE_SEPARATOR.join(ROLES))}).",
               icon=":material/block:")
    _sign_out_button(sign_in_mode(), _login_key(), user)


def check_access(page: str) -> None:
    """Refuse a user whose role does not include this page (Home is everyone's with a role); audited."""
    user = current_user()
    if user is None or user.role == NO_ROLE or (page != "home" and page not in pages_for(user.role)):
        if user is not None:
            audit("refused", user, page=page)
        st.error("You do not have access to this page.")
        st.stop()


def _sign_in_form(service: SignIn) -> None:
    st.caption("Sign in to continue. Your role decides which pages you see.")
    with st.form("sign_in"):
        name = st.text_input("User name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    tried = User(name, "")
    try:
        user = service.attempt(name, password)
    except TooManyAttempts as exc:
        audit("sign_in", tried, outcome="throttled", wait_seconds=round(exc.wait))
        st.error(str(exc))
        return
    if user is None:
        st.session_state.pop(Key.USER, None)
        audit("sign_in", tried, outcome="failed")
        st.error("User name or password not recognised.")
        return
    st.session_state[Key.USER] = user
    st.session_state[Key.LOGIN_KEY] = f"local|{uuid.uuid4()}"
    st.session_state.pop(Key.TIMED_OUT, None)
    audit("sign_in", user, outcome="ok")
    st.rerun()


def access_banner(user: User) -> None:
    """Every page says how it is protected: open mode, or who is signed in (with sign-out)."""
    if user.role == OPEN_ACCESS:
        st.warning("**Open mode**: no sign-in is configured, so anyone who can reach this address can use the "
                   "app. Configure sign-in before it sees real patients (docs: The dashboard → Sign-in and roles).",
                   icon=":material/lock_open:")
        return
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({role_label(user.role)})")
        _sign_out_button(sign_in_mode(), _login_key(), user)


def _login_key() -> str:
    if sign_in_mode() is Mode.PROVIDER:
        return login_key(st.user.to_dict())
    return st.session_state.get(Key.LOGIN_KEY, "")


def _sign_out_button(mode: Mode, key: str, user: User) -> None:
    """Sign out: this sign-in ends in every tab that holds it, and (provider) at the provider too."""
    if not st.button("Sign out", key="sign_out"):
        return
    audit("sign_out", user)
    _idle_clock().end(key)
    for name in list(st.session_state):
        del st.session_state[name]
    if mode is Mode.PROVIDER:
        st.logout()  # clears the cookie, and ends the provider's session where it offers end_session_endpoint
    else:
        st.rerun()
