"""Twenty people at once against one running app: each must get its own, correct answer.

Each session loads its own patient's FHIR record into the Patient page and estimates the risk, and uploads its own
ward file on the Ward page, all at the same time, in separate browser contexts (separate Streamlit sessions). The
record fills the form in one rerun: typed field by field, each of twenty sessions would rerun the page fifteen
times, which on a busy machine took longer than any sensible wait. Then every
session's risk and downloaded ranking are checked against the Predictor: nothing crossed, no errors.
"""

import asyncio
import csv
import io

import pandas as pd
import pytest

from recovery_model.scoring.narrative import percent
from tests.conftest import DATA
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, running_app

pytestmark = pytest.mark.browser
SESSIONS = 20
TIMEOUT_MS = 180_000


def _patient(i: int, schema) -> dict:
    return schema.defaults() | {"age": 30 + 2 * i, "oxygen_level": 85.0 + 0.5 * i}


def _record(i: int, schema) -> bytes:
    """Session i's patient as a FHIR Bundle, measured an hour ago."""
    import json
    from datetime import UTC, datetime

    from recovery_model.readers.fhir.sample import to_bundle

    patient = pd.DataFrame([_patient(i, schema) | {"patient_id": f"S{i:02d}"}])
    return json.dumps(to_bundle(patient, schema, datetime.now(UTC))).encode()


def _ward(i: int) -> bytes:
    table = list(csv.reader(io.StringIO((DATA / "sample_ward.csv").read_text())))
    rows = [[f"{r[0]}-S{i:02d}", *r[1:]] for r in table[1 + i: 11 + i]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([table[0], *rows])
    return out.getvalue().encode()


async def _session(browser, url: str, i: int, schema, tmp_path) -> dict:
    context = await browser.new_context(viewport={"width": 1400, "height": 2000}, accept_downloads=True)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{url}/patient")
    await page.get_by_text("Load the patient from a FHIR record").click()
    await page.locator("input[type='file']").first.set_input_files(
        {"name": f"patient_{i}.json", "mimeType": "application/fhir+json", "buffer": _record(i, schema)})
    await page.get_by_role("button", name="Fill the form").click()
    await page.get_by_text(f"The form holds patient S{i:02d}").wait_for()
    await page.get_by_role("button", name="Estimate risk").click()
    metric = page.locator(".st-key-patient_result [data-testid='stMetricValue']").first
    await metric.wait_for()
    shown_risk = (await metric.inner_text()).strip()
    errors = await page.locator("[data-testid='stException']").count()

    await page.goto(f"{url}/ward")
    ward_file = tmp_path / f"ward_{i}.csv"
    ward_file.write_bytes(_ward(i))
    await page.locator("input[type='file']").first.set_input_files(str(ward_file))
    await page.get_by_text("Ranked by risk").wait_for()
    await page.get_by_text("What drives risk on this ward").wait_for()  # the page has finished its run
    await page.locator("[data-testid='stStatusWidget']").wait_for(state="detached")
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download the ranked list (CSV)").click()
    download = await download_info.value
    ranked_path = tmp_path / f"ranked_{i}.csv"
    await download.save_as(ranked_path)
    errors += await page.locator("[data-testid='stException']").count()
    await context.close()
    return {"risk": shown_risk, "ranked": pd.read_csv(ranked_path), "errors": errors}


async def _all_sessions(url: str, schema, tmp_path) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            return await asyncio.gather(*[_session(browser, url, i, schema, tmp_path) for i in range(SESSIONS)])
        finally:
            await browser.close()


def test_twenty_concurrent_sessions_get_their_own_answers(default_predictor, schema, tmp_path):
    with running_app(log_name="streamlit_concurrent.log") as url:
        results = asyncio.run(_all_sessions(url, schema, tmp_path))
    assert len(results) == SESSIONS
    for i, result in enumerate(results):
        assert result["errors"] == 0, f"session {i} saw an exception"
        expected_risk = default_predictor.predict_risk(pd.DataFrame([_patient(i, schema)]))["risk"].iloc[0]
        assert result["risk"] == percent(expected_risk), f"session {i} got another patient's risk"
        ward = pd.read_csv(io.BytesIO(_ward(i)))
        expected = default_predictor.rank(ward, explain=False).ranked
        assert list(result["ranked"]["patient_id"]) == list(expected["patient_id"]), f"session {i}: crossed ranking"
        assert result["ranked"]["patient_id"].str.endswith(f"-S{i:02d}").all()
