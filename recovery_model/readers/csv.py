"""CSV in, read defensively (Arrow's reader behind our checks), and spreadsheet-safe CSV out: the same everywhere."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from recovery_model.errors import DataValidationError
from recovery_model.readers.checks import check_unique_columns, require_file

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_ROWS = 200_000
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_SEPARATORS = ",;\t|"
CSV_BLOCK_BYTES = 1 << 22  # Arrow parses the file in blocks of this size


def write_csv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a CSV with stable, platform-independent bytes (so regeneration is byte-identical)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def to_safe_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes that a spreadsheet cannot run: text cells that start like a formula get a leading
    apostrophe (OWASP guidance on CSV injection), and every text cell is quoted, so a carriage
    return inside one cannot start a new row. Numbers are left as numbers."""
    safe = spreadsheet_safe(frame)
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a leading apostrophe on every text cell (and header) that starts like a formula."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        try:
            risky = values.str.startswith(FORMULA_PREFIXES, na=False)
        except AttributeError:  # no text in the column (all blank)
            continue
        if risky.any():
            out[column] = values.where(~risky, "'" + values[risky].astype(str))
    out.columns = [_neutralise(str(c)) for c in out.columns]
    return out


def _neutralise(cell: object) -> object:
    if isinstance(cell, str) and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def read_patient_csv(source: str | Path | bytes, name: str | None = None,
                     max_bytes: int = MAX_UPLOAD_BYTES, max_rows: int | None = None) -> pd.DataFrame:
    """Every cell as text (ids keep leading zeros; the validator parses numbers), from a file or bytes.

    Accepts UTF-8 (with or without BOM) or Latin-1, and `,` `;` tab or `|` separators. Refuses,
    with a message naming the file, what is not a CSV: empty, binary, spreadsheet, or too large.
    """
    if isinstance(source, bytes):
        data, label = source, name or "the uploaded file"
    else:
        path = Path(source)
        label = name or str(path)
        require_file(path, label)
        if path.stat().st_size > max_bytes:
            raise DataValidationError(f"{label} is larger than {max_bytes // 2**20} MB; split it into smaller files.")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise DataValidationError(f"{label} is larger than {max_bytes // 2**20} MB; split it into smaller files.")
    text, encoding = _decode(data, label)
    if not text.strip():
        raise DataValidationError(f"{label} is empty. Export the ward list as CSV with a header row.")
    layout = _Layout.of(text, encoding, label)
    limit = MAX_ROWS if max_rows is None else max_rows
    if text.count("\n") > limit + 1:
        raise DataValidationError(f"{label} has more than {limit:,} rows, the most one upload can hold. Split it "
                                  "into smaller files, or score it with `recovery predict`, which streams.")
    chunks = list(_chunks(pa.BufferReader(data), layout, chunk_rows=None))
    if not chunks:
        raise DataValidationError(f"{label} has a header but no patient rows.")
    return chunks[0]


def iter_patient_csv(path: str | Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """`read_patient_csv` for files of any size: the same checks, then chunks of `chunk_rows` rows.

    Memory stays bounded by the chunk size: the file is never read whole.
    """
    path, label = Path(path), str(path)
    require_file(path, label)
    with path.open("rb") as handle:
        head = handle.read(65536)
    encoding = _streaming_encoding(path, head, label)
    text = head.decode(encoding, errors="ignore")
    if not text.strip():
        if path.stat().st_size <= len(head):
            raise DataValidationError(f"{label} is empty. Export the ward list as CSV with a header row.")
        raise DataValidationError(f"{label} starts with 64 KB of blank space; remove it.")
    any_rows = False
    for chunk in _chunks(path, _Layout.of(text, encoding, label), chunk_rows):
        any_rows = True
        yield chunk
    if not any_rows:
        raise DataValidationError(f"{label} has a header but no patient rows.")


def read_csv_header(path: str | Path) -> list[str]:
    """A CSV file's column names, read from its first 64 KB with the same checks as reading it."""
    path, label = Path(path), str(path)
    require_file(path, label)
    with path.open("rb") as handle:
        head = handle.read(65536)
    text, encoding = _decode(head, label)
    if not text.strip():
        raise DataValidationError(f"{label} is empty. Export the ward list as CSV with a header row.")
    return [name.strip() for name in _Layout.of(text, encoding, label).header]


@dataclass(frozen=True)
class _Layout:
    """How a CSV file is laid out, read from its first lines: encoding, separator, where the header is."""

    label: str
    encoding: str
    separator: str
    header: list[str]
    lines_before_header: int

    @classmethod
    def of(cls, text: str, encoding: str, label: str) -> _Layout:
        lines = text.splitlines()
        at = next(i for i, line in enumerate(lines) if line.strip())
        separator = _separator(lines[at])
        return cls(label, encoding, separator, _check_header(lines[at], separator, label), at)


def _chunks(source: object, layout: _Layout, chunk_rows: int | None) -> Iterator[pd.DataFrame]:
    """Chunks of `chunk_rows` rows (None: one chunk), every cell text or None, read by Arrow's CSV reader.

    As before Arrow: blank cells are None, spaces before a value are dropped (a spreadsheet's padding), and a
    row with more or fewer cells than the header refuses the file, naming the row.
    """
    try:
        reader = pacsv.open_csv(
            source, read_options=pacsv.ReadOptions(encoding=layout.encoding, block_size=CSV_BLOCK_BYTES,
                                                   skip_rows=layout.lines_before_header,
                                                   use_threads=False),  # serial: a ragged row is named by number
            parse_options=pacsv.ParseOptions(delimiter=layout.separator, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(layout.header, pa.string()),
                                                 null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))
        pending: list[pa.RecordBatch] = []
        held = 0
        for batch in reader:
            pending.append(batch)
            held += batch.num_rows
            while chunk_rows and held >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield _frame(table.slice(0, chunk_rows))
                pending, held = table.slice(chunk_rows).to_batches(), held - chunk_rows
        if held:
            yield _frame(pa.Table.from_batches(pending))
    except pa.ArrowInvalid as exc:
        raise DataValidationError(f"{layout.label} is not a well-formed CSV file ({str(exc).removeprefix('CSV ')}); "
                                  "every row needs as many cells as the header.") from None


def _frame(table: pa.Table) -> pd.DataFrame:
    columns = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        trimmed = pc.utf8_ltrim_whitespace(column)
        columns[name.strip()] = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    frame = pa.table(columns).to_pandas()
    return frame.astype(object).where(frame.notna(), None)


def _streaming_encoding(path: Path, head: bytes, label: str) -> str:
    """UTF-8 (BOM allowed) if the whole file decodes as such, else Latin-1; checked block by block."""
    _decode(head, label)  # refuses spreadsheets and binary files
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8-sig"


def _check_header(header_line: str, separator: str, label: str) -> list[str]:
    """The header's names as written (a column may be named ' age'); refused when a name repeats."""
    try:
        names = next(csv.reader([header_line], delimiter=separator))
    except csv.Error as exc:
        raise DataValidationError(f"{label}: the header row cannot be read ({exc}).") from None
    check_unique_columns(names, label)
    return names


def _decode(data: bytes, label: str) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (a BOM is dropped) when it decodes as such, else Latin-1."""
    if data.startswith(b"PK\x03\x04") or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise DataValidationError(f"{label} is an Excel workbook, not a CSV file. In Excel choose "
                                  "File → Save As → CSV, then upload that file.")
    if b"\x00" in data[:4096]:
        raise DataValidationError(f"{label} is a binary file, not a CSV text file.")
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _separator(header: str) -> str:
    counts = {sep: header.count(sep) for sep in _SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","
