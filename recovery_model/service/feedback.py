"""What the clinician did with a card (CDS Hooks feedback), kept with the card in the prediction log, and which
card this patient was last shown."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from recovery_model.log.records import Source
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import feedback, predictions
from recovery_model.times import parse_start


class UnknownCard(Exception):
    """Feedback about a card this service never returned."""


def record_feedback(log: PredictionLog, items: list[dict[str, Any]]) -> int:
    """Store each message once (a repeated one, byte for byte the same in meaning, counts once); the new ones."""
    uuids = sorted({item["card"] for item in items})
    with log.connection() as connection:
        known = dict(connection.execute(select(predictions.c.card_uuid, predictions.c.id)
                                        .where(predictions.c.card_uuid.in_(uuids))).all())
    unknown = [u for u in uuids if u not in known]
    if unknown:
        raise UnknownCard(f"no card {', '.join(unknown)} was returned by this service")
    now = datetime.now(UTC)
    rows = [{"card_uuid": item["card"], "prediction_id": known[item["card"]], "outcome": item["outcome"],
             "reasons": _reasons(item), "outcome_time": _time(item.get("outcomeTimestamp")), "received_at": now,
             "message_sha256": hashlib.sha256(json.dumps(item, sort_keys=True).encode()).hexdigest()}
            for item in items]
    insert = (postgresql.insert if log.engine.dialect.name == "postgresql" else sqlite.insert)(feedback)
    with log.transaction() as connection:
        result = connection.execute(insert.on_conflict_do_nothing(index_elements=["message_sha256"]), rows)
    return max(result.rowcount, 0)


def last_shown_tier(log: PredictionLog, patient: str, user: str | None, encounter: str | None, now: datetime,
                    repeat_after: timedelta) -> str | None:
    """The tier of the last card about this patient shown to this clinician in this encounter; without an encounter,
    within `repeat_after` before `now`. Another clinician's cards do not count: each sees the card once."""
    same_user = predictions.c.user_name.is_(None) if user is None else predictions.c.user_name == user
    query = (select(predictions.c.tier).where(predictions.c.patient_id == patient,
                                              predictions.c.source == str(Source.CDS_HOOKS),
                                              predictions.c.card_shown.is_(True), same_user)
             .order_by(predictions.c.predicted_at.desc()).limit(1))
    if encounter:
        query = query.where(predictions.c.encounter_id == encounter)
    else:
        query = query.where(predictions.c.predicted_at >= now - repeat_after)
    with log.connection() as connection:
        return connection.execute(query).scalar()


def _reasons(item: dict[str, Any]) -> list[str]:
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    comment = (item.get("overrideReason") or {}).get("userComment")
    return [text for text in (reason.get("display") or reason.get("code"), comment) if text]


def _time(text: str | None) -> datetime | None:
    return parse_start(text.replace("Z", "+00:00"), "outcomeTimestamp") if text else None
