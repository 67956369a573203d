from datetime import UTC, datetime

import pandas as pd
import pytest

from recovery_model.errors import DataValidationError
from recovery_model.log.outcomes import import_outcomes
from recovery_model.log.records import Context, Source, prediction_records
from tests.conftest import DATA

MONDAY = datetime(2026, 11, 2, 9, tzinfo=UTC)


@pytest.fixture
def scored(log, default_predictor):
    """The sample ward, logged on a Monday morning: patient id → prediction id."""
    ward = pd.read_csv(DATA / "sample_ward.csv")
    ranked = default_predictor.rank(ward, explain=False)
    records = prediction_records(ranked.ranked, default_predictor.schema,
                                 Context.for_model(default_predictor, Source.CLI_PREDICT, predicted_at=MONDAY))
    log.write(records)
    return dict(zip(records["patient_id"], records["id"], strict=True))


def outcomes_file(tmp_path, rows, name="outcomes.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["patient_id", "outcome_time", "recovered"]).to_csv(path, index=False)
    return path


def test_outcomes_link_to_the_latest_prediction_before_them(log, scored, schema, tmp_path, default_predictor):
    later = prediction_records(default_predictor.rank(pd.read_csv(DATA / "sample_ward.csv").iloc[:1], explain=False)
                               .ranked, schema, Context.for_model(default_predictor, Source.PATIENT,
                                                                  predicted_at=datetime(2026, 11, 5, tzinfo=UTC)))
    log.write(later)
    first = str(pd.read_csv(DATA / "sample_ward.csv")["patient_id"].iloc[0])
    patient = next(p for p in scored if p != first)
    path = outcomes_file(tmp_path, [[first, "2026-11-06T10:00:00Z", 0], [patient, "2026-11-20", 1]])
    report = import_outcomes(log, path, schema)
    assert (report.recorded, report.linked) == (2, 2)
    with log.connection() as connection:
        from sqlalchemy import select

        from recovery_model.log.tables import outcomes
        linked = dict(connection.execute(select(outcomes.c.patient_id, outcomes.c.prediction_id)).all())
    assert linked[first] == later["id"][0]  # the Thursday one, not Monday's
    assert linked[patient] == scored[patient]


def test_a_parquet_file_of_outcomes_is_read_too(log, scored, schema, tmp_path):
    patient = next(iter(scored))
    path = tmp_path / "outcomes.parquet"
    pd.DataFrame({"patient_id": [patient], "outcome_time": ["2026-11-10T12:00:00+01:00"],
                  "recovered": [0]}).to_parquet(path)
    assert import_outcomes(log, path, schema).linked == 1


def test_reimporting_changes_nothing_and_a_contradiction_is_named_not_written(log, scored, schema, tmp_path):
    patient = next(iter(scored))
    path = outcomes_file(tmp_path, [[patient, "2026-11-10", 1]])
    assert import_outcomes(log, path, schema).recorded == 1
    again = import_outcomes(log, path, schema)
    assert (again.recorded, again.unchanged, again.conflicts) == (0, 1, [])
    flipped = import_outcomes(log, outcomes_file(tmp_path, [[patient, "2026-11-10", 0]], "flipped.csv"), schema)
    assert flipped.recorded == 0 and len(flipped.conflicts) == 1
    assert patient in flipped.conflicts[0] and "did not recover here, recovered recorded" in flipped.conflicts[0]


def test_every_row_that_cannot_be_used_is_counted_and_named(log, scored, schema, tmp_path):
    patient = next(iter(scored))
    path = outcomes_file(tmp_path, [
        ["NEVER-SCORED", "2026-11-10", 1],
        [patient, "yesterday", 1],
        [patient, "2026-11-10", 7],
        [None, "2026-11-10", 1],
        [patient, "2026-10-01", 1],  # before any prediction
        [patient, "2026-12-30", 1],  # more than 30 days after it
    ])
    report = import_outcomes(log, path, schema)
    assert report.rows == 6 and report.recorded == 3 and report.linked == 0
    assert report.never_scored == ["patient NEVER-SCORED (row 2)"]
    assert report.bad_times == ["row 3 ('yesterday')"] and report.bad_values == ["row 4 ('7')"]
    assert report.missing_ids == ["row 5"] and len(report.no_prediction_before) == 2
    summary = report.summary()
    assert "never scored" in summary and "not one of the target's two values" in summary


def test_both_values_for_one_patient_and_time_in_one_file_are_a_conflict(log, scored, schema, tmp_path):
    patient = next(iter(scored))
    path = outcomes_file(tmp_path, [[patient, "2026-11-10", 1], [patient, "2026-11-10", 0]])
    report = import_outcomes(log, path, schema)
    assert report.recorded == 0 and "both values in this file (rows 2, 3)" in report.conflicts[0]


def test_a_file_without_the_columns_is_refused_by_name(log, schema, tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"patient_id": ["A"], "when": ["2026-11-10"]}).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match="lacks the columns outcome_time, recovered"):
        import_outcomes(log, path, schema)
