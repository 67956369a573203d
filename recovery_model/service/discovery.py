"""The services this model offers the EHR, and the prefetch each asks for, generated from the schema.

The prefetch templates come from the schema's `[features.fhir]` mapping, never by hand: a hospital's own schema
changes them too. Standard search parameters are used only where the result stays correct:

- Observations by `combo-code`, which matches an Observation's code *or* a component's, so the systolic value of a
  blood-pressure panel (a component) is found; no `_count=1` per code, since the latest value at or before the
  index time is not always the newest one recorded (a later one may exist);
- every Condition, not only active ones: the reader counts the active chronic ones, and a record whose Conditions
  are all resolved has a problem list (0), where a record with none has no count at all (missing); with it the
  problem-list `List` the schema names, whose being empty says "no problems";
- the Encounter of the hook's context at discharge, the patient's in-progress Encounters when a chart is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recovery_model.schema import FhirMapping, FhirSource, Schema

PATIENT = "{{context.patientId}}"


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str


SERVICES = (
    Service("recovery-risk", "patient-view", "Risk of not recovering",
            "When a chart is opened: the calibrated risk with its range, tier and drivers."),
    Service("recovery-risk-discharge", "encounter-discharge", "Risk of not recovering, at discharge",
            "At discharge: the calibrated risk with its range, tier and drivers, for follow-up planning."),
)


def service(service_id: str) -> Service | None:
    return next((s for s in SERVICES if s.id == service_id), None)


def prefetch_templates(schema: Schema, hook: str) -> dict[str, str]:
    """The prefetch keys and FHIR queries a service asks for, from the sources the schema's features use."""
    mappings = [f.fhir for f in schema.features if f.fhir is not None]
    sources = {m.source for m in mappings}
    templates = {"patient": f"Patient/{PATIENT}"}
    codes = sorted({code for m in mappings for code in _observation_codes(m)})
    if codes:
        templates["observations"] = f"Observation?patient={PATIENT}&combo-code={','.join(codes)}"
    if FhirSource.LENGTH_OF_STAY in sources:
        templates["encounter"] = ("Encounter/{{context.encounterId}}" if hook == "encounter-discharge" else
                                  f"Encounter?patient={PATIENT}&status=in-progress")
    if FhirSource.ACTIVE_CONDITIONS in sources:
        templates["conditions"] = f"Condition?patient={PATIENT}"
    lists = sorted({code for m in mappings for code in m.problem_lists})
    if lists:
        templates["problem_list"] = f"List?patient={PATIENT}&code={','.join(lists)}"
    if FhirSource.QUESTIONNAIRE in sources:
        templates["questionnaires"] = f"QuestionnaireResponse?patient={PATIENT}"
    return templates


def _observation_codes(mapping: FhirMapping) -> list[str]:
    codes = list(mapping.codes) if mapping.source == FhirSource.OBSERVATION else []
    for part in (mapping.weight, mapping.height):
        if part is not None:
            codes += part.codes
    return codes


def discovery(schema: Schema, no_auth: bool) -> dict[str, Any]:
    warning = (" NOT FOR PATIENTS: this service runs without authentication (--no-auth), for trying it on one "
               "machine only.") if no_auth else ""
    return {"services": [{"hook": s.hook, "id": s.id, "title": s.title, "description": s.description + warning,
                          "prefetch": prefetch_templates(schema, s.hook)} for s in SERVICES]}
