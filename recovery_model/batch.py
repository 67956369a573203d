"""Ranking a ward or hospital file of any size in bounded memory: `recovery predict`.

Chunks are validated, scored (and explained) one at a time, sorted, and spilled to temporary
files; one merge then writes the list ranked by risk (`runs`). Memory holds one chunk, not the file.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from recovery_model.columns import PROBLEMS, ROW
from recovery_model.drift import DriftReport
from recovery_model.errors import DataValidationError
from recovery_model.fhir import FhirProblem, read_fhir
from recovery_model.io import iter_patient_csv, spreadsheet_safe
from recovery_model.parquet import file_format, iter_patient_parquet
from recovery_model.predictor import Predictor
from recovery_model.runs import SortedRuns

CHUNK_ROWS = 50_000
DRIFT_SAMPLE_ROWS = 5_000  # a uniform sample of the scored rows across the whole file is tested for drift


@dataclass
class BatchResult:
    counts: dict[str, int] = field(default_factory=lambda: {"rows": 0, "scored": 0, "flagged": 0, "rejected": 0})
    warnings: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    drift: DriftReport | None = None
    record_problems: list[FhirProblem] = field(default_factory=list)  # FHIR input: values left blank, by patient


def rank_file(predictor: Predictor, source: Path, output: Path, rejected_output: Path, top_k: int | None = None,
              threshold: float | None = None, explain: bool = False, chunk_rows: int = CHUNK_ROWS,
              declared_format: str | None = None, as_of: datetime | None = None) -> BatchResult:
    """Write `output` ranked by risk (highest first) and `rejected_output` (CSV) if any row was rejected.

    Input is CSV, Parquet or FHIR (a Bundle, NDJSON, or a bulk-export folder; values as of `as_of`), output CSV
    or Parquet, each by its extension unless `declared_format` says which.
    """
    result = BatchResult()
    id_hashes: list[np.ndarray] = []
    sample = _DriftSample(predictor.schema.feature_names)
    chunks = _chunks(predictor, source, file_format(source, declared_format), chunk_rows, as_of, result)
    output_format = file_format(output, declared_format if declared_format != "fhir" else None)
    with tempfile.TemporaryDirectory(prefix="recovery-rank-") as scratch:
        runs = SortedRuns(Path(scratch), output_format)
        for offset, chunk in _offsets(chunks):
            try:
                ward = predictor.rank(chunk, threshold=threshold, explain=explain, first_row=offset + 1)
            except DataValidationError as exc:  # the file as a whole cannot be used: say which file
                raise DataValidationError(f"{source}: {exc}") from None
            add_counts(result.counts, ward.counts)
            sample.add(ward.ranked)
            if predictor.schema.id_column in chunk.columns:
                id_hashes.append(np.column_stack([
                    pd.util.hash_pandas_object(chunk[predictor.schema.id_column], index=False).to_numpy(),
                    np.arange(offset + 1, offset + len(chunk) + 1, dtype=np.uint64)]))
            if len(ward.rejected):
                _append_rejected(rejected_output, ward.rejected, first=not result.rejected)
                result.rejected += list(zip(ward.rejected[ROW], ward.rejected[PROBLEMS], strict=True))
            runs.add(ward.table(predictor.schema))
        runs.merge(output, top_k)
    result.warnings += _duplicate_ids(id_hashes)
    result.drift = predictor.check_drift(sample.rows())
    return result


def _chunks(predictor: Predictor, source: Path, kind: str, chunk_rows: int, as_of: datetime | None,
            result: BatchResult) -> Iterator[pd.DataFrame]:
    if kind == "parquet":
        return iter_patient_parquet(source, chunk_rows)
    if kind == "csv":
        return iter_patient_csv(source, chunk_rows)
    record = read_fhir(source, predictor.schema, as_of)
    result.warnings += record.warnings
    result.record_problems = record.problems
    return (record.frame.iloc[start:start + chunk_rows] for start in range(0, len(record.frame), chunk_rows))


class _DriftSample:
    """A uniform random sample of rows across chunks: each row gets a random key, the smallest keys stay."""

    def __init__(self, columns: list[str], size: int = DRIFT_SAMPLE_ROWS, seed: int = 0) -> None:
        self.columns, self.size = columns, size
        self.rng = np.random.default_rng(seed)
        self.kept: list[pd.DataFrame] = []

    def add(self, rows: pd.DataFrame) -> None:
        keyed = rows[self.columns].assign(_key=self.rng.random(len(rows)))
        self.kept = [pd.concat([*self.kept, keyed], ignore_index=True).nsmallest(self.size, "_key")]

    def rows(self) -> pd.DataFrame:
        return self.kept[0][self.columns].reset_index(drop=True) if self.kept else pd.DataFrame(columns=self.columns)


def _offsets(chunks: Iterator[pd.DataFrame]) -> Iterator[tuple[int, pd.DataFrame]]:
    offset = 0
    for chunk in chunks:
        chunk.index = range(len(chunk))
        yield offset, chunk
        offset += len(chunk)


def add_counts(total: dict[str, int], part: dict[str, int]) -> None:
    """Counts add up across chunks (and partitions); duplicated ids are found across the whole input, not here."""
    for key, value in part.items():
        total[key] += value


def _append_rejected(path: Path, rejected: pd.DataFrame, first: bool) -> None:
    with path.open("w" if first else "a", encoding="utf-8", newline="") as handle:
        spreadsheet_safe(rejected).to_csv(handle, index=False, header=first, quoting=csv.QUOTE_ALL,
                                          lineterminator="\n")


def _duplicate_ids(id_hashes: list[np.ndarray]) -> list[str]:
    """Patient ids seen on more than one row, across the whole file (16 bytes a row, not the ids)."""
    if not id_hashes:
        return []
    pairs = np.concatenate(id_hashes)
    order = np.argsort(pairs[:, 0], kind="stable")
    hashes, rows = pairs[order, 0], pairs[order, 1]
    repeated = np.flatnonzero(hashes[1:] == hashes[:-1])
    if not len(repeated):
        return []
    groups: dict[int, list[int]] = {}
    for i in repeated:
        groups.setdefault(int(hashes[i]), [int(rows[i])]).append(int(rows[i + 1]))
    examples = "; ".join(f"rows {', '.join(map(str, sorted(set(r))))}" for r in list(groups.values())[:5])
    return [f"{len(groups)} patient ids appear on more than one row ({examples}); each is scored, check for a "
            "duplicated extract."]


__all__ = ["CHUNK_ROWS", "BatchResult", "rank_file"]
