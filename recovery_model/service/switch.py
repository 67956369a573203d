"""Cards switched off (and on) by an admin without stopping the service: a setting in the log's database, which
every worker reads (at most every few seconds). Scoring and logging go on; only the cards are held back."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select

from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import service_settings

CARDS = "cards"
READ_EVERY_S = 5.0


class CardSwitch:
    def __init__(self, log: PredictionLog) -> None:
        self.log = log
        self._read_at, self._on = 0.0, True

    def cards_on(self) -> bool:
        if time.monotonic() - self._read_at > READ_EVERY_S:
            self._on = cards_setting(self.log)[0]
            self._read_at = time.monotonic()
        return self._on


def cards_setting(log: PredictionLog) -> tuple[bool, str | None, datetime | None]:
    """(cards on?, who changed it, when)."""
    with log.connection() as connection:
        row = connection.execute(select(service_settings).where(service_settings.c.name == CARDS)).mappings().first()
    if row is None:
        return True, None, None
    return row["value"] == "on", row["changed_by"], row["changed_at"]


def set_cards(log: PredictionLog, on: bool, by: str) -> None:
    with log.transaction() as connection:
        connection.execute(delete(service_settings).where(service_settings.c.name == CARDS))
        connection.execute(insert(service_settings).values(name=CARDS, value="on" if on else "off",
                                                           changed_at=datetime.now(UTC), changed_by=by))
