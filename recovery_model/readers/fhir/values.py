"""From validated FHIR resources to one row per patient: each feature's value, where it came from, and why not.

`fhir.read_fhir` reads and validates the file; this module groups the resources by patient and finds each
feature's value as the schema's `[features.fhir]` mapping says: the latest at or before the index time, in the
feature's unit, with its provenance. A value that cannot be taken as it is (a unit we cannot convert, no value,
a bound, a score off its scale, two values at one time, an ambiguous birth date) is left blank and said, by
patient and feature. Scores are cut into 0/1 by sex, stays read from the Encounter classes, and chronic conditions
counted from the value set, all as the mapping says: the codes are data, in the schema.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from recovery_model.errors import DataValidationError
from recovery_model.readers.freshness import CLOCK_LEEWAY, moment_text, outdated_reason
from recovery_model.schema import Feature, FhirMapping, FhirSource, Schema
from recovery_model.scoring.columns import FHIR_NOTES, OLDEST_VALUE_TIME, OUTDATED, source_column
from recovery_model.times import as_utc as utc

UCUM = "http://unitsofmeasure.org"
UNUSABLE_STATUSES = {"entered-in-error", "cancelled", "registered", "unknown"}
ACTIVE_CONDITION = {"active", "recurrence", "relapse"}
NOT_A_CONDITION = {"refuted", "entered-in-error"}
CURRENT_ENCOUNTER = {"in-progress", "arrived", "triaged", "onleave"}
NOT_A_STAY = {"planned", "cancelled", "entered-in-error"}


@dataclass(frozen=True)
class FhirProblem:
    """Something about one patient's record that left a value blank (or a resource unread)."""

    patient: str
    feature: str  # the feature's name ("" for the whole patient or a resource); `label` is what people read
    resource: str
    message: str
    label: str = ""

    def __str__(self) -> str:
        return f"{self.label or self.feature}: {self.message}" if self.feature else self.message


@dataclass
class FhirImport:
    """One row per patient (`frame`), what left values blank (`problems`) and notes on the file (`warnings`)."""

    frame: pd.DataFrame
    problems: list[FhirProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Resource:
    type: str
    id: str
    where: str  # "entry 12" or "Observation.ndjson line 4": how a person finds it in the file
    model: Any  # the validated fhir.resources model
    full_url: str = ""  # Bundle.entry.fullUrl, which other entries may use as the reference

    @property
    def reference(self) -> str:
        return f"{self.type}/{self.id}"


@dataclass(frozen=True)
class _Value:
    value: float
    when: datetime
    resource: str  # the resource the value comes from: "Observation/obs-17"
    source: str  # where it came from, as the <feature>_source column says it


# ----- from resources to rows ----------------------------------------------------------------------------------
class Extraction:
    """One pass over the validated resources: group them by patient, then find each feature's value."""

    def __init__(self, schema: Schema, as_of: datetime, label: str) -> None:
        self.schema, self.as_of, self.label = schema, as_of, label
        self.problems: list[FhirProblem] = []
        self.invalid: dict[str, list[FhirProblem]] = defaultdict(list)  # resources that failed validation, by patient
        self.unknown_codes: Counter[str] = Counter()
        self.mapped_codes = {code for f in schema.features if f.fhir for m in (f.fhir, f.fhir.weight, f.fhir.height)
                             if m for code in m.codes}
        self.value_sets = {f.name: ValueSet.of(f.fhir) for f in schema.features
                           if f.fhir and f.fhir.counts_a_value_set}

    def run(self, resources: list[Resource], problems: list[FhirProblem], warnings: list[str]) -> FhirImport:
        patients, by_patient, orphans, urls = self._group(resources)
        if not patients:
            raise DataValidationError(f"{self.label} holds no Patient resources, so there is no one to score. "
                                      "Export the patients with their Observations.")
        problems = [replace(p, patient=urls.get(p.patient, p.patient.removeprefix("Patient/"))) for p in problems]
        for problem in problems:
            if problem.patient in by_patient:
                self.invalid[problem.patient].append(problem)
        warnings = warnings + [f"{p.message} (it refers to no patient in the file)" for p in problems
                               if p.patient not in by_patient]
        rows = [self._row(pid, by_patient[pid]) for pid in patients]
        order = {pid: i for i, pid in enumerate(patients)}
        invalid = [p for found in self.invalid.values() for p in found]
        self.problems = sorted(invalid + self.problems, key=lambda p: order[p.patient])
        if orphans:
            warnings.append(f"Not read, about no patient in the file: {plural(len(orphans), 'resource')} (e.g. "
                            f"{', '.join(orphans[:3])}).")
        if self.unknown_codes:
            common = ", ".join(f"{code} ({n})" for code, n in self.unknown_codes.most_common(5))
            unmapped = plural(sum(self.unknown_codes.values()), "Observation")
            warnings.append(f"Not read, codes this schema does not map: {unmapped} ({common}). Map them in the "
                            "schema file if they are inputs.")
        frame = pd.DataFrame(rows, columns=[self.schema.id_column, *self.schema.feature_names,
                                            *[source_column(f.name) for f in self.schema.features], FHIR_NOTES,
                                            OUTDATED, OLDEST_VALUE_TIME])
        return FhirImport(frame, self.problems, warnings)

    def _group(self, resources: list[Resource]) -> tuple[list[str], dict[str, list[Resource]], list[str],
                                                           dict[str, str]]:
        """Patient ids in file order, each patient's resources, resources about no one, and fullUrl → id."""
        patients: dict[str, None] = {}  # ordered, and quick to look up
        urls: dict[str, str] = {}
        for resource in resources:
            if resource.type == "Patient":
                patients.setdefault(resource.id)
                if resource.full_url:
                    urls[resource.full_url] = resource.id
        by_patient: dict[str, list[Resource]] = defaultdict(list)
        orphans = []
        for resource in resources:
            if resource.type == "Patient":
                by_patient[resource.id].append(resource)
                continue
            subject = resource.model.subject
            reference = (subject.reference or "") if subject is not None else ""
            pid = urls.get(reference, reference.removeprefix("Patient/"))
            if pid in patients:
                by_patient[pid].append(resource)
            else:
                orphans.append(resource.reference)
        return list(patients), by_patient, orphans, urls

    def _row(self, pid: str, resources: list[Resource]) -> dict[str, Any]:
        kinds: dict[str, list[Resource]] = defaultdict(list)
        for resource in resources:
            kinds[resource.type].append(resource)
        observations = self._observation_index(kinds["Observation"])
        row: dict[str, Any] = {self.schema.id_column: pid}
        before = len(self.problems)
        found = {f.name: self._value(pid, f, kinds, observations) if f.fhir else None for f in self.schema.features}
        outdated = self._outdated(pid, found)
        explained = {p.feature for p in self.problems[before:]}
        absent = [f.display_name for f in self.schema.features if found[f.name] is None and f.name not in explained]
        if absent:
            self.problems.append(FhirProblem(pid, "", f"Patient/{pid}", f"not in the record at {_iso(self.as_of)}: "
                                             + ", ".join(absent)))
        for feature in self.schema.features:
            value = found[feature.name]
            row[feature.name] = value.value if value else None
            row[source_column(feature.name)] = value.source if value else ""
        row[FHIR_NOTES] = "; ".join(str(p) for p in [*self.invalid.get(pid, []), *self.problems[before:]])
        row[OUTDATED] = "; ".join(str(p) for p in outdated)
        measured = [v.when for f in self.schema.features if (v := found[f.name]) and f.mapping.source.measured]
        row[OLDEST_VALUE_TIME] = moment_text(min(measured)) if measured else ""
        return row

    def _outdated(self, pid: str, found: dict[str, _Value | None]) -> list[FhirProblem]:
        """Values older than their feature's shelf life at the index time: taken out of `found`, each said."""
        problems = []
        for feature in self.schema.features:
            value = found[feature.name]
            if value is None or not feature.mapping.source.measured:
                continue
            reason = outdated_reason(feature, value.when, self.as_of)
            if reason:
                self._problem(pid, feature, value.resource, reason)
                problems.append(self.problems[-1])
                found[feature.name] = None
        return problems

    def _problem(self, pid: str, feature: Feature, resource: str, message: str) -> None:
        self.problems.append(FhirProblem(pid, feature.name, resource, message, feature.display_name))

    # ----- one feature -----------------------------------------------------------------------------------------
    def _value(self, pid: str, feature: Feature, kinds: dict[str, list[Resource]],
               observations: dict[str, list[tuple[Resource, Any]]]) -> _Value | None:
        mapping = feature.mapping
        if mapping.source == FhirSource.AGE:
            return self._age(pid, feature, kinds["Patient"])
        if mapping.source == FhirSource.LENGTH_OF_STAY:
            return self._length_of_stay(pid, feature, kinds["Encounter"])
        if mapping.source == FhirSource.ACTIVE_CONDITIONS and mapping.counts_a_value_set:
            return self._chronic_conditions(feature, kinds["Condition"], kinds["List"])
        if mapping.source == FhirSource.ACTIVE_CONDITIONS:
            return self._active_conditions(kinds["Condition"])
        if mapping.source == FhirSource.QUESTIONNAIRE:
            return self._latest(pid, feature, self._answers(pid, feature, kinds["QuestionnaireResponse"]))
        return self._from_observations(pid, feature, kinds, observations)

    def _from_observations(self, pid: str, feature: Feature, kinds: dict[str, list[Resource]],
                           observations: dict[str, list[tuple[Resource, Any]]]) -> _Value | None:
        """The latest Observation (a score cut into 0/1 by the patient's gender), or questionnaire answer when the
        mapping has a `link_id` too; BMI from weight and height when none is recorded, or only one older than its
        shelf life and a later weight."""
        mapping = feature.mapping
        values = self._observed(pid, feature, mapping, observations)
        if mapping.threshold:
            values = _cut(values, mapping.threshold, _gender(kinds["Patient"]))
        if mapping.link_id:
            values += self._answers(pid, feature, kinds["QuestionnaireResponse"])
        found = self._latest(pid, feature, values)
        if mapping.weight is not None and (found is None or outdated_reason(feature, found.when, self.as_of)):
            derived = self._bmi(pid, feature, observations)  # a fresh weight beats a BMI recorded too long ago
            if derived is not None and (found is None or derived.when > found.when):
                return derived
        return found

    def _observation_index(self, observations: list[Resource]) -> dict[str, list[tuple[Resource, Any]]]:
        """'system|code' → (Observation, the element holding the value: the Observation or a panel component)."""
        mapped = self.mapped_codes
        index: dict[str, list[tuple[Resource, Any]]] = defaultdict(list)
        for resource in observations:
            model = resource.model
            if model.status in UNUSABLE_STATUSES:
                continue
            codes = _codes(model.code)
            hits = [c for c in codes if c in mapped]
            for code in hits:
                index[code].append((resource, model))
            for component in model.component or []:
                for code in _codes(component.code):
                    if code in mapped:
                        hits.append(code)
                        index[code].append((resource, component))
            if not hits:
                self.unknown_codes[codes[0] if codes else "(no code)"] += 1
        return index

    def _observed(self, pid: str, feature: Feature, mapping: FhirMapping,
                  observations: dict[str, list[tuple[Resource, Any]]]) -> list[_Value]:
        values = []
        for code in mapping.codes:
            for resource, element in observations.get(code, []):
                when = _when(resource.model)
                if when is None:
                    self._problem(pid, feature, resource.reference, f"{resource.reference} has no effective date; "
                                  "not read")
                    continue
                if when > self.as_of:
                    self._in_the_future(pid, feature, resource, when)
                    continue
                value = self._observation_value(pid, feature, mapping, resource, element)
                if value is not None and mapping.limits and not mapping.limits[0] <= value <= mapping.limits[1]:
                    low, high = mapping.limits
                    self._problem(pid, feature, resource.reference, f"{resource.reference} has {value:g}, outside "
                                  f"{low:g}–{high:g}, the values its code can take; not read")
                    continue
                if value is not None:
                    values.append(_Value(value, when, resource.reference, f"{resource.reference} {_iso(when)}"))
        return values

    def _in_the_future(self, pid: str, feature: Feature, resource: Resource, when: datetime) -> None:
        """A value after the index time is not read; one after now is a wrong date, and said (a later value in a
        record read as of a past day is simply not known yet, and needs no word)."""
        if when > datetime.now(UTC) + CLOCK_LEEWAY:
            self._problem(pid, feature, resource.reference, f"{resource.reference} is dated {_iso(when)}, in the "
                          "future; not read")

    def _observation_value(self, pid: str, feature: Feature, mapping: FhirMapping, resource: Resource,
                           element: Any) -> float | None:
        name = resource.reference
        if element.valueQuantity is not None:
            quantity = element.valueQuantity
            if quantity.value is None:
                self._problem(pid, feature, name, f"{name} has a quantity with no number; not read")
                return None
            if quantity.comparator:
                self._problem(pid, feature, name, f"{name} is a bound ({quantity.comparator} {quantity.value}), not a "
                              "value; not read")
                return None
            unit = quantity.code if quantity.code and quantity.system in (None, UCUM) else quantity.unit
            factor = mapping.units.get(unit or "")
            if factor is None:
                self._problem(pid, feature, name, f"{name} is in '{unit or 'no unit'}', which this schema cannot "
                              f"convert to {feature.unit or 'its unit'} (it converts {', '.join(mapping.units)}); "
                              "not read")
                return None
            return float(Decimal(quantity.value) * Decimal(str(factor)))
        if element.valueCodeableConcept is not None:
            codes = _codes(element.valueCodeableConcept)
            known = [mapping.answers[c] for c in codes if c in mapping.answers]
            if not known:
                self._problem(pid, feature, name, f"{name} answers {', '.join(codes) or 'with no code'}, which "
                              "this schema does not map to a value; not read")
                return None
            return known[0]
        for kind in ("valueInteger", "valueBoolean"):
            if getattr(element, kind, None) is not None and (not mapping.units or "1" in mapping.units):
                return float(getattr(element, kind)) * mapping.units.get("1", 1.0)
        absent = element.dataAbsentReason
        reason = (f" (data absent: {', '.join(c.split('|')[1] for c in _codes(absent)) or absent.text})"
                  if absent is not None else "")
        self._problem(pid, feature, name, f"{name} has no value we can read{reason}; not read")
        return None

    def _latest(self, pid: str, feature: Feature, values: list[_Value]) -> _Value | None:
        """The latest value; two different values at that same time are a conflict, left blank."""
        if not values:
            return None
        newest = max(v.when for v in values)
        latest = [v for v in values if v.when == newest]
        if len({round(v.value, 9) for v in latest}) > 1:
            listed = ", ".join(f"{v.resource} = {v.value:g}" for v in latest)
            self._problem(pid, feature, latest[0].resource,
                          f"different values at the same time {_iso(newest)} ({listed}); left blank")
            return None
        return latest[0]

    def _bmi(self, pid: str, feature: Feature, observations: dict[str, list[tuple[Resource, Any]]]) -> _Value | None:
        mapping = feature.mapping
        if mapping.weight is None or mapping.height is None:
            return None
        weight = self._latest(pid, feature, self._observed(pid, feature, mapping.weight, observations))
        height = self._latest(pid, feature, self._observed(pid, feature, mapping.height, observations))
        if weight is None or height is None or height.value <= 0:
            return None
        bmi = weight.value / height.value ** 2  # as old as the weight: a height from years ago still holds
        return _Value(round(bmi, 2), weight.when, weight.resource, f"from {weight.source} and {height.source}")

    def _age(self, pid: str, feature: Feature, patients: list[Resource]) -> _Value | None:
        values = []
        for resource in patients:
            born = resource.model.birthDate
            if born is None:
                continue
            earliest, latest = _date_span(born)
            oldest, youngest = _years(earliest, self.as_of.date()), _years(latest, self.as_of.date())
            if oldest != youngest:
                self._problem(pid, feature, resource.reference, f"birthDate {born} gives an age of {youngest} or "
                              f"{oldest} at {_iso(self.as_of)}; give the full date")
                return None
            values.append(_Value(float(oldest), self.as_of, resource.reference,
                                 f"{resource.reference} birthDate {born}"))
        return self._latest(pid, feature, values)

    def _length_of_stay(self, pid: str, feature: Feature, encounters: list[Resource]) -> _Value | None:
        """Days of the latest Encounter in progress at the index time whose class is a stay (an ambulatory visit
        is not); a mapping with no `classes` takes any class, as checkpoints trained before them do."""
        classes = feature.mapping.classes
        current = []
        for resource in encounters:
            model = resource.model
            coding = model.class_fhir
            if classes and (coding is None or f"{coding.system}|{coding.code}" not in classes):
                continue
            start = as_utc(model.period.start) if model.period is not None and model.period.start else None
            end = as_utc(model.period.end) if model.period is not None and model.period.end else None
            if start is None or start > self.as_of or model.status in NOT_A_STAY:
                continue
            if (end is None and model.status in CURRENT_ENCOUNTER) or (end is not None and end >= self.as_of):
                current.append((start, resource))
        if not current:
            return None
        start, resource = max(current, key=lambda pair: pair[0])
        days = (self.as_of - start) // timedelta(days=1)
        return _Value(float(days), start, resource.reference, f"{resource.reference} from {_iso(start)}")

    def _active_conditions(self, conditions: list[Resource]) -> _Value:
        """Every active Condition, by code, and none is 0: the rule of a mapping with no value set."""
        counted: dict[str, str] = {}
        for resource in conditions:
            if self._active(resource.model):
                code = (_codes(resource.model.code) or [resource.reference])[0]
                counted.setdefault(code, resource.reference)
        source = ", ".join(counted.values()) if counted else "no active Condition"
        return _Value(float(len(counted)), self.as_of, source, source)

    def _chronic_conditions(self, feature: Feature, conditions: list[Resource], lists: list[Resource]) -> _Value | None:
        """The chronic comorbidities among the active Conditions, each counted once (by its value-set name).

        Conditions none of which is chronic (social-history findings, a resolved infection) are 0, and so is an
        empty problem list; no Condition and no empty problem list is missing: a record that says nothing about
        the patient's problems does not say there are none."""
        mapping = feature.mapping
        value_set = self.value_sets[feature.name]
        known = [r for r in conditions if self._known(r.model)]
        counted: dict[str, str] = {}  # comorbidity → the first Condition that has it
        for resource in known:
            if self._active(resource.model):
                by_category = _by_category(resource.model, mapping)
                for name in value_set.names(resource.model.code) or ([by_category] if by_category else []):
                    counted.setdefault(name, resource.reference)
        if counted:
            source = ", ".join(f"{reference} ({name.replace('_', ' ')})" for name, reference in counted.items())
            return _Value(float(len(counted)), self.as_of, next(iter(counted.values())), source)
        if known:
            return _Value(0.0, self.as_of, known[0].reference,
                          f"no chronic condition among {plural(len(known), 'Condition')}")
        empty = self._empty_problem_list(lists, mapping)
        if empty is None:
            return None
        return _Value(0.0, self.as_of, empty.reference, f"{empty.reference} an empty problem list")

    def _empty_problem_list(self, lists: list[Resource], mapping: FhirMapping) -> Resource | None:
        """A current problem List (a code in `problem_lists`) with no entries, known at the index time."""
        for resource in lists:
            model = resource.model
            if model.status != "current" or model.entry or not set(_codes(model.code)) & set(mapping.problem_lists):
                continue
            if model.date is None or as_utc(model.date) <= self.as_of:
                return resource
        return None

    def _known(self, condition: Any) -> bool:
        """A Condition the record held at the index time: not entered in error, nor begun or recorded later."""
        if "entered-in-error" in _code_values(condition.verificationStatus):
            return False
        return all(as_utc(moment) <= self.as_of for moment in (condition.onsetDateTime, condition.recordedDate)
                   if moment)

    def _active(self, condition: Any) -> bool:
        return (self._known(condition) and bool(_code_values(condition.clinicalStatus) & ACTIVE_CONDITION)
                and not _code_values(condition.verificationStatus) & NOT_A_CONDITION)

    def _answers(self, pid: str, feature: Feature, responses: list[Resource]) -> list[_Value]:
        link_id = feature.mapping.link_id or feature.name
        values = []
        for resource in responses:
            model = resource.model
            if model.status not in ("completed", "amended"):
                continue
            when = as_utc(model.authored) if model.authored else None
            if when is None or when > self.as_of:
                if when is not None:
                    self._in_the_future(pid, feature, resource, when)
                continue
            for item in _items(model.item or []):
                if item.linkId != link_id:
                    continue
                for answer in item.answer or []:
                    value = _answer_value(answer, feature.mapping)
                    if value is None:
                        self._problem(pid, feature, resource.reference, f"{resource.reference} item '{link_id}' "
                                      "has an answer this schema cannot read as a number; not read")
                    else:
                        values.append(_Value(value, when, resource.reference, f"{resource.reference} {_iso(when)}"))
        return values


@dataclass(frozen=True)
class ValueSet:
    """A mapping's `conditions`, ready to look a coding up: exact "system|code", and prefixes by system."""

    exact: dict[str, str]  # "system|code" → the comorbidity's name
    prefixes: dict[str, list[tuple[str, str]]]  # system → (code without dots, name), for `prefix_systems`

    @classmethod
    def of(cls, mapping: FhirMapping) -> ValueSet:
        exact: dict[str, str] = {}
        prefixes: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for name, entries in mapping.conditions.items():
            for entry in entries:
                system, code = entry.split("|")
                if system in mapping.prefix_systems:
                    prefixes[system].append((code.replace(".", ""), name))
                else:
                    exact.setdefault(entry, name)
        return cls(exact, dict(prefixes))

    def names(self, concept: Any) -> list[str]:
        """Every comorbidity a Condition.code is (a code in two categories, as Quan's I12.0 in hypertension and
        renal failure, is both), in the value set's order; empty when none of its codings is in the value set."""
        found: dict[str, None] = {}
        for coding in (concept.coding if concept is not None else None) or []:
            if name := self.exact.get(f"{coding.system}|{coding.code}"):
                found.setdefault(name)
            code = (coding.code or "").replace(".", "")
            for prefix, name in self.prefixes.get(coding.system or "", []):
                if code.startswith(prefix):
                    found.setdefault(name)
        return list(found)


def _by_category(condition: Any, mapping: FhirMapping) -> str | None:
    """A Condition counted for its category (its own code names it), unless its display is an excluded kind."""
    categories = {code for concept in condition.category or [] for code in _codes(concept)}
    if not categories & set(mapping.categories):
        return None
    concept = condition.code
    if concept is None:
        return None
    displays = [coding.display or "" for coding in concept.coding or []] + [concept.text or ""]
    if any(d.strip().endswith(suffix) for d in displays for suffix in mapping.excluded_displays):
        return None
    return next(iter(_codes(concept)), None)


def _gender(patients: list[Resource]) -> str:
    return next((r.model.gender for r in patients if r.model.gender), "")


def _cut(values: list[_Value], threshold: dict[str, float], gender: str) -> list[_Value]:
    """Scores into 0/1: 1 at or above the cut-off for the patient's gender (the default one for any other)."""
    cut = threshold.get(gender, threshold["default"])
    whose = f"the cut-off for {gender}" if gender in threshold else \
        f"the default cut-off, gender {gender or 'not recorded'}"
    return [replace(v, value=float(v.value >= cut),
                    source=f"{v.source} (score {v.value:g} {'≥' if v.value >= cut else '<'} {cut:g}, {whose})")
            for v in values]


def _items(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        yield item
        yield from _items(item.item or [])


def _answer_value(answer: Any, mapping: FhirMapping) -> float | None:
    for kind in ("valueInteger", "valueDecimal", "valueBoolean"):
        value = getattr(answer, kind, None)
        if value is not None:
            return float(value)
    if answer.valueCoding is not None:
        return mapping.answers.get(f"{answer.valueCoding.system}|{answer.valueCoding.code}")
    return None


def _codes(concept: Any) -> list[str]:
    """'system|code' for each coding of a CodeableConcept (empty when there is none)."""
    if concept is None:
        return []
    return [f"{c.system}|{c.code}" for c in concept.coding or [] if c.code]


def _code_values(concept: Any) -> set[str]:
    """The codes alone (no system) of a CodeableConcept: for FHIR's own status vocabularies."""
    return {c.split("|")[1] for c in _codes(concept)}


def _when(observation: Any) -> datetime | None:
    for moment in (observation.effectiveDateTime, observation.effectiveInstant,
                   observation.effectivePeriod.end if observation.effectivePeriod else None,
                   observation.effectivePeriod.start if observation.effectivePeriod else None, observation.issued):
        if moment:
            return as_utc(moment)
    return None


def as_utc(moment: datetime | date | str) -> datetime:
    """A FHIR instant, dateTime or (partial) date as a UTC-aware datetime; a partial date is its first moment."""
    if isinstance(moment, str):
        moment = _date_span(moment)[0]
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return utc(moment)


def _date_span(value: date | str) -> tuple[date, date]:
    """The first and last day a FHIR date can mean: '1950' is 1950-01-01 to 1950-12-31."""
    if isinstance(value, datetime):
        return value.date(), value.date()
    if isinstance(value, date):
        return value, value
    parts = [int(p) for p in str(value)[:10].split("-")]
    if len(parts) == 3:
        day = date(*parts)
        return day, day
    if len(parts) == 2:
        first = date(parts[0], parts[1], 1)
        return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return date(parts[0], 1, 1), date(parts[0], 12, 31)


def _years(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
