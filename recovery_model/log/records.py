"""What one logged prediction holds, built for a whole chunk of scored rows at once.

`Context` is what a chunk's rows share (where from, who, when, which model); `prediction_records` adds each
row's own: the patient, the validated values and which were imputed, risk, range, tier, drivers and flags. The
records are column-oriented, as a bulk insert (`COPY`, `executemany`) wants them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from recovery_model.scoring.columns import (
    ABOVE_THRESHOLD,
    ATYPICAL,
    DRIVERS,
    IN_TOP_K,
    OLDEST_VALUE_TIME,
    PROBLEMS,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    ROW,
    TIER,
)
from recovery_model.times import as_utc

if TYPE_CHECKING:
    from recovery_model.model.explain import Explanation
    from recovery_model.schema import Schema
    from recovery_model.scoring.checkpoint import CheckpointHeader
    from recovery_model.scoring.predictor import Predictor

class Source(StrEnum):
    """Where a risk was shown or sent. What-if risks are logged but never count as predictions; nor do a shadow
    model's, which nobody is shown (each is logged beside the shown one, with the same run and row)."""

    PATIENT = "patient"
    PATIENT_WHATIF = "patient_whatif"
    WARD = "ward"
    CLI_PREDICT = "cli_predict"
    CDS_HOOKS = "cds_hooks"
    API = "api"
    SHADOW = "shadow"


NOT_PREDICTIONS = (Source.PATIENT_WHATIF.value, Source.SHADOW.value)  # logged, never counted as predictions


@dataclass(frozen=True)
class Context:
    """What every row of one scoring call shares."""

    source: Source
    model_version: str
    model_digest: str
    predicted_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    input_sha256: str | None = None
    ward: str | None = None
    user: str | None = None
    role: str | None = None

    @classmethod
    def for_model(cls, model: Predictor | CheckpointHeader, source: Source, **given: Any) -> Context:
        """The context of rows `model` scores (a loaded predictor, or a checkpoint's header where the model is
        loaded elsewhere); `predicted_at` (the index time) defaults to now, in UTC."""
        if given.get("predicted_at") is None:
            given.pop("predicted_at", None)
        else:
            given["predicted_at"] = as_utc(given["predicted_at"])
        return cls(source, model.version, model.digest, **given)


def input_digest(path: Path) -> str | None:
    """The SHA-256 of an input file, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        return None
    for file in files:
        digest.update(file.name.encode() if path.is_dir() else b"")
        with file.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


Drivers = list[list[str] | None]  # per row: its top drivers in words, None for a row not scored


def driver_texts(rows: pd.DataFrame, explanation: Explanation | None, schema: Schema) -> Drivers | None:
    """Per row of `rows` (as `Predictor.assess` or `rank` give them), its top drivers in words; None when the rows
    were not explained. The explanation covers the scored rows in their order: each is put beside its own row."""
    if explanation is None:
        return None
    scored = np.flatnonzero(~np.isnan(rows[RISK].to_numpy(dtype=float)))
    if len(scored) != len(explanation.values):
        raise ValueError(f"{len(explanation.values)} explained rows for {len(scored)} scored ones")
    out: Drivers = [None] * len(rows)
    for row, texts in zip(scored, explanation.driver_texts(schema, DRIVERS), strict=True):
        out[row] = texts
    return out


WARD_COLUMN = "ward"  # a ward list's own column naming each patient's ward


def prediction_records(rows: pd.DataFrame, schema: Schema, context: Context,
                       drivers: Drivers | None = None, **per_call: Any) -> dict[str, list[Any]]:
    """The records of `rows` (validated rows, scored or not, as `Predictor.assess` or `rank` give them), column by
    column: every list has one entry per row, and JSON columns hold their text already.

    `drivers` (`driver_texts`) has one entry per row; `per_call` sets columns every record shares (a card's uuid,
    the hook instance)."""
    n = len(rows)
    values = rows[schema.feature_names].astype(float)
    risk = rows[RISK].to_numpy(dtype=float)
    scored = ~np.isnan(risk)
    shared = {"predicted_at": context.predicted_at, "logged_at": datetime.now(UTC), "source": str(context.source),
              "run_id": context.run_id, "input_sha256": context.input_sha256,
              "user_name": context.user, "user_role": context.role, "model_version": context.model_version,
              "model_digest": context.model_digest, "card_uuid": None, "hook_instance": None,
              "encounter_id": None, "card_shown": None, **per_call}
    return {name: [value] * n for name, value in shared.items()} | {
        "id": time_ordered_ids(n),
        "ward": _wards(rows, context.ward),
        "patient_id": _text_or_none(rows[schema.id_column]) if schema.id_column in rows else [None] * n,
        "row_number": rows[ROW].astype(int).tolist() if ROW in rows else [None] * n,
        "inputs": values.to_json(orient="records", lines=True).splitlines() if n else [],
        "imputed": _imputed(values, scored),
        "risk": _floats(risk), "risk_low": _floats(rows[RISK_LOW]), "risk_high": _floats(rows[RISK_HIGH]),
        "tier": rows[TIER].astype(str).tolist(),
        "atypical": _booleans(rows[ATYPICAL]),
        "drivers": _drivers(drivers, n),
        "flagged": _flags(rows, ABOVE_THRESHOLD, scored), "in_top_k": _flags(rows, IN_TOP_K, scored),
        "problems": [p or None for p in rows[PROBLEMS]] if PROBLEMS in rows else [None] * n,
        "oldest_value_at": _times(rows[OLDEST_VALUE_TIME]) if OLDEST_VALUE_TIME in rows else [None] * n,
    }


def time_ordered_ids(n: int) -> list[str]:
    """`n` UUIDs of version 7 (RFC 9562): the millisecond, a counter within the batch, then random bits. They sort
    by time, so the log's index grows at its end instead of everywhere (random UUIDs), and a batch makes them in
    one pass."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, :6] = np.frombuffer(time.time_ns().__floordiv__(1_000_000).to_bytes(6, "big"), dtype=np.uint8)
    counter = np.arange(n, dtype=np.uint32) % 4096
    raw[:, 6] = 0x70 | (counter >> 8).astype(np.uint8)
    raw[:, 7] = (counter & 0xFF).astype(np.uint8)
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [f"{text[i:i + 8]}-{text[i + 8:i + 12]}-{text[i + 12:i + 16]}-{text[i + 16:i + 20]}-{text[i + 20:i + 32]}"
            for i in range(0, 32 * n, 32)]


def _text_or_none(column: pd.Series) -> list[str | None]:
    return column.astype("string").to_numpy(dtype=object, na_value=None).tolist()


def _floats(column: Any) -> list[float | None]:
    array = np.asarray(column, dtype=float)
    out = array.astype(object)
    out[np.isnan(array)] = None
    return out.tolist()


def _wards(rows: pd.DataFrame, given: str | None) -> list[str | None]:
    """The ward each patient was on: the one the caller names (`--ward`), else the rows' own `ward` column (a
    ward list's, never the name of the file it came in), else unknown."""
    if given is not None or WARD_COLUMN not in rows:
        return [given] * len(rows)
    return [None if w is None or not str(w).strip() else str(w).strip() for w in _text_or_none(rows[WARD_COLUMN])]


def _times(column: pd.Series) -> list[datetime | None]:
    """ISO 8601 texts (blank: unknown) as UTC datetimes."""
    parsed = pd.to_datetime(column.replace("", None), utc=True, errors="coerce", format="ISO8601")
    return [None if pd.isna(t) else t.to_pydatetime() for t in parsed]


def _booleans(column: pd.Series) -> list[bool | None]:
    return column.astype("boolean").to_numpy(dtype=object, na_value=None).tolist()


def _imputed(values: pd.DataFrame, scored: np.ndarray) -> list[str]:
    """Per row, the JSON list of the features left blank (and imputed, for a scored row)."""
    names = np.array(values.columns)
    missing = values.isna().to_numpy() & scored[:, None]
    out = ["[]"] * len(values)
    for i in np.flatnonzero(missing.any(axis=1)):
        out[i] = json.dumps(names[missing[i]].tolist())
    return out


def _drivers(drivers: Drivers | None, n: int) -> list[str | None]:
    """Per row, the JSON list of its top drivers in words (None when not explained)."""
    if drivers is None:
        return [None] * n
    if len(drivers) != n:
        raise ValueError(f"drivers for {len(drivers)} rows, not {n}")
    return [None if texts is None else json.dumps(texts, ensure_ascii=False) for texts in drivers]


def _flags(rows: pd.DataFrame, column: str, scored: np.ndarray) -> list[bool | None]:
    if column not in rows:
        return [None] * len(rows)
    out = rows[column].to_numpy(dtype=bool).astype(object)
    out[~scored] = None
    return out.tolist()
