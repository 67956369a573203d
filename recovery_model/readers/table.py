"""The one reader table: which format a file is in, and the reader that turns it into patient rows.

Every face reads through here: `recovery predict` (both engines), the Ward and Patient pages, training, and the
service. CSV and Parquet stream in chunks of rows as they are; a FHIR record (a Bundle, NDJSON, or a bulk
export's folder) is read whole and becomes one row per patient. Each reader is imported only when its format is
read, so scoring a CSV never loads the FHIR models.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.readers.formats import READERS, TABULAR, Format, reader
from recovery_model.readers.freshness import apply_shelf_life

if TYPE_CHECKING:
    from recovery_model.readers.fhir.values import FhirProblem
    from recovery_model.schema import Schema


def file_format(path: Path, declared: Format | str | None = None) -> Format:
    """As declared (`--format`), else by the file's extension; a folder is a FHIR bulk export, anything else CSV."""
    if declared:
        return Format(declared)
    if path.is_dir():
        return Format.FHIR
    suffix = path.suffix.lower()
    return next((r.format for r in READERS if suffix in r.suffixes), Format.CSV)


def output_format(path: Path, declared: Format | str | None = None) -> Format:
    """The format a ranked list is written in: CSV or Parquet, as declared or by the output's extension."""
    kind = file_format(path, declared if declared and Format(declared) in TABULAR else None)
    return kind if kind in TABULAR else Format.CSV


@dataclass
class Frames:
    """A file as chunks of patient rows, with what reading it noted (for a FHIR record: values left blank)."""

    chunks: Iterator[pd.DataFrame]
    warnings: list[str] = field(default_factory=list)
    record_problems: list[FhirProblem] = field(default_factory=list)


def open_frames(path: Path, schema: Schema, chunk_rows: int, declared: Format | str | None = None,
                as_of: datetime | None = None, row_groups: tuple[int, ...] | None = None) -> Frames:
    """The rows of `path` in chunks of at most `chunk_rows`. `as_of`: the index time (default now) at which each
    value's shelf life is judged; `row_groups`: only these row groups of a Parquet file (a Dask partition)."""
    kind = file_format(path, declared)
    if kind == Format.PARQUET:
        from recovery_model.readers.parquet import iter_patient_parquet

        return Frames(_fresh(iter_patient_parquet(path, chunk_rows, row_groups), schema, as_of))
    if kind == Format.CSV:
        from recovery_model.readers.csv import iter_patient_csv

        return Frames(_fresh(iter_patient_csv(path, chunk_rows), schema, as_of))
    from recovery_model.readers.fhir.reader import read_fhir

    record = read_fhir(path, schema, as_of)
    frame = record.frame
    return Frames((frame.iloc[start:start + chunk_rows] for start in range(0, len(frame), chunk_rows)),
                  record.warnings, record.problems)


def _fresh(chunks: Iterator[pd.DataFrame], schema: Schema, as_of: datetime | None) -> Iterator[pd.DataFrame]:
    """Each chunk with its values checked against their `<feature>_time` columns, at one index time for all."""
    as_of = as_of or datetime.now(UTC)
    for chunk in chunks:
        yield apply_shelf_life(chunk, schema, as_of)


def column_names(path: Path) -> list[str]:
    """A CSV or Parquet file's column names, read with the same checks as its rows."""
    if file_format(path) == Format.PARQUET:
        from recovery_model.readers.parquet import read_parquet_columns

        return read_parquet_columns(path)
    from recovery_model.readers.csv import read_csv_header

    return read_csv_header(path)


@dataclass(frozen=True)
class WardFile:
    """An uploaded ward: its rows, and what reading it noted (for a FHIR record: values left blank, by patient)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def read_upload(content: bytes | list[tuple[str, bytes]], name: str, schema: Schema) -> WardFile:
    """An upload from a page: one file told apart by its name (CSV, Parquet or FHIR), or the (name, bytes) of each
    file of a FHIR bulk export."""
    suffix = Path(name).suffix.lower()
    if not isinstance(content, list) and suffix not in {s for r in READERS for s in r.suffixes}:
        accepted = "; ".join(f"{r.what} ({', '.join(r.suffixes)})" for r in READERS)
        raise DataValidationError(f"{name} is not a ward list this page reads ({suffix or 'no extension'}). "
                                  f"Upload {accepted}.")
    kind = Format.FHIR if isinstance(content, list) else file_format(Path(name))
    now = datetime.now(UTC)
    if kind == Format.CSV and isinstance(content, bytes):
        from recovery_model.readers.csv import read_patient_csv

        return WardFile(apply_shelf_life(read_patient_csv(content, name), schema, now))
    if kind == Format.PARQUET and isinstance(content, bytes):
        from recovery_model.readers.parquet import read_patient_parquet

        return WardFile(apply_shelf_life(read_patient_parquet(content, name), schema, now))
    from recovery_model.readers.fhir.reader import read_fhir

    record = read_fhir(content, schema, name=name)
    return WardFile(record.frame, _notes(record.warnings, record.problems))


def read_patients(path: Path, schema: Schema, declared: Format | str | None = None,
                  as_of: datetime | None = None) -> WardFile:
    """A few patients from a file of any format, whole (`recovery suggest`), with what reading them noted."""
    frames = open_frames(path, schema, 1 << 20, declared, as_of)
    chunks = list(frames.chunks)
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    return WardFile(frame, _notes(frames.warnings, frames.record_problems))


def _notes(warnings: list[str], problems: list[FhirProblem]) -> list[str]:
    """What reading noted, for a person: the file's warnings, then each value left blank, by patient."""
    return [*warnings, *(f"Patient {p.patient}: {p}" for p in problems)]


def read_whole(path: Path, declared: Format | str | None = None,
               contents: str = "training data (one row per patient and its outcome)") -> pd.DataFrame:
    """Every row of a CSV or Parquet file in one frame (training data, outcomes): the same checks as scoring
    reads. `contents` says what the file should hold, for the message when it is another format."""
    kind = file_format(path, declared)
    if kind not in TABULAR:
        raise DataValidationError(f"{path}: {contents} must be a CSV or Parquet file, not {reader(kind).what}.")
    from recovery_model.readers.csv import iter_patient_csv
    from recovery_model.readers.parquet import iter_patient_parquet

    chunks = iter_patient_parquet(path, 1 << 20) if kind == Format.PARQUET else iter_patient_csv(path, 1 << 20)
    return pd.concat(list(chunks), ignore_index=True)
