"""Ranked chunks spilled to disk as sorted runs, merged into one file ranked by risk: `recovery predict`'s output.

Each chunk's ranked table is a sorted run (a Parquet file in a scratch folder). The merge orders every row by
risk from the runs' risk columns alone (12 bytes a row), then streams the runs once, in order, into the output:
Parquet row groups, or CSV written by Arrow. Ranks and top-K flags are given in the merge, globally.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from recovery_model.errors import DataValidationError
from recovery_model.readers.csv import spreadsheet_safe
from recovery_model.scoring.columns import IN_TOP_K, RANK, RISK, in_top_k

ROW_GROUP_ROWS = 65_536


class SortedRuns:
    """Sorted runs of ranked rows in a scratch folder, merged into one file (Parquet or CSV) ranked by risk."""

    def __init__(self, scratch: Path, output_format: str) -> None:
        self.scratch = scratch
        self.output_format = output_format
        self.runs: list[Path] = []
        self.schema: pa.Schema | None = None
        self._empty: pa.Table | None = None  # a chunk in which nothing was scored: the header, if no row comes

    def add(self, table: pd.DataFrame) -> None:
        """One chunk's ranked table (already sorted by risk, highest first; may be empty); for CSV, made
        spreadsheet-safe. The first chunk with rows sets the column types."""
        if self.output_format == "csv":
            table = spreadsheet_safe(table)
        text = [c for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])
                and not pd.api.types.is_bool_dtype(table[c])]  # text stays text, even when all empty
        arrow = pa.Table.from_pandas(table.astype({c: "string" for c in text}), preserve_index=False)
        if not len(table):
            if self._empty is None:
                self._empty = arrow
            return
        if self.schema is None:
            self.schema = arrow.schema
        arrow = _conform(arrow, self.schema)
        run = self.scratch / f"run{len(self.runs)}.parquet"
        pq.write_table(arrow, run)
        self.runs.append(run)

    def merge(self, output: Path, top_k: int | None) -> None:
        """Every row in order of risk (ties: earlier runs, then earlier rows), ranked and flagged globally.
        With no row scored at all, the list is its header alone."""
        if self.schema is None:
            if self._empty is None:
                raise ValueError("nothing was added to merge")
            with _writer(output, self._empty.schema, self.output_format) as writer:
                writer.write_table(self._empty)
            return
        risks = [pq.read_table(run, columns=[RISK]).column(RISK).to_numpy() for run in self.runs]
        run_of = np.concatenate([np.full(len(r), i, dtype=np.int32) for i, r in enumerate(risks)])
        order = np.argsort(-np.concatenate(risks), kind="stable")  # ties: earlier runs, then earlier rows
        merged_runs = run_of[order]
        readers = [_RunReader(run) for run in self.runs]
        with _writer(output, self.schema, self.output_format) as writer:
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


def _writer(output: Path, schema: pa.Schema, output_format: str) -> pq.ParquetWriter | pacsv.CSVWriter:
    """Parquet row groups, or CSV with every value quoted (a carriage return in a cell cannot start a row)."""
    if output_format == "parquet":
        return pq.ParquetWriter(output, schema)
    return pacsv.CSVWriter(output, schema, write_options=pacsv.WriteOptions(quoting_style="all_valid"))


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
