"""Malformed ward files and the exact outcome each must get, shared by the core, CLI and upload tests.

Every case starts from the first five rows of data/sample_ward.csv and breaks one thing. An outcome is
either a file-level refusal (`FileRefused`: the message must contain `says`) or a row-level result
(`Rows`: the counts, and for each rejected row a phrase its reason must contain).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from tests.conftest import DATA

WARD_ROWS = 5


@dataclass(frozen=True)
class FileRefused:
    says: str


@dataclass(frozen=True)
class Rows:
    scored: int
    rejected: dict[int, str] = field(default_factory=dict)
    flagged: int | None = None
    imputed: dict[int, str] = field(default_factory=dict)
    unusual: dict[int, str] = field(default_factory=dict)
    warning: str = ""
    outdated: dict[int, str] = field(default_factory=dict)  # a phrase of each row's `outdated_values`

    @property
    def rows(self) -> int:
        return self.scored + len(self.rejected)


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    expect: FileRefused | Rows
    cli_expect: FileRefused | Rows | None = None  # where `recovery predict`, which streams, differs

    @property
    def for_cli(self) -> FileRefused | Rows:
        return self.cli_expect or self.expect


def _table() -> list[list[str]]:
    with open(DATA / "sample_ward.csv", newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[: WARD_ROWS + 1]


def _csv(table: list[list[str]], sep: str = ",", newline: str = "\n", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator=newline).writerows(table)
    return out.getvalue().encode(encoding)


def _set(column: str, row: int, value: str) -> bytes:
    """The ward with one cell replaced (row counts from 1, below the header)."""
    table = _table()
    table[row][table[0].index(column)] = value
    return _csv(table)


def _rename(old: str, new: str) -> bytes:
    table = _table()
    table[0][table[0].index(old)] = new
    return _csv(table)


def _drop(column: str) -> bytes:
    table = _table()
    index = table[0].index(column)
    return _csv([r[:index] + r[index + 1:] for r in table])


def _add_column(name: str, values: list[str]) -> bytes:
    table = _table()
    return _csv([table[0] + [name]] + [[*r, v] for r, v in zip(table[1:], values, strict=True)])


def _heart_rate_measured(row: int, when: str) -> bytes:
    """The ward with a heart_rate_time column: an hour ago for every row, `when` for row `row`."""
    from datetime import UTC, datetime, timedelta

    recent = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%MZ")
    return _add_column("heart_rate_time", [when if i == row else recent for i in range(1, WARD_ROWS + 1)])


def _blank(row: int, columns: list[str]) -> bytes:
    table = _table()
    for column in columns:
        table[row][table[0].index(column)] = ""
    return _csv(table)


def _semicolon_decimal_comma() -> bytes:
    table = _table()
    return _csv([[cell.replace(".", ",") if i >= 3 else cell for i, cell in enumerate(r)] for r in table], sep=";")


def _latin1_names() -> bytes:
    table = _table()
    ward = table[0].index("ward")
    for r in table[1:]:
        r[ward] = "Station Müller-Lüdenscheid"
    return _csv(table, encoding="latin-1")


def _ragged() -> bytes:
    lines = _csv(_table()).decode().splitlines()
    lines[2] += ",surplus"
    return ("\n".join(lines) + "\n").encode()


def _duplicate_column() -> bytes:
    table = _table()
    index = table[0].index("age")
    return _csv([[*r, r[index]] for r in table])


def _all_blank_row() -> bytes:
    table = _table()
    table[3] = [table[3][0], "", ""] + [""] * (len(table[0]) - 3)
    return _csv(table)


OK = Rows(scored=WARD_ROWS)
BIG = 50 * 1024 * 1024 + 1

# What a record of demographics, vitals, smoking status and a problem list lacks: the most the model trained on.
OUTPATIENT_BLANKS = ["oxygen_level", "sugar_level", "cholesterol", "days_hospitalized", "alcohol_use",
                     "treatment_intensity", "medication_adherence", "followup_visits", "stress_level"]

CORPUS: list[Case] = [
    Case("empty file", b"", FileRefused("is empty")),
    Case("only whitespace", b"  \n\n \r\n", FileRefused("is empty")),
    Case("header only", _csv(_table()[:1]), FileRefused("header but no patient rows")),
    Case("missing column", _drop("oxygen_level"), FileRefused("Missing required columns: oxygen_level")),
    Case("two missing columns", _drop("bmi").replace(b"stress_level", b"stress"),
         FileRefused("Missing required columns: bmi, stress_level")),
    Case("capitalised column", _rename("age", "Age"), FileRefused("'Age' → 'age'")),
    Case("column with a space", _rename("oxygen_level", "oxygen level"),
         FileRefused("'oxygen level' → 'oxygen_level'")),
    Case("column in other case", _rename("heart_rate", "Heart_Rate"), FileRefused("'Heart_Rate' → 'heart_rate'")),
    Case("duplicated column", _duplicate_column(), FileRefused("['age'] appear more than once")),
    Case("extra column passes through", _add_column("notes", ["a", "b", "c", "d", "e"]), OK),
    Case("extra column named like a feature", _add_column("age_months", ["1"] * 5), OK),
    Case("text in a number column", _set("bmi", 2, "obese"), Rows(4, {2: "bmi = 'obese': not a number"})),
    Case("decimal commas with semicolons", _semicolon_decimal_comma(), OK),
    Case("percent sign in SpO2", _set("oxygen_level", 1, "95%"), OK),
    Case("unit in blood pressure", _set("blood_pressure", 1, "120 mmHg"), OK),
    Case("unit without space", _set("heart_rate", 1, "72bpm"), OK),
    Case("wrong unit", _set("blood_pressure", 3, "16 kPa"),
         Rows(4, {3: "unit 'kPa' is not one this schema converts for Systolic BP (mmHg, mm[Hg]); convert to mmHg"})),
    Case("glucose in mmol/L is converted", _set("sugar_level", 4, "5.5 mmol/L"), OK),
    Case("cholesterol in mmol/L is converted", _set("cholesterol", 2, "5.2 mmol/L"), OK),
    Case("glucose in a unit we cannot convert", _set("sugar_level", 4, "1.1 g/L"),
         Rows(4, {4: "sugar_level = '1.1 g/L': unit 'g/L' is not one this schema converts for Glucose (mg/dL, "
                     "mmol/L)"})),
    Case("BMI written kg/m2", _set("bmi", 1, "26.4 kg/m2"), OK),
    Case("blank cell is imputed", _blank(2, ["bmi"]), Rows(5, imputed={2: "BMI"})),
    Case("NA is imputed", _set("cholesterol", 5, "NA"), Rows(5, imputed={5: "Cholesterol"})),
    Case("three blanks still imputed", _blank(1, ["bmi", "heart_rate", "cholesterol"]),
         Rows(5, imputed={1: "BMI; Heart rate; Cholesterol"})),
    Case("nine blanks, as an outpatient's record, still imputed", _blank(1, OUTPATIENT_BLANKS),
         Rows(5, imputed={1: "SpO2; Glucose; Cholesterol; Length of stay; Alcohol use; Treatment intensity; "
                             "Adherence; Follow-up visits; Stress"})),
    Case("ten blanks rejected", _blank(1, [*OUTPATIENT_BLANKS, "bmi"]),
         Rows(4, {1: "10 of 15 features are missing"})),
    Case("a row of blanks", _all_blank_row(), Rows(4, {3: "15 of 15 features are missing"})),
    Case("impossible SpO2", _set("oxygen_level", 2, "140"), Rows(4, {2: "oxygen_level = '140': outside the possible"})),
    Case("unusual SpO2 is flagged", _set("oxygen_level", 2, "84"), Rows(5, unusual={2: "SpO2 = 84.0%"})),
    Case("negative age", _set("age", 1, "-5"), Rows(4, {1: "age = '-5': outside the possible range 0–120"})),
    Case("negative count", _set("previous_conditions", 3, "-1"), Rows(4, {3: "previous_conditions = '-1'"})),
    Case("fractional days", _set("days_hospitalized", 4, "2.5"), Rows(4, {4: "must be a whole number"})),
    Case("smoker as yes", _set("smoker", 1, "yes"), OK),
    Case("smoker as FALSE", _set("smoker", 2, "FALSE"), OK),
    Case("smoker as maybe", _set("smoker", 3, "maybe"), Rows(4, {3: "smoker = 'maybe': not a number"})),
    Case("smoker as 2", _set("smoker", 3, "2"), Rows(4, {3: "outside the possible range 0–1"})),
    Case("duplicated patient id", _set("patient_id", 2, _table()[1][0]),
         Rows(5, warning="appears on rows 1, 2")),
    Case("UTF-8 byte-order mark", codecs.BOM_UTF8 + _csv(_table()), OK),
    Case("Latin-1 text", _latin1_names(), OK),
    Case("semicolon separator", _csv(_table(), sep=";"), OK),
    Case("tab separator", _csv(_table(), sep="\t"), OK),
    Case("Windows line endings", _csv(_table(), newline="\r\n"), OK),
    Case("Excel workbook renamed .csv", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, FileRefused("Excel workbook")),
    Case("old Excel file renamed .csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
         FileRefused("Excel workbook")),
    Case("binary file", bytes(range(256)) * 4, FileRefused("binary file")),
    Case("file over the size limit", b"age\n" + b"1\n" * (BIG // 2), FileRefused("larger than 50 MB"),
         cli_expect=FileRefused("Missing required columns")),  # the CLI has no size limit: it streams
    Case("ragged row", _ragged(), FileRefused("not a well-formed CSV")),
    Case("infinity", _set("heart_rate", 2, "inf"), Rows(4, {2: "heart_rate = 'inf'"})),
    Case("scientific notation", _set("heart_rate", 2, "7.2e1"), OK),
    Case("absurdly large number", _set("sugar_level", 5, "1e308"), Rows(4, {5: "outside the possible range"})),
    Case("padded cells", _set("heart_rate", 2, "  72  "), OK),
    Case("formula in patient id", _set("patient_id", 1, "=HYPERLINK(\"http://evil\",\"x\")"), OK),
    Case("a value older than its shelf life", _heart_rate_measured(2, "2022-01-22"),
         Rows(5, imputed={2: "Heart rate"}, outdated={2: "Heart rate: last measured 2022-01-22, older than 24 h"})),
    Case("a value dated in the future", _heart_rate_measured(3, "2099-01-01T00:00Z"),
         Rows(5, imputed={3: "Heart rate"}, outdated={3: "measured 2099-01-01T00:00Z, after the index time"})),
    Case("a value without a date", _heart_rate_measured(4, ""),
         Rows(5, imputed={4: "Heart rate"}, outdated={4: "no time in heart_rate_time, so its age is unknown"})),
    Case("a date that is not one", _heart_rate_measured(1, "last Tuesday"),
         Rows(5, imputed={1: "Heart rate"}, outdated={1: "heart_rate_time 'last Tuesday' is not an ISO 8601 date"})),
]


# ----- FHIR R4 records ---------------------------------------------------------------------------------------
# Every case starts from the same five patients written as a Bundle, and breaks one thing. `note` is a phrase that
# must appear in what reading the record says (a patient's fhir_notes, or a note on the file).
@dataclass(frozen=True)
class FhirCase:
    name: str
    content: bytes
    expect: FileRefused | Rows
    note: str = ""
    filename: str = "ward.json"


def _bundle() -> dict:
    import json
    from datetime import UTC, datetime

    import pandas as pd

    from recovery_model.readers.fhir.sample import to_bundle
    from recovery_model.schema import load_schema

    rows = pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).head(WARD_ROWS)
    return json.loads(json.dumps(to_bundle(rows, load_schema(), datetime.now(UTC))))


def _bytes(document: object) -> bytes:
    import json

    return json.dumps(document).encode()


def _patient_id(bundle: dict, patient: int) -> str:
    """The id of the bundle's `patient`-th Patient (from 1)."""
    return [e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"][patient - 1]


def _edit(patient: int, feature: str, change) -> bytes:
    """The bundle with patient `patient`'s (1-based) Observation of `feature` changed in place."""
    bundle = _bundle()
    pid = _patient_id(bundle, patient)
    resource = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == f"{pid}-{feature}")
    change(resource)
    return _bytes(bundle)


def _edit_patient(patient: int, changes: dict) -> bytes:
    bundle = _bundle()
    pid = _patient_id(bundle, patient)
    next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == pid).update(changes)
    return _bytes(bundle)


def _add(patient: int, make) -> bytes:
    """The bundle with one more resource, `make(patient's id, bundle)`."""
    bundle = _bundle()
    bundle["entry"].append({"resource": make(_patient_id(bundle, patient), bundle)})
    return _bytes(bundle)


def _without_observations(patient: int) -> bytes:
    bundle = _bundle()
    about = f"Patient/{_patient_id(bundle, patient)}"
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("subject", {}).get("reference") != about]
    return _bytes(bundle)


def _copy_of(pid: str, bundle: dict, feature: str, **changes) -> dict:
    original = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"] == f"{pid}-{feature}")
    return {**original, "id": f"{pid}-{feature}-again", **changes}


def _no_value(resource: dict) -> None:
    del resource["valueQuantity"]
    resource["dataAbsentReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                                "code": "not-performed"}]}


def _only_observations() -> bytes:
    bundle = _bundle()
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Patient"]
    return _bytes(bundle)


def _patients_twice() -> bytes:
    bundle = _bundle()
    bundle["entry"] += [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return _bytes(bundle)


FHIR_CORPUS: list[FhirCase] = [
    FhirCase("FHIR: empty file", b"", FileRefused("is empty")),
    FhirCase("FHIR: not JSON", b'{"resourceType": "Bundle", entry: [', FileRefused("is not JSON (line 1")),
    FhirCase("FHIR: not UTF-8", b'{"resourceType": "Bundle", "id": "\xff\xfe"}', FileRefused("is not UTF-8")),
    FhirCase("FHIR: JSON but not FHIR", b'{"patients": [{"age": 70}]}', FileRefused("JSON but not FHIR")),
    FhirCase("FHIR: a JSON list", b"[1, 2, 3]", FileRefused("JSON but not a FHIR resource")),
    FhirCase("FHIR: one resource, not a Bundle", b'{"resourceType": "Patient", "id": "p1"}',
             FileRefused("is a FHIR Patient resource, not a Bundle")),
    FhirCase("FHIR: entries not a list", b'{"resourceType": "Bundle", "entry": {"resource": {}}}',
             FileRefused("Bundle.entry must be a list")),
    FhirCase("FHIR: no Patient resources", _only_observations(), FileRefused("holds no Patient resources")),
    FhirCase("FHIR: a resource type we do not read",
             _add(1, lambda pid, _: {"resourceType": "MedicationRequest", "id": "m1", "status": "active",
                                     "intent": "order", "subject": {"reference": f"Patient/{pid}"},
                                     "medicationCodeableConcept": {"text": "metformin"}}),
             OK, note="1 MedicationRequest resource not read"),
    FhirCase("FHIR: a code we do not know",
             _add(2, lambda pid, b: _copy_of(pid, b, "heart-rate", code={"coding": [{"system": "http://loinc.org",
                                                                                       "code": "718-7"}]})),
             OK, note="codes this schema does not map: 1 Observation (http://loinc.org|718-7 (1))"),
    FhirCase("FHIR: a unit we cannot convert",
             _edit(1, "sugar-level", lambda r: r["valueQuantity"].update(unit="g/L", code="g/L")),
             Rows(5, imputed={1: "Glucose"}), note="in 'g/L', which this schema cannot convert to mg/dL"),
    FhirCase("FHIR: conflicting duplicates",
             _add(2, lambda pid, b: _copy_of(pid, b, "sugar-level", valueQuantity={
                 "value": 400, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"})),
             Rows(5, imputed={2: "Glucose"}), note="different values at the same time"),
    FhirCase("FHIR: an Observation with no value", _edit(3, "oxygen-level", _no_value),
             Rows(5, imputed={3: "SpO2"}), note="has no value we can read (data absent: not-performed)"),
    FhirCase("FHIR: an invalid resource", _edit(4, "heart-rate", lambda r: r.update(effectiveDateTime="yesterday")),
             Rows(5, imputed={4: "Heart rate"}), note="is not valid FHIR R4 and was not read: effectiveDateTime"),
    FhirCase("FHIR: an invalid Patient resource", _edit_patient(3, {"birthDate": "last spring"}),
             Rows(5, imputed={3: "Age"}), note="is not valid FHIR R4 and was not read: birthDate"),
    FhirCase("FHIR: a patient missing too much", _without_observations(5),
             Rows(4, {5: "features are missing"}), note="not in the record"),
    FhirCase("FHIR: an impossible value", _edit(1, "oxygen-level", lambda r: r["valueQuantity"].update(value=140)),
             Rows(4, {1: "oxygen_level = '140.0': outside the possible range"})),
    FhirCase("FHIR: vitals older than their shelf life",
             _edit(2, "heart-rate", lambda r: r.update(effectiveDateTime="2022-01-22T08:00:00Z")),
             Rows(5, imputed={2: "Heart rate"}), note="Heart rate: last measured 2022-01-22, older than 24 h"),
    FhirCase("FHIR: a value dated in the future",
             _edit(3, "heart-rate", lambda r: r.update(effectiveDateTime="2099-01-01T08:00:00Z")),
             Rows(5, imputed={3: "Heart rate"}), note="is dated 2099-01-01T08:00Z, in the future; not read"),
    FhirCase("FHIR: a value without a date", _edit(4, "heart-rate", lambda r: r.pop("effectiveDateTime")),
             Rows(5, imputed={4: "Heart rate"}), note="has no effective date; not read"),
    FhirCase("FHIR: an Observation about no one in the file",
             _add(1, lambda pid, b: _copy_of(pid, b, "heart-rate", subject={"reference": "Patient/elsewhere"})),
             OK, note="about no patient in the file: 1 resource"),
    FhirCase("FHIR: the same patients twice", _patients_twice(), OK),
    # Cases of the Encounter-class and problem-list rules whose outcome is the same under the committed checkpoint's
    # mapping and the packaged schema's (AUDIT-C and value-set cases are in tests/readers/test_fhir_records.py: the
    # committed checkpoint's mapping predates them).
    FhirCase("FHIR: an Encounter without its class", _edit(2, "stay", lambda r: r.pop("class")),
             Rows(5, imputed={2: "Length of stay"}), note="is not valid FHIR R4 and was not read: class"),
    FhirCase("FHIR: a problem List that is not valid FHIR",
             _add(1, lambda pid, _: {"resourceType": "List", "id": f"{pid}-problems", "status": "current",
                                     "mode": "snapshot", "code": {"coding": [{"system": "http://loinc.org",
                                                                              "code": "11450-4"}]},
                                     "subject": {"reference": f"Patient/{pid}"}, "date": "last week"}),
             OK, note="entry 61) is not valid FHIR R4 and was not read: date"),
]


# ----- Parquet files (recovery predict) ----------------------------------------------------------------------
def _parquet(change=None, table: object = None) -> bytes:
    """The first five ward rows as Parquet, with `change(frame)` applied (or this pyarrow `table` as it is)."""
    import io as bytes_io

    import pandas as pd
    import pyarrow.parquet as pq

    out = bytes_io.BytesIO()
    if table is not None:
        pq.write_table(table, out)
        return out.getvalue()
    frame = pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).head(WARD_ROWS)
    (change(frame) if change else frame).to_parquet(out, index=False)
    return out.getvalue()


def _duplicated_parquet_column() -> bytes:
    import pyarrow as pa

    frame = pa.Table.from_pandas(_read_ward(), preserve_index=False)
    return _parquet(table=pa.Table.from_arrays([*frame.columns, frame.column("age")], names=[*frame.column_names,
                                                                                             "age"]))


def _read_ward():
    import pandas as pd

    return pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).head(WARD_ROWS)


def _a_date(_: object) -> object:
    import pandas as pd

    return pd.Timestamp("2026-01-01")


def _text_in(column: str, row: int, value: str):
    def change(frame):
        frame = frame.astype({column: str})
        frame.loc[row - 1, column] = value
        return frame
    return change


PARQUET_CORPUS: list[Case] = [
    Case("Parquet: a CSV file named .parquet", _csv(_table()), FileRefused("is not a readable Parquet file")),
    Case("Parquet: cut short", _parquet()[: len(_parquet()) // 2], FileRefused("is not a readable Parquet file")),
    Case("Parquet: empty file", b"", FileRefused("is not a readable Parquet file")),
    Case("Parquet: no rows", _parquet(lambda f: f.head(0)), FileRefused("holds no patient rows")),
    Case("Parquet: a missing column", _parquet(lambda f: f.drop(columns=["oxygen_level"])),
         FileRefused("Missing required columns: oxygen_level")),
    Case("Parquet: a column twice", _duplicated_parquet_column(), FileRefused("['age'] appear more than once")),
    Case("Parquet: text in a number column", _parquet(_text_in("oxygen_level", 2, "low")),
         Rows(4, {2: "oxygen_level = 'low': not a number"})),
    Case("Parquet: dates in a number column", _parquet(lambda f: f.assign(age=f["age"].map(_a_date))),
         Rows(0, {r: "age = '2026-01-01 00:00:00': not a number (expected years)" for r in range(1, 6)})),
    Case("Parquet: an infinite value", _parquet(lambda f: f.assign(heart_rate=[72.0, float("inf"), 80.0, 81.0, 82.0])),
         Rows(4, {2: "heart_rate = 'inf': not a finite number"})),
    Case("Parquet: true/false for a yes/no feature", _parquet(lambda f: f.assign(smoker=f["smoker"].astype(bool))), OK),
    Case("Parquet: small integer types", _parquet(lambda f: f.astype({"stress_level": "int8", "age": "int16"})), OK),
]


# ----- command-line options and API parameters ---------------------------------------------------------------
@dataclass(frozen=True)
class OptionCase:
    name: str
    argv: tuple[str, ...]  # a whole command line; the input file (where one is needed) is the sample ward
    says: str


WARD = str(DATA / "sample_ward.csv")
PREDICT = ("predict", "--input", WARD, "--output", "ranked.csv")

OPTION_CORPUS: list[OptionCase] = [
    OptionCase("threshold as a percentage", (*PREDICT, "--threshold", "20"),
               "argument --threshold: must be a number in (0, 1), not 20 (a fraction of 1); did you mean 0.20?"),
    OptionCase("threshold of zero", (*PREDICT, "--threshold", "0"), "argument --threshold: must be a number in (0, 1)"),
    OptionCase("threshold of one", (*PREDICT, "--threshold", "1"), "argument --threshold: must be a number in (0, 1)"),
    OptionCase("threshold in words", (*PREDICT, "--threshold", "high"), "argument --threshold: 'high' is not a number"),
    OptionCase("negative top-k", (*PREDICT, "--top-k", "-1"), "argument --top-k: must be a whole number ≥ 1, not -1"),
    OptionCase("top-k of zero", (*PREDICT, "--top-k", "0"), "argument --top-k: must be a whole number ≥ 1, not 0"),
    OptionCase("fractional top-k", (*PREDICT, "--top-k", "2.5"), "argument --top-k: must be a whole number ≥ 1"),
    OptionCase("chunk rows of zero", (*PREDICT, "--chunk-rows", "0"), "argument --chunk-rows: must be a whole number"),
    OptionCase("no workers", (*PREDICT, "--engine", "dask", "--workers", "0"), "argument --workers: must be a whole"),
    OptionCase("no bootstrap", ("evaluate", "--bootstrap", "0"), "argument --bootstrap: must be a whole number ≥ 1"),
    OptionCase("negative fresh rows", ("evaluate", "--fresh-rows", "-5"), "argument --fresh-rows: must be a whole"),
    OptionCase("negative seed", ("train", "--seed", "-1"), "argument --seed: must be a whole number in [0, 4294967295"),
    OptionCase("generate no rows", ("generate", "--rows", "0"), "argument --rows: must be a whole number ≥ 1, not 0"),
    OptionCase("suggest for nobody", ("suggest", "--input", WARD, "--max-patients", "0"),
               "argument --max-patients: must be a whole number ≥ 1"),
    OptionCase("a target without its adverse value", ("train", "--target", "recovered", "--no-evaluate"),
               "Which value of 'recovered' is the adverse outcome? Add --event 0 or --event 1 (0: 3 % of rows, "
               "1: 97 %)"),
    OptionCase("an adverse value the target lacks", ("train", "--target", "recovered", "--event", "2"),
               "(2 is not one of them.)"),
    OptionCase("an adverse value without a target", ("train", "--event", "0"), "give both"),
    OptionCase("a report in another format", ("monitor", "--output", "report.txt"),
               "--output report.txt: the report is written as .json or .md"),
    OptionCase("a period the monitor lacks", ("monitor", "--period", "year", "--output", "r.json"),
               "argument --period: invalid choice: 'year'"),
    OptionCase("a start that is not a date", ("monitor", "--since", "soon", "--output", "r.json"),
               "--since 'soon' is not an ISO date"),
    OptionCase("a purge date that is not one", ("db", "purge", "--before", "last year"),
               "--before 'last year' is not an ISO date or date-time"),
    OptionCase("a retention of no days", ("db", "purge", "--retention-days", "0"),
               "argument --retention-days: must be a whole number ≥ 1, not 0"),
    OptionCase("cards repeated after no hours", ("serve", "--no-auth", "--repeat-hours", "0"),
               "argument --repeat-hours: must be a number in (0, 8760], not 0"),
    OptionCase("an outcome window of zero", ("outcomes", "--input", WARD, "--window-days", "0"),
               "argument --window-days: must be a whole number ≥ 1, not 0"),
]

# Model-side: the same constraints when the Python API is called directly (the faces pass values through).
PARAMETER_CORPUS: list[tuple[str, dict, str]] = [
    ("rank: threshold as a percentage", {"threshold": 20}, "threshold must be a number in (0, 1), not 20 (a fraction"),
    ("rank: negative top-k", {"top_k": -1}, "top_k must be a whole number ≥ 1, not -1"),
    ("rank: top-k as text", {"top_k": "5"}, "top_k must be a whole number ≥ 1, not '5'"),
    ("rank: first row zero", {"first_row": 0}, "first_row must be a whole number ≥ 1, not 0"),
]
CONFIG_CORPUS: list[tuple[str, dict, str]] = [
    ("dropout of one", {"dropout": 1.0}, "NetworkConfig.dropout must be a number in [0, 1), not 1.0"),
    ("negative weight decay", {"weight_decay": -1e-3}, "NetworkConfig.weight_decay must be a number ≥ 0"),
    ("learning rate of zero", {"learning_rate": 0.0}, "NetworkConfig.learning_rate must be a number > 0"),
    ("an empty layer", {"hidden": (64, 0)}, "NetworkConfig.hidden must be a whole number ≥ 1, not 0"),
    ("a fractional batch", {"batch_size": 2.5}, "NetworkConfig.batch_size must be a whole number ≥ 1, not 2.5"),
    ("one fold", {"folds": 1}, "NetworkConfig.folds must be a whole number ≥ 2, not 1"),
    ("no repeat", {"repeats": 0}, "NetworkConfig.repeats must be a whole number ≥ 1, not 0"),
    ("no patience", {"patience": 0}, "NetworkConfig.patience must be a whole number ≥ 1, not 0"),
    ("negative epochs", {"max_epochs": -1}, "NetworkConfig.max_epochs must be a whole number ≥ 0"),
    ("negative min_delta", {"min_delta": -1.0}, "NetworkConfig.min_delta must be a number ≥ 0"),
    ("negative hinges", {"hinges": (3, -2)}, "NetworkConfig.hinges must be a whole number ≥ 0, not -2"),
    ("hinges as one number", {"hinges": 3}, "NetworkConfig.hinges must be a tuple, not 3: e.g. (3,)"),
    ("an unknown encoding", {"encodings": ("spline",)}, "NetworkConfig.encodings must be one of hinges, ple, not"),
    ("no encoding", {"encodings": ()}, "NetworkConfig.encodings needs at least one candidate"),
    ("no TabM copy", {"sub_members": 0}, "NetworkConfig.sub_members must be a whole number ≥ 1, not 0"),
    ("a zero strength", {"linear_c": (0.1, 0.0)}, "NetworkConfig.linear_c must be a number > 0, not 0.0"),
    ("no strengths", {"linear_c": ()}, "NetworkConfig.linear_c needs at least one candidate"),
    ("unknown scaling", {"scaling": "minmax"}, "NetworkConfig.scaling must be one of standard, robust, not 'minmax'"),
    ("linear path as 1", {"linear_path": 1}, "NetworkConfig.linear_path must be one of True, False, not 1"),
]


# ----- the prediction log ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomesCase:
    """An outcomes file for `recovery outcomes`: refused whole (exit 2) or read with its bad rows named (exit 0)."""

    name: str
    content: bytes
    filename: str
    exit_code: int
    says: str


_OUTCOMES_HEADER = "patient_id,outcome_time,recovered\n"
OUTCOMES_CORPUS: list[OutcomesCase] = [
    OutcomesCase("no outcome_time column", b"patient_id,recovered\nP1,1\n", "o.csv", 2,
                 "lacks the column outcome_time"),
    OutcomesCase("no target column", b"patient_id,outcome_time\nP1,2026-11-10\n", "o.csv", 2,
                 "lacks the column recovered"),
    OutcomesCase("a FHIR file", b'{"resourceType": "Bundle"}', "o.json", 2,
                 "an outcomes file (patient id, outcome_time, outcome) must be a CSV or Parquet file"),
    OutcomesCase("an unreadable time", (_OUTCOMES_HEADER + "P1,last tuesday,1\n").encode(), "o.csv", 0,
                 "1 have an outcome_time that is not an ISO date or date-time: row 2 ('last tuesday')"),
    OutcomesCase("a third value", (_OUTCOMES_HEADER + "P1,2026-11-10,2\n").encode(), "o.csv", 0,
                 "1 have a value that is not one of the target's two values: row 2 ('2')"),
    OutcomesCase("a blank id", (_OUTCOMES_HEADER + ",2026-11-10,1\n").encode(), "o.csv", 0,
                 "1 have no patient id: row 2"),
    OutcomesCase("both values at once", (_OUTCOMES_HEADER + "P1,2026-11-10,1\nP1,2026-11-10,0\n").encode(), "o.csv",
                 0, "patient P1 at 2026-11-10 00:00: both values in this file (rows 2, 3)"),
    OutcomesCase("a patient never scored", (_OUTCOMES_HEADER + "NOBODY,2026-11-10,1\n").encode(), "o.csv", 0,
                 "1 are for patients never scored: patient NOBODY (row 2)"),
    OutcomesCase("only a header", _OUTCOMES_HEADER.encode(), "o.csv", 2, "o.csv has a header but no patient rows"),
]

# $RECOVERY_DATABASE_URL as `recovery predict` meets it: refused before anything is scored, the password never shown.
DATABASE_CORPUS: list[tuple[str, str, str]] = [
    ("not a URL", "just some words", "RECOVERY_DATABASE_URL is not a database URL"),
    ("a server that is down", "postgresql+psycopg://recovery:secret@127.0.0.1:9/log",
     "cannot be reached (connection failed"),
    ("a driver that is not installed", "mysql+mysqldb://recovery:secret@127.0.0.1/log", "cannot be used"),
    ("a SQLite file in no folder", "sqlite:////no/such/folder/log.sqlite", "cannot be reached (unable to open"),
    ("a database never migrated", "sqlite:///{tmp}/empty.sqlite", "has no tables yet. Run `recovery db upgrade`"),
]


# ----- the EHR's bearer token (recovery serve) ------------------------------------------------------------------
# Each case makes the Authorization header from a `Signer` (tests/service/conftest.py) and the audience; every one
# must get a bare 401, with the reason logged and the token never.
def _alg_none(signer, audience):
    import jwt

    claims = jwt.decode(signer.token(audience), options={"verify_signature": False})
    return "Bearer " + jwt.encode(claims, None, algorithm="none", headers={"kid": "ec-1"})


def _hs256_with_the_public_key(signer, audience):
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    public = signer.keys["rsa-1"][1].public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"iss": "https://ehr.example.org", "aud": audience, "exp": 4102444800, "iat": 1700000000, "jti": "x1"}

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{part(claims)}"
    mac = base64.urlsafe_b64encode(hmac.new(public, signing.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()
    return f"Bearer {signing}.{mac}"


def _another_key_under_a_known_kid(signer, audience):
    from cryptography.hazmat.primitives.asymmetric import ec

    return "Bearer " + signer.token(audience, key=ec.generate_private_key(ec.SECP384R1()))


TOKEN_CORPUS: list[tuple[str, object]] = [
    ("no Authorization header", lambda s, a: None),
    ("not a JWT", lambda s, a: "Bearer not-a-token"),
    ("another scheme", lambda s, a: "Basic dXNlcjpwYXNz"),
    ("alg none", _alg_none),
    ("HS256 signed with the public key as secret", _hs256_with_the_public_key),
    ("another audience", lambda s, a: "Bearer " + s.token("https://elsewhere.example.org/cds-services/recovery-risk")),
    ("expired", lambda s, a: "Bearer " + s.token(a, exp=1_700_000_000, iat=1_699_999_000)),
    ("issued in the future", lambda s, a: "Bearer " + s.token(a, iat=4_000_000_000, exp=4_000_000_300)),
    ("an unknown issuer", lambda s, a: "Bearer " + s.token(a, iss="https://forger.example.org")),
    ("an unknown kid", lambda s, a: _unknown_kid(s, a)),
    ("another key under a known kid", _another_key_under_a_known_kid),
    ("no jti", lambda s, a: "Bearer " + s.token(a, jti=None)),
    ("no exp", lambda s, a: "Bearer " + s.token(a, exp=None)),
]


def _unknown_kid(signer, audience):
    import jwt

    alg, key = signer.keys["ec-1"]
    claims = jwt.decode(signer.token(audience), options={"verify_signature": False})
    return "Bearer " + jwt.encode(claims, key, algorithm=alg, headers={"kid": "nobody-knows"})


def _provider(**changes) -> dict:
    """A complete [auth] section (its provider never contacted), with some settings changed or (None) removed."""
    section = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "c" * 64,
               "client_id": "recovery", "client_secret": "s3cret",
               "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    section.update(changes)
    return {"auth": {key: value for key, value in section.items() if value is not None}}


# Sign-in settings (.streamlit/secrets.toml) and what the sign-in page must name: never a traceback.
SIGN_IN_CORPUS: list[tuple[str, dict, str]] = [
    ("no cookie_secret", _provider(cookie_secret=None), "[auth] needs cookie_secret"),
    ("no client_id and no client_secret", _provider(client_id=None, client_secret=None),
     "[auth] needs client_id, client_secret"),
    ("a short cookie_secret", _provider(cookie_secret="short"), "cookie_secret must be at least 32"),
    ("a redirect_uri not on /oauth2callback", _provider(redirect_uri="https://recovery.example.org/"),
     "redirect_uri must be this app's address followed by /oauth2callback"),
    ("an unreachable server_metadata_url", _provider(), "server_metadata_url (http://127.0.0.1:9/"),
    ("a claim that is not a name", {**_provider(), "recovery_roles": {"claim": 7}}, "[recovery_roles] claim must"),
    ("a map onto no role", {**_provider(), "recovery_roles": {"map": {"ward-staff": "matron"}}},
     "sends 'ward-staff' to 'matron', which is not a role"),
    ("an idle time-out of zero", {**_provider(), "recovery_session": {"idle_minutes": 0}},
     "[recovery_session] idle_minutes must be a number of minutes between 0 and 1440, not 0"),
    ("an idle time-out in words", {**_provider(), "recovery_session": {"idle_minutes": "15 min"}},
     "idle_minutes must be a number"),
    ("a local user without a hash", {"recovery_users": {"amy": {"role": "clinician"}}},
     "user 'amy' needs password_hash and role"),
    ("[auth] as a string", {"auth": "https://idp.example.org"}, "[auth] must be a table"),
    ("[recovery_roles] as a string", {**_provider(), "recovery_roles": "roles"}, "[recovery_roles] must be a table"),
    ("[recovery_session] as a number", {**_provider(), "recovery_session": 15}, "[recovery_session] must be a table"),
    ("a map onto a list", {**_provider(), "recovery_roles": {"map": {"ward-staff": ["admin"]}}},
     "sends 'ward-staff' to '['admin']', which is not a role"),
    ("a metadata URL without a scheme",
     _provider(server_metadata_url="idp.example.org/.well-known/openid-configuration"),
     "server_metadata_url must be an http(s) address"),
    ("a maximum sign-in age of zero", {**_provider(), "recovery_session": {"max_hours": 0}},
     "[recovery_session] max_hours must be a number of hours"),
]
