"""A service on the committed model with a real key pair per algorithm, a JWKS file, and a way to sign tokens."""

import json
import time
import uuid
from datetime import UTC, datetime

import jwt
import pandas as pd
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from recovery_model.readers.fhir.sample import to_bundle
from recovery_model.service.app import create_app
from recovery_model.service.settings import Issuer, ServiceSettings
from tests.conftest import DATA

ISSUER = "https://ehr.example.org"
BASE = "http://testserver"


class Signer:
    def __init__(self) -> None:
        self.keys = {"ec-1": ("ES384", ec.generate_private_key(ec.SECP384R1())),
                     "rsa-1": ("RS384", rsa.generate_private_key(public_exponent=65537, key_size=2048))}

    def jwks(self) -> dict:
        keys = []
        for kid, (alg, key) in self.keys.items():
            jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
            keys.append(jwk | {"kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def token(self, audience: str, kid: str = "ec-1", key=None, **claims) -> str:
        alg, own = self.keys[kid]
        now = int(time.time())
        body = {"iss": ISSUER, "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())} | claims
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key or own, algorithm=alg,
                          headers={"kid": kid})


@pytest.fixture(scope="session")
def signer():
    return Signer()


def make_client(tmp_path, signer, **settings) -> TestClient:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks()))
    options = {"issuers": (Issuer(ISSUER, str(jwks)),), "dashboard_url": "https://recovery.example.org"} | settings
    return TestClient(create_app(ServiceSettings(**options)))


@pytest.fixture
def client(tmp_path, signer, empty_log):
    with make_client(tmp_path, signer) as test_client:
        yield test_client


def sample_bundle(patients: int = 3) -> dict:
    from recovery_model.schema import load_schema

    ward = pd.read_csv(DATA / "sample_ward.csv").iloc[:patients]
    return to_bundle(ward, load_schema(), datetime.now(UTC))  # measured an hour ago: within every shelf life


def prefetch_for(bundle: dict, patient: str) -> dict:
    """The service's prefetch keys filled from a Bundle, as an EHR would send them (searchset Bundles)."""
    mine = [e["resource"] for e in bundle["entry"]
            if (e["resource"].get("id") == patient and e["resource"]["resourceType"] == "Patient")
            or e["resource"].get("subject", {}).get("reference") == f"Patient/{patient}"]

    def searchset(kind: str) -> dict:
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": r} for r in mine if r["resourceType"] == kind]}

    return {"patient": next(r for r in mine if r["resourceType"] == "Patient"),
            "observations": searchset("Observation"), "encounter": searchset("Encounter"),
            "conditions": searchset("Condition"), "problem_list": searchset("List"),
            "questionnaires": searchset("QuestionnaireResponse")}


def hook_call(patient: str, prefetch: dict | None, hook: str = "patient-view", **extra) -> dict:
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": {"patientId": patient, "userId":
                                                                         "Practitioner/7"}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body | extra
