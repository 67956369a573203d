"""Observed outcomes into the log, each linked to the patient's latest prediction before it.

An outcome is the schema's target value for a patient at `outcome_time`. It is linked to that patient's latest
prediction (what-ifs aside) at or before `outcome_time` and at most `window_days` before it; the monitor counts
each outcome once, with that prediction. Importing the same file again changes nothing; an outcome that
contradicts one already recorded (same patient, same time, the other value) is reported and never overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from recovery_model.errors import DataValidationError
from recovery_model.log.records import input_digest
from recovery_model.log.store import PredictionLog, counts_as_prediction
from recovery_model.log.tables import outcomes, predictions
from recovery_model.schema import Schema

OUTCOME_TIME = "outcome_time"
SHOWN = 10
QUERY_IDS = 500
TIME_DTYPE = "datetime64[us, UTC]"  # one resolution for both sides of the as-of join


@dataclass
class OutcomeImport:
    """What an import did, and every row it could not use, by row or patient."""

    source: str
    rows: int = 0
    recorded: int = 0
    linked: int = 0
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)
    never_scored: list[str] = field(default_factory=list)
    no_prediction_before: list[str] = field(default_factory=list)
    bad_values: list[str] = field(default_factory=list)
    bad_times: list[str] = field(default_factory=list)
    missing_ids: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.rows} outcomes read, {self.recorded} recorded ({self.linked} linked to a "
                 f"prediction), {self.unchanged} already recorded."]
        for items, what in ((self.conflicts, "contradict an outcome already recorded (not overwritten)"),
                            (self.never_scored, "are for patients never scored"),
                            (self.no_prediction_before, "have no prediction within the window before them "
                             "(recorded, not linked)"),
                            (self.bad_values, "have a value that is not one of the target's two values"),
                            (self.bad_times, "have an outcome_time that is not an ISO date or date-time"),
                            (self.missing_ids, "have no patient id")):
            if items:
                shown = "; ".join(items[:SHOWN]) + (f"; and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
                lines.append(f"{len(items)} {what}: {shown}")
        return "\n".join(lines)


def import_outcomes(log: PredictionLog, path: Path, schema: Schema, window_days: int = 30) -> OutcomeImport:
    """Record the outcomes in `path` (CSV or Parquet: the id column, outcome_time, the target column)."""
    from recovery_model.readers.table import read_whole

    frame = read_whole(path, contents="an outcomes file (patient id, outcome_time, outcome)")
    target = schema.target.name
    missing = [c for c in (schema.id_column, OUTCOME_TIME, target) if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{path} lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                                  f"an outcomes file has {schema.id_column}, {OUTCOME_TIME} and {target}.")
    report = OutcomeImport(str(path), rows=len(frame))
    usable = _usable(frame, schema, report)
    known = _known(log, usable)
    new = usable.merge(known, on=["patient_id", "outcome_time"], how="left")
    recorded = new["event_recorded"].notna()
    same = recorded & (new["event_recorded"] == new["event"])
    report.unchanged = int(same.sum())
    report.conflicts += [f"patient {p} at {t:%Y-%m-%d %H:%M}: {_word(schema, e)} here, {_word(schema, r)} recorded"
                        for p, t, e, r in new.loc[recorded & ~same, ["patient_id", "outcome_time", "event",
                                                                     "event_recorded"]].itertuples(index=False)]
    fresh = new.loc[~recorded, ["patient_id", "outcome_time", "event", "row"]]
    linked = _link(log, fresh, timedelta(days=window_days), report)
    _insert(log, linked, input_digest(path))
    report.recorded, report.linked = len(linked), int(linked["prediction_id"].notna().sum())
    return report


def _usable(frame: pd.DataFrame, schema: Schema, report: OutcomeImport) -> pd.DataFrame:
    rows = pd.Series(np.arange(2, len(frame) + 2), index=frame.index)  # as a spreadsheet numbers them
    ids = frame[schema.id_column].map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())
    times = pd.to_datetime(frame[OUTCOME_TIME].astype("string"), utc=True, errors="coerce", format="ISO8601")
    values = pd.to_numeric(frame[schema.target.name], errors="coerce")
    levels = {schema.target.event_value, 1 - schema.target.event_value}
    good_value = values.isin(levels)
    report.missing_ids = [f"row {r}" for r in rows[ids.isna()]]
    report.bad_times = [f"row {r} ('{v}')" for r, v in zip(rows[times.isna()], frame.loc[times.isna(), OUTCOME_TIME],
                                                           strict=True)]
    report.bad_values = [f"row {r} ('{v}')" for r, v in zip(rows[~good_value], frame.loc[~good_value,
                                                                                          schema.target.name],
                                                            strict=True)]
    keep = ids.notna() & times.notna() & good_value
    usable = pd.DataFrame({"patient_id": ids[keep].astype(object), "outcome_time": times[keep],
                           "event": values[keep] == schema.target.event_value, "row": rows[keep]})
    usable = usable.drop_duplicates(["patient_id", "outcome_time", "event"])
    torn = usable.duplicated(["patient_id", "outcome_time"], keep=False)  # both values for one patient and time
    report.conflicts = [f"patient {p} at {t:%Y-%m-%d %H:%M}: both values in this file (rows "
                        f"{', '.join(str(r) for r in group['row'])})"
                        for (p, t), group in usable[torn].groupby(["patient_id", "outcome_time"])]
    return usable[~torn]


def _known(log: PredictionLog, usable: pd.DataFrame) -> pd.DataFrame:
    """The outcomes already recorded for these patients: patient_id, outcome_time, event_recorded."""
    parts = [log.read_frame(select(outcomes.c.patient_id, outcomes.c.outcome_time,
                                   outcomes.c.event.label("event_recorded")).where(outcomes.c.patient_id.in_(chunk)))
             for chunk in _chunks(usable["patient_id"].unique())]
    if not parts:
        return pd.DataFrame({"patient_id": pd.Series([], dtype=object), "event_recorded": pd.Series([], dtype=bool),
                             "outcome_time": pd.Series([], dtype="datetime64[ns, UTC]")})
    return pd.concat(parts, ignore_index=True).astype({"event_recorded": bool})


def _link(log: PredictionLog, fresh: pd.DataFrame, window: timedelta, report: OutcomeImport) -> pd.DataFrame:
    """Each new outcome with its patient's latest prediction in [outcome_time - window, outcome_time]."""
    if not len(fresh):
        return fresh.assign(prediction_id=None)[["patient_id", "outcome_time", "event", "prediction_id"]]
    parts = [log.read_frame(select(predictions.c.id.label("prediction_id"), predictions.c.patient_id,
                               predictions.c.predicted_at)
                        .where(predictions.c.patient_id.in_(chunk), counts_as_prediction(predictions.c.source)))
             for chunk in _chunks(fresh["patient_id"].unique())]
    scored = (pd.concat(parts, ignore_index=True) if parts else
              pd.DataFrame({"prediction_id": pd.Series([], dtype=object), "patient_id": pd.Series([], dtype=object),
                            "predicted_at": pd.Series([], dtype="datetime64[ns, UTC]")}))
    scored = scored.astype({"patient_id": object, "predicted_at": TIME_DTYPE})
    scored_patients = set(scored["patient_id"])
    never = ~fresh["patient_id"].isin(scored_patients)
    report.never_scored = [f"patient {p} (row {r})" for p, r in fresh.loc[never, ["patient_id", "row"]]
                           .itertuples(index=False)]
    outcomes_sorted = fresh.astype({"outcome_time": TIME_DTYPE}).sort_values("outcome_time")
    linked = pd.merge_asof(outcomes_sorted, scored.sort_values("predicted_at"), left_on="outcome_time",
                           right_on="predicted_at", by="patient_id", direction="backward", tolerance=window)
    unlinked = linked["prediction_id"].isna() & linked["patient_id"].isin(scored_patients)
    report.no_prediction_before = [f"patient {p} at {t:%Y-%m-%d %H:%M}" for p, t in
                                   linked.loc[unlinked, ["patient_id", "outcome_time"]].itertuples(index=False)]
    return linked[["patient_id", "outcome_time", "event", "prediction_id"]]


def _insert(log: PredictionLog, linked: pd.DataFrame, digest: str | None) -> None:
    if not len(linked):
        return
    now = datetime.now(UTC)
    rows = [{"patient_id": p, "outcome_time": t.to_pydatetime(), "event": bool(e),
             "prediction_id": None if pd.isna(i) else i, "imported_at": now, "input_sha256": digest}
            for p, t, e, i in linked.itertuples(index=False)]
    with log.transaction() as connection:
        connection.execute(insert(outcomes), rows)


def _chunks(values: np.ndarray) -> list[list[str]]:
    listed = [str(v) for v in values]
    return [listed[i:i + QUERY_IDS] for i in range(0, len(listed), QUERY_IDS)]


def _word(schema: Schema, event: bool) -> str:
    return schema.target.event_label if event else schema.target.non_event_label
