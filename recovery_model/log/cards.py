"""The CDS Hooks service's rows in the log: the feedback about each card, which card a clinician was last shown,
and the admin's switch that holds cards back (read by every worker)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from recovery_model.errors import UnknownCard
from recovery_model.log.records import Source
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import feedback, predictions, service_settings

CARDS_SETTING = "cards"


@dataclass(frozen=True)
class CardFeedback:
    """One feedback message about a card: what the clinician did, why, and the message's digest (a message
    repeated byte for byte in meaning counts once)."""

    card_uuid: str
    outcome: str
    reasons: list[str]
    outcome_time: datetime | None
    message_sha256: str


@dataclass(frozen=True)
class CardsSetting:
    """Whether cards are shown, and who changed that when (None: never changed)."""

    on: bool
    changed_by: str | None
    changed_at: datetime | None


def record_feedback(log: PredictionLog, messages: list[CardFeedback]) -> int:
    """Store each message once, linked to its card's prediction; the new ones. A card this service never returned
    is refused (`UnknownCard`), and nothing is stored."""
    uuids = sorted({m.card_uuid for m in messages})
    with log.connection() as connection:
        known = dict(connection.execute(select(predictions.c.card_uuid, predictions.c.id)
                                        .where(predictions.c.card_uuid.in_(uuids))).all())
    unknown = [u for u in uuids if u not in known]
    if unknown:
        raise UnknownCard(f"no card {', '.join(unknown)} was returned by this service")
    now = datetime.now(UTC)
    rows = [asdict(m) | {"prediction_id": known[m.card_uuid], "received_at": now} for m in messages]
    statement = (postgresql.insert if log.engine.dialect.name == "postgresql" else sqlite.insert)(feedback)
    with log.transaction() as connection:
        result = connection.execute(statement.on_conflict_do_nothing(index_elements=["message_sha256"]), rows)
    return max(int(result.rowcount), 0)


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
        tier = connection.execute(query).scalar()
    return None if tier is None else str(tier)


def cards_setting(log: PredictionLog) -> CardsSetting:
    with log.connection() as connection:
        row = connection.execute(select(service_settings).where(service_settings.c.name == CARDS_SETTING)
                                 ).mappings().first()
    if row is None:
        return CardsSetting(True, None, None)
    return CardsSetting(row["value"] == "on", row["changed_by"], row["changed_at"])


def set_cards(log: PredictionLog, on: bool, by: str) -> None:
    with log.transaction() as connection:
        connection.execute(delete(service_settings).where(service_settings.c.name == CARDS_SETTING))
        connection.execute(insert(service_settings).values(name=CARDS_SETTING, value="on" if on else "off",
                                                           changed_at=datetime.now(UTC), changed_by=by))
