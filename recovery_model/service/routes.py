"""The service's routes, read as protocol: CDS Hooks 2.0 (discovery, service calls, feedback) and a plain JSON API.

Each authenticates the caller, reads the request, hands the record to the FHIR reader and the `Predictor` (through
`hooks.answer_hook` for a card), and answers in the types of `messages`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Body, HTTPException

from recovery_model.errors import DataValidationError, LogUnreachable, PrefetchNeeded, UnknownCard, WrongPatient
from recovery_model.log.cards import record_feedback
from recovery_model.log.records import Drivers, Source, driver_texts
from recovery_model.readers.fhir.reader import read_fhir_bundle
from recovery_model.readers.freshness import apply_shelf_life
from recovery_model.schema import Schema
from recovery_model.scoring.columns import (
    ATYPICAL,
    MISSING_RISK_HIGH,
    MISSING_RISK_LOW,
    OLDEST_VALUE_TIME,
    OUTDATED,
    PROBLEMS,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    ROW,
    STATUS,
    TIER,
    driver_columns,
)
from recovery_model.service.discovery import discovery, prefetch_templates, service
from recovery_model.service.feedback import card_feedback
from recovery_model.service.hooks import HookCall, answer_hook, log_scores
from recovery_model.service.messages import (
    Cards,
    Discovery,
    FeedbackCounts,
    FeedbackRequest,
    Health,
    HookRequest,
    ModelDescription,
    Scores,
    TierThresholds,
)
from recovery_model.service.prefetch import gather
from recovery_model.service.worker import CallerDep, WorkerDep

RESULT_COLUMNS = (ROW, STATUS, PROBLEMS, RISK, RISK_LOW, RISK_HIGH, MISSING_RISK_LOW, MISSING_RISK_HIGH, TIER,
                  ATYPICAL, OUTDATED, OLDEST_VALUE_TIME)

RETRY_AFTER_S = 30
cds_hooks = APIRouter(tags=["CDS Hooks 2.0"])
api = APIRouter(tags=["JSON API"])


@cds_hooks.get("/cds-services", summary="CDS Hooks discovery")
def discover(svc: WorkerDep) -> Discovery:
    return Discovery.model_validate(discovery(svc.predictor.schema, svc.settings.no_auth))


@cds_hooks.post("/cds-services/{service_id}", summary="A CDS Hooks service call", response_model_exclude_none=True)
def call(service_id: str, body: HookRequest, svc: WorkerDep, who: CallerDep) -> Cards:
    offered = service(service_id)
    if offered is None:
        raise HTTPException(404, f"no service {service_id!r}; GET /cds-services lists them")
    if body.hook != offered.hook:
        raise HTTPException(400, f"{service_id} answers the {offered.hook} hook, not {body.hook!r}")
    if not body.context.get("patientId"):
        raise HTTPException(400, "context.patientId is missing")
    as_of = datetime.now(UTC)
    try:
        record = gather(body.model_dump(), prefetch_templates(svc.predictor.schema, offered.hook),
                        svc.settings.fhir_timeout_s)
    except PrefetchNeeded as exc:
        raise HTTPException(412, str(exc)) from None
    except WrongPatient as exc:
        raise HTTPException(400, str(exc)) from None
    user, encounter = body.context.get("userId"), body.context.get("encounterId")
    hook_call = HookCall(str(body.context["patientId"]), body.hookInstance, None if user is None else str(user),
                         encounter)
    answer = answer_hook(svc, hook_call, record, as_of)
    return Cards(cards=[answer.card] if answer.shown else [])


@cds_hooks.post("/cds-services/{service_id}/feedback", summary="Feedback on a card")
def feedback(service_id: str, body: FeedbackRequest, svc: WorkerDep, who: CallerDep) -> FeedbackCounts:
    if service(service_id) is None:
        raise HTTPException(404, f"no service {service_id!r}")
    try:
        counted = record_feedback(svc.log, [card_feedback(item.model_dump()) for item in body.feedback])
    except UnknownCard as exc:
        raise HTTPException(404, str(exc)) from None
    except LogUnreachable:  # feedback needs its card's prediction: the EHR sends it again later
        raise HTTPException(503, "the prediction log cannot be reached; send this feedback again later",
                            headers={"Retry-After": str(RETRY_AFTER_S)}) from None
    return FeedbackCounts(recorded=counted, already_recorded=len(body.feedback) - counted)


@api.post("/v1/score", summary="Score rows or a FHIR Bundle")
def score(body: Annotated[dict[str, Any], Body()], svc: WorkerDep, who: CallerDep) -> Scores:
    schema = svc.predictor.schema
    try:
        if isinstance(body.get("rows"), list):
            frame = apply_shelf_life(pd.DataFrame(body["rows"]), schema, datetime.now(UTC))
        elif body.get("resourceType") == "Bundle":
            frame = read_fhir_bundle(body, schema, name="the Bundle sent").frame
        else:
            raise HTTPException(400, 'send {"rows": [{feature: value, ...}, ...]} or a FHIR Bundle')
        assessment = svc.predictor.assess(frame)
    except DataValidationError as exc:
        raise HTTPException(400, str(exc)) from None
    rows = assessment.rows
    drivers = driver_texts(rows, assessment.explanation, schema)
    log_scores(svc, rows, Source.API, drivers, user=who.subject if who else None)
    return Scores(results=_results(rows, drivers, schema), model_digest=svc.model.digest)


@api.get("/v1/model", summary="The model: version, digest, schema, thresholds")
def model(svc: WorkerDep, who: CallerDep) -> ModelDescription:
    thresholds = svc.predictor.thresholds
    return ModelDescription(version=svc.model.version, model_digest=svc.model.digest,
                            schema=svc.predictor.schema.to_dict(),
                            thresholds=TierThresholds(high=thresholds.high, moderate=thresholds.moderate))


@api.get("/healthz", summary="Liveness", response_model_exclude_none=True)
def healthz(svc: WorkerDep) -> Health:
    return Health(status="ok", model_digest=svc.model.digest, model_version=svc.model.version,
                  model_problem=svc.model_problem, kept=svc.durable.kept() or None)


def _results(rows: pd.DataFrame, drivers: Drivers | None, schema: Schema) -> list[dict[str, Any]]:
    """One result per input row, with the output column names `recovery predict` writes."""
    names = [c for c in (schema.id_column, *RESULT_COLUMNS) if c in rows.columns]
    out = []
    for i, (_, row) in enumerate(rows.iterrows()):
        result = {name: _plain(row[name]) for name in names}
        texts = None if drivers is None else drivers[i]
        if texts is not None:
            result |= dict(zip(driver_columns(), texts, strict=False))
        out.append(result)
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value
