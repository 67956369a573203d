"""Idle time-out for shared ward workstations: a sign-in unused for N minutes must be made again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from recovery_model.access.roles import AccessConfigError

SESSION_SECTION = "recovery_session"
DEFAULT_IDLE_MINUTES = 15.0
FORGET_AFTER_SECONDS = 31 * 24 * 3600  # longer than any sign-in cookie lives (Streamlit's: 30 days)


class Activity(Enum):
    NEW = "new"  # the first interaction of a sign-in
    ACTIVE = "active"
    TIMED_OUT = "timed_out"  # the first interaction after the time-out: the one to audit
    EXPIRED = "expired"  # every later one, until the sign-in is made anew


def idle_minutes(section: Mapping[str, Any] | None) -> float:
    """`[recovery_session] idle_minutes` (default 15); a fraction of a minute is allowed."""
    value = (section or {}).get("idle_minutes", DEFAULT_IDLE_MINUTES)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24 * 60:
        raise AccessConfigError(f"secrets.toml: [recovery_session] idle_minutes must be a number of minutes "
                                f"between 0 and 1440, not {value!r}.")
    return float(value)


class IdleClock:
    """The last interaction per sign-in, shared by every session of the process (reloads and tabs included).

    An expired sign-in stays expired until it is forgotten (sign-out) and made anew, so a reload cannot
    revive it; entries are dropped only when older than any sign-in cookie.
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.minutes = minutes
        self._clock = clock
        self._last: dict[str, float] = {}
        self._timed_out: set[str] = set()
        self._lock = threading.Lock()

    def touch(self, key: str) -> Activity:
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last > self.minutes * 60:
                if key in self._timed_out:
                    return Activity.EXPIRED
                self._timed_out.add(key)
                return Activity.TIMED_OUT
            self._last[key] = now
            if len(self._last) > 1000:
                self._last = {k: t for k, t in self._last.items() if now - t < FORGET_AFTER_SECONDS}
                self._timed_out &= set(self._last)
            return Activity.NEW if last is None else Activity.ACTIVE

    def forget(self, key: str) -> None:
        with self._lock:
            self._last.pop(key, None)
            self._timed_out.discard(key)
