"""Parquet in and out for `recovery predict`, streamed so that memory follows the chunk, not the file.

Reading: row batches of a Parquet file, columns as their own types (the validator parses and checks
them as it does text). Writing: each chunk's ranked table is a sorted run; the merge orders every row
by risk from the runs' risk columns alone (12 bytes a row), then streams the runs once, in order, into
row groups of the output. Ranks and top-K flags are given in the merge, globally.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recovery_model.columns import IN_TOP_K, RANK, RISK, in_top_k
from recovery_model.errors import DataValidationError

PARQUET_SUFFIXES = (".parquet", ".pq")
ROW_GROUP_ROWS = 65_536


def file_format(path: Path, declared: str | None = None) -> str:
    """'parquet', 'fhir' or 'csv': as declared (--format), else by the file's extension (a folder is a FHIR
    bulk export)."""
    from recovery_model.fhir import is_fhir

    if declared:
        return declared
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    return "fhir" if is_fhir(path) else "csv"


def iter_patient_parquet(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of `chunk_rows` rows of a Parquet file; a file that is not Parquet is refused by name."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{path}: file not found.")
    try:
        source = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{path} is not a readable Parquet file ({exc}). Write it with a Parquet "
                                  "library, or pass a CSV file (or --format csv).") from None
    names = source.schema_arrow.names
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataValidationError(f"{path}: the columns {duplicated} appear more than once; keep one of each.")
    any_rows = False
    try:
        for batch in source.iter_batches(batch_size=chunk_rows):
            if batch.num_rows:
                any_rows = True
                yield batch.to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{path} is damaged after its first rows ({exc}).") from None
    if not any_rows:
        raise DataValidationError(f"{path} holds no patient rows.")


class ParquetRuns:
    """Sorted runs of ranked rows in a scratch folder, merged into one Parquet file ranked by risk."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.runs: list[Path] = []
        self.schema: pa.Schema | None = None

    def add(self, table: pd.DataFrame) -> None:
        """One chunk's ranked table (already sorted by risk, highest first)."""
        text = [c for c in table.columns if table[c].dtype == object]  # text stays text, even when all empty
        arrow = pa.Table.from_pandas(table.astype({c: "string" for c in text}), preserve_index=False)
        if self.schema is None:
            self.schema = arrow.schema
        arrow = _conform(arrow, self.schema)
        run = self.scratch / f"run{len(self.runs)}.parquet"
        pq.write_table(arrow, run)
        self.runs.append(run)

    def merge(self, output: Path, top_k: int | None) -> None:
        if self.schema is None:
            pq.write_table(pa.table({}), output)
            return
        risks = [pq.read_table(run, columns=[RISK]).column(RISK).to_numpy() for run in self.runs]
        run_of = np.concatenate([np.full(len(r), i, dtype=np.int32) for i, r in enumerate(risks)])
        order = np.argsort(-np.concatenate(risks), kind="stable")  # ties: earlier runs, then earlier rows
        merged_runs = run_of[order]
        readers = [_RunReader(run) for run in self.runs]
        with pq.ParquetWriter(output, self.schema) as writer:
            for start in range(0, len(merged_runs), ROW_GROUP_ROWS):
                block = merged_runs[start:start + ROW_GROUP_ROWS]
                counts = np.bincount(block, minlength=len(readers))
                grouped = pa.concat_tables([readers[i].take(int(c)) for i, c in enumerate(counts) if c])
                table = grouped.take(np.argsort(np.argsort(block, kind="stable")))
                rank = np.arange(start + 1, start + len(block) + 1)
                table = table.set_column(table.schema.get_field_index(RANK), RANK, pa.array(rank, pa.int64()))
                table = table.set_column(table.schema.get_field_index(IN_TOP_K), IN_TOP_K,
                                         pa.array(in_top_k(rank, top_k)))
                writer.write_table(_conform(table, self.schema))


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A chunk's table in the first chunk's column types."""
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataValidationError(f"A pass-through column changes type part-way through the file ({exc}); give "
                                  "it one type throughout.") from None


class _RunReader:
    """Rows of one sorted run, taken in order, a record batch at a time."""

    def __init__(self, path: Path) -> None:
        self._batches = pq.ParquetFile(path).iter_batches(batch_size=ROW_GROUP_ROWS)
        self._buffer: pa.Table | None = None

    def take(self, n: int) -> pa.Table:
        while self._buffer is None or self._buffer.num_rows < n:
            batch = pa.Table.from_batches([next(self._batches)])
            self._buffer = batch if self._buffer is None else pa.concat_tables([self._buffer, batch])
        taken, self._buffer = self._buffer.slice(0, n), self._buffer.slice(n)
        return taken
