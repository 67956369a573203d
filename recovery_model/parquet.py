"""Parquet in for `recovery predict`, streamed so that memory follows the chunk, not the file, and which format
a file is in. Reading: row batches of a Parquet file, columns as their own types (the validator parses and
checks them as it does text). Writing, for Parquet and CSV alike, is `runs.SortedRuns`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recovery_model.errors import DataValidationError

PARQUET_SUFFIXES = (".parquet", ".pq")


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
