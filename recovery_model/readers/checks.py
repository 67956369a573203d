"""The checks every reader makes the same way, with the same words: the file is there, and no column repeats."""

from __future__ import annotations

from pathlib import Path

from recovery_model.errors import DataValidationError


def require_file(path: Path, label: str | None = None, hint: str = "") -> None:
    """Refuse a path that is not a file, naming it (and what to do, when the caller knows)."""
    if not path.is_file():
        raise DataValidationError(f"{label or path}: file not found.{' ' + hint if hint else ''}")


def check_unique_columns(names: list[str], label: str) -> None:
    """Refuse a header that names a column twice: which of the two holds the patient's value is not ours to guess."""
    stripped = [str(n).strip() for n in names]
    duplicated = sorted({n for n in stripped if n and stripped.count(n) > 1})
    if duplicated:
        raise DataValidationError(f"{label}: the columns {duplicated} appear more than once; keep one of each.")
