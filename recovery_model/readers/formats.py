"""The formats patients are read from, and how a file names its format: the data of the reader table."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Format(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"
    FHIR = "fhir"


@dataclass(frozen=True)
class Reader:
    format: Format
    suffixes: tuple[str, ...]
    what: str  # as a person names it


READERS: tuple[Reader, ...] = (
    Reader(Format.CSV, (".csv", ".txt", ".tsv"), "a CSV file"),
    Reader(Format.PARQUET, (".parquet", ".pq"), "a Parquet file"),
    Reader(Format.FHIR, (".json", ".ndjson"), "a FHIR R4 Bundle, NDJSON file or bulk-export folder"),
)
TABULAR = (Format.CSV, Format.PARQUET)  # the formats a ranked list is written in


def reader(kind: Format | str) -> Reader:
    return next(r for r in READERS if r.format == Format(kind))
