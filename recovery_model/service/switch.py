"""Cards switched off (and on) by an admin without stopping the service: a setting in the log's database, which
every worker reads (at most every few seconds). Scoring and logging go on; only the cards are held back."""

from __future__ import annotations

import time

from recovery_model.log.cards import cards_setting
from recovery_model.log.store import PredictionLog

READ_EVERY_S = 5.0


class CardSwitch:
    def __init__(self, log: PredictionLog) -> None:
        self.log = log
        self._read_at, self._on = 0.0, True

    def cards_on(self) -> bool:
        if time.monotonic() - self._read_at > READ_EVERY_S:
            self._on = cards_setting(self.log).on
            self._read_at = time.monotonic()
        return self._on
