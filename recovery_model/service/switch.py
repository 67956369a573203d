"""Cards switched off (and on) by an admin without stopping the service: a setting in the log's database, which
every worker reads (at most every few seconds). Scoring and logging go on; only the cards are held back."""

from __future__ import annotations

import logging
import time

from recovery_model.errors import LogUnreachable
from recovery_model.log.cards import cards_setting
from recovery_model.log.store import PredictionLog

READ_EVERY_S = 5.0
logger = logging.getLogger("recovery.service")


class CardSwitch:
    def __init__(self, log: PredictionLog) -> None:
        self.log = log
        self._read_at, self._on = 0.0, True

    def cards_on(self) -> bool:
        """The admin's setting, read at most every `READ_EVERY_S`; while the database cannot be reached, the last
        setting read stands (cards on if none was ever read), and the service's log says so."""
        if time.monotonic() - self._read_at > READ_EVERY_S:
            self._read_at = time.monotonic()
            try:
                self._on = cards_setting(self.log).on
            except LogUnreachable as exc:
                logger.warning("the cards switch cannot be read (%s): cards stay %s", exc, "on" if self._on else "off")
        return self._on
