"""The real app in headless Chromium: start `streamlit run`, use each page as a person would.

Screenshots and timings go to test-artifacts/ (not committed). Timings are recorded, never asserted:
speed targets live in benchmarks/.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from recovery_model.scoring.narrative import percent
from tests.conftest import DATA, ROOT
from tests.dashboard.patient_form import fill

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@contextmanager
def running_app(*options: str, log_name: str = "streamlit.log", port: int | None = None,
                env: dict[str, str] | None = None):
    """`streamlit run` on a local port (a free one unless given); yields its URL once /_stcore/health answers."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    port = port or free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / log_name, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.port",
             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", *options],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=20)


@pytest.fixture(scope="module")
def server():
    with running_app() as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # retrying assertions wait as long as actions: a busy machine is slower

    shots = ARTIFACTS / "screenshots"
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 2400}, accept_downloads=True)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        yield tab
        browser.close()


def keep_timings(file_name: str):
    """The dict a module's tests fill with timings, written to test-artifacts/ at its end: recorded, never asserted."""
    recorded: dict[str, float] = {}
    yield recorded
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / file_name).write_text(json.dumps(recorded, indent=1))


@pytest.fixture(scope="module")
def timings():
    yield from keep_timings("browser_timings.json")


AXE = ROOT / ".venv" / "node" / "node_modules" / "axe-core" / "axe.min.js"  # `make install-test` installs it
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def _accessible(page) -> None:
    """axe-core, the standard WCAG checker, finds no serious or critical WCAG 2.1 AA failure on the page as shown."""
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing: `make install-test` installs axe-core with npm")
        pytest.skip("axe-core is not installed (npm install --prefix .venv/node axe-core@4)")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => `${v.id}: ${v.help} (${v.nodes.length}): ${v.nodes[0].failureSummary}`)""", WCAG_AA)
    assert not violations, violations


def _shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / "screenshots" / f"{name}.png"), full_page=True)


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("Open mode").count() == 1  # no sign-in configured: every page says so


def test_home(page, server, default_predictor):
    page.goto(server)
    page.get_by_text("Where to go").wait_for()
    page.get_by_text("AUROC", exact=True).wait_for()
    _no_exception(page)
    _shot(page, "home")
    _accessible(page)


def _estimate(page) -> None:
    page.get_by_role("button", name="Estimate risk").click()


def test_patient_form_submit_shows_risk_and_waterfall(page, server, default_predictor, schema, timings):
    page.goto(f"{server}/patient")
    entered = schema.defaults() | {"oxygen_level": 86.0}
    fill(page, entered, schema)
    started = time.perf_counter()
    _estimate(page)
    page.get_by_text("Risk of not recovering", exact=True).wait_for()
    page.get_by_text("Why this risk:").first.wait_for()  # the waterfall itself
    timings["patient_submit_s"] = time.perf_counter() - started
    expected = default_predictor.predict_risk(pd.DataFrame([entered])).iloc[0]
    page.get_by_text(percent(expected["risk"]), exact=True).first.wait_for()
    page.get_by_text("SpO2 = 86.0%", exact=False).first.wait_for()
    page.get_by_text(f"between {percent(expected['risk_low'])} and {percent(expected['risk_high'])}",
                     exact=False).first.wait_for()
    page.get_by_text("What could lower the risk").wait_for()
    _no_exception(page)
    _shot(page, "patient")
    _accessible(page)


def test_a_fresh_form_holds_nothing_and_an_emptied_field_stays_not_recorded(page, server, schema):
    from playwright.sync_api import expect

    page.goto(f"{server}/patient")
    _estimate(page)
    page.get_by_text("15 of 15 features are missing").wait_for()  # nothing was filled in for anyone
    for box in page.get_by_role("spinbutton").all():
        expect(box).to_have_value("")
    assert page.get_by_role("radio", name="Not recorded", checked=True).count() == 2
    fill(page, schema.defaults(), schema)
    fill(page, {"bmi": None, "smoker": None}, schema)  # emptied again, by the clinician
    page.get_by_role("heading", name="Patient").click()  # the field loses focus: it must not snap back
    expect(page.get_by_role("spinbutton", name="Body-mass index")).to_have_value("")
    _estimate(page)
    page.get_by_text("Not recorded, and allowed for in the range: BMI, Smoker.", exact=False).wait_for()
    assert page.get_by_text("BMI = 26.0").count() == 0  # the default is never shown as the patient's
    _no_exception(page)


def test_impossible_values_are_listed_beside_the_button_and_no_risk_is_shown(page, server, schema):
    from playwright.sync_api import expect

    page.goto(f"{server}/patient")
    fill(page, schema.defaults(), schema)
    _estimate(page)
    page.get_by_text("Risk of not recovering", exact=True).wait_for()
    fill(page, {"oxygen_level": 860.0, "age": 250}, schema)
    _estimate(page)
    page.get_by_text("SpO2: 860 is outside the possible range 50–100%").wait_for()
    page.get_by_text("Age: 250 is outside the possible range 0–120 years").wait_for()
    # the refusal is drawn before the run ends; the earlier risk, faded meanwhile, is gone when it does
    expect(page.get_by_text("Risk of not recovering", exact=True)).to_have_count(0)
    _no_exception(page)
    _shot(page, "patient_refused")


def test_a_changed_field_marks_the_estimate_out_of_date(page, server, schema):
    page.goto(f"{server}/patient")
    fill(page, schema.defaults() | {"age": 84}, schema)
    _estimate(page)
    page.get_by_text("Risk of not recovering", exact=True).wait_for()
    fill(page, {"age": 85}, schema)
    page.get_by_text("Age from 84 years to 85 years", exact=False).wait_for()
    assert page.get_by_text("Risk of not recovering", exact=True).count() == 0
    _estimate(page)
    page.get_by_text("Risk of not recovering", exact=True).wait_for()
    assert page.get_by_text("Out of date").count() == 0


def test_the_risk_is_in_view_at_1280_by_720_after_estimating(page, server, schema):
    page.set_viewport_size({"width": 1280, "height": 720})
    try:
        page.goto(f"{server}/patient")
        fill(page, schema.defaults() | {"oxygen_level": 86.0}, schema)
        page.get_by_role("button", name="Estimate risk").scroll_into_view_if_needed()
        _estimate(page)
        risk = page.locator(".st-key-patient_result [data-testid='stMetric']").first
        risk.wait_for()
        page.wait_for_timeout(500)  # the page settles after its rerun
        box = risk.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, box
        assert page.locator(".st-key-patient_result").get_by_text("HIGH RISK").or_(
            page.locator(".st-key-patient_result").get_by_text("MODERATE RISK")).or_(
            page.locator(".st-key-patient_result").get_by_text("LOW RISK")).first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "screenshots" / "patient_1280x720.png"))
    finally:
        page.set_viewport_size({"width": 1400, "height": 2400})


def test_ward_upload_ranks_and_downloads(page, server, default_predictor, timings, tmp_path):
    page.goto(f"{server}/ward")
    page.get_by_text("Ward CSV or FHIR record", exact=True).wait_for()
    started = time.perf_counter()
    page.locator("input[type='file']").first.set_input_files(str(DATA / "sample_ward.csv"))
    page.get_by_text("Ranked by risk").wait_for()
    page.locator("[data-testid='stDataFrame'] >> visible=true").first.wait_for()
    timings["ward_upload_50_rows_s"] = time.perf_counter() - started
    page.get_by_text("What drives risk on this ward").wait_for()
    page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    _no_exception(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the ranked list (CSV)").click()
    path = tmp_path / "ranked.csv"
    download.value.save_as(path)
    ranked = pd.read_csv(path)
    expected = default_predictor.rank(pd.read_csv(DATA / "sample_ward.csv"), explain=False).ranked
    assert list(ranked["patient_id"]) == list(expected["patient_id"])
    assert ranked["risk"].is_monotonic_decreasing
    events = [json.loads(line) for line in Path(os.environ["RECOVERY_AUDIT_LOG"]).read_text().splitlines()]
    assert any(e["event"] == "upload_ward" and e.get("rows") == 48 and e.get("scored") == 48 for e in events)
    _shot(page, "ward")
    _accessible(page)


def test_a_fhir_record_fills_the_patient_form_and_ranks_a_ward(page, server, default_predictor):
    """The sample ward as a Bundle (its values measured an hour ago): the Patient form takes one patient's latest
    values, and the Ward page ranks them all and says where each value came from."""
    from datetime import UTC, datetime

    from playwright.sync_api import expect

    from recovery_model.readers.fhir.sample import to_bundle

    ward = pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).head(12)
    bundle = json.dumps(to_bundle(ward, default_predictor.schema, datetime.now(UTC))).encode()
    page.goto(f"{server}/patient")
    page.get_by_text("Load the patient from a FHIR record").click()
    page.locator("input[type='file']").first.set_input_files(
        {"name": "record.json", "mimeType": "application/fhir+json", "buffer": bundle})
    page.get_by_role("button", name="Fill the form").click()
    page.get_by_text(f"The form holds patient {ward['patient_id'][0]}").wait_for()
    expect(page.get_by_role("spinbutton", name="Age").first).to_have_value(str(ward["age"][0]))
    page.get_by_role("button", name="Estimate risk").click()
    expected = default_predictor.predict_risk(ward.head(1))["risk"].iloc[0]
    page.get_by_text(percent(expected), exact=True).first.wait_for()
    _no_exception(page)
    _shot(page, "patient_from_fhir")

    page.goto(f"{server}/ward")
    page.locator("input[type='file']").first.set_input_files(
        {"name": "ward.json", "mimeType": "application/fhir+json", "buffer": bundle})
    page.get_by_text("Ranked by risk").wait_for()
    page.get_by_text("Where each value came from in the FHIR record").wait_for()
    metrics = page.locator("[data-testid='stMetricValue']")
    expect(metrics.nth(0)).to_have_text("12")  # rows in the file (retried until the page has settled)
    expect(metrics.nth(1)).to_have_text("12")  # scored
    _no_exception(page)
    _shot(page, "ward_from_fhir")


def test_model_page(page, server):
    from playwright.sync_api import expect

    page.goto(f"{server}/model")
    page.get_by_text("ROC curve (out-of-fold)").wait_for()
    page.get_by_role("tab", name="Baselines").click()
    page.get_by_text("majority class is the original notebook", exact=False).wait_for()
    _no_exception(page)
    _shot(page, "model")
    _accessible(page)
    page.get_by_role("tab", name="Explanations").click()  # the committed model is additive: its shape functions
    page.get_by_text("Shape functions: the model itself").wait_for()
    page.get_by_text("How Age moves the risk of not recovering, read off the model").wait_for()
    page.get_by_label("Shape function of").click()
    page.keyboard.type("Body-mass")
    page.keyboard.press("Enter")
    page.get_by_text("How BMI moves the risk of not recovering, read off the model").wait_for()
    expect(page.get_by_text("Not recorded, the value counts as", exact=False)).to_be_visible()
    _no_exception(page)
    _shot(page, "model_shape_functions")
    _accessible(page)


def test_signed_in_roles_in_the_browser(page, tmp_path_factory):
    from recovery_model.access import hash_password

    secrets = tmp_path_factory.mktemp("secrets") / "secrets.toml"
    secrets.write_text(f'[recovery_users.bob]\npassword_hash = "{hash_password("bob-pw")}"\nrole = "bed_manager"\n')
    with running_app("--secrets.files", str(secrets), log_name="streamlit_signed_in.log") as url:
        page.goto(f"{url}/ward")  # a deep link before sign-in leads nowhere but the sign-in page
        page.get_by_text("Page not found").wait_for()
        page.get_by_role("button", name="Sign in").wait_for()
        assert page.get_by_text("Ward CSV or FHIR record").count() == 0 and page.get_by_text("Open mode").count() == 0
        _shot(page, "sign_in")
        page.keyboard.press("Escape")
        page.get_by_label("User name").fill("bob")
        page.get_by_label("Password", exact=True).fill("wrong")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("not recognised").wait_for()
        page.get_by_label("Password", exact=True).fill("bob-pw")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").wait_for()
        sidebar = page.locator("[data-testid='stSidebarNav']")
        assert sidebar.get_by_text("Ward").count() == 1 and sidebar.get_by_text("Patient").count() == 0
        assert page.get_by_text("Open mode").count() == 0
        _shot(page, "signed_in_bed_manager")
