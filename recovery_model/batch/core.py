"""The one batch core: validate, score and account a stream of frames, the same for both engines.

`score_frames` takes the chunks of one file (or of one Dask partition of it), scores each with `Predictor.rank`,
names the file when the file as a whole cannot be used, and adds every chunk to an `Accounts`: the counts, each
rejected row with its reason, and a uniform sample of the scored rows for the drift test. The local engine writes
each chunk's ranked rows to sorted runs as they come; the Dask engine returns them from each partition. The two
differ only in how they merge and rank (`local`, `cluster`); what a row gets, and why, is decided here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.readers.csv import spreadsheet_safe
from recovery_model.scoring.assessment import RankedWard
from recovery_model.scoring.columns import PROBLEMS, ROW

if TYPE_CHECKING:
    from recovery_model.readers.fhir.values import FhirProblem
    from recovery_model.scoring.drift import DriftReport
    from recovery_model.scoring.predictor import Predictor

CHUNK_ROWS = 50_000
DRIFT_SAMPLE_ROWS = 5_000  # a uniform sample of the scored rows across all input is tested for drift
SHOWN_DUPLICATES = 5
SAMPLE_KEY = "_sample_key"


def empty_counts() -> dict[str, int]:
    return {"rows": 0, "scored": 0, "flagged": 0, "rejected": 0}


def add_counts(total: dict[str, int], part: dict[str, int]) -> None:
    """Counts add up across chunks and partitions (duplicated ids are found across the whole input, not here)."""
    for key, value in part.items():
        total[key] += value


@dataclass
class BatchResult:
    """What a run added up to: counts, warnings, each rejected row ("row 4" or "4 of ward7.csv") with its reason,
    the drift test, for a FHIR record the values it left blank, and how many rows were logged."""

    counts: dict[str, int] = field(default_factory=empty_counts)
    warnings: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    drift: DriftReport | None = None
    record_problems: list[FhirProblem] = field(default_factory=list)
    logged: int | None = None  # rows written to the prediction log; None when the run was not logged


class DriftSample:
    """A uniform random sample of rows across chunks and partitions: each row draws a random key and the smallest
    keys stay, so samples merge (`merged`) into a uniform sample of everything they saw."""

    def __init__(self, columns: list[str], size: int = DRIFT_SAMPLE_ROWS, seed: int | list[int] = 0) -> None:
        self.columns, self.size = columns, size
        self.rng = np.random.default_rng(seed)
        self.kept = pd.DataFrame(columns=[*columns, SAMPLE_KEY])

    def add(self, rows: pd.DataFrame) -> None:
        keyed = rows[self.columns].astype(float).assign(**{SAMPLE_KEY: self.rng.random(len(rows))})
        self.kept = _smallest([self.kept, keyed], self.size)

    @classmethod
    def merged(cls, samples: Iterable[DriftSample]) -> DriftSample:
        samples = list(samples)
        out = cls(samples[0].columns, samples[0].size)
        out.kept = _smallest([s.kept for s in samples], out.size)
        return out

    def rows(self) -> pd.DataFrame:
        return self.kept[self.columns].reset_index(drop=True)


def _smallest(parts: list[pd.DataFrame], size: int) -> pd.DataFrame:
    """The `size` rows with the smallest keys among `parts` (the first part, empty, when all are)."""
    filled = [p for p in parts if len(p)]
    return pd.concat(filled, ignore_index=True).nsmallest(size, SAMPLE_KEY) if filled else parts[0]


@dataclass
class Accounts:
    """Counts, rejected rows and the drift sample of one stream of frames (a file, or a partition of one)."""

    sample: DriftSample
    counts: dict[str, int] = field(default_factory=empty_counts)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def add(self, ward: RankedWard, where: str) -> None:
        add_counts(self.counts, ward.counts)
        self.sample.add(ward.ranked)
        self.rejected += [(f"{row}{where}", problem) for row, problem in
                          zip(ward.rejected[ROW], ward.rejected[PROBLEMS], strict=True)]


def score_frames(predictor: Predictor, chunks: Iterable[pd.DataFrame], label: str, accounts: Accounts,
                 threshold: float | None, explain: bool, first_row: int = 1,
                 where: str = "") -> Iterator[RankedWard]:
    """Each chunk of the file `label`, validated, scored (and explained) and ranked within itself; its rows are
    numbered on from `first_row` as in the file. `where` follows each rejected row's number (" of ward7.csv")."""
    offset = first_row - 1
    for chunk in chunks:
        chunk.index = range(len(chunk))
        try:
            ward = predictor.rank(chunk, threshold=threshold, explain=explain, first_row=offset + 1)
        except DataValidationError as exc:  # the file as a whole cannot be used: say which file
            raise DataValidationError(f"{label}: {exc}") from None
        offset += len(chunk)
        accounts.add(ward, where)
        yield ward


def append_rejected(path: Path, rejected: pd.DataFrame, first: bool) -> None:
    """The rejected rows with their reasons, spreadsheet-safe, every value quoted; `first` starts the file."""
    with path.open("w" if first else "a", encoding="utf-8", newline="") as handle:
        spreadsheet_safe(rejected).to_csv(handle, index=False, header=first, quoting=csv.QUOTE_ALL,
                                          lineterminator="\n")


def duplicate_ids_warning(repeats: list[tuple[str, list[str]]]) -> list[str]:
    """The one warning about patient ids on more than one row: each id with the rows it is on (a few shown)."""
    if not repeats:
        return []
    examples = "; ".join(f"'{pid}' on rows {', '.join(rows)}" for pid, rows in repeats[:SHOWN_DUPLICATES])
    more = f" and {len(repeats) - SHOWN_DUPLICATES} more" if len(repeats) > SHOWN_DUPLICATES else ""
    count = f"{len(repeats)} patient id{' appears' if len(repeats) == 1 else 's appear'}"
    return [f"{count} on more than one row ({examples}{more}); each is scored, check for a duplicated extract."]
