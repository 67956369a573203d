"""How old a value may be when it is used: each feature's shelf life (`max_age_hours` in the schema).

A heart rate from last year says nothing about today. A value measured longer before the index time than its
feature's shelf life is not recorded: left blank, named with its date, and the range widens as for any missing
value. The FHIR reader applies this to the dates in the record. A CSV or Parquet file may give a `<feature>_time`
column (ISO 8601; a time without a zone is UTC): then each value in it needs a time, and one after the index time
is not used either. Every row says when the oldest value it uses was measured (`oldest_value_time`), so a page, a
card, a file or the log can say what the risk rests on; it is blank when a value with a shelf life had no time
column (its age unknown, so the oldest is unknown too).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from recovery_model.schema import Feature, Schema
from recovery_model.scoring.columns import OLDEST_VALUE_TIME, OUTDATED, time_column
from recovery_model.times import as_utc

CLOCK_LEEWAY = timedelta(minutes=5)  # a value stamped a little after the index time: two clocks, not the future
HOURS_PER_YEAR = 24 * 365


def shelf_life_text(hours: float) -> str:
    """'24 h', '7 days', '1 year': how a person says a shelf life."""
    if hours >= HOURS_PER_YEAR and hours % HOURS_PER_YEAR == 0:
        years = int(hours // HOURS_PER_YEAR)
        return f"{years} year{'' if years == 1 else 's'}"
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} h"


def moment_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def outdated_reason(feature: Feature, measured: datetime, as_of: datetime) -> str | None:
    """Why a value measured at `measured` cannot stand for the patient at `as_of` (None: it can)."""
    if measured > as_of + CLOCK_LEEWAY:
        return f"measured {moment_text(measured)}, after the index time {moment_text(as_of)}; not used"
    if feature.max_age_hours is not None and as_of - measured > timedelta(hours=feature.max_age_hours):
        return (f"last measured {measured:%Y-%m-%d}, older than {shelf_life_text(feature.max_age_hours)} at "
                f"{as_of:%Y-%m-%d}; not recorded")
    return None


def apply_shelf_life(frame: pd.DataFrame, schema: Schema, as_of: datetime) -> pd.DataFrame:
    """A table's rows with each value that has a `<feature>_time` column checked against its shelf life.

    A value too old, dated after `as_of`, or without a readable time is blanked and said in `outdated_values`;
    `oldest_value_time` is the earliest time among the values kept. A table without time columns is returned as
    it is: its values carry no date, and nothing is said about their age."""
    timed = [f for f in schema.features if time_column(f.name) in frame.columns]
    if not timed:
        return frame
    as_of = as_utc(as_of)
    frame = frame.copy()
    notes: list[list[str]] = [[] for _ in range(len(frame))]
    oldest = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    limit = np.datetime64(as_of.replace(tzinfo=None) + CLOCK_LEEWAY, "ns")
    for feature in timed:
        raw = frame[time_column(feature.name)]
        times = pd.to_datetime(raw, utc=True, errors="coerce", format="ISO8601").dt.tz_localize(None).to_numpy()
        present = _present(frame[feature.name])
        unreadable = present & np.isnat(times)
        too_old = np.zeros(len(frame), dtype=bool)
        if feature.max_age_hours is not None:
            earliest = np.datetime64(as_of.replace(tzinfo=None) - timedelta(hours=feature.max_age_hours), "ns")
            too_old = present & ~np.isnat(times) & (times < earliest)
        future = present & ~np.isnat(times) & (times > limit)
        for i in np.flatnonzero(unreadable | too_old | future):
            notes[i].append(f"{feature.display_name}: {_reason(feature, raw.iloc[i], times[i], as_of)}")
        frame.loc[unreadable | too_old | future, feature.name] = np.nan
        kept = present & ~(unreadable | too_old | future)
        oldest = np.where(kept & (np.isnat(oldest) | (times < oldest)), times, oldest)
    # a value with a shelf life but no time column is of unknown age: then so is the row's oldest value
    undated = [f.name for f in schema.features if f.max_age_hours is not None and f not in timed]
    unknown = np.zeros(len(frame), dtype=bool)
    for name in undated:
        unknown |= np.asarray(_present(frame[name]), dtype=bool)
    frame[OUTDATED] = ["; ".join(n) for n in notes]
    frame[OLDEST_VALUE_TIME] = ["" if np.isnat(t) or unknown[i] else moment_text(pd.Timestamp(t).to_pydatetime())
                                for i, t in enumerate(oldest)]
    return frame


def _present(values: pd.Series) -> np.ndarray:
    blank = values.isna() | (values.astype(str).str.strip() == "")
    return ~blank.to_numpy()


def _reason(feature: Feature, raw: object, time: np.datetime64, as_of: datetime) -> str:
    column = time_column(feature.name)
    if np.isnat(time):
        if raw is None or (isinstance(raw, float) and np.isnan(raw)) or not str(raw).strip():
            return f"no time in {column}, so its age is unknown; not used"
        return f"{column} '{raw}' is not an ISO 8601 date or date-time; not used"
    measured = pd.Timestamp(time).tz_localize("UTC").to_pydatetime()
    return outdated_reason(feature, measured, as_of) or ""
