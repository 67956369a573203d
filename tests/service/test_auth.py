"""The EHR's token: every forgery and mistake in the corpus gets a bare 401, its reason logged, the token never."""

import json
import logging

import pytest

from tests.bad_input_corpus import TOKEN_CORPUS
from tests.service.conftest import BASE, hook_call, make_client, prefetch_for, sample_bundle

SERVICE = "/cds-services/recovery-risk"


def test_the_token_corpus_covers_each_kind():
    assert len(TOKEN_CORPUS) >= 12


@pytest.mark.parametrize(("name", "make"), TOKEN_CORPUS, ids=[c[0] for c in TOKEN_CORPUS])
def test_a_bad_token_is_a_bare_401(name, make, client, signer, caplog):
    header = make(signer, BASE + SERVICE)
    with caplog.at_level(logging.WARNING, logger="recovery.service"):
        answer = client.post(SERVICE, json=hook_call("P1", None),
                             headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.json() == {"detail": "Unauthorized"}
    assert any("refused POST" in r.getMessage() for r in caplog.records)
    if header:
        assert header.split(" ", 1)[1] not in caplog.text


def test_a_replayed_token_is_refused(client, signer):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    header = {"Authorization": f"Bearer {signer.token(BASE + SERVICE)}"}
    body = hook_call(patient, prefetch_for(bundle, patient))
    assert client.post(SERVICE, json=body, headers=header).status_code == 200
    assert client.post(SERVICE, json=body, headers=header).status_code == 401


def test_both_algorithms_are_accepted_and_the_audience_is_the_public_url(tmp_path, signer, empty_log):
    public = "https://cds.hospital.org/recovery"
    with make_client(tmp_path, signer, public_url=public) as client:
        for kid in ("ec-1", "rsa-1"):
            token = signer.token(public + "/v1/model", kid=kid)
            assert client.get("/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wrong = signer.token(BASE + "/v1/model")
        assert client.get("/v1/model", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401


def test_a_configured_tenant_must_match(tmp_path, signer, empty_log):
    from recovery_model.service.settings import Issuer

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    with make_client(tmp_path, signer, issuers=(Issuer("https://ehr.example.org", str(jwks), "north"),)) as client:
        for tenant, status in (("north", 200), ("south", 401), (None, 401)):
            token = signer.token(BASE + "/v1/model", tenant=tenant)
            assert client.get("/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code == status


def test_discovery_and_health_are_open_and_the_rest_is_not(client):
    assert client.get("/cds-services").status_code == 200 and client.get("/healthz").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/v1/model").status_code == 401
    assert client.post("/v1/score", json={"rows": []}).status_code == 401
    assert client.post(SERVICE + "/feedback", json={"feedback": []}).status_code == 401


def test_a_jwks_url_is_fetched_cached_and_fetched_again_for_a_new_key(tmp_path, signer, empty_log):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography.hazmat.primitives.asymmetric import ec

    from recovery_model.service.settings import Issuer
    from tests.service.conftest import ISSUER, Signer

    rotated = Signer()
    served = {"jwks": signer.jwks(), "fetches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            served["fetches"] += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(served["jwks"]).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/jwks.json"
    try:
        with make_client(tmp_path, signer, issuers=(Issuer(ISSUER, url),)) as client:
            def status(token: str) -> int:
                return client.get("/v1/model", headers={"Authorization": f"Bearer {token}"}).status_code

            assert status(signer.token(BASE + "/v1/model")) == 200
            assert status(signer.token(BASE + "/v1/model")) == 200 and served["fetches"] == 1  # cached
            rotated.keys = {"ec-2": ("ES384", ec.generate_private_key(ec.SECP384R1()))}
            served["jwks"] = {"keys": signer.jwks()["keys"] + rotated.jwks()["keys"]}
            assert status(rotated.token(BASE + "/v1/model", kid="ec-2")) == 200 and served["fetches"] == 2
    finally:
        server.shutdown()


def test_the_replay_cache_is_the_database_s_and_works_on_both(log, tmp_path, signer):
    """Every worker shares it: a token seen by one verifier (one worker) is refused by another."""
    from recovery_model.errors import Refused
    from recovery_model.service.auth import TokenVerifier
    from recovery_model.service.settings import Issuer
    from tests.service.conftest import ISSUER

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    first, second = (TokenVerifier((Issuer(ISSUER, str(jwks)),), log) for _ in range(2))
    token = f"Bearer {signer.token(BASE + SERVICE)}"
    assert first.verify(token, BASE + SERVICE).issuer == ISSUER
    with pytest.raises(Refused, match="a replay"):
        second.verify(token, BASE + SERVICE)
    assert second.verify(f"Bearer {signer.token(BASE + SERVICE)}", BASE + SERVICE).issuer == ISSUER
