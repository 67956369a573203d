import subprocess
import sys

import pandas as pd
import pytest

from recovery_model.service.cards import EXTENSION_KEY
from recovery_model.service.discovery import prefetch_templates
from tests.conftest import DATA
from tests.service.conftest import BASE, hook_call, prefetch_for, sample_bundle

SERVICE = "/cds-services/recovery-risk"


def auth(signer, path: str, **claims) -> dict:
    return {"Authorization": f"Bearer {signer.token(BASE + path, **claims)}"}


def test_discovery_offers_both_hooks_with_prefetch_generated_from_the_schema(client, schema):
    services = {s["id"]: s for s in client.get("/cds-services").json()["services"]}
    assert services["recovery-risk"]["hook"] == "patient-view"
    assert services["recovery-risk-discharge"]["hook"] == "encounter-discharge"
    prefetch = services["recovery-risk"]["prefetch"]
    assert prefetch == prefetch_templates(schema, "patient-view")
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    assert "combo-code=" in prefetch["observations"] and "http://loinc.org|8480-6" in prefetch["observations"]
    assert "_count" not in prefetch["observations"]
    assert services["recovery-risk-discharge"]["prefetch"]["encounter"] == "Encounter/{{context.encounterId}}"
    assert prefetch["conditions"] == "Condition?patient={{context.patientId}}"  # resolved ones say a list exists
    assert prefetch["problem_list"] == "List?patient={{context.patientId}}&code=http://loinc.org|11450-4"


def test_a_hospital_schema_changes_the_prefetch(schema):
    from dataclasses import replace

    from recovery_model.schema import FhirMapping

    feature = replace(schema.features[1], fhir=FhirMapping(codes=("http://loinc.org|99999-9",)))
    own = replace(schema, features=(schema.features[0], feature, *schema.features[2:]))
    assert "http://loinc.org|99999-9" in prefetch_templates(own, "patient-view")["observations"]


def test_a_card_gives_the_risk_recovery_predict_gives_for_the_same_record(client, signer, empty_log, tmp_path,
                                                                          default_predictor):
    import json

    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    answer = client.post(SERVICE, json=hook_call(patient, prefetch_for(bundle, patient)),
                         headers=auth(signer, SERVICE))
    assert answer.status_code == 200
    card = answer.json()["cards"][0]
    extension = card["extension"][EXTENSION_KEY]
    (tmp_path / "record.json").write_text(json.dumps(bundle))
    from recovery_model.cli import main

    assert main(["predict", "--input", str(tmp_path / "record.json"), "--output", str(tmp_path / "r.csv"),
                 "--as-of", extension["as_of"], "--no-log"]) == 0
    assert extension["risk"] == pd.read_csv(tmp_path / "r.csv")["risk"].iloc[0]
    assert len(card["summary"]) < 140 and card["summary"].startswith("Risk of not recovering")
    assert card["indicator"] == {"high": "critical", "moderate": "warning", "low": "info"}[extension["tier"]]
    assert extension["model_digest"] == default_predictor.digest and extension["risk_low"] <= extension["risk"]
    assert "Top drivers" in card["detail"] and card["source"]["url"].endswith("/model")
    assert card["links"][0]["url"] == f"https://recovery.example.org/patient?prediction={card['uuid']}"
    stored = empty_log.get(card["uuid"])
    assert stored["source"] == "cds_hooks" and stored["card_uuid"] == card["uuid"] and stored["card_shown"]
    assert stored["user_name"] == "Practitioner/7" and stored["risk"] == extension["risk"]


def _cards(client, signer, body: dict) -> list[dict]:
    return client.post(SERVICE, json=body, headers=auth(signer, SERVICE)).json()["cards"]


def test_a_card_is_shown_once_per_encounter_unless_the_tier_changes(client, signer, empty_log):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    body = hook_call(patient, prefetch_for(bundle, patient))
    body["context"]["encounterId"] = "E1"
    first = _cards(client, signer, body)
    again = _cards(client, signer, body)
    assert len(first) == 1 and again == [] and empty_log.count() == 2
    body["context"]["encounterId"] = "E2"
    assert len(_cards(client, signer, body)) == 1


@pytest.mark.parametrize("encounter", ["E1", None])
def test_each_clinician_sees_the_card_once(client, signer, empty_log, encounter):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    body = hook_call(patient, prefetch_for(bundle, patient))
    if encounter:
        body["context"]["encounterId"] = encounter
    seen = {}
    for practitioner in ("Practitioner/7", "Practitioner/8", "Practitioner/7", "Practitioner/8"):
        body["context"]["userId"] = practitioner
        seen.setdefault(practitioner, []).append(len(_cards(client, signer, body)))
    assert seen == {"Practitioner/7": [1, 0], "Practitioner/8": [1, 0]} and empty_log.count() == 4


def test_outside_an_encounter_a_card_is_shown_again_after_the_repeat_period(tmp_path, signer, empty_log):
    from sqlalchemy import update

    from recovery_model.log.tables import predictions
    from tests.service.conftest import make_client

    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    body = hook_call(patient, prefetch_for(bundle, patient))
    with make_client(tmp_path, signer, repeat_hours=24) as client:
        assert len(_cards(client, signer, body)) == 1 and _cards(client, signer, body) == []
        with empty_log.transaction() as connection:  # the card was shown 25 hours ago
            connection.execute(update(predictions).values(predicted_at=predictions.c.predicted_at
                                                          - pd.Timedelta(hours=25).to_pytimedelta()))
        assert len(_cards(client, signer, body)) == 1


def test_a_patient_the_record_cannot_describe_gets_a_card_that_says_why(client, signer):
    answer = client.post(SERVICE, json=hook_call("P404", {"patient": {"resourceType": "Patient", "id": "P404"},
                                                          "observations": None, "encounter": None,
                                                          "conditions": None, "problem_list": None,
                                                          "questionnaires": None}),
                         headers=auth(signer, SERVICE))
    card = answer.json()["cards"][0]
    extension = card["extension"][EXTENSION_KEY]
    assert answer.status_code == 200 and not {"risk", "risk_low", "risk_high", "atypical"} & extension.keys()
    assert extension["tier"] == "not scored" and "not scored" in card["summary"] and len(card["summary"]) < 140
    assert extension["missing"]


def test_missing_prefetch_without_a_fhir_server_is_412(client, signer):
    answer = client.post(SERVICE, json=hook_call("P1", {"patient": {"resourceType": "Patient", "id": "P1"}}),
                         headers=auth(signer, SERVICE))
    assert answer.status_code == 412 and "observations" in answer.json()["detail"]


def test_a_prefetch_about_another_patient_is_refused(client, signer):
    bundle = sample_bundle(2)
    first, second = (e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    prefetch = prefetch_for(bundle, first) | {"observations": prefetch_for(bundle, second)["observations"]}
    answer = client.post(SERVICE, json=hook_call(first, prefetch), headers=auth(signer, SERVICE))
    assert answer.status_code == 400 and f"Patient/{second}" in answer.json()["detail"]


@pytest.mark.parametrize(("change", "status", "says"), [
    ({"hook": "order-select"}, 400, "answers the patient-view hook"),
    ({"context": {"userId": "Practitioner/7"}}, 400, "context.patientId is missing"),
])
def test_a_malformed_call_is_a_clear_4xx(client, signer, change, status, says):
    answer = client.post(SERVICE, json=hook_call("P1", None) | change, headers=auth(signer, SERVICE))
    assert answer.status_code == status and says in answer.json()["detail"]


def test_a_body_that_is_not_json_or_too_big_is_a_4xx(client, signer):
    headers = auth(signer, SERVICE) | {"Content-Type": "application/json"}
    assert client.post(SERVICE, content=b"{not json", headers=headers).status_code == 422
    big = b"[" + b"0," * (3 * 1024 * 1024) + b"0]"
    assert client.post(SERVICE, content=big, headers=auth(signer, SERVICE)).status_code == 413


def test_feedback_is_stored_with_its_card_once(client, signer, empty_log):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    card = client.post(SERVICE, json=hook_call(patient, prefetch_for(bundle, patient)),
                       headers=auth(signer, SERVICE)).json()["cards"][0]
    path = SERVICE + "/feedback"
    message = {"feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp":
                             "2026-12-02T10:00:00Z", "overrideReason": {"reason": {"code": "already-seen",
                                                                                   "display": "Already reviewed"}}}]}
    assert client.post(path, json=message, headers=auth(signer, path)).json() == {"recorded": 1,
                                                                                    "already_recorded": 0}
    assert client.post(path, json=message, headers=auth(signer, path)).json() == {"recorded": 0,
                                                                                    "already_recorded": 1}
    unknown = {"feedback": [{"card": "00000000-0000-0000-0000-000000000000", "outcome": "accepted"}]}
    assert client.post(path, json=unknown, headers=auth(signer, path)).status_code == 404


def test_silent_mode_scores_and_logs_but_shows_nothing(tmp_path, signer, empty_log):
    from tests.service.conftest import make_client

    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    with make_client(tmp_path, signer, silent=True) as silent:
        answer = silent.post(SERVICE, json=hook_call(patient, prefetch_for(bundle, patient)),
                             headers=auth(signer, SERVICE))
    assert answer.json() == {"cards": []} and empty_log.count() == 1


def test_an_admin_switches_cards_off_without_stopping_the_service(client, signer, empty_log, monkeypatch):
    from recovery_model.log.cards import set_cards
    from recovery_model.service import switch

    monkeypatch.setattr(switch, "READ_EVERY_S", 0.0)
    set_cards(empty_log, False, "admin")
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    assert client.post(SERVICE, json=hook_call(patient, prefetch_for(bundle, patient)),
                       headers=auth(signer, SERVICE)).json() == {"cards": []}
    set_cards(empty_log, True, "admin")
    assert len(client.post(SERVICE, json=hook_call(patient, prefetch_for(bundle, patient)),
                           headers=auth(signer, SERVICE)).json()["cards"]) == 1


def test_the_json_api_scores_rows_and_names_the_model(client, signer, default_predictor):
    ward = pd.read_csv(pd.io.common.stringify_path(__import__("tests.conftest", fromlist=["DATA"]).DATA /
                                                   "sample_ward.csv")).iloc[:3]
    rows = ward.to_dict(orient="records")
    rows[1]["oxygen_level"] = 250
    answer = client.post("/v1/score", json={"rows": rows}, headers=auth(signer, "/v1/score")).json()
    results = answer["results"]
    assert [r["status"] for r in results] == ["scored", "rejected", "scored"]
    expected = default_predictor.predict_risk(ward.iloc[[0]])["risk"].iloc[0]
    assert results[0]["risk"] == expected and results[0]["driver_1"] and results[1]["risk"] is None
    assert "oxygen_level" in results[1]["problems"]
    model = client.get("/v1/model", headers=auth(signer, "/v1/model")).json()
    assert model["model_digest"] == default_predictor.digest and model["schema"]["name"] == "recovery"
    assert client.get("/healthz").json()["status"] == "ok"


def test_serve_refuses_to_start_without_issuers_or_no_auth(capsys):
    from recovery_model.cli import main

    assert main(["serve"]) == 2
    assert "--issuers FILE" in capsys.readouterr().err


def test_serve_answers_discovery_through_real_uvicorn(tmp_path, empty_log, monkeypatch):
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "recovery_model.cli", "serve", "--no-auth", "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        answer, deadline = None, time.monotonic() + 180  # start-up loads torch and the model: slow on a busy machine
        while answer is None and server.poll() is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/cds-services", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.25)
        assert answer is not None and answer.status_code == 200
        assert "NOT FOR PATIENTS" in answer.json()["services"][0]["description"]
        bundle = sample_bundle(1)
        patient = bundle["entry"][0]["resource"]["id"]
        card = httpx.post(f"http://127.0.0.1:{port}{SERVICE}", json=hook_call(patient, prefetch_for(bundle, patient)),
                          timeout=30).json()["cards"][0]
        assert "Not for patients" in card["detail"]
    finally:
        server.terminate()
        err = server.communicate(timeout=30)[1]
    assert "WITHOUT AUTHENTICATION" in err or "no authentication" in err


def _dated(bundle: dict, patient: str, feature: str, days_ago: float) -> None:
    from datetime import UTC, datetime, timedelta

    resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == f"{patient}-{feature}")
    resource["effectiveDateTime"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()


def test_a_card_says_what_was_too_old_to_use_and_how_old_its_oldest_value_is(client, signer):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    _dated(bundle, patient, "heart-rate", 3)  # a pulse keeps a day
    _dated(bundle, patient, "bmi", 10)  # a BMI keeps a year
    card = _cards(client, signer, hook_call(patient, prefetch_for(bundle, patient)))[0]
    extension = card["extension"][EXTENSION_KEY]
    assert "heart_rate" in extension["missing"] and "risk" in extension
    assert "**Too old to use, so not recorded:** Heart rate: last measured" in card["detail"]
    assert "older than 24 h" in card["detail"]
    assert "**The oldest value used was measured" in card["detail"] and "10 days before this estimate" in card["detail"]
    assert pd.Timestamp(extension["oldest_value_time"]) < pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=9)


def test_a_card_on_current_values_says_nothing_of_their_age(client, signer):
    bundle = sample_bundle(1)
    patient = bundle["entry"][0]["resource"]["id"]
    card = _cards(client, signer, hook_call(patient, prefetch_for(bundle, patient)))[0]
    assert "Too old" not in card["detail"] and "oldest value" not in card["detail"]
    assert "oldest_value_time" in card["extension"][EXTENSION_KEY]


def test_the_json_api_and_the_log_carry_the_oldest_value(client, signer, empty_log):
    from datetime import UTC, datetime, timedelta

    row = pd.read_csv(DATA / "sample_ward.csv").iloc[0].to_dict()
    measured = (datetime.now(UTC) - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%MZ")
    from recovery_model.schema import load_schema

    times = {f"{f.name}_time": measured for f in load_schema().features if f.max_age_hours is not None}
    body = {"rows": [row | times | {"bmi_time": "2022-01-22"}]}
    result = client.post("/v1/score", json=body, headers=auth(signer, "/v1/score")).json()["results"][0]
    assert result["oldest_value_time"] == measured and "BMI: last measured 2022-01-22" in result["outdated_values"]
    from sqlalchemy import select

    from recovery_model.log.tables import predictions

    logged = empty_log.read_frame(select(predictions.c.oldest_value_at))["oldest_value_at"]
    assert len(logged) == 1 and logged[0].strftime("%Y-%m-%dT%H:%MZ") == measured


def test_the_openapi_describes_each_route_and_its_answer(client):
    spec = client.get("/openapi.json").json()
    answers = {(path, method): op["responses"]["200"]["content"]["application/json"]["schema"].get("$ref", "")
               for path, ops in spec["paths"].items() for method, op in ops.items()}
    assert answers == {("/cds-services", "get"): "#/components/schemas/Discovery",
                       ("/cds-services/{service_id}", "post"): "#/components/schemas/Cards",
                       ("/cds-services/{service_id}/feedback", "post"): "#/components/schemas/FeedbackCounts",
                       ("/v1/score", "post"): "#/components/schemas/Scores",
                       ("/v1/model", "get"): "#/components/schemas/ModelDescription",
                       ("/healthz", "get"): "#/components/schemas/Health"}
    assert "schema" in spec["components"]["schemas"]["ModelDescription"]["properties"]
