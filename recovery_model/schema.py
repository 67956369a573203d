"""The patient schema: feature names, order, units, ranges and help texts, read from TOML.

Everything that needs a feature name, a unit or a range reads it from a `Schema`, so a
hospital can describe its own extract in its own TOML file without touching the code.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import tomli_w

from recovery_model.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

GROUPS = {"demographics": "Demographics", "vitals": "Vital signs", "clinical": "Clinical",
          "lifestyle": "Lifestyle", "treatment": "Treatment", "other": "Other"}
DEFAULT_SCHEMA_NAME = "recovery.toml"
CHANGES = ("any", "decrease", "increase")
GENDERS = ("male", "female", "other", "unknown")  # FHIR administrative-gender


class FhirSource(StrEnum):
    """Where in a FHIR record a feature's value is read from (`FhirMapping`)."""

    OBSERVATION = "observation"
    AGE = "age"
    LENGTH_OF_STAY = "length_of_stay"
    ACTIVE_CONDITIONS = "active_conditions"
    QUESTIONNAIRE = "questionnaire"

    @property
    def measured(self) -> bool:
        """Its values were measured at a time of their own (the others hold at the index time)."""
        return self in (FhirSource.OBSERVATION, FhirSource.QUESTIONNAIRE)


@dataclass(frozen=True)
class FhirMapping:
    """Where a feature's value is found in a FHIR R4 record: data, so a hospital maps its own codes.

    source        "observation" (the latest Observation, or panel component, with one of `codes`), "age"
                  (from Patient.birthDate), "length_of_stay" (days of the current Encounter of one of `classes`),
                  "active_conditions" (active Conditions, counted by comorbidity) or "questionnaire" (a
                  QuestionnaireResponse item whose linkId is `link_id`, by default the feature's name).
    codes         "system|code" of the Observation, e.g. "http://loinc.org|8480-6".
    units         UCUM code → the factor that converts it into the feature's unit ("mmol/L" = 18.016 for glucose).
                  A valueInteger has the unit "1": it is read when there are no units, or when "1" is one of them.
    answers       coded answer "system|code" → the feature's value (smoking status in SNOMED CT, for example).
    link_id       with an Observation source, a QuestionnaireResponse item read as well: the latest value wins.
    limits        [low, high]: the values the Observation can take (a score's scale); outside is an error, not read.
    threshold     Patient.gender ("male", "female", "other", "unknown") → the cut-off that turns the Observation's
                  score into 1 (score ≥ cut-off) or 0; "default" is the cut-off for any other or no gender.
    classes       "system|code" of the Encounter.class that is a hospital stay; none given: any class.
    conditions    the value set of chronic comorbidities: a name → its "system|code" entries. An active Condition
                  coded with an entry counts, and each name counts once, however many Conditions carry it.
    prefix_systems
                  code systems whose entries match by prefix, dots ignored: ICD-10-CM "E11" matches "E11.9".
    categories    "system|code" of a Condition.category whose active Conditions count too (a hospital's
                  problem-list-item), each by its own code, unless its display ends in one of `excluded_displays`.
    problem_lists "system|code" of a List that is the patient's problem list: one with no entries says "no
                  problems" (0). With no Condition and no such List, the count is missing, not 0.
                  With neither `conditions` nor `categories`, every active Condition counts and none is 0: the
                  rule the mappings in checkpoints trained before the value set carry.
    weight, height
                  for BMI: derived from the latest weight and height when no BMI is recorded.
    """

    source: FhirSource = FhirSource.OBSERVATION
    codes: tuple[str, ...] = ()
    units: dict[str, float] = field(default_factory=dict)
    answers: dict[str, float] = field(default_factory=dict)
    link_id: str = ""
    limits: tuple[float, float] | None = None
    threshold: dict[str, float] = field(default_factory=dict)
    classes: tuple[str, ...] = ()
    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    prefix_systems: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    excluded_displays: tuple[str, ...] = ()
    problem_lists: tuple[str, ...] = ()
    weight: FhirMapping | None = None
    height: FhirMapping | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", FhirSource(self.source))  # raises ValueError for an unknown source

    @property
    def counts_a_value_set(self) -> bool:
        """Conditions are counted by value set or category (else every active Condition counts)."""
        return bool(self.conditions or self.categories)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FhirMapping:
        data = dict(data)
        for part in ("weight", "height"):
            if data.get(part) is not None:
                data[part] = cls.from_dict(data[part])
        for name in ("codes", "classes", "prefix_systems", "categories", "excluded_displays", "problem_lists"):
            data[name] = tuple(str(c) for c in data.get(name, ()))
        for name in ("units", "answers", "threshold"):
            data[name] = {str(k): float(v) for k, v in data.get(name, {}).items()}
        data["conditions"] = {str(k): tuple(str(c) for c in v) for k, v in data.get("conditions", {}).items()}
        if data.get("limits") is not None:
            low, high = data["limits"]
            data["limits"] = (float(low), float(high))
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        data = {"source": str(self.source), "codes": list(self.codes), "units": self.units, "answers": self.answers,
                "link_id": self.link_id, "limits": list(self.limits) if self.limits else None,
                "threshold": self.threshold, "classes": list(self.classes),
                "conditions": {k: list(v) for k, v in self.conditions.items()},
                "prefix_systems": list(self.prefix_systems), "categories": list(self.categories),
                "excluded_displays": list(self.excluded_displays), "problem_lists": list(self.problem_lists)}
        data |= {part: getattr(self, part).to_dict() for part in ("weight", "height") if getattr(self, part)}
        return {k: v for k, v in data.items() if v not in ("", [], {}, None)}


@dataclass(frozen=True)
class Feature:
    """One model input, with everything a form, a validator or an explanation needs."""

    name: str
    dtype: str
    label: str
    valid_min: float
    valid_max: float
    typical_min: float
    typical_max: float
    default: float
    unit: str = ""
    short_label: str = ""
    group: str = "other"
    description: str = ""
    decimals: int = 0
    modifiable: bool = False
    levels: dict[int, str] = field(default_factory=dict)
    change: str = "any"  # for suggestions: "any", or "decrease" / "increase" only (a smoker can stop smoking)
    fhir: FhirMapping | None = None  # where FHIR import finds the value; None: not read from FHIR
    # The shelf life: a value measured longer than this before the index time is not recorded (None: no limit, for
    # what is computed at the index time, such as age). See recovery_model/readers/freshness.py.
    max_age_hours: float | None = None

    @property
    def is_integer(self) -> bool:
        return self.dtype == "int"

    @property
    def mapping(self) -> FhirMapping:
        """The FHIR mapping of a feature read from FHIR (the reader only asks features that have one)."""
        if self.fhir is None:
            raise SchemaError(f"feature '{self.name}' has no [features.fhir] mapping: it is not read from FHIR.")
        return self.fhir

    @property
    def is_binary(self) -> bool:
        return self.is_integer and self.valid_min == 0 and self.valid_max == 1

    @property
    def display_unit(self) -> str:
        """The unit as printed after a value; empty for scores and levels, whose scale is in the help."""
        return "" if self.unit.startswith(("score", "level")) else self.unit

    @property
    def display_name(self) -> str:
        return self.short_label or self.label

    def format_value(self, value: float) -> str:
        """A value as a clinician reads it: 'SpO2 = 87.0 %', 'Smoker = yes'."""
        if value is None or np.isnan(value):
            return f"{self.display_name} = not recorded"
        if self.is_binary and int(value) in self.levels:
            return f"{self.display_name} = {self.levels[int(value)]}"
        number = f"{round(value)}" if self.is_integer else f"{value:.{self.decimals}f}"
        unit = self.display_unit
        if number == "1" and unit.endswith("s") and unit.isalpha():  # '1 visit', '1 day', not '1 visits'
            unit = unit[:-1]
        joiner = "" if unit == "%" else " "
        return f"{self.display_name} = {number}{joiner}{unit}".rstrip()

    def help_text(self) -> str:
        """The form's help text: meaning, typical range and, for ordinals, the scale."""
        parts = [self.description, f"Typical range {self.typical_range_text()}."]
        if self.levels and not self.is_binary:
            parts.append("Scale: " + "; ".join(f"{k} = {v}" for k, v in self.levels.items()) + ".")
        return " ".join(p for p in parts if p)

    def typical_range_text(self, with_unit: bool = True) -> str:
        def fmt(v: float) -> str:
            return f"{v:.0f}" if float(v).is_integer() else f"{v:.{max(self.decimals, 1)}f}"

        unit = f" {self.display_unit}" if with_unit and self.display_unit else ""
        return f"{fmt(self.typical_min)}–{fmt(self.typical_max)}{unit}"


@dataclass(frozen=True)
class Target:
    """The outcome column and the words every text uses for it.

    event_label completes "patients who ...", non_event_label names the other outcome, and
    risk_label completes "risk of ..." (for us: "did not recover", "recovered", "not recovering").
    """

    name: str
    event_value: int
    label: str = ""
    event_label: str = "had the event"
    description: str = ""
    non_event_label: str = "did not have the event"
    risk_label: str = ""

    @property
    def risk_of(self) -> str:
        """'risk of not recovering': the name of what the model estimates."""
        return f"risk of {self.risk_label or 'the event'}"


@dataclass(frozen=True)
class Subgroup:
    """A way to split patients for the subgroup analysis: one feature, cut at `cuts`.

    With no cuts, a yes/no feature splits into its two levels. Bands are
    [cut_i, cut_i+1): cuts = [50, 70] on age gives 'under 50', '50–69' and '70+'.
    """

    feature: str
    cuts: tuple[float, ...] = ()

    def levels(self, feature: Feature) -> list[tuple[str, float, float]]:
        """(label, low, high) per band; a patient is in a band when low ≤ value < high."""
        if not self.cuts:
            return [(feature.levels.get(value, str(value)), value, value + 1) for value in (0, 1)]
        edges = [feature.valid_min, *self.cuts, np.inf]
        return [(_band_label(feature, low, high, i == 0), low, high)
                for i, (low, high) in enumerate(itertools.pairwise(edges))]

    def masks(self, feature: Feature, values: np.ndarray) -> list[tuple[str, np.ndarray]]:
        values = np.asarray(values, dtype=float)
        return [(label, (values >= low) & (values < high)) for label, low, high in self.levels(feature)]


def _band_label(feature: Feature, low: float, high: float, first: bool) -> str:
    def number(v: float) -> str:
        return f"{v:g}"

    if np.isinf(high):
        return f"{number(low)}+" if feature.is_integer else f"{number(low)} or more"
    if feature.is_integer and high - 1 == low:
        return number(low)
    if first:
        return f"under {number(high)}"
    return f"{number(low)}–{number(high - 1)}" if feature.is_integer else f"{number(low)} to under {number(high)}"


@dataclass(frozen=True)
class Schema:
    name: str
    version: int
    target: Target
    features: tuple[Feature, ...]
    id_column: str = "patient_id"
    description: str = ""
    subgroups: tuple[Subgroup, ...] = ()

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise SchemaError(f"Schema '{self.name}' lists these features twice: {duplicated}.")
        if self.target.name in names:
            raise SchemaError(f"Schema '{self.name}': the target '{self.target.name}' is also a feature.")
        for f in self.features:
            _check_feature(f)
        for subgroup in self.subgroups:
            if subgroup.feature not in names:
                raise SchemaError(f"Schema '{self.name}': subgroup feature '{subgroup.feature}' is not a feature.")
            if not subgroup.cuts and not self.feature(subgroup.feature).is_binary:
                raise SchemaError(f"Schema '{self.name}': subgroup '{subgroup.feature}' needs cuts (only a yes/no "
                                  "feature splits without them).")

    @staticmethod
    def group_title(group: str) -> str:
        """'Vital signs' for 'vitals': the heading of a group of features on the form."""
        return GROUPS[group]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def columns(self) -> list[str]:
        """Features in schema order, then the target: the layout of a training file."""
        return [*self.feature_names, self.target.name]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"'{name}' is not a feature of schema '{self.name}'.")

    def by_group(self) -> dict[str, list[Feature]]:
        groups: dict[str, list[Feature]] = {}
        for f in self.features:
            groups.setdefault(f.group, []).append(f)
        return groups

    @property
    def modifiable(self) -> list[Feature]:
        return [f for f in self.features if f.modifiable]

    def defaults(self) -> dict[str, float]:
        return {f.name: f.default for f in self.features}

    def event_from_target(self, target: pd.Series | np.ndarray) -> np.ndarray:
        """1 where the adverse event happened (for us: did not recover), else 0."""
        return (np.asarray(target) == self.target.event_value).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [_feature_to_dict(f) for f in self.features]
        data["subgroups"] = [{"feature": s.feature, **({"cuts": list(s.cuts)} if s.cuts else {})}
                             for s in self.subgroups]
        return data

    def fingerprint(self) -> str:
        """A hash of what the model depends on: names, order and dtypes of the inputs and target."""
        core = {"features": [[f.name, f.dtype] for f in self.features],
                "target": [self.target.name, self.target.event_value]}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]

    def to_toml(self) -> str:
        data = self.to_dict()
        data["features"] = [{k: v for k, v in f.items() if v not in ("", {}, None)}
                            for f in data["features"]]
        return tomli_w.dumps(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "schema") -> Schema:
        try:
            target = Target(**data["target"])
            features = tuple(_feature_from_dict(f) for f in data["features"])
            subgroups = tuple(Subgroup(s["feature"], tuple(float(c) for c in s.get("cuts", ())))
                              for s in data.get("subgroups", ()))
            return cls(name=data["name"], version=int(data.get("version", 1)), target=target,
                       features=features, id_column=data.get("id_column", "patient_id"),
                       description=data.get("description", ""), subgroups=subgroups)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SchemaError):
                raise
            raise SchemaError(f"{source}: not a valid schema ({type(exc).__name__}: {exc}). "
                              "Compare it with recovery_model/schemas/recovery.toml.") from None

    @classmethod
    def infer(cls, frame: pd.DataFrame, target: str, event_value: float | None, name: str = "inferred") -> Schema:
        """A draft schema for a foreign all-numeric extract, to be reviewed by a person.

        `event_value` names which of the target's two values is the adverse outcome (scikit-learn's `pos_label`):
        there is no default, because guessing it (say, the rarer value) inverts every risk in a cohort where most
        patients have the adverse outcome. Typical ranges are the 1st–99th percentiles; hard limits are widened
            """
        if target not in frame.columns:
            raise SchemaError(f"The target column '{target}' is not in the data "
                              f"(columns: {', '.join(map(str, frame.columns))}).")
        import pandas as pd  # only inference needs it: the dashboard's start-up reads schemas without pandas

        y = pd.to_numeric(frame[target], errors="coerce").dropna()
        values = sorted(y.unique().tolist())
        if len(values) != 2:
            raise SchemaError(f"The target '{target}' must have exactly two values; it has {values[:10]}.")
        if event_value is None or float(event_value) not in values:
            raise SchemaError(which_event_question(target, y) + (f" ({event_value:g} is not one of them.)"
                                                                 if event_value is not None else ""))
        event_value = float(event_value)
        features = [_infer_feature(str(col), frame[col]) for col in frame.columns
                    if col != target and pd.api.types.is_numeric_dtype(frame[col])]
        if not features:
            raise SchemaError("No numeric feature columns found: the data must be all-numeric.")
        other = next(v for v in values if v != event_value)
        outcome = Target(name=target, event_value=int(event_value), label=target,
                         event_label=f"had {target} = {event_value:g}", non_event_label=f"had {target} = {other:g}",
                         risk_label=f"{target} = {event_value:g}")
        return cls(name=name, version=1, target=outcome,
                   features=tuple(features), id_column="patient_id",
                   description=f"Inferred from data with target '{target}' (adverse outcome: {target} = "
                               f"{event_value:g}). Review before use.")


def which_event_question(target: str, values: pd.Series) -> str:
    """'Which value of 'recovered' is the adverse outcome? Add --event 0 or --event 1 (0: 72 % of rows, 1: 28 %).'"""
    shares = values.value_counts(normalize=True).sort_index()
    options = " or ".join(f"--event {v:g}" for v in shares.index)
    listed = ", ".join(f"{v:g}: {100 * share:.0f} % of rows" if i == 0 else f"{v:g}: {100 * share:.0f} %"
                       for i, (v, share) in enumerate(shares.items()))
    return f"Which value of '{target}' is the adverse outcome? Add {options} ({listed})."


READING_FIELDS = ("fhir", "max_age_hours")  # how a value is read from a record, not what the model learnt from
VALUE_RULES = ("units", "answers", "threshold", "limits")  # within `fhir`: they change the number fed to the model


def remap_differences(fitted: Schema, new: Schema) -> list[str]:
    """What differs between a fitted model's schema and `new` beyond where values are found and how long they keep
    (codes, value sets, classes, shelf lives): each difference in words; empty when `new` may replace `fitted`
    without retraining. A unit's factor, a coded answer's value or a score's cut-off changes the number the model
    is fed, so each of those is a difference too."""
    old_data, new_data = fitted.to_dict(), new.to_dict()
    out = [f"{key} differs" for key in old_data if key != "features" and old_data[key] != new_data.get(key)]
    if fitted.feature_names != new.feature_names:
        return [*out, f"the features differ ({', '.join(fitted.feature_names)} → {', '.join(new.feature_names)})"]
    for old, now in zip(old_data["features"], new_data["features"], strict=True):
        out += [f"feature '{old['name']}': {key} differs ({old[key]!r} → {now.get(key)!r})" for key in old
                if key not in READING_FIELDS and old[key] != now.get(key)]
        out += [f"feature '{old['name']}': fhir.{rule} differs ({before!r} → {after!r})"
                for rule, before, after in _value_rules(old.get("fhir"), now.get("fhir")) if before != after]
    return out


def reading_changes(fitted: Schema, new: Schema) -> list[str]:
    """The features whose FHIR mapping or shelf life `new` changes: what a remap does, for its record."""
    return [f.name for f, g in zip(fitted.features, new.features, strict=True)
            if f.fhir != g.fhir or f.max_age_hours != g.max_age_hours]


def _value_rules(old: dict | None, new: dict | None) -> list[tuple[str, Any, Any]]:
    old, new = old or {}, new or {}
    rules = [(rule, old.get(rule), new.get(rule)) for rule in VALUE_RULES]
    for part in ("weight", "height"):
        rules.append((f"{part}.units", (old.get(part) or {}).get("units"), (new.get(part) or {}).get("units")))
    return rules


def load_schema(path: str | Path | None = None) -> Schema:
    """Read a schema from TOML; with no path, the packaged recovery schema."""
    if path is None:
        text = resources.files("recovery_model.schemas").joinpath(DEFAULT_SCHEMA_NAME).read_text("utf-8")
        source = DEFAULT_SCHEMA_NAME
    else:
        path = Path(path)
        if not path.is_file():
            raise SchemaError(f"Schema file not found: {path}.")
        text, source = path.read_text("utf-8"), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{source} is not valid TOML: {exc}.") from None
    return Schema.from_dict(data, source)


def _feature_from_dict(data: dict[str, Any]) -> Feature:
    data = dict(data)
    data["levels"] = {int(k): str(v) for k, v in data.get("levels", {}).items()}
    if data.get("fhir") is not None:
        source = data["fhir"].get("source", FhirSource.OBSERVATION)
        if source not in set(FhirSource):
            raise SchemaError(f"feature '{data.get('name')}': fhir.source must be one of "
                              f"{', '.join(FhirSource)}, not '{source}'.")
        data["fhir"] = FhirMapping.from_dict(data["fhir"])
    return Feature(**data)


def _feature_to_dict(feature: Feature) -> dict[str, Any]:
    data = asdict(feature)
    data["levels"] = {str(k): v for k, v in feature.levels.items()}
    data["fhir"] = feature.fhir.to_dict() if feature.fhir else None
    return data


def _check_feature(f: Feature) -> None:
    where = f"feature '{f.name}'"
    if f.dtype not in ("int", "float"):
        raise SchemaError(f"{where}: dtype must be 'int' or 'float', not '{f.dtype}'.")
    if f.change not in CHANGES:
        raise SchemaError(f"{where}: change must be one of {', '.join(CHANGES)}, not '{f.change}'.")
    if f.group not in GROUPS:
        raise SchemaError(f"{where}: group must be one of {', '.join(GROUPS)}, not '{f.group}'.")
    if not f.valid_min <= f.typical_min <= f.typical_max <= f.valid_max:
        raise SchemaError(f"{where}: ranges must nest as valid_min ≤ typical_min ≤ typical_max ≤ valid_max.")
    if not f.valid_min <= f.default <= f.valid_max:
        raise SchemaError(f"{where}: default {f.default} lies outside the valid range.")
    age = f.max_age_hours
    if age is not None and (isinstance(age, bool) or not isinstance(age, int | float) or not age > 0):
        raise SchemaError(f"{where}: max_age_hours must be a number of hours above 0 (e.g. 24 for a vital sign), "
                          f"not {age!r}; leave it out for a value without a shelf life.")
    if f.fhir is not None:
        _check_fhir(f.fhir, where)


def _check_fhir(mapping: FhirMapping, where: str) -> None:
    if mapping.source == FhirSource.OBSERVATION and not mapping.codes:
        raise SchemaError(f"{where}: an Observation mapping needs codes (\"system|code\").")
    entries = [code for group in mapping.conditions.values() for code in group]
    for code in (*mapping.codes, *mapping.answers, *mapping.classes, *mapping.categories, *mapping.problem_lists,
                 *entries):
        if code.count("|") != 1 or not all(code.split("|")):
            raise SchemaError(f"{where}: FHIR code '{code}' must be written \"system|code\".")
    if (mapping.weight is None) != (mapping.height is None):
        raise SchemaError(f"{where}: a BMI mapping needs both fhir.weight and fhir.height.")
    _check_score(mapping, where)
    if mapping.classes and mapping.source != FhirSource.LENGTH_OF_STAY:
        raise SchemaError(f"{where}: fhir.classes (Encounter classes) belong to a length_of_stay mapping.")
    _check_value_set(mapping, where)


def _check_score(mapping: FhirMapping, where: str) -> None:
    if mapping.limits is not None and not mapping.limits[0] <= mapping.limits[1]:
        raise SchemaError(f"{where}: fhir.limits must be [low, high] with low ≤ high.")
    if not mapping.threshold:
        return
    if mapping.source != FhirSource.OBSERVATION:
        raise SchemaError(f"{where}: fhir.threshold cuts an Observation's score; it needs an Observation mapping.")
    unknown = sorted(set(mapping.threshold) - set(GENDERS) - {"default"})
    if unknown or "default" not in mapping.threshold:
        raise SchemaError(f"{where}: fhir.threshold is keyed by Patient.gender ({', '.join(GENDERS)}) and needs a "
                          f"'default' for the rest" + (f"; not {', '.join(unknown)}" if unknown else "") + ".")


def _check_value_set(mapping: FhirMapping, where: str) -> None:
    rules = (mapping.conditions, mapping.prefix_systems, mapping.categories, mapping.excluded_displays,
             mapping.problem_lists)
    if any(rules) and mapping.source != FhirSource.ACTIVE_CONDITIONS:
        raise SchemaError(f"{where}: conditions, prefix_systems, categories, excluded_displays and problem_lists "
                          "belong to an active_conditions mapping.")
    if any(rules) and not mapping.counts_a_value_set:
        raise SchemaError(f"{where}: prefix_systems, excluded_displays and problem_lists need a value set: give "
                          "fhir.conditions or fhir.categories.")
    empty = sorted(name for name, codes in mapping.conditions.items() if not codes)
    if empty:
        raise SchemaError(f"{where}: fhir.conditions '{empty[0]}' lists no codes.")


def _infer_feature(name: str, column: pd.Series) -> Feature:
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").dropna()
    if values.empty:
        raise SchemaError(f"Column '{name}' has no numeric values.")
    is_int = bool(np.all(np.equal(np.mod(values, 1), 0)))
    if is_int and set(values.unique()) <= {0, 1}:
        return Feature(name=name, dtype="int", label=name.replace("_", " ").capitalize(), valid_min=0,
                       valid_max=1, typical_min=0, typical_max=1, default=float(values.mode()[0]),
                       levels={0: "no", 1: "yes"})
    lo, hi = float(values.quantile(0.01)), float(values.quantile(0.99))
    # Beyond the training range is unusual, not impossible: it is scored and flagged. Only what cannot be is
    # refused, and all the data tell of that is the sign: a feature never negative in training cannot be negative.
    valid_min = 0.0 if values.min() >= 0 else -np.inf
    valid_max = np.inf
    default = float(values.median())
    if is_int:
        lo, hi, default = float(np.floor(lo)), float(np.ceil(hi)), float(round(default))
    return Feature(name=name, dtype="int" if is_int else "float", label=name.replace("_", " ").capitalize(),
                   valid_min=valid_min, valid_max=valid_max, typical_min=lo, typical_max=hi,
                   default=default, decimals=0 if is_int else 2)
