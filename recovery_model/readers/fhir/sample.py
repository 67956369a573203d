"""Patients as a FHIR R4 Bundle, written from the schema's own mapping.

A sample record to try the import on (`recovery generate --fhir-output`), and the other half of a round trip
that tests it: rows → Bundle → `read_fhir` gives the rows back. Each value is written with the mapping's first
code and a unit whose factor is 1; a blank value writes no resource. A count of chronic conditions is written as
Conditions with the first code of as many comorbidities of the value set, and 0 as an empty problem list (a
mapping with no value set, as in checkpoints trained before it, gets Conditions of `CHRONIC_CONDITIONS`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from recovery_model.readers.fhir.values import UCUM
from recovery_model.schema import Feature, FhirSource, Schema

CHRONIC_CONDITIONS = ("44054006", "13645005", "84114007", "709044004", "38341003", "195967001", "414545008",
                      "49436004", "35489007", "396275006")  # SNOMED CT: diabetes, COPD, heart failure, CKD, ...
SNOMED = "http://snomed.info/sct"
NO_KNOWN_PROBLEMS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                 "code": "nilknown"}]}


def to_bundle(frame: pd.DataFrame, schema: Schema, as_of: datetime) -> dict[str, Any]:
    """A collection Bundle with one Patient per row and the resources that carry its values at `as_of`."""
    entries = []
    for i, (_, row) in enumerate(frame.iterrows()):
        pid = str(row[schema.id_column]) if schema.id_column in frame.columns else f"patient-{i + 1}"
        entries += [{"fullUrl": f"urn:uuid:{pid}", "resource": r} for r in _patient_resources(pid, row, schema, as_of)]
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _patient_resources(pid: str, row: pd.Series, schema: Schema, as_of: datetime) -> list[dict[str, Any]]:
    patient: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    resources = [patient]
    answers = []
    measured = (as_of - timedelta(hours=1)).isoformat()
    for feature in schema.features:
        value = row.get(feature.name)
        if feature.fhir is None or value is None or pd.isna(value):
            continue
        source = feature.mapping.source
        if source == FhirSource.AGE:
            patient["birthDate"] = date(as_of.year - int(value), 1, 1).isoformat()  # completed years at as_of
        elif source == FhirSource.LENGTH_OF_STAY:
            start = as_of - timedelta(days=int(value), hours=1)
            resources.append({"resourceType": "Encounter", "id": f"{pid}-stay", "status": "in-progress",
                              "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
                              "subject": {"reference": f"Patient/{pid}"}, "period": {"start": start.isoformat()}})
        elif source == FhirSource.ACTIVE_CONDITIONS:
            resources += _conditions(pid, feature, int(value), measured)
        elif source == FhirSource.QUESTIONNAIRE or (feature.mapping.threshold and feature.mapping.link_id):
            answers.append({"linkId": feature.mapping.link_id or feature.name, "answer": [_answer(feature, value)]})
        else:
            resources.append(_observation(pid, feature, value, measured))
    if answers:
        resources.append({"resourceType": "QuestionnaireResponse", "id": f"{pid}-form", "status": "completed",
                          "subject": {"reference": f"Patient/{pid}"}, "authored": measured, "item": answers})
    return resources


def _observation(pid: str, feature: Feature, value: float, when: str) -> dict[str, Any]:
    system, code = feature.mapping.codes[0].split("|")
    resource_id = f"{pid}-{feature.name.replace('_', '-')}"  # FHIR ids allow letters, digits, '-' and '.'
    observation: dict[str, Any] = {"resourceType": "Observation", "id": resource_id, "status": "final",
                                   "code": {"coding": [{"system": system, "code": code}]},
                                   "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": when}
    if feature.mapping.threshold:  # 1 as the default cut-off's score (no gender is written), 0 as the scale's bottom
        value = feature.mapping.threshold["default"] if value else (feature.mapping.limits or (0.0,))[0]
    if feature.mapping.answers:
        answer = next(c for c, v in feature.mapping.answers.items() if v == value)
        answer_system, answer_code = answer.split("|")
        observation["valueCodeableConcept"] = {"coding": [{"system": answer_system, "code": answer_code}]}
    else:
        unit = next(u for u, factor in feature.mapping.units.items() if factor == 1.0)
        observation["valueQuantity"] = {"value": _number(feature, value), "unit": unit, "system": UCUM, "code": unit}
    return observation


def _conditions(pid: str, feature: Feature, count: int, when: str) -> list[dict[str, Any]]:
    mapping = feature.mapping
    if not mapping.counts_a_value_set:
        return [_condition(pid, k, *_legacy_code(k)) for k in range(count)]
    if count > len(mapping.conditions):
        raise ValueError(f"{feature.name} = {count} cannot be written: the value set names "
                         f"{len(mapping.conditions)} comorbidities.")
    if count == 0 and mapping.problem_lists:
        system, code = mapping.problem_lists[0].split("|")
        return [{"resourceType": "List", "id": f"{pid}-problems", "status": "current", "mode": "snapshot",
                 "code": {"coding": [{"system": system, "code": code}]}, "subject": {"reference": f"Patient/{pid}"},
                 "date": when, "emptyReason": NO_KNOWN_PROBLEMS}]
    firsts = [entries[0].split("|") for entries in mapping.conditions.values()]
    return [_condition(pid, k, *firsts[k]) for k in range(count)]


def _legacy_code(k: int) -> tuple[str, str]:
    return (SNOMED, CHRONIC_CONDITIONS[k]) if k < len(CHRONIC_CONDITIONS) else \
        ("http://example.org/chronic-condition", str(k))


def _condition(pid: str, k: int, system: str, code: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": f"{pid}-condition-{k + 1}", "subject": {"reference": f"Patient/{pid}"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]},
            "code": {"coding": [{"system": system, "code": code}]}}


def _answer(feature: Feature, value: float) -> dict[str, Any]:
    return {"valueInteger": int(value)} if feature.is_integer else {"valueDecimal": float(value)}


def _number(feature: Feature, value: float) -> int | float:
    return int(value) if feature.is_integer else float(np.round(value, 6))
