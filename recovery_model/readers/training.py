"""Loading a training file: every schema column present and numeric, every row labelled."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.readers.checks import require_file
from recovery_model.readers.table import read_whole
from recovery_model.schema import Schema


def load_training_data(path: str | Path, schema: Schema) -> pd.DataFrame:
    """Read a training file (CSV or Parquet, through the same readers as scoring) and check that it has every
    schema column with numeric values and every row an outcome."""
    path = Path(path)
    require_file(path, f"Training data {path}", "Run `recovery generate` to make data/patients.csv, or pass --data "
                 "with your own file.")
    frame = read_whole(path)
    missing = [c for c in schema.columns if c not in frame.columns]
    if missing:
        raise DataValidationError(f"{path} lacks the columns {missing} that the schema '{schema.name}' needs.")
    for column in schema.columns:
        numeric = pd.to_numeric(frame[column], errors="coerce")  # text cells as read, parsed as pandas would
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
