"""Idle time-out for shared ward workstations: a sign-in unused for N minutes must be made again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from recovery_model.errors import AccessConfigError

SESSION_SECTION = "recovery_session"
DEFAULT_IDLE_MINUTES, DEFAULT_MAX_HOURS = 15.0, 12.0
KEEP_SECONDS = 31 * 24 * 3600  # longer than any sign-in cookie lives (Streamlit's: 30 days)


class Activity(Enum):
    NEW = "new"  # the first interaction of a sign-in
    ACTIVE = "active"
    TIMED_OUT = "timed_out"  # the first interaction after the time-out: the one to audit
    EXPIRED = "expired"  # every later one, until the sign-in is made anew
    ENDED = "ended"  # signed out (in any tab): the sign-in cannot come back


def session_settings(section: Mapping[str, Any] | None) -> tuple[float, float]:
    """`[recovery_session] idle_minutes` (default 15; a fraction of a minute is allowed) and `max_hours` (default
    12, a shift: a provider's sign-in older than this is made again, so a role removed in the directory applies)."""
    if section is not None and not isinstance(section, Mapping):
        raise AccessConfigError("secrets.toml: [recovery_session] must be a table, e.g. [recovery_session] "
                                "idle_minutes = 15.")
    section = section or {}
    return (_number(section, "idle_minutes", DEFAULT_IDLE_MINUTES, "minutes", 24 * 60),
            _number(section, "max_hours", DEFAULT_MAX_HOURS, "hours", 24 * 30))


def _number(section: Mapping[str, Any], key: str, default: float, unit: str, most: float) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= most:
        raise AccessConfigError(f"secrets.toml: [recovery_session] {key} must be a number of {unit} between 0 and "
                                f"{most:g}, not {value!r}.")
    return float(value)


def wall_clock() -> float:
    """Seconds since the epoch: the clock every idle and age check reads (looked up at each call, so a test can
    move it)."""
    return time.time()


def beyond_max_age(issued_at: float | None, max_hours: float | None, at: float | None = None) -> bool:
    """A sign-in made more than `max_hours` ago (never, when either is unknown)."""
    if issued_at is None or max_hours is None:
        return False
    return (wall_clock() if at is None else at) - issued_at > max_hours * 3600


class IdleClock:
    """The last interaction per sign-in, shared by every session of the process (reloads and tabs included).

    A timed-out or ended sign-in stays so: a reload or another tab holding the same cookie cannot revive it,
    only a new sign-in (a new key). A sign-in this process has not seen (after a restart) counts from when it
    was made: older than the idle time, it has timed out.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or (lambda: wall_clock())
        self._last: dict[str, float] = {}
        self._over: dict[str, tuple[Activity, float]] = {}  # key → (TIMED_OUT or ENDED, since when)
        self._lock = threading.Lock()

    def touch(self, key: str, minutes: float, issued_at: float | None = None, max_hours: float | None = None
              ) -> Activity:
        """Record an interaction of sign-in `key` (made at `issued_at`, seconds since the epoch, if known)."""
        now = self._clock()
        with self._lock:
            if key in self._over:
                return Activity.ENDED if self._over[key][0] is Activity.ENDED else Activity.EXPIRED
            last = self._last.get(key, issued_at)
            if beyond_max_age(issued_at, max_hours, now) or (last is not None and now - last > minutes * 60):
                self._over[key] = (Activity.TIMED_OUT, now)
                self._last.pop(key, None)
                return Activity.TIMED_OUT
            seen = key in self._last
            self._last[key] = now
            self._forget_before(now - KEEP_SECONDS)
            return Activity.ACTIVE if seen else Activity.NEW

    def end(self, key: str) -> None:
        """Signed out: every session holding this sign-in is signed out at its next interaction."""
        with self._lock:
            self._over[key] = (Activity.ENDED, self._clock())
            self._last.pop(key, None)

    def _forget_before(self, moment: float) -> None:
        """Drop what no living cookie can name any more (checked only once the clock holds many sign-ins)."""
        if len(self._last) + len(self._over) > 10_000:
            self._last = {k: t for k, t in self._last.items() if t >= moment}
            self._over = {k: v for k, v in self._over.items() if v[1] >= moment}
