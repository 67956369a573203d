"""`recovery predict` in this process: a file of any size ranked in bounded memory.

The core scores each chunk; its ranked rows are spilled to sorted runs, and one merge writes the list ranked by
risk (`runs`). Memory holds one chunk, the runs' risk columns and the patient ids, not the file.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from recovery_model.batch.core import (
    CHUNK_ROWS,
    Accounts,
    BatchResult,
    DriftSample,
    append_rejected,
    duplicate_ids_warning,
    score_frames,
)
from recovery_model.batch.runs import SortedRuns
from recovery_model.readers.table import open_frames, output_format
from recovery_model.scoring.assessment import RankedWard
from recovery_model.scoring.columns import ROW
from recovery_model.scoring.predictor import Predictor

if TYPE_CHECKING:
    from recovery_model.log.writer import BatchLog


def rank_file(predictor: Predictor, source: Path, output: Path, rejected_output: Path, top_k: int | None = None,
              threshold: float | None = None, explain: bool = False, chunk_rows: int = CHUNK_ROWS,
              declared_format: str | None = None, as_of: datetime | None = None,
              log: BatchLog | None = None) -> BatchResult:
    """Write `output` ranked by risk (highest first) and `rejected_output` (CSV) if any row was rejected.

    Input is any format of the reader table (FHIR values as of `as_of`), output CSV or Parquet, each by its
    extension unless `declared_format` says which. With a `log`, every scored row is logged (and the top K
    marked) before this returns.
    """
    schema = predictor.schema
    frames = open_frames(source, schema, chunk_rows, declared_format, as_of)
    accounts = Accounts(DriftSample(schema.feature_names))
    ids = _Ids(schema.id_column)
    rejected_rows = 0
    with tempfile.TemporaryDirectory(prefix="recovery-rank-") as scratch:
        runs = SortedRuns(Path(scratch), output_format(output, declared_format))
        for ward in score_frames(predictor, frames.chunks, str(source), accounts, threshold, explain):
            if log is not None:
                log.add(ward)
            ids.add(ward)
            if len(ward.rejected):
                append_rejected(rejected_output, ward.rejected, first=not rejected_rows)
                rejected_rows += len(ward.rejected)
            runs.add(ward.table(schema))
        runs.merge(output, top_k)
    logged = log.close(top_k) if log is not None else None
    return BatchResult(accounts.counts, [*frames.warnings, *duplicate_ids_warning(ids.repeated())],
                       accounts.rejected, predictor.check_drift(accounts.sample.rows()), frames.record_problems,
                       logged)


class _Ids:
    """Every patient id seen, scored or not, with its row: compact (Arrow strings), to find those that repeat."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.ids: list[pa.Array] = []
        self.rows: list[np.ndarray] = []

    def add(self, ward: RankedWard) -> None:
        for part in (ward.ranked, ward.rejected):
            if self.column in part.columns and len(part):
                self.ids.append(pa.array(part[self.column].astype("string"), pa.string()))
                self.rows.append(part[ROW].to_numpy())

    def repeated(self) -> list[tuple[str, list[str]]]:
        """(id, its rows in file order) for each id on more than one row, in order of first appearance."""
        if not self.ids:
            return []
        seen = pd.DataFrame({"id": pa.chunked_array(self.ids).to_pandas(), "row": np.concatenate(self.rows)})
        seen = seen[seen["id"].notna() & seen["id"].duplicated(keep=False)].sort_values("row", kind="stable")
        return [(pid, [str(r) for r in group["row"]]) for pid, group in seen.groupby("id", sort=False)]
