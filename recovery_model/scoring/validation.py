"""Schema-driven validation of patient rows, shared by the Predictor, the CLI and the dashboard.

Policy (documented in docs/model.md, "Missing values"):
- a missing required column makes the whole file unusable: `DataValidationError`, naming the
  columns and suggesting close matches;
- a cell that is not a number, not a whole number where one is needed, or outside the hard
  validity range rejects its row, with a message naming row, column and value;
- a missing cell is imputed with the training median and flagged, unless the row has more missing
  features than the model saw in any training row (and more than `MAX_MISSING_SHARE` of them),
  which rejects the row: a model can only vouch for the missingness it was trained on;
- a value outside the typical range is scored and flagged as unusual.
Rows are numbered from 1, as a spreadsheet shows them below the header.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.schema import Feature, Schema
from recovery_model.scoring.columns import IMPUTED, PROBLEMS, REJECTED, ROW, SCORED, STATUS, UNUSUAL

MAX_MISSING_SHARE = 0.2
TRUE_WORDS = {"yes", "y", "true", "t"}
FALSE_WORDS = {"no", "n", "false", "f"}
_UNIT_SUFFIX = re.compile(r"^\s*([-+]?[0-9]*[.,]?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([^\s\d.,+-]\S*)?\s*$")


@dataclass(frozen=True)
class ValidationResult:
    """Every input row, parsed: `rows` keeps input order and adds status, problems and flags.

    `unusual[i, j]`: row i's value of feature j lies outside that feature's typical range.
    """

    rows: pd.DataFrame
    unusual: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def is_scorable(self) -> np.ndarray:
        return (self.rows[STATUS] != REJECTED).to_numpy()

    @property
    def scorable(self) -> pd.DataFrame:
        return self.rows[self.is_scorable]

    @property
    def rejected(self) -> pd.DataFrame:
        return self.rows[~self.is_scorable]

    def counts(self) -> dict[str, int]:
        scored = self.scorable
        flagged = int(((scored[UNUSUAL] != "") | (scored[IMPUTED] != "")).sum())
        return {"rows": len(self.rows), "scored": len(scored), "flagged": flagged,
                "rejected": len(self.rejected)}


def validate(frame: pd.DataFrame, schema: Schema, max_missing: int = 0, first_row: int = 1) -> ValidationResult:
    """Parse and check every row against the schema; never drops a row.

    `max_missing`: the most missing features of any row the model was trained on; rows with up to
    that many (and never fewer than `MAX_MISSING_SHARE` of the features) are imputed and scored.
    `first_row`: the number of the frame's first row in its file (a chunk of a large file starts later).

    Column-wise: clean numbers take a vectorised path, and only odd cells (text, units, commas,
    out-of-range values) go through the cell parser that writes their message. The result is built
    in one piece, so one patient costs about a millisecond and 10,000 about a tenth of a second.
    """
    _check_columns(frame, schema)
    n, features = len(frame), schema.features
    problems: list[list[str]] = [[] for _ in range(n)]
    unusual = np.zeros((n, len(features)), dtype=bool)
    parsed = np.empty((n, len(features)))
    missing = np.zeros((n, len(features)), dtype=bool)
    for j, feature in enumerate(features):
        values, cell_problems = _parse_column(frame[feature.name], feature)
        parsed[:, j] = values
        for i, message in cell_problems.items():
            problems[i].append(message)
        missing[:, j] = np.isnan(values)
        missing[list(cell_problems), j] = False
        unusual[:, j] = (values < feature.typical_min) | (values > feature.typical_max)
    limit = missing_limit(len(features), max_missing)
    counts = missing.sum(axis=1)
    for row in np.flatnonzero(counts > limit):
        problems[row].append(f"{counts[row]} of {len(features)} features are missing (the model was trained on "
                           f"patients with at most {limit} missing, so it cannot vouch for this one); fill them in")
    rejected = np.array([bool(p) for p in problems], dtype=bool)
    unusual &= ~rejected[:, None]
    position = {name: j for j, name in enumerate(schema.feature_names)}
    columns: dict[str, Any] = {ROW: np.arange(first_row, first_row + n)}
    for column in frame.columns:
        columns[column] = parsed[:, position[column]] if column in position else frame[column].to_numpy()
    columns |= {STATUS: np.where(rejected, REJECTED, SCORED), PROBLEMS: ["; ".join(p) for p in problems],
                UNUSUAL: _listed(unusual, lambda i, j: features[j].format_value(parsed[i, j])),
                IMPUTED: _listed(missing & ~rejected[:, None], lambda i, j: features[j].display_name)}
    out = pd.DataFrame(columns, index=frame.index)
    return ValidationResult(out, unusual, _duplicate_id_warnings(out, schema))


def _listed(mask: np.ndarray, text: Callable[[int, int], str]) -> list[str]:
    """Per row, the texts of its flagged cells joined by '; ' (empty for rows with none)."""
    out = [""] * len(mask)
    for i in np.flatnonzero(mask.any(axis=1)):
        out[i] = "; ".join(text(int(i), int(j)) for j in np.flatnonzero(mask[i]))
    return out


def missing_limit(n_features: int, max_missing: int) -> int:
    """How many missing features a row may have and still be imputed and scored."""
    return max(int(MAX_MISSING_SHARE * n_features), max_missing)


def _check_columns(frame: pd.DataFrame, schema: Schema) -> None:
    columns = [str(c) for c in frame.columns]
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise DataValidationError(f"The columns {duplicated} appear more than once; keep one of each.")
    missing = [name for name in schema.feature_names if name not in columns]
    if missing:
        hints = []
        unknown = [c for c in columns if c not in schema.feature_names]  # a column in use is nobody's misspelling
        for name in missing:
            close = difflib.get_close_matches(name, unknown, n=1, cutoff=0.6) or \
                [c for c in unknown if _normalise(c) == _normalise(name)]
            if close:
                hints.append(f"'{close[0]}' → '{name}'")
        advice = f" Did you mean: {', '.join(hints)}?" if hints else ""
        raise DataValidationError(f"Missing required columns: {', '.join(missing)}.{advice} "
                                  "Download the template for the expected header.")


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _parse_column(column: pd.Series, feature: Feature) -> tuple[np.ndarray, dict[int, str]]:
    """Numbers from a column, and a message for each cell that cannot be used."""
    raw = column.to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = column.to_numpy(dtype=float, na_value=np.nan)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    blank = pd.isna(raw)
    with np.errstate(invalid="ignore"):
        clean = np.isfinite(values) & (values >= feature.valid_min) & (values <= feature.valid_max)
        if feature.is_integer:
            clean &= values == np.round(values)
    values = np.where(clean, values, np.nan)
    problems: dict[int, str] = {}
    for i in np.flatnonzero(~clean & ~blank):
        value, problem = _parse_cell(raw[i], feature)
        if problem:
            problems[int(i)] = f"{feature.name} = '{raw[i]}': {problem}"
        else:
            values[i] = value
    return values, problems


def _parse_cell(raw: object, feature: Feature) -> tuple[float, str]:
    if raw is None or (not isinstance(raw, str) and pd.isna(raw)):
        return np.nan, ""
    if isinstance(raw, bool | np.bool_ | int | float | np.integer | np.floating):
        value = float(raw)
    else:
        value, problem = _parse_text(str(raw), feature)
        if problem or np.isnan(value):
            return value, problem
    if not np.isfinite(value):
        return np.nan, "not a finite number"
    if feature.is_integer and value != round(value):
        return np.nan, "must be a whole number"
    if not feature.valid_min <= value <= feature.valid_max:
        return np.nan, f"{_possible_range_text(feature)}; check the value or its unit"
    return value, ""


def _possible_range_text(feature: Feature) -> str:
    """'outside the possible range 0–120 years', or 'cannot be negative' where only the sign is a limit."""
    unit = f" {feature.unit}" if feature.unit else ""
    if np.isinf(feature.valid_max):
        return "cannot be negative" if feature.valid_min == 0 else f"must be at least {feature.valid_min:g}{unit}"
    return f"outside the possible range {feature.valid_min:g}–{feature.valid_max:g}{unit}"


def _parse_text(text: str, feature: Feature) -> tuple[float, str]:
    text = text.strip()
    if text == "" or text.lower() in {"na", "n/a", "nan", "null", "none", "-"}:
        return np.nan, ""
    if feature.is_binary and text.lower() in TRUE_WORDS | FALSE_WORDS:
        return float(text.lower() in TRUE_WORDS), ""
    match = _UNIT_SUFFIX.match(text)
    if not match:
        return np.nan, f"not a number (expected {feature.unit or 'a number'})"
    number, unit = match.groups()
    return _in_feature_unit(number.replace(",", "."), unit or "", feature)


def _in_feature_unit(number: str, unit: str, feature: Feature) -> tuple[float, str]:
    """A number written with a unit, in the feature's unit: the schema's own unit, or one its FHIR mapping converts
    (glucose '7.5 mmol/L' × 18.016, the same factors as a FHIR record). Any other unit refuses the cell, naming it."""
    if not unit or _same_unit(unit, feature.unit):
        return float(number), ""
    factors = feature.fhir.units if feature.fhir is not None else {}
    factor = next((f for code, f in factors.items() if _same_unit(unit, code)), None)
    if factor is None:
        known = ", ".join(dict.fromkeys(u for u in (feature.unit, *factors) if u))
        return np.nan, (f"unit '{unit}' is not one this schema converts for {feature.display_name} ({known}); "
                        f"convert to {feature.unit or 'a plain number'}")
    return float(Decimal(number) * Decimal(str(factor))), ""


def _same_unit(written: str, unit: str) -> bool:
    """'mmHg' is 'mm[Hg]', 'kg/m2' is 'kg/m²', case aside; a UCUM annotation ('{beats}/min') does not count."""
    def plain(text: str) -> str:
        return re.sub(r"\{[^}]*\}|[\[\]\s]", "", text).lower().replace("²", "2")

    return plain(written) == plain(unit)


def _duplicate_id_warnings(frame: pd.DataFrame, schema: Schema) -> list[str]:
    if schema.id_column not in frame.columns:
        return []
    ids = frame[schema.id_column]
    repeated = ids[ids.duplicated(keep=False) & ids.notna()]
    return [f"Patient id '{pid}' appears on rows {', '.join(map(str, frame.loc[group.index, ROW]))}; "
            "each is scored, check for a duplicated extract."
            for pid, group in repeated.groupby(repeated, sort=False)]


def entry_problems(values: dict[str, float | None], schema: Schema) -> dict[str, str]:
    """Each value typed into a form that the schema refuses, in a clinician's words and with its limits: feature
    name → 'SpO2: 860 is outside the possible range 50–100%'. A value left empty is not a problem here (it is
    not recorded)."""
    problems = {}
    for feature in schema.features:
        value = values.get(feature.name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        if not feature.valid_min <= value <= feature.valid_max:
            problems[feature.name] = f"{feature.display_name}: {value:g} is {_outside(feature)}"
        elif feature.is_integer and value != int(value):
            problems[feature.name] = f"{feature.display_name}: {value:g} must be a whole number"
    return problems


def _outside(feature: Feature) -> str:
    """'outside the possible range 50–100%', or 'below the possible minimum 0' where there is no upper limit."""
    unit = feature.display_unit
    joiner = "" if unit == "%" or not unit else " "
    low, high = (f"{v:g}" for v in (feature.valid_min, feature.valid_max))
    if np.isinf(feature.valid_max):
        return f"below the possible minimum {low}{joiner}{unit}"
    if np.isinf(feature.valid_min):
        return f"above the possible maximum {high}{joiner}{unit}"
    return f"outside the possible range {low}–{high}{joiner}{unit}"
