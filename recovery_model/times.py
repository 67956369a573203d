"""Times as the log, the readers and `--as-of` use them: always UTC-aware; a naive time is read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recovery_model.errors import DataValidationError


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_as_of(text: str, option: str = "--as-of") -> datetime:
    """An ISO date or date-time; a date means the end of that day (UTC unless a zone is given)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise DataValidationError(f"{option} '{text}' is not an ISO date or date-time (e.g. 2026-11-30 or "
                                  "2026-11-30T08:00:00+01:00).") from None
    if len(text) == 10:
        moment += timedelta(days=1, microseconds=-1)
    return as_utc(moment)


def parse_start(text: str, option: str) -> datetime:
    """An ISO date or date-time as the first moment it names: a date is its midnight (UTC unless a zone is given).
    For bounds: --since (inclusive), --until and --before (exclusive)."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise DataValidationError(f"{option} '{text}' is not an ISO date or date-time (e.g. 2026-11-30).") from None
