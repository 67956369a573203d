import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert

from recovery_model.log.monitoring import VALUE_COLUMNS, period_inputs, period_values
from recovery_model.log.tables import outcomes
from tests.log.test_store import ward_records

WHEN = datetime(2026, 3, 2, 9, tzinfo=UTC)
ROWS, UNLINKED = 3_000, 2_000


def uneven_period(log, predictor):
    """One period of `ROWS` predictions, risks 0, 1/ROWS, 2/ROWS, ...: the first `UNLINKED` have no outcome, no range
    and no typicality; the rest have each, and their age was logged as a whole number (`81`) in even rows and as a
    float (`81.5`) in odd ones. The list of linked outcomes is returned."""
    _, template = ward_records(predictor, when=WHEN, rows=slice(0, 1))
    one = {name: values[0] for name, values in template.items()}
    records = {name: [] for name in template}
    for i in range(ROWS):
        early = i < UNLINKED
        row = {**one, "id": str(uuid.uuid4()), "row_number": i, "patient_id": f"P{i}", "risk": i / ROWS,
               "risk_low": None if early else i / ROWS, "risk_high": None if early else i / ROWS + 0.01,
               "atypical": None if early else bool(i % 2),
               "inputs": one["inputs"].replace('"age":81.0', '"age":81.5' if i % 2 else '"age":81')}
        for name in records:
            records[name].append(row[name])
    log.write(records)
    linked = [{"patient_id": f"P{i}", "outcome_time": WHEN + timedelta(days=3), "event": bool(i % 3 == 0),
               "prediction_id": records["id"][i], "imported_at": WHEN + timedelta(days=4)}
              for i in range(UNLINKED, ROWS)]
    with log.transaction() as connection:
        connection.execute(insert(outcomes), linked)
    return linked


def test_a_periods_numbers_are_read_whole_whatever_its_first_rows_hold(log, default_predictor):
    """Every prediction of the period, none lost, each value as logged and read as a number: a whole number after
    a first stretch of rows without any value, a float after a whole number (drivers that fix a column's type from
    its first rows would refuse them: ADBC's SQLite driver did, when it was tried)."""
    uneven_period(log, default_predictor)
    values = period_values(log, WHEN - timedelta(hours=1), WHEN + timedelta(hours=1), ["age"], with_inputs=True)
    values = values[np.argsort(values[:, 0])]
    column = dict(zip([*VALUE_COLUMNS, "age"], values.T, strict=True))
    early, late = slice(0, UNLINKED), slice(UNLINKED, ROWS)
    assert values.shape == (ROWS, len(VALUE_COLUMNS) + 1)
    np.testing.assert_array_equal(column["risk"], np.arange(ROWS) / ROWS)
    assert np.isnan(column["event"][early]).all() and np.isnan(column["range_width"][early]).all()
    assert np.isnan(column["atypical"][early]).all() and np.isnan(column["age"][early]).all()
    np.testing.assert_array_equal(column["event"][late], (np.arange(UNLINKED, ROWS) % 3 == 0).astype(float))
    np.testing.assert_allclose(column["range_width"][late], 0.01, rtol=1e-9)
    np.testing.assert_array_equal(column["atypical"][late], np.arange(UNLINKED, ROWS) % 2)
    np.testing.assert_array_equal(column["age"][late], np.where(np.arange(UNLINKED, ROWS) % 2, 81.5, 81.0))


def test_a_prediction_with_two_outcomes_counts_each_outcome_once(log, default_predictor):
    """Each outcome counts once, with the prediction it is linked to: two outcomes linked to one prediction make two
    rows, as the plain join did before PostgreSQL's outcomes were looked up through a lateral subquery."""
    linked = uneven_period(log, default_predictor)
    again = {**linked[-1], "outcome_time": WHEN + timedelta(days=5), "event": not linked[-1]["event"]}
    with log.transaction() as connection:
        connection.execute(insert(outcomes), [again])
    values = period_values(log, WHEN - timedelta(hours=1), WHEN + timedelta(hours=1), ["age"], with_inputs=True)
    last = values[values[:, 0] == (ROWS - 1) / ROWS]
    assert len(values) == ROWS + 1 and sorted(last[:, 1]) == [0.0, 1.0] and (last[:, -1] == 81.5).all()


def test_the_drift_sample_reads_the_inputs_at_the_positions_asked(log, default_predictor):
    uneven_period(log, default_predictor)
    names = default_predictor.schema.feature_names
    inputs = period_inputs(log, WHEN - timedelta(hours=1), WHEN + timedelta(hours=1), names, [2_500, 3, 1_999])
    assert inputs["age"].tolist() == [81.0, 81.5, 81.5] and list(inputs.columns) == list(names)
