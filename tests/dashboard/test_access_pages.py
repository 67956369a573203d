"""Sign-in, roles, open mode, the audit trail and what stays on disk, through the real pages."""

import json
import os
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from recovery_model.access import hash_password, verify_audit_log
from recovery_model.schema import load_schema
from tests.bad_input_corpus import SIGN_IN_CORPUS
from tests.conftest import DATA, ROOT
from tests.dashboard.test_pages import APP, PAGES, estimate, fill

PASSWORDS = {"alice": ("clinician", "alice-pw"), "bob": ("bed_manager", "bob-pw"), "ann": ("analyst", "ann-pw"),
             "root": ("admin", "root-pw")}
ALLOWED = {"clinician": {"home", "patient"}, "bed_manager": {"home", "ward"},
           "analyst": {"home", "model", "monitoring"}, "admin": {"home", "patient", "ward", "model", "monitoring"}}


@pytest.fixture(scope="module")
def secrets():
    return {"recovery_users": {name: {"password_hash": hash_password(pw), "role": role}
                               for name, (role, pw) in PASSWORDS.items()}}


def configured_app(secrets) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=60)
    for key, value in secrets.items():
        app.secrets[key] = value
    return app.run()


def sign_in(app: AppTest, name: str, password: str) -> AppTest:
    app.text_input(key="sign_in_name").set_value(name)
    app.text_input(key="sign_in_password").set_value(password)
    return app.button[0].click().run()


def test_open_mode_says_so():
    # AppTest.switch_page runs the page alone; tests/dashboard/test_browser.py checks every page for real.
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert any("Open mode" in w.value for w in app.warning)


def test_nothing_shows_before_sign_in(secrets):
    app = configured_app(secrets)
    assert [t.label for t in app.text_input] == ["User name", "Password"]
    assert not app.metric and not app.dataframe and not app.get("plotly_chart")
    assert [t.value for t in app.title] == ["Recovery risk"] and not app.warning
    for page in PAGES:  # before sign-in the only page that exists is the sign-in page
        with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):
            app.switch_page(f"views/{page}.py")


def test_wrong_password_is_refused_and_audited(secrets, audit_log_outside_the_repo):
    app = sign_in(configured_app(secrets), "alice", "nope")
    assert "not recognised" in app.error[0].value
    assert "user" not in app.session_state
    last = json.loads(Path(os.environ["RECOVERY_AUDIT_LOG"]).read_text().splitlines()[-1])
    assert last["event"] == "sign_in" and last["outcome"] == "failed" and "nope" not in json.dumps(last)


def test_repeated_failures_are_slowed_down():
    # A user of its own: the slow-down is shared by all sessions of the process, as it must be.
    app = configured_app({"recovery_users": {"carol": {"password_hash": hash_password("carol-pw"),
                                                       "role": "clinician"}}})
    for _ in range(3):
        sign_in(app, "carol", "guess")
    sign_in(app, "carol", "carol-pw")
    assert "Too many failed sign-ins" in app.error[0].value
    assert "user" not in app.session_state


@pytest.mark.parametrize("name", list(PASSWORDS))
@pytest.mark.parametrize("page", PAGES)
def test_roles_decide_which_pages_a_user_sees(secrets, name, page):
    role, password = PASSWORDS[name]
    app = sign_in(configured_app(secrets), name, password)
    assert app.session_state["user"].role == role
    if page in ALLOWED[role]:
        app.switch_page(f"views/{page}.py").run()
        assert not app.exception and not app.error
    else:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page(f"views/{page}.py")


def _files_under(root: Path) -> dict[str, float]:
    skip = {".venv", ".git", ".pytest_cache", ".hypothesis", "test-artifacts", "__pycache__", ".ruff_cache"}
    return {str(p): p.stat().st_mtime for p in root.rglob("*")
            if p.is_file() and not skip.intersection(p.relative_to(root).parts)}


def test_a_scoring_session_leaves_no_patient_data_behind(secrets, tmp_path):
    ward = (DATA / "sample_ward.csv").read_text().replace("P834703", "ZZSECRET01").replace("Ward 7B", "ZZWARD")
    before = _files_under(ROOT)
    app = sign_in(configured_app(secrets), "root", "root-pw")
    app.switch_page("views/patient.py").run()
    estimate(fill(app, load_schema().defaults() | {"bmi": 33.3, "heart_rate": 113.7}))
    assert app.metric
    app.switch_page("views/ward.py").run()
    app.file_uploader[0].upload("ward.csv", ward.encode(), "text/csv").run()
    assert not app.exception and len(app.dataframe) >= 1
    assert _files_under(ROOT) == before, "the session wrote files into the project"
    log = Path(os.environ["RECOVERY_AUDIT_LOG"])
    text = log.read_text()
    for secret in ("ZZSECRET01", "ZZWARD", "33.3", "113.7", "Bed "):  # decimals: a hex digest has no "."
        assert secret not in text
    events = [json.loads(line) for line in text.splitlines()]
    upload = [e for e in events if e["event"] == "upload_ward"][-1]
    assert upload["user"] == "root" and upload["rows"] == 48 and len(upload["file_sha256"]) == 64
    assert any(e["event"] == "score_patient" and e["user"] == "root" for e in events)
    assert verify_audit_log(log) == len(events)


@pytest.mark.parametrize(("name", "settings", "says"), SIGN_IN_CORPUS, ids=[case[0] for case in SIGN_IN_CORPUS])
def test_misconfigured_sign_in_is_named_on_the_page(name, settings, says):
    app = configured_app(settings)
    assert not app.exception
    assert any("Sign-in is misconfigured" in e.value and says in e.value for e in app.error), \
        [e.value for e in app.error]
    assert not app.button or all(b.label != "Sign in" for b in app.button)


def test_a_throttled_sign_in_names_the_user_that_was_tried():
    app = configured_app({"recovery_users": {"dora": {"password_hash": hash_password("dora-pw"),
                                                      "role": "clinician"}}})
    for _ in range(4):
        sign_in(app, "dora", "guess")
    events = [json.loads(line) for line in Path(os.environ["RECOVERY_AUDIT_LOG"]).read_text().splitlines()]
    mine = [(e["outcome"], e["user"]) for e in events if e["event"] == "sign_in" and e["user"] == "dora"]
    assert mine[:3] == [("failed", "dora")] * 3 and mine[3] == ("throttled", "dora")


def test_a_local_sign_in_times_out_after_the_idle_minutes(monkeypatch):
    """The idle clock is moved, not waited for: however slow the machine, the interaction within the minute keeps
    the sign-in and the one after it does not."""
    from recovery_model.access import idle

    app = configured_app({"recovery_users": {"eve": {"password_hash": hash_password("eve-pw"), "role": "clinician"}},
                          "recovery_session": {"idle_minutes": 1}})
    sign_in(app, "eve", "eve-pw")
    assert app.session_state["user"].name == "eve"
    app.run()
    assert "user" in app.session_state  # an interaction within the time keeps the sign-in
    later = time.time() + 61
    monkeypatch.setattr(idle, "wall_clock", lambda: later)
    app.run()
    assert "user" not in app.session_state
    assert any("signed out after 1 minute without activity" in w.value for w in app.warning)
    assert [t.label for t in app.text_input] == ["User name", "Password"]
    last = json.loads(Path(os.environ["RECOVERY_AUDIT_LOG"]).read_text().splitlines()[-1])
    assert (last["event"], last["user"], last["idle_minutes"]) == ("time_out", "eve", 1)
    sign_in(app, "eve", "eve-pw")  # signing in again starts a new sign-in, with its own clock
    assert app.session_state["user"].name == "eve"
    assert not any("signed out" in w.value for w in app.warning)


def test_a_secrets_file_that_cannot_be_read_stops_the_app_rather_than_opening_it(tmp_path):
    from streamlit import config

    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth]\nredirect_uri = "https://h.org/oauth2callback"\ncookie_secret = "unclosed\n')
    before = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    try:
        app = AppTest.from_file(APP, default_timeout=60).run()
    finally:
        config.set_option("secrets.files", before)
    assert not app.exception and not any("Open mode" in w.value for w in app.warning)
    assert any(f"{broken} cannot be read" in e.value for e in app.error)
