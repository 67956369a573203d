"""A running service (real uvicorn, two workers) follows the registry: a promotion and a rollback each reach every
worker without a restart, and a model changed since its registration leaves the one in use serving, said."""

import socket
import subprocess
import sys
import time

import httpx
import pandas as pd
import pytest
from sqlalchemy import select

from recovery_model.log.registry import ModelRegistry
from recovery_model.log.tables import predictions
from recovery_model.paths import DEFAULT_CHECKPOINT
from recovery_model.scoring.checkpoint import read_header
from tests.conftest import DATA, recalibrated
from tests.service.conftest import make_client
from tests.service.test_cds_hooks import auth

CHECK_S = 2
WITHIN_S = 60  # the promise; each worker asks every CHECK_S here (30 s by default)


@pytest.fixture
def service(empty_log, monkeypatch):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "recovery_model.cli", "serve", "--no-auth", "--port", str(port),
                               "--workers", "2", "--model-check-seconds", str(CHECK_S)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # start-up loads torch and the model in each worker: slow on a busy machine
        while server.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.25)
        yield url
    finally:
        server.terminate()
        server.communicate(timeout=30)


def every_worker_reports(url: str, digest: str) -> bool:
    """Twenty answers in a row name `digest` (two workers share the calls; each must have changed)."""
    deadline = time.monotonic() + WITHIN_S
    streak = 0
    while time.monotonic() < deadline and streak < 20:
        health = httpx.get(f"{url}/healthz", timeout=30).json()
        streak = streak + 1 if health["model_digest"] == digest else 0
        time.sleep(0.05)
    return streak >= 20


def test_promote_and_rollback_reach_every_worker_without_a_restart(service, empty_log, default_predictor, tmp_path):
    candidate = recalibrated(default_predictor, tmp_path / "candidate", 1.0)
    registry = ModelRegistry(empty_log)
    assert every_worker_reports(service, default_predictor.digest)
    registry.promote(candidate, DEFAULT_CHECKPOINT, "Dr Analyst", "O/E 2 since April")
    assert every_worker_reports(service, read_header(candidate).digest)
    assert httpx.get(f"{service}/v1/model", timeout=30).json()["version"] == "test+1.0"
    registry.rollback("Dr Lead", "back")
    assert every_worker_reports(service, default_predictor.digest)


def test_a_registered_model_changed_on_disk_is_not_used_and_is_said(service, empty_log, default_predictor, tmp_path):
    folder = recalibrated(default_predictor, tmp_path / "candidate", 1.0)
    ModelRegistry(empty_log).promote(folder, DEFAULT_CHECKPOINT, "Dr Analyst", "why")
    assert every_worker_reports(service, read_header(folder).digest)
    recalibrated(default_predictor, folder, 0.3)  # overwritten behind the registry's back
    deadline = time.monotonic() + WITHIN_S
    health = {}
    while time.monotonic() < deadline and "model_problem" not in health:
        health = httpx.get(f"{service}/healthz", timeout=30).json()
        time.sleep(0.2)
    assert "does not match its registration" in health["model_problem"]
    assert health["model_digest"] == ModelRegistry(empty_log).active().digest  # still the registered model


def test_the_service_logs_the_shadow_and_answers_with_the_model_in_use(tmp_path, signer, empty_log, candidates,
                                                                       default_predictor, monkeypatch):
    monkeypatch.delenv("RECOVERY_CHECKPOINT", raising=False)
    ModelRegistry(empty_log).shadow(candidates[1], "Dr Analyst", "watch it")
    rows = pd.read_csv(DATA / "sample_ward.csv").iloc[:3].to_dict(orient="records")
    with make_client(tmp_path, signer) as client:
        answer = client.post("/v1/score", json={"rows": rows}, headers=auth(signer, "/v1/score")).json()
    assert answer["model_digest"] == default_predictor.digest
    logged_rows = _logged(empty_log)
    assert sorted(logged_rows["source"]) == ["api"] * 3 + ["shadow"] * 3
    expected = default_predictor.predict_risk(pd.DataFrame(rows))["risk"].tolist()
    assert [r["risk"] for r in answer["results"]] == pytest.approx(expected)


def _logged(log) -> pd.DataFrame:
    return log.read_frame(select(predictions.c.source, predictions.c.risk))
