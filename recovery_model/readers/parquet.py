"""Parquet in, streamed so that memory follows the chunk, not the file: row batches, columns as their own types
(the validator parses and checks them as it does text). Writing, for Parquet and CSV alike, is
`batch.runs.SortedRuns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recovery_model.errors import DataValidationError
from recovery_model.readers.checks import check_unique_columns, require_file


def iter_patient_parquet(path: str | Path, chunk_rows: int,
                         row_groups: tuple[int, ...] | None = None) -> Iterator[pd.DataFrame]:
    """Chunks of `chunk_rows` rows of a Parquet file (or of some of its row groups: a Dask partition); a file that
    is not Parquet is refused by name."""
    path = Path(path)
    require_file(path)
    yield from _batches(_open(path, str(path)), str(path), chunk_rows, row_groups)


def read_parquet_columns(path: Path) -> list[str]:
    """A Parquet file's column names, with the same checks as reading it."""
    require_file(path)
    return _open(path, str(path)).schema_arrow.names


def row_group_rows(path: Path) -> list[int]:
    """How many rows each row group of a Parquet file holds (how a Dask run splits it), with the same checks."""
    require_file(path)
    metadata = _open(path, str(path)).metadata
    return [metadata.row_group(group).num_rows for group in range(metadata.num_row_groups)]


def read_patient_parquet(content: bytes, name: str) -> pd.DataFrame:
    """An uploaded Parquet file, whole, with the same checks as a streamed one."""
    frames = list(_batches(_open(pa.BufferReader(content), name), name, 1 << 20, None))
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _open(source: object, label: str) -> pq.ParquetFile:
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{label} is not a readable Parquet file ({exc}). Write it with a Parquet "
                                  "library, or pass a CSV file (or --format csv).") from None
    check_unique_columns(parquet.schema_arrow.names, label)
    return parquet


def _batches(source: pq.ParquetFile, label: str, chunk_rows: int,
             row_groups: tuple[int, ...] | None) -> Iterator[pd.DataFrame]:
    any_rows = False
    try:
        for batch in source.iter_batches(batch_size=chunk_rows, row_groups=row_groups):
            if batch.num_rows:
                any_rows = True
                yield batch.to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataValidationError(f"{label} is damaged after its first rows ({exc}).") from None
    if not any_rows:
        raise DataValidationError(f"{label} holds no patient rows.")
