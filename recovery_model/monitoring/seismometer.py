"""The log in the layout of Epic's open-source seismometer, so that a site can run that tool on the same data.

`DIR/config.yml` (other_info), `DIR/usage_config.yml` (data_usage), `DIR/dictionary.yml`, and in `DIR/data/`:
`predictions.parquet` (one row per scored prediction: patient, time, risk, cohorts), `events.parquet` (one row per
recorded outcome: patient, Type, EventTime, Value 1 for the adverse event and 0 for none) and `metadata.json`
(model name, thresholds). Times are UTC, as datetime64[ns] without a zone, which seismometer expects.

`sm.run_startup(config_path=DIR)` opens it from any current directory. seismometer 0.5 (`configuration/config.py`,
`ConfigProvider`) reads `usage_config`, `event_definition` and `prediction_definition` relative to DIR (`load_yaml`
with `resource_dir=config_dir`), but takes `data_dir` and `info_dir` as written, so relative to the current
directory (`data_dir / prediction_path`, `event_path`, `metadata_path`; `set_output` resolves `info_dir`, where its
reports go). So the first three are written relative to DIR, and `data_dir` and `info_dir` (`DIR/outputs/`,
created if absent) as absolute paths: a folder moved after the export needs exporting again, or those two lines edited.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from recovery_model.log.monitoring import NO_WARD, recorded_outcomes
from recovery_model.log.store import PredictionLog
from recovery_model.monitoring.data import input_column
from recovery_model.schema import Schema
from recovery_model.scoring.thresholds import Thresholds

PREDICT_TIME, SCORE = "PredictTime", "Risk"
EVENT_TYPE = "adverse_outcome"
CENSOR_MIN_COUNT = 10
DATA_DIR, INFO_DIR = "data", "outputs"  # in the export's folder; config.yml names them by absolute path


def export_seismometer(log: PredictionLog, rows: pd.DataFrame, schema: Schema, thresholds: Thresholds,
                       folder: Path, window_days: int) -> dict[str, int]:
    """Write the files from `rows` (`read_prediction_rows`); the rows of each table."""
    folder = folder.resolve()
    data_dir, info_dir = folder / DATA_DIR, folder / INFO_DIR
    data_dir.mkdir(parents=True, exist_ok=True)
    info_dir.mkdir(exist_ok=True)
    predictions, cohorts = _predictions(rows, schema)
    events = _events(log)
    predictions.to_parquet(data_dir / "predictions.parquet", index=False)
    events.to_parquet(data_dir / "events.parquet", index=False)
    (data_dir / "metadata.json").write_text(json.dumps({"modelname": f"recovery: {schema.target.risk_of}",
                                                        "thresholds": [thresholds.high, thresholds.moderate]},
                                                       indent=1) + "\n", encoding="utf-8")
    _yaml(folder / "config.yml", {"other_info": {
        "usage_config": "usage_config.yml", "info_dir": str(info_dir), "data_dir": str(data_dir),
        "event_definition": "dictionary.yml", "prediction_definition": "dictionary.yml",
        "prediction_path": "predictions.parquet", "event_path": "events.parquet", "metadata_path": "metadata.json"}})
    _yaml(folder / "usage_config.yml", {"data_usage": {
        "entity_id": schema.id_column, "predict_time": PREDICT_TIME, "primary_output": SCORE,
        "primary_target": schema.target.event_label, "cohorts": cohorts,
        "event_table": {"type": "Type", "time": "EventTime", "value": "Value"},
        "events": [{"source": EVENT_TYPE, "display_name": schema.target.event_label,
                    "window_hr": window_days * 24, "offset_hr": 0, "usage": "target", "aggregation_method": "max"}],
        "censor_min_count": CENSOR_MIN_COUNT}})
    _yaml(folder / "dictionary.yml", {
        "predictions": [{"name": SCORE, "dtype": "float64", "definition": f"The calibrated {schema.target.risk_of}."},
                        {"name": PREDICT_TIME, "dtype": "datetime64[ns]", "definition": "The index time (UTC)."}],
        "events": [{"name": EVENT_TYPE, "dtype": "int64",
                    "definition": f"1: the patient {schema.target.event_label}; 0: {schema.target.non_event_label}."}]})
    return {"predictions": len(predictions), "events": len(events)}


def _predictions(frame: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    out = pd.DataFrame({schema.id_column: frame["patient_id"].astype(str),
                        PREDICT_TIME: _naive(frame["predicted_at"]), SCORE: frame["risk"].astype(float),
                        "tier": frame["tier"].astype(str), "ward": frame["ward"].fillna(NO_WARD).astype(str),
                        "model_version": frame["model_version"].astype(str)})
    cohorts = [{"source": name, "display_name": name.replace("_", " ").capitalize()}
               for name in ("tier", "ward", "model_version")]
    for subgroup in schema.subgroups:
        feature = schema.feature(subgroup.feature)
        labels = np.full(len(frame), None, dtype=object)
        for label, mask in subgroup.masks(feature, frame[input_column(feature.name)].to_numpy(dtype=float)):
            labels[mask] = label
        out[feature.name] = labels
        cohorts.append({"source": feature.name, "display_name": feature.display_name})
    return out, cohorts


def _events(log: PredictionLog) -> pd.DataFrame:
    recorded = recorded_outcomes(log)
    return pd.DataFrame({"patient_id": recorded["patient_id"].astype(str), "Type": EVENT_TYPE,
                         "EventTime": _naive(recorded["outcome_time"]),
                         "Value": recorded["event"].astype(bool).astype("int64")})


def _naive(times: pd.Series) -> pd.Series:
    return pd.to_datetime(times, utc=True).dt.tz_localize(None).astype("datetime64[ns]")


def _yaml(path: Path, content: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True), encoding="utf-8")
