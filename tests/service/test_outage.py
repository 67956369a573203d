"""Through an outage of the log's database the service answers every call, shows each card with what became of
its prediction, still refuses a replayed token, and writes every prediction once the database is back."""

import os

import pytest

from tests.log.postgres_server import PrivateServer
from tests.service.conftest import BASE, hook_call, make_client, prefetch_for, sample_bundle

SERVICE = "/cds-services/recovery-risk"


@pytest.fixture
def server():
    private = PrivateServer()
    yield private
    private.remove()


def test_the_service_answers_through_an_outage_and_logs_every_card(server, default_predictor, tmp_path, monkeypatch,
                                                                   signer):
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog

    upgrade(server.url)
    monkeypatch.setenv("RECOVERY_DATABASE_URL", server.url)
    monkeypatch.setenv("RECOVERY_SPOOL_DIR", str(tmp_path / "spool"))
    bundle = sample_bundle(3)
    patients = [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    details = []
    with make_client(tmp_path, signer) as client:
        for call in range(24):
            if call == 8:
                server.stop()
            if call == 16:
                server.start()
            patient = patients[call % 3]
            body = hook_call(patient, prefetch_for(bundle, patient), encounter=None)
            token = {"Authorization": f"Bearer {signer.token(BASE + SERVICE)}"}
            answer = client.post(SERVICE, json=body, headers=token)
            assert answer.status_code == 200, answer.text
            details.append(" ".join(card["detail"] for card in answer.json()["cards"]))
            if call == 10:
                assert client.post(SERVICE, json=body, headers=token).status_code == 401  # a replay, still
                assert client.get("/healthz").json()["kept"] == 3
        assert "kept" not in client.get("/healthz").json()
    assert all("Logged on this server for now" in detail for detail in details[8:16])
    assert not any("Logged on this server" in detail or "Not logged" in detail for detail in details[:8])
    assert PredictionLog.open(server.url).count() == 24
    assert os.listdir(tmp_path / "spool") and not list((tmp_path / "spool").rglob("*.json"))
