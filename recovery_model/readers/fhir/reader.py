"""FHIR R4 in: a Bundle (JSON) or a bulk-export folder of NDJSON files → one row per patient.

What is read is data, in the schema (`Feature.fhir`): each feature's codes, UCUM units with their factors,
coded answers, a score's cut-offs by sex, or another source (age, length of stay in the Encounter classes
given, chronic conditions from a value set, a questionnaire item). For each patient and feature the latest
value at or before the index time (`as_of`) is taken, and where it came from (resource and date) is kept in a
`<feature>_source` column. Nothing is guessed and nothing is dropped: a
unit that cannot be converted, an Observation without a value, two different values at the same time or a
patient with nothing recorded leaves the value blank and says so, by patient and feature, in `fhir_notes`
and in `FhirImport.problems`. The validator then imputes or refuses the row as it does for a CSV.

Resources are validated one at a time with `fhir.resources` (its R4B models, which read R4 Patient,
Observation, Encounter, Condition, List (a problem list) and QuestionnaireResponse): one malformed resource is
named, not fatal. This module reads and validates; `fhir_values` finds each feature's value in a patient's resources.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.extras import require
from recovery_model.readers.checks import require_file
from recovery_model.readers.fhir.values import Extraction, FhirImport, FhirProblem, Resource, as_utc, plural
from recovery_model.readers.formats import Format, reader
from recovery_model.schema import Schema

__all__ = ["FhirImport", "FhirProblem", "form_values", "read_fhir", "read_fhir_bundle"]

READ_TYPES = ("Patient", "Observation", "Encounter", "Condition", "List", "QuestionnaireResponse")
FHIR_SUFFIXES = reader(Format.FHIR).suffixes
MAX_FHIR_BYTES = 1024 * 1024 * 1024


def read_fhir(source: str | Path | bytes | list[tuple[str, bytes]], schema: Schema, as_of: datetime | None = None,
              name: str | None = None) -> FhirImport:
    """Read a Bundle (a .json file or its bytes), an NDJSON file, or a bulk export of NDJSON files: a folder, or
    the (name, bytes) of each of its files as uploaded."""
    _check_readable(schema)
    raw, label = _raw_resources(source, name)
    return _extracted(raw, label, schema, as_of)


def read_fhir_bundle(bundle: dict[str, Any], schema: Schema, as_of: datetime | None = None,
                     name: str = "the Bundle") -> FhirImport:
    """A Bundle already parsed (what a service receives as JSON), read as `read_fhir` reads a file, without writing
    it out and parsing it again."""
    _check_readable(schema)
    return _extracted(_bundle_entries(bundle, name), name, schema, as_of)


def _check_readable(schema: Schema) -> None:
    require("fhir.resources", "fhir", "Reading a FHIR record")
    if not any(f.fhir for f in schema.features):
        raise DataValidationError(f"Schema '{schema.name}' says nowhere how its features are found in FHIR, so a FHIR "
                                  "record cannot be read for this model. Add [features.fhir] tables to the schema "
                                  "(see recovery_model/schemas/recovery.toml) and retrain, or export CSV.")


def _extracted(raw: list[tuple[str, dict]], label: str, schema: Schema, as_of: datetime | None) -> FhirImport:
    resources, problems, warnings = _validated(raw, label)
    return Extraction(schema, as_utc(as_of or datetime.now(UTC)), label).run(resources, problems, warnings)


# ----- reading the file ----------------------------------------------------------------------------------------
def _raw_resources(source: str | Path | bytes | list[tuple[str, bytes]],
                   name: str | None) -> tuple[list[tuple[str, dict]], str]:
    if isinstance(source, bytes):
        label = name or "the uploaded file"
        return _from_text(_decode(source, label), label, ndjson=label.lower().endswith(".ndjson")), label
    if isinstance(source, list):  # an uploaded bulk export: (file name, bytes) for each of its files
        label = name or "the uploaded export"
        return _from_files([(file, functools.partial(_decode, data, file)) for file, data in source], label), label
    path = Path(source)
    label = name or str(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FHIR_SUFFIXES)
        return _from_files([(file.name, functools.partial(_read, file, file.name)) for file in files], label), label
    return _from_text(_read(path, label), label, ndjson=path.suffix.lower() == ".ndjson"), label


def _from_files(files: list[tuple[str, Callable[[], str]]], label: str) -> list[tuple[str, dict]]:
    """Every resource of a bulk export's files (each read when its turn comes), in file-name order."""
    files = sorted((name, text) for name, text in files if Path(name).suffix.lower() in FHIR_SUFFIXES)
    if not files:
        raise DataValidationError(f"{label} holds no .ndjson or .json files: give a FHIR bulk export (one NDJSON "
                                  "file per resource type) or a Bundle file.")
    raw: list[tuple[str, dict]] = []
    for name, text in files:
        raw += _from_text(text(), name, ndjson=name.lower().endswith(".ndjson"))
    return raw


def _read(path: Path, label: str) -> str:
    require_file(path, label)
    if path.stat().st_size > MAX_FHIR_BYTES:
        raise DataValidationError(f"{label} is larger than 1 GB; export it as NDJSON files and score the folder.")
    return _decode(path.read_bytes(), label)


def _decode(data: bytes, label: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataValidationError(f"{label} is not UTF-8 text (byte {exc.start}), so it is not FHIR JSON.") from None
    if not text.strip():
        raise DataValidationError(f"{label} is empty. Export a FHIR R4 Bundle (JSON) or NDJSON files.")
    return text


def _from_text(text: str, label: str, ndjson: bool) -> list[tuple[str, dict]]:
    """(where, resource) pairs: each line of NDJSON, or each entry of a Bundle."""
    if ndjson:
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                out.append((f"{label} line {number}", _json(line, f"{label} line {number}")))
        return out
    return _bundle_entries(_json(text, label), label)


def _bundle_entries(document: dict[str, Any], label: str) -> list[tuple[str, dict]]:
    """(where, resource) for each entry of a Bundle."""
    if document.get("resourceType") != "Bundle":
        kind = document.get("resourceType")
        raise DataValidationError(f"{label} is a FHIR {kind} resource, not a Bundle: export the patients as a "
                                  "Bundle, or as NDJSON files." if kind else
                                  f"{label} is JSON but not FHIR: it has no resourceType. Export a FHIR R4 Bundle.")
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise DataValidationError(f"{label}: Bundle.entry must be a list of entries.")
    out = []
    for number, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise DataValidationError(f"{label}: Bundle entry {number} holds no resource.")
        if isinstance(entry.get("fullUrl"), str):
            resource = {**resource, "_fullUrl": entry["fullUrl"]}
        out.append((f"{label} entry {number}", resource))
    return out


def _json(text: str, label: str) -> dict:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataValidationError(f"{label} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
                                  "Export a FHIR R4 Bundle or NDJSON.") from None
    if not isinstance(document, dict):
        raise DataValidationError(f"{label} is JSON but not a FHIR resource (it is a {type(document).__name__}).")
    return document


def _validated(raw: list[tuple[str, dict]], label: str) -> tuple[list[Resource], list[FhirProblem], list[str]]:
    """Each resource checked against the FHIR R4 model; the ones that fail are named and set aside."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    resources: list[Resource] = []
    problems: list[FhirProblem] = []
    skipped: Counter[str] = Counter()
    seen: dict[str, str] = {}
    for where, resource in raw:
        kind = resource.get("resourceType")
        if kind not in READ_TYPES:
            skipped[str(kind)] += 1
            continue
        body = {k: v for k, v in resource.items() if k != "_fullUrl"}
        identity = f"{kind}/{body.get('id', '')}"
        key = json.dumps(body, sort_keys=True)
        if seen.get(identity) == key:
            continue  # the same resource twice (a merged export): read once
        seen[identity] = key
        model: Any
        try:
            model = get_fhir_model_class(kind).model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = ".".join(str(p) for p in first["loc"])
            problems.append(FhirProblem(_subject_id(body, kind), "", identity,
                                        f"{identity} ({where}) is not valid FHIR R4 and was not read: {field_name}: "
                                        f"{first['msg']}"))
            model = _bare_patient(body) if kind == "Patient" else None
            if model is None:
                continue
        full_url = resource.get("_fullUrl") or ""
        resources.append(Resource(kind, str(model.id or full_url or where), where, model, full_url))
    warnings = [f"{label}: {plural(count, kind + ' resource')} not read (this model reads "
                f"{', '.join(READ_TYPES)})." for kind, count in sorted(skipped.items())]
    return resources, problems, warnings


def _bare_patient(body: dict) -> Any:
    """An invalid Patient as its id alone: the patient keeps a row, and what the resource held is left blank."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    try:
        return get_fhir_model_class("Patient").model_validate({"resourceType": "Patient", "id": body.get("id")})
    except ValidationError:
        return None  # not even an id to give the row: said in the file's notes


def _subject_id(body: dict, kind: str) -> str:
    """Whom an (invalid) resource is about, as written: its id for a Patient, else its subject reference."""
    if kind == "Patient":
        return str(body.get("id", ""))
    subject = body.get("subject")
    return str(subject.get("reference", "")) if isinstance(subject, dict) else ""


def form_values(record: FhirImport, patient: int, schema: Schema) -> tuple[dict[str, float], list[str]]:
    """One patient of a record as the Patient form takes it: the values it can show, and what it cannot.

    The values go through the same validator as any patient: one it refuses (outside the possible range, not a
    whole number) is not filled in, and its reason is given; a value not in the record is named and left empty
    ("not recorded"), never shown as if it had been observed.
    """
    from recovery_model.scoring.columns import OLDEST_VALUE_TIME, PROBLEMS
    from recovery_model.scoring.validation import validate

    row = record.frame.iloc[[patient]]
    # Each value on its own: where the record is silent the form stays empty, and the rule on how many
    # values may be missing applies when the risk is estimated.
    checked = validate(row, schema, max_missing=len(schema.features)).rows.iloc[0]
    values = {f.name: float(checked[f.name]) for f in schema.features if not pd.isna(checked[f.name])}
    lacking = [f.display_name for f in schema.features if pd.isna(row[f.name].iloc[0])]
    notes = [f"Not in the record, left empty (not recorded): {', '.join(lacking)}. Enter any you know."] if lacking \
        else []
    if checked[PROBLEMS]:
        notes.append(f"Not filled in: {checked[PROBLEMS]}")
    pid = str(checked[schema.id_column])
    notes += [str(p) for p in record.problems if p.patient == pid and p.feature]
    if oldest := row[OLDEST_VALUE_TIME].iloc[0]:
        notes.insert(0, f"The oldest value filled in was measured {oldest.replace('T', ' ').replace('Z', ' UTC')}.")
    return values, notes
