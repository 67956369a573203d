"""The card policy: what one CDS Hooks call yields and what is logged of it.

A record that cannot be read is still assessed, as a row of blanks, so that the log and the card both say why it
was not scored (never an empty answer, never a guessed risk); each clinician sees a card once per encounter and
again when the tier changes; a card whose prediction cannot be logged loses its link and says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from recovery_model.errors import DataValidationError, LogUnreachable, RecoveryError
from recovery_model.log.cards import last_shown_tier
from recovery_model.log.records import Context, Drivers, Source, driver_texts, prediction_records
from recovery_model.log.shadow import shadow_records
from recovery_model.log.spool import Logged
from recovery_model.readers.fhir.reader import read_fhir_bundle
from recovery_model.scoring.columns import OUTDATED, PROBLEMS, STATUS, TIER, Status
from recovery_model.service.cards import CardContext, not_scored_card, risk_card
from recovery_model.service.prefetch import Record
from recovery_model.service.worker import Worker

logger = logging.getLogger("recovery.service")
NOT_LOGGED_NOTE = "**Not logged:** the prediction log refused this prediction; tell the team that runs it."
KEPT_NOTE = ("**Logged on this server for now:** the prediction log's database cannot be reached; this prediction "
             "is kept and written to it when it is back.")


@dataclass(frozen=True)
class HookCall:
    """Who and what one call is about (from the hook's context)."""

    patient: str
    hook_instance: str
    user: str | None = None
    encounter: str | None = None


@dataclass(frozen=True)
class HookAnswer:
    card: dict[str, Any]
    shown: bool


def answer_hook(svc: Worker, call: HookCall, record: Record, as_of: datetime) -> HookAnswer:
    """Assess the patient in `record`, log the prediction (and the shadow's), and the card with whether to show it."""
    schema = svc.predictor.schema
    reason, frame = _patient_rows(svc, call.patient, record, as_of)
    assessment = svc.predictor.assess(frame)
    rows = assessment.rows.iloc[[0]]
    row = rows.iloc[0]
    drivers = driver_texts(assessment.rows, assessment.explanation, schema)
    missing = [f.name for f in schema.features if pd.isna(row[f.name])]
    context = Context.for_model(svc.predictor, Source.CDS_HOOKS, predicted_at=as_of, user=call.user)
    records = prediction_records(rows, schema, context, None if drivers is None else drivers[:1],
                                 hook_instance=call.hook_instance, encounter_id=call.encounter)
    card_uuid = records["id"][0]
    records["card_uuid"] = [card_uuid]
    card_context = CardContext(schema, svc.predictor.thresholds, svc.model, as_of, card_uuid,
                               _links(svc.settings.dashboard_url, card_uuid), svc.settings.no_auth)
    if reason is None and row[STATUS] == Status.SCORED:
        card = risk_card(row, (drivers[0] if drivers else None) or [], missing, card_context)
    else:
        card = not_scored_card(reason or str(row[PROBLEMS]), missing, card_context, str(row.get(OUTDATED) or ""))
    shown = _should_show(svc, call, str(row[TIER]), as_of)
    records["card_shown"] = [shown]
    try:
        if svc.durable.write(records) is Logged.KEPT:
            card["detail"] += "\n\n" + KEPT_NOTE
        _log_shadow(svc, rows, context)
    except RecoveryError as exc:
        logger.error("card %s not logged: %s", card_uuid, exc)
        card.pop("links", None)
        card["detail"] += "\n\n" + NOT_LOGGED_NOTE
    return HookAnswer(card, shown)


def log_scores(svc: Worker, rows: pd.DataFrame, source: Source, drivers: Drivers | None, user: str | None) -> None:
    """Log rows scored for a caller (and the shadow's scores); a log that fails leaves the answer as it is."""
    context = Context.for_model(svc.predictor, source, predicted_at=datetime.now(UTC), user=user)
    try:
        svc.durable.write(prediction_records(rows, svc.predictor.schema, context, drivers))
        _log_shadow(svc, rows, context)
    except RecoveryError as exc:
        logger.error("scores not logged: %s", exc)


def _patient_rows(svc: Worker, patient: str, record: Record, as_of: datetime) -> tuple[str | None, pd.DataFrame]:
    """The patient's row read from the record, or why there is none and a row of blanks in its place."""
    schema = svc.predictor.schema
    reason, frame = None, None
    if record.unread:
        reason = "the record could not be read: " + "; ".join(record.unread)
    else:
        try:
            frame = read_fhir_bundle(record.bundle(), schema, as_of=as_of, name="the EHR's record").frame
        except DataValidationError as exc:
            reason = f"the record could not be read: {exc}"
    if frame is not None:
        frame = frame[frame[schema.id_column].astype(str) == patient]
        if not len(frame):
            reason = "the record holds no Patient resource for this patient"
    if reason is not None or frame is None:
        frame = pd.DataFrame([{schema.id_column: patient} | dict.fromkeys(schema.feature_names, np.nan)])
    return reason, frame.reset_index(drop=True)


def _should_show(svc: Worker, call: HookCall, tier: str, now: datetime) -> bool:
    """Silent mode and a switched-off service show nothing; otherwise each clinician sees the card once per encounter
    (without one, once per `repeat_hours`), and again whenever the tier changes."""
    if svc.settings.silent or not svc.switch.cards_on():
        return False
    repeat_after = timedelta(hours=svc.settings.repeat_hours)
    try:
        return last_shown_tier(svc.log, call.patient, call.user, call.encounter, now, repeat_after) != tier
    except LogUnreachable as exc:  # whether it was shown is not known: show it rather than hold it back
        logger.warning("the last card shown is not known (%s): this one is shown", exc)
        return True


def _log_shadow(svc: Worker, rows: pd.DataFrame, context: Context) -> None:
    """The shadow model's scores for the same rows, logged and never answered (a failure leaves the answer as it is)."""
    if svc.shadow is None:
        return
    try:
        svc.durable.write(shadow_records(svc.shadow, rows, context))
    except RecoveryError as exc:
        logger.error("shadow scores not logged: %s", exc)


def _links(dashboard_url: str | None, card_uuid: str) -> dict[str, str]:
    if not dashboard_url:
        return {}
    base = dashboard_url.rstrip("/")
    return {"patient": f"{base}/patient?prediction={card_uuid}", "model": f"{base}/model"}
