"""A running dashboard follows the registry: a promotion and a rollback each reach its pages within a minute,
without a restart (real `streamlit run`, Chromium)."""

import time

from recovery_model.log.registry import ModelRegistry
from recovery_model.paths import DEFAULT_CHECKPOINT
from recovery_model.scoring.checkpoint import read_header
from tests.conftest import recalibrated
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, running_app

WITHIN_S = 60


def shows_in_use(page, url: str, digest: str) -> bool:
    """The Model page names `digest` as the model in use within a minute, reloaded as a person would."""
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        page.goto(f"{url}/model")
        caption = page.get_by_text("In use:").first
        caption.wait_for()
        if digest[:12] in caption.inner_text():
            return True
        page.wait_for_timeout(2000)
    return False


def test_promote_and_rollback_reach_the_dashboard_without_a_restart(empty_log, default_predictor, tmp_path,
                                                                    monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    candidate = recalibrated(default_predictor, tmp_path / "candidate", 1.0)
    registry = ModelRegistry(empty_log)
    with running_app(log_name="streamlit_model_in_use.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(TIMEOUT_MS)
        assert shows_in_use(page, url, default_predictor.digest)
        registry.promote(candidate, DEFAULT_CHECKPOINT, "Dr Analyst", "O/E 2 since April")
        assert shows_in_use(page, url, read_header(candidate).digest)
        page.get_by_text("Changes of the model in use (1;").wait_for()
        registry.rollback("Dr Lead", "back")
        assert shows_in_use(page, url, default_predictor.digest)
        browser.close()
