"""Sign-in through a real OpenID Connect provider, in headless Chromium against the real app.

The provider is oidc-provider-mock (Authlib's server, on loopback) with predefined users and role claims;
Streamlit needs AUTHLIB_INSECURE_TRANSPORT=1 for plain http, which only these tests set.
"""

import json
import os
import secrets
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from recovery_model.access import verify_audit_log
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, free_port, keep_timings, running_app

pytestmark = pytest.mark.browser
INSECURE = {"AUTHLIB_INSECURE_TRANSPORT": "1"}
USERS = {  # subject: the claims the provider puts in the ID token
    "alice": {"name": "Alice Ng", "roles": ["clinician"]},
    "ann": {"name": "Ann Analyst", "roles": ["analyst", "finance"]},
    "wendy": {"name": "Wendy Ward", "roles": ["ward-staff"]},  # mapped to bed_manager by the settings
    "victor": {"name": "Victor Visitor", "roles": ["visitor"]},
    "mallory": {"name": "Mallory Misconfigured", "roles": "clinician"},  # a string, not a list
}


@pytest.fixture(scope="module")
def provider():
    import werkzeug.serving
    from oidc_provider_mock import User, app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
        users = [User(sub=sub, claims=claims) for sub, claims in USERS.items()]
        server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users), threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}"
        server.shutdown()


@contextmanager
def provider_app(provider: str, folder: Path, idle_minutes: float = 15):
    port = free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(f"""
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "{secrets.token_hex(32)}"
client_id = "recovery"
client_secret = "{secrets.token_hex(16)}"
server_metadata_url = "{provider}/.well-known/openid-configuration"

[recovery_roles]
claim = "roles"
map = {{ "ward-staff" = "bed_manager" }}

[recovery_session]
idle_minutes = {idle_minutes}
""")
    with running_app("--secrets.files", str(secrets_file), port=port, env=INSECURE,
                     log_name=f"streamlit_provider_{folder.name}.log") as url:
        yield url


@pytest.fixture(scope="module")
def app_url(provider, tmp_path_factory):
    with provider_app(provider, tmp_path_factory.mktemp("provider")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """A browser of its own per test: its own cookies, as a separate workstation would have."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture(scope="module")
def timings():
    yield from keep_timings("sign_in_timings.json")


def sign_in(page, url: str, subject: str) -> float:
    """Sign in at the provider as a predefined user; the seconds from the click on "Sign in" to the app's answer."""
    page.goto(url)
    page.get_by_role("button", name="Sign in", exact=True).click()
    started = time.perf_counter()
    page.get_by_role("button", name=subject, exact=True).click()  # the provider's page: one button per user
    page.locator("[data-testid='stSidebar'], [data-testid='stAlert']").first.wait_for()
    page.wait_for_url(f"{url}/**")
    return time.perf_counter() - started


def expect(locator):
    """Playwright's retrying assertion: a rerun removes the old page's elements a moment after the new ones show.
    It retries as long as an action may wait (not Playwright's 5 s): on a busy machine a rerun takes longer."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=TIMEOUT_MS)
    return playwright_expect(locator)


def nav(page) -> set[str]:
    page.get_by_text("Signed in as").wait_for()
    return {text.split("\n")[-1] for text in page.locator("[data-testid='stSidebarNav'] a").all_inner_texts()}


def audit_events() -> list[dict]:
    path = Path(os.environ["RECOVERY_AUDIT_LOG"])
    verify_audit_log(path)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_clinician_stays_signed_in_across_reloads_and_tabs_until_signing_out(app_url, context, timings):
    page = context.new_page()
    timings["sign_in_round_trip_s"] = sign_in(page, app_url, "alice")
    page.get_by_text("Signed in as Alice Ng").wait_for()
    assert nav(page) == {"Home", "Patient"}
    expect(page.get_by_text("Open mode")).to_have_count(0)

    started = time.perf_counter()
    page.reload()
    assert nav(page) == {"Home", "Patient"}
    timings["reload_kept_s"] = time.perf_counter() - started

    second = context.new_page()
    second.goto(f"{app_url}/patient")  # a typed address in another tab
    second.get_by_text("Signed in as Alice Ng").wait_for()
    second.get_by_role("heading", name="Patient").first.wait_for()

    sign_ins = [e for e in audit_events() if e["event"] == "sign_in" and e.get("subject") == "alice"]
    assert [(e["user"], e["role"], e["outcome"]) for e in sign_ins] == [("Alice Ng", "clinician", "ok")]

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's end_session_endpoint
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    # the other tab's session still holds the sign-in's claims: its next interaction must not use them
    second.locator("[data-testid='stSidebarNav'] a", has_text="Home").click()
    second.get_by_text("This sign-in was ended").wait_for()
    expect(second.get_by_text("Signed in as")).to_have_count(0)
    page.goto(f"{app_url}/patient")
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    expect(page.get_by_text("Signed in as")).to_have_count(0)
    assert audit_events()[-1]["event"] == "sign_out" and audit_events()[-1]["subject"] == "alice"


@pytest.mark.parametrize(("subject", "pages"), [("ann", {"Home", "Model", "Monitoring"}),
                                                 ("wendy", {"Home", "Ward"})])
def test_roles_come_from_the_claim_through_the_role_table(app_url, context, subject, pages):
    page = context.new_page()
    sign_in(page, app_url, subject)
    assert nav(page) == pages
    page.goto(f"{app_url}/patient")  # a typed address of a page the role does not hold
    page.get_by_text("Signed in as").wait_for()
    expect(page.get_by_role("heading", name="Patient")).to_have_count(0)


def test_a_user_without_a_known_role_sees_nothing_but_that(app_url, context):
    page = context.new_page()
    sign_in(page, app_url, "victor")
    page.get_by_text("has no role in this app").wait_for()
    expect(page.locator("[data-testid='stSidebarNav']")).to_have_count(0)
    page.goto(f"{app_url}/patient")
    page.get_by_text("has no role in this app").wait_for()
    expect(page.get_by_label("Age", exact=True)).to_have_count(0)
    assert any(e["event"] == "sign_in" and e.get("subject") == "victor" and e["outcome"] == "no_role"
               for e in audit_events())


def test_a_claim_that_is_not_a_list_is_named_on_the_page(app_url, context):
    page = context.new_page()
    sign_in(page, app_url, "mallory")
    page.get_by_text("Sign-in is misconfigured").wait_for()
    assert page.get_by_text("[recovery_roles] claim").count() == 1
    expect(page.locator("[data-testid='stException']")).to_have_count(0)
    expect(page.locator("[data-testid='stSidebarNav']")).to_have_count(0)


def _forged(value: str, change) -> str:
    """The signed cookie with its claims edited, signed again without the app's secret (as a forger must)."""
    from itsdangerous import URLSafeTimedSerializer

    forger = URLSafeTimedSerializer("a guess at the secret", salt="_streamlit_user")
    claims = json.loads(forger.loads_unsafe(value)[1])
    change(claims)
    return forger.dumps(json.dumps(claims))


def test_a_cookie_edited_by_hand_is_refused(app_url, context):
    page = context.new_page()
    sign_in(page, app_url, "alice")
    assert nav(page) == {"Home", "Patient"}
    cookie = next(c for c in context.cookies() if c["name"] == "_streamlit_user")
    forged = _forged(cookie["value"], lambda claims: claims.update(roles=["admin"], name="Mallory"))
    context.add_cookies([{**cookie, "value": forged}])
    page.reload()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    expect(page.get_by_text("Signed in as")).to_have_count(0)


def test_an_idle_sign_in_must_be_made_again(provider, context, tmp_path, timings):
    with provider_app(provider, tmp_path, idle_minutes=0.25) as url:  # 15 s: more than a slow sign-in's reruns take
        page = context.new_page()
        sign_in(page, url, "alice")
        assert nav(page) == {"Home", "Patient"}
        time.sleep(20)  # past the 15 s, and past any rerun the sign-in's page was still finishing
        page.locator("[data-testid='stSidebarNav'] a", has_text="Patient").click()
        page.get_by_text("signed out after 0.25 minutes without activity").wait_for()
        expect(page.get_by_text("Signed in as")).to_have_count(0)
        page.reload()  # the provider's cookie is still there, but the sign-in stays timed out
        page.get_by_text("signed out after 0.25 minutes without activity").wait_for()
        expect(page.get_by_text("Signed in as")).to_have_count(0)
        timeouts = [e for e in audit_events() if e["event"] == "time_out" and e.get("subject") == "alice"]
        assert len(timeouts) == 1 and timeouts[0]["idle_minutes"] == 0.25

        page.get_by_role("button", name="Sign in again").click()
        page.get_by_role("button", name="End session").click()
        sign_in(page, url, "alice")
        assert nav(page) == {"Home", "Patient"}
