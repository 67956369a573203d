"""The HTTP faces of the `Predictor`: CDS Hooks 2.0 (discovery, service calls, feedback) and a plain JSON API.

Each endpoint reads as protocol: authenticate the EHR, read its request, hand the record to the one FHIR reader
and `Predictor.assess`, log what is returned, answer. The model is loaded (and warmed up) once per process, when
the worker starts.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from recovery_model.errors import DataValidationError, PrefetchNeeded, RecoveryError, Refused, WrongPatient
from recovery_model.log.records import Context, Source, driver_texts, prediction_records
from recovery_model.log.registry import checkpoint_in_use, shadow_in_use
from recovery_model.log.shadow import shadow_records
from recovery_model.log.store import PredictionLog
from recovery_model.readers.fhir.reader import read_fhir
from recovery_model.readers.freshness import apply_shelf_life
from recovery_model.scoring.checkpoint import read_header
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
from recovery_model.scoring.predictor import Predictor
from recovery_model.service.auth import Caller, TokenVerifier
from recovery_model.service.cards import not_scored_card, risk_card
from recovery_model.service.discovery import discovery, prefetch_templates, service
from recovery_model.service.prefetch import gather
from recovery_model.service.settings import ServiceSettings
from recovery_model.service.switch import CardSwitch

logger = logging.getLogger("recovery.service")
SCORING_THREADS = 1


class HookRequest(BaseModel):
    """A CDS Hooks service call (the fields this service reads; others are allowed and ignored)."""

    hook: str
    hookInstance: str
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    fhirServer: str | None = None
    fhirAuthorization: dict[str, Any] | None = None


class FeedbackItem(BaseModel):
    card: str
    outcome: str = Field(pattern="^(accepted|overridden)$")
    overrideReason: dict[str, Any] | None = None
    acceptedSuggestions: list[dict[str, Any]] = []
    outcomeTimestamp: str | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem]


class Worker:
    """What one worker holds: the model in use, the log, the token verifier and the cards switch."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.log = PredictionLog.open()
        self._use(_loaded(checkpoint_in_use(settings.checkpoint)))
        self._shadow(shadow_in_use(settings.checkpoint))
        self.verifier = None if settings.no_auth else TokenVerifier(settings.issuers, self.log)
        self.switch = CardSwitch(self.log)

    def follow(self) -> None:
        """Every `model_check_s`, the model the registry has in use: a promotion or a rollback reaches each worker
        within that, without a restart. A model that cannot be used leaves the one in use serving, logged and said
        by /healthz (`model_problem`)."""
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + self.settings.model_check_s
        try:
            folder = checkpoint_in_use(self.settings.checkpoint)
            if read_header(folder).digest != self.model["digest"]:
                self._use(_loaded(folder))
                logger.warning("now using model %s (%s) from %s", self.model["version"], self.model["digest"][:12],
                               folder)
            self._shadow(shadow_in_use(self.settings.checkpoint))
            self.model_problem = None
        except RecoveryError as exc:
            self.model_problem = str(exc)
            logger.error("the model in use cannot change: %s; still using %s", exc, self.model["digest"][:12])

    def _use(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.model = {"version": predictor.version, "digest": predictor.digest}
        self.model_problem: str | None = None
        self._next_check = time.monotonic() + self.settings.model_check_s


    def _shadow(self, folder: Path | None) -> None:
        """The shadow model (None: none), loaded again only when it changed."""
        current = getattr(self, "shadow", None)
        if folder is None:
            self.shadow = None
        elif current is None or read_header(folder).digest != current.digest:
            self.shadow = _loaded(folder)


def _loaded(folder: Path) -> Predictor:
    predictor = Predictor.load(folder)
    predictor.warm_up()
    return predictor


def the_worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    worker.follow()
    return worker


WorkerDep = Annotated[Worker, Depends(the_worker)]


def caller(request: Request, svc: WorkerDep) -> Caller | None:
    """The EHR that signed the request's token (None with --no-auth); anything else is a bare 401."""
    if svc.verifier is None:
        return None
    public = svc.settings.public_url
    base = public.rstrip("/") if public else str(request.base_url).rstrip("/")
    try:
        return svc.verifier.verify(request.headers.get("authorization"), base + request.url.path)
    except Refused as refused:
        logger.warning("refused %s %s: %s", request.method, request.url.path, refused)
        raise HTTPException(status_code=401, headers={"WWW-Authenticate": "Bearer"}) from None


CallerDep = Annotated[Caller | None, Depends(caller)]


def create_app(settings: ServiceSettings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio.to_thread

        app.state.worker = Worker(settings)
        # Scoring holds the interpreter lock: a second thread only takes turns with the first and slows every call
        # (16 clients on 1 worker: p95 1.6 s with 40 threads, 0.8 s with 2, 0.7 s with 1); the rest wait in order.
        anyio.to_thread.current_default_thread_limiter().total_tokens = SCORING_THREADS
        if settings.no_auth:
            logger.warning("recovery serve runs WITHOUT AUTHENTICATION (--no-auth): for one machine only, never for "
                           "patients.")
        yield

    app = FastAPI(title="recovery", version="1", lifespan=lifespan,
                  description="The risk of not recovering, for the EHR (CDS Hooks 2.0) and other systems.")
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.middleware("http")
    async def size_cap(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.body_limit_bytes:
            return JSONResponse({"detail": f"the body is over {settings.body_limit_bytes} bytes"}, status_code=413)
        return await call_next(request)

    @app.get("/cds-services", summary="CDS Hooks discovery")
    def discover(svc: WorkerDep) -> dict:
        return discovery(svc.predictor.schema, settings.no_auth)

    @app.post("/cds-services/{service_id}", summary="A CDS Hooks service call")
    def call(service_id: str, body: HookRequest, svc: WorkerDep,
             who: CallerDep) -> dict:
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
                            settings.fhir_timeout_s)
        except PrefetchNeeded as exc:
            raise HTTPException(412, str(exc)) from None
        except WrongPatient as exc:
            raise HTTPException(400, str(exc)) from None
        card, shown = _assess_and_log(svc, body, record, as_of)
        return {"cards": [card] if shown else []}

    @app.post("/cds-services/{service_id}/feedback", summary="Feedback on a card")
    def feedback(service_id: str, body: FeedbackRequest, svc: WorkerDep,
                 who: CallerDep) -> dict:
        if service(service_id) is None:
            raise HTTPException(404, f"no service {service_id!r}")
        from recovery_model.errors import UnknownCard
        from recovery_model.log.cards import record_feedback
        from recovery_model.service.feedback import card_feedback

        try:
            counted = record_feedback(svc.log, [card_feedback(item.model_dump()) for item in body.feedback])
        except UnknownCard as exc:
            raise HTTPException(404, str(exc)) from None
        return {"recorded": counted, "already_recorded": len(body.feedback) - counted}

    @app.post("/v1/score", summary="Score rows or a FHIR Bundle")
    def score(body: Annotated[dict[str, Any], Body()], svc: WorkerDep,
              who: CallerDep) -> dict:
        schema = svc.predictor.schema
        try:
            if isinstance(body.get("rows"), list):
                frame = apply_shelf_life(pd.DataFrame(body["rows"]), schema, datetime.now(UTC))
            elif body.get("resourceType") == "Bundle":
                import json

                frame = read_fhir(json.dumps(body).encode(), schema, name="the Bundle sent").frame
            else:
                raise HTTPException(400, 'send {"rows": [{feature: value, ...}, ...]} or a FHIR Bundle')
            assessment = svc.predictor.assess(frame)
        except DataValidationError as exc:
            raise HTTPException(400, str(exc)) from None
        rows = assessment.rows
        drivers = driver_texts(assessment.explanation, schema)
        _log(svc, rows, Source.API, drivers, user=who.subject if who else None)
        return {"results": _results(rows, drivers, schema), "model_digest": svc.model["digest"]}

    @app.get("/v1/model", summary="The model: version, digest, schema, thresholds")
    def model(svc: WorkerDep, who: CallerDep) -> dict:
        thresholds = svc.predictor.thresholds
        return {"version": svc.model["version"], "model_digest": svc.model["digest"],
                "schema": svc.predictor.schema.to_dict(),
                "thresholds": {"high": thresholds.high, "moderate": thresholds.moderate}}

    @app.get("/healthz", summary="Liveness")
    def healthz(svc: WorkerDep) -> dict:
        answer = {"status": "ok", "model_digest": svc.model["digest"], "model_version": svc.model["version"]}
        return answer | ({"model_problem": svc.model_problem} if svc.model_problem else {})

    return app


def app_from_environment() -> FastAPI:
    """The app a uvicorn worker builds (`recovery serve` passes the settings in the environment)."""
    return create_app(ServiceSettings.from_environment())


def _assess_and_log(svc: Worker, body: HookRequest, record: Any, as_of: datetime) -> tuple[dict, bool]:
    schema = svc.predictor.schema
    patient = str(body.context["patientId"])
    reason, frame = None, None
    if record.unread:
        reason = "the record could not be read: " + "; ".join(record.unread)
    else:
        try:
            frame = read_fhir(record.bundle(), schema, as_of=as_of, name="the EHR's record").frame
        except DataValidationError as exc:
            reason = f"the record could not be read: {exc}"
    if frame is not None:
        frame = frame[frame[schema.id_column].astype(str) == patient]
        if not len(frame):
            reason = "the record holds no Patient resource for this patient"
    if reason is not None:  # nothing to score: a row of blanks, so that the log and the card say so
        frame = pd.DataFrame([{schema.id_column: patient} | dict.fromkeys(schema.feature_names, np.nan)])
    assessment = svc.predictor.assess(frame.reset_index(drop=True))
    row = assessment.rows.iloc[0]
    drivers = driver_texts(assessment.explanation, schema)
    missing = [f.name for f in schema.features if pd.isna(row[f.name])]
    per_call = {"hook_instance": body.hookInstance, "encounter_id": body.context.get("encounterId")}
    context = _context(svc, Source.CDS_HOOKS, as_of, body.context.get("userId"))
    records = prediction_records(assessment.rows.iloc[[0]], schema, context, drivers[:1] if drivers else None,
                                 **per_call)
    card_uuid = records["id"][0]
    records["card_uuid"] = [card_uuid]
    links = _links(svc.settings, card_uuid)
    if reason is None and row[STATUS] == "scored":
        card = risk_card(row, drivers[0] if drivers else [], missing, schema, svc.predictor.thresholds, svc.model,
                         as_of, card_uuid, links, svc.settings.no_auth)
    else:
        card = not_scored_card(reason or str(row[PROBLEMS]), missing, schema, svc.model, as_of, card_uuid, links,
                               svc.settings.no_auth, str(row.get(OUTDATED) or ""))
    user = body.context.get("userId")
    shown = _should_show(svc, patient, None if user is None else str(user), body.context.get("encounterId"),
                         str(row[TIER]), as_of)
    records["card_shown"] = [shown]
    try:
        svc.log.write(records)
        _log_shadow(svc, assessment.rows.iloc[[0]], context)
    except RecoveryError as exc:
        logger.error("card %s not logged: %s", card_uuid, exc)
        card.pop("links", None)
        card["detail"] += "\n\n**Not logged:** the prediction log cannot be reached; tell the team that runs it."
    return card, shown


def _should_show(svc: Worker, patient: str, user: str | None, encounter: str | None, tier: str,
                 now: datetime) -> bool:
    """Silent mode and a switched-off service show nothing; otherwise each clinician sees the card once per encounter
    (without one, once per `repeat_hours`), and again whenever the tier changes."""
    if svc.settings.silent or not svc.switch.cards_on():
        return False
    from recovery_model.log.cards import last_shown_tier

    repeat_after = timedelta(hours=svc.settings.repeat_hours)
    return last_shown_tier(svc.log, patient, user, encounter, now, repeat_after) != tier


def _context(svc: Worker, source: Source, as_of: datetime, user: str | None) -> Context:
    return Context.for_model(svc.predictor, source, predicted_at=as_of, user=user)


def _log(svc: Worker, rows: pd.DataFrame, source: Source, drivers: list[list[str]] | None, user: str | None) -> None:
    context = _context(svc, source, datetime.now(UTC), user)
    try:
        svc.log.write(prediction_records(rows, svc.predictor.schema, context, drivers))
        _log_shadow(svc, rows, context)
    except RecoveryError as exc:
        logger.error("scores not logged: %s", exc)


def _log_shadow(svc: Worker, rows: pd.DataFrame, context: Context) -> None:
    """The shadow model's scores for the same rows, logged and never answered (a failure leaves the answer as it is)."""
    if svc.shadow is None:
        return
    try:
        svc.log.write(shadow_records(svc.shadow, rows, context))
    except RecoveryError as exc:
        logger.error("shadow scores not logged: %s", exc)


def _links(settings: ServiceSettings, card_uuid: str) -> dict[str, str]:
    if not settings.dashboard_url:
        return {}
    base = settings.dashboard_url.rstrip("/")
    return {"patient": f"{base}/patient?prediction={card_uuid}", "model": f"{base}/model"}


def _results(rows: pd.DataFrame, drivers: list[list[str]] | None, schema) -> list[dict[str, Any]]:
    """One result per input row, with the output column names `recovery predict` writes."""
    names = [c for c in (schema.id_column, ROW, STATUS, PROBLEMS, RISK, RISK_LOW, RISK_HIGH, MISSING_RISK_LOW,
                         MISSING_RISK_HIGH, TIER, ATYPICAL, OUTDATED, OLDEST_VALUE_TIME)
             if c in rows.columns]
    out = []
    texts = iter(drivers or [])
    for _, row in rows.iterrows():
        result = {name: _plain(row[name]) for name in names}
        if row[STATUS] == "scored" and drivers is not None:
            result |= dict(zip(driver_columns(), next(texts), strict=False))
        out.append(result)
    return out


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value

