"""Prefetch keys the EHR left out, fetched from its FHIR server (a real HTTP server on loopback).

Each test sets the budget it needs, so a busy machine cannot change its outcome: a record that must arrive gets
a minute; a server that must be too slow holds its answer until the test ends, far past a short budget.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from recovery_model.service.cards import EXTENSION_KEY
from tests.service.conftest import BASE, hook_call, make_client, prefetch_for, sample_bundle

SERVICE = "/cds-services/recovery-risk"
AMPLE_BUDGET_S = 60.0  # the record must arrive: however busy the machine, it does well within this
SHORT_BUDGET_S = 0.5  # the record must not arrive: the slow server answers only when the test is over


class FhirServer:
    """Answers Patient/{id} and the service's searches from a Bundle; pages searches two entries at a time.

    A `stalled` server holds every answer until it is closed.
    """

    def __init__(self, bundle: dict, stalled: bool = False) -> None:
        self.bundle, self.stalled, self.seen = bundle, stalled, []
        self.closed = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                owner.seen.append((self.path, self.headers.get("Authorization")))
                if owner.stalled:
                    owner.closed.wait()
                body = owner.answer(self.path)
                try:
                    self.send_response(200 if body else 404)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.end_headers()
                    self.wfile.write(json.dumps(body or {"resourceType": "OperationOutcome"}).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the service gave up waiting, as it should for a slow server

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/fhir"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str) -> dict | None:
        parsed = urlparse(path)
        kind = parsed.path.rsplit("/", 2)[-1] if parsed.path.count("/") == 2 else parsed.path.rsplit("/", 2)[-2]
        resources = [e["resource"] for e in self.bundle["entry"]]
        if parsed.path.startswith("/fhir/Patient/"):
            wanted = parsed.path.rsplit("/", 1)[1]
            return next((r for r in resources if r["resourceType"] == "Patient" and r["id"] == wanted), None)
        query = parse_qs(parsed.query)
        patient = query["patient"][0]
        matches = [r for r in resources if r["resourceType"] == kind and
                   r.get("subject", {}).get("reference") == f"Patient/{patient}"]
        start = int(query.get("_offset", ["0"])[0])
        page = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in
                                                                         matches[start:start + 2]]}
        if start + 2 < len(matches):
            base = f"{self.url}/{kind}?patient={patient}&_offset={start + 2}"
            page["link"] = [{"relation": "next", "url": base}]
        return page

    def close(self) -> None:
        self.closed.set()
        self.server.shutdown()


@pytest.fixture
def client(tmp_path, signer, empty_log):
    with make_client(tmp_path, signer, fhir_timeout_s=AMPLE_BUDGET_S) as test_client:
        yield test_client


@pytest.fixture
def short_budget_client(tmp_path, signer, empty_log):
    with make_client(tmp_path, signer, fhir_timeout_s=SHORT_BUDGET_S) as test_client:
        yield test_client


@pytest.fixture
def record():
    bundle = sample_bundle(1)
    return bundle, bundle["entry"][0]["resource"]["id"]


def call(client, signer, body):
    return client.post(SERVICE, json=body, headers={"Authorization": f"Bearer {signer.token(BASE + SERVICE)}"})


def test_missing_keys_are_fetched_pages_followed_and_the_risk_is_the_same(client, signer, record, caplog):
    bundle, patient = record
    server = FhirServer(bundle)
    try:
        full = call(client, signer, hook_call(patient, prefetch_for(bundle, patient))).json()["cards"][0]
        body = hook_call(patient, {"patient": prefetch_for(bundle, patient)["patient"]}, fhirServer=server.url,
                         fhirAuthorization={"access_token": "secret-access-token", "token_type": "Bearer",
                                            "expires_in": 300, "scope": "patient/*.read", "subject": "recovery"})
        body["context"]["encounterId"] = "E9"
        fetched = call(client, signer, body).json()["cards"][0]
    finally:
        server.close()
    assert fetched["extension"][EXTENSION_KEY]["risk"] == full["extension"][EXTENSION_KEY]["risk"]
    assert any("_offset=2" in path for path, _ in server.seen)  # a second page was read
    assert all(token == "Bearer secret-access-token" for _, token in server.seen)
    assert "secret-access-token" not in caplog.text


def test_an_operation_outcome_is_a_key_left_out(client, signer, record):
    bundle, patient = record
    server = FhirServer(bundle)
    try:
        prefetch = prefetch_for(bundle, patient) | {"observations": {"resourceType": "OperationOutcome"}}
        card = call(client, signer, hook_call(patient, prefetch, fhirServer=server.url)).json()["cards"][0]
    finally:
        server.close()
    assert card["extension"][EXTENSION_KEY]["risk"] is not None
    assert any(path.startswith("/fhir/Observation") for path, _ in server.seen)


@pytest.mark.parametrize("trouble", ["slow", "down"])
def test_a_fhir_server_slow_or_down_gets_a_card_saying_the_record_could_not_be_read(short_budget_client, signer,
                                                                                     record, trouble):
    bundle, patient = record
    server = FhirServer(bundle, stalled=True) if trouble == "slow" else None
    url = server.url if server else "http://127.0.0.1:9/fhir"
    try:
        answer = call(short_budget_client, signer,
                      hook_call(patient, {"patient": prefetch_for(bundle, patient)["patient"]}, fhirServer=url))
    finally:
        if server:
            server.close()
    card = answer.json()["cards"][0]
    assert answer.status_code == 200 and "risk" not in card["extension"][EXTENSION_KEY]
    assert "the record could not be read" in card["detail"]
