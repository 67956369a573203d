"""Loading a training file and splitting it: stratified train / validation / test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.schema import Schema

VALIDATION_SHARE = 0.15
TEST_SHARE = 0.15


@dataclass(frozen=True)
class Split:
    """Rows for fitting, for early stopping and calibration, and for the final report."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def load_training_data(path: str | Path, schema: Schema) -> pd.DataFrame:
    """Read a training CSV and check it has every schema column with numeric values."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"Training data not found: {path}. Run `recovery generate` to make "
                                  "data/patients.csv, or pass --data with your own file.")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(f"{path} is not a readable CSV file: {exc}") from None
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{path} lacks the columns {missing} that the schema '{schema.name}' needs.")
    for column in schema.columns:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        bad = frame.index[numeric.isna() & frame[column].notna()]
        if len(bad):
            raise DataValidationError(f"{path}: column '{column}' has non-numeric values, first at row "
                                      f"{bad[0] + 2} ('{frame.at[bad[0], column]}').")
        frame[column] = numeric
    unlabelled = frame[schema.target.name].isna()
    if unlabelled.any():
        raise DataValidationError(f"{path}: {int(unlabelled.sum())} rows have no '{schema.target.name}' "
                                  f"value (first at row {int(np.argmax(unlabelled)) + 2}); label or remove them.")
    return frame


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a training frame, stored with the model it trained."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def split(frame: pd.DataFrame, schema: Schema, seed: int) -> Split:
    """Stratified 70 / 15 / 15 split on the event, reproducible by seed."""
    from sklearn.model_selection import train_test_split  # training only: keeps the app's start-up light

    event = schema.event_from_target(frame[schema.target.name])
    rest, test = train_test_split(frame, test_size=TEST_SHARE, stratify=event, random_state=seed)
    rest_event = schema.event_from_target(rest[schema.target.name])
    train, validation = train_test_split(rest, test_size=VALIDATION_SHARE / (1 - TEST_SHARE),
                                         stratify=rest_event, random_state=seed)
    return Split(train, validation, test)
