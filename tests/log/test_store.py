from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import event, text

from recovery_model.errors import LogError
from recovery_model.log.database import database_engine, locate, revisions, upgrade
from recovery_model.log.records import Context, Source, driver_texts, prediction_records
from recovery_model.log.store import PredictionLog
from recovery_model.log.tables import metadata
from tests.conftest import DATA


def ward_records(predictor, when=None, source=Source.CLI_PREDICT, explain=False, rows=None):
    ward = pd.read_csv(DATA / "sample_ward.csv")
    ranked = predictor.rank(ward if rows is None else ward.iloc[rows], explain=explain)
    context = Context.for_model(predictor, source, predicted_at=when, ward="W1")
    drivers = driver_texts(ranked.ranked, ranked.explanation, predictor.schema)
    return ranked, prediction_records(ranked.ranked, predictor.schema, context, drivers)


def test_the_migrations_create_exactly_the_tables_the_code_declares(database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = database_engine(database_url)
    assert upgrade(database_url) == (None, "0006")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []
    assert upgrade(database_url) == ("0006", "0006")  # again: nothing to do


def test_a_database_not_migrated_is_refused_with_the_command_to_run(database_url):
    with pytest.raises(LogError, match=r"no tables yet.*recovery db upgrade"):
        PredictionLog.open(database_url)


def test_a_database_newer_than_the_code_is_refused(log, database_url):
    with database_engine(database_url).begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(LogError, match=r"version 9999, newer than this code knows.*Upgrade recovery-model"):
        PredictionLog.open(database_url)


def test_an_unreachable_server_says_nothing_was_logged():
    url = "postgresql+psycopg://someone:secret@127.0.0.1:9/nowhere"
    with pytest.raises(LogError, match=r"cannot be reached.*Nothing was logged.*--no-log") as caught:
        PredictionLog.open(url)
    assert "secret" not in str(caught.value)


def test_a_url_that_is_not_one_is_named():
    with pytest.raises(LogError, match="is not a database URL"):
        PredictionLog.open("not a url at all")


def test_the_embedded_default_is_a_sqlite_file_in_the_ignored_data_folder(monkeypatch):
    monkeypatch.delenv("RECOVERY_DATABASE_URL")
    location = locate()
    assert location.embedded and location.url.endswith("data/local/predictions.sqlite")


def test_a_written_prediction_reads_back_whole(log, default_predictor):
    when = datetime(2026, 11, 3, 8, 30, tzinfo=UTC)
    ranked, records = ward_records(default_predictor, when, explain=True)
    assert log.write(records) == len(ranked.ranked) == log.count()
    first = ranked.ranked.iloc[0]
    stored = log.get(records["id"][0])
    assert stored["patient_id"] == str(first["patient_id"]) and stored["predicted_at"] == when
    assert stored["risk"] == pytest.approx(first["risk"], abs=0) and stored["tier"] == first["tier"]
    assert stored["model_digest"] == default_predictor.digest and stored["ward"] == "W1"
    assert stored["inputs"]["age"] == first["age"] and stored["imputed"] == []
    assert len(stored["drivers"]) == 3 and stored["flagged"] == bool(first["above_threshold"])


def test_imputed_features_are_named(log, default_predictor):
    ward = pd.read_csv(DATA / "sample_ward.csv").iloc[:2]
    ward.loc[0, "cholesterol"] = None
    ranked = default_predictor.rank(ward, explain=False)
    context = Context.for_model(default_predictor, Source.CLI_PREDICT)
    records = prediction_records(ranked.ranked, default_predictor.schema, context)
    log.write(records)
    by_patient = {log.get(i)["patient_id"]: log.get(i) for i in records["id"]}
    assert by_patient[str(ward.loc[0, "patient_id"])]["imputed"] == ["cholesterol"]
    assert by_patient[str(ward.loc[0, "patient_id"])]["inputs"]["cholesterol"] is None


def test_the_top_k_of_a_run_is_marked_once_it_is_ranked(log, default_predictor):
    ranked, records = ward_records(default_predictor)
    log.write(records)
    log.mark_top_k(records["run_id"][0], 5)
    marked = {log.get(i)["patient_id"] for i in records["id"] if log.get(i)["in_top_k"]}
    assert marked == set(ranked.ranked["patient_id"].astype(str).iloc[:5])


def test_history_is_oldest_first_and_leaves_what_ifs_out(log, default_predictor):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for day in range(3):
        log.write(ward_records(default_predictor, start + timedelta(days=day), rows=[0])[1])
    log.write(ward_records(default_predictor, start + timedelta(days=5), Source.PATIENT_WHATIF, rows=[0])[1])
    patient = str(pd.read_csv(DATA / "sample_ward.csv")["patient_id"].iloc[0])
    history = log.history(patient)
    assert list(history["predicted_at"]) == [pd.Timestamp(start + timedelta(days=d)) for d in range(3)]


def test_purge_deletes_what_is_older_than_the_date(log, default_predictor):
    log.write(ward_records(default_predictor, datetime(2025, 1, 1, tzinfo=UTC))[1])
    _, kept = ward_records(default_predictor, datetime(2026, 6, 1, tzinfo=UTC))
    log.write(kept)
    assert log.purge(datetime(2026, 1, 1, tzinfo=UTC))["predictions"] == 48
    assert log.count() == 48 and log.get(kept["id"][0]) is not None


def test_a_failed_write_logs_nothing_and_says_so(log, default_predictor):
    _, records = ward_records(default_predictor)
    log.write(records)
    with pytest.raises(LogError, match=r"failed.*was not logged"):
        log.write(records)  # the same ids again: the whole batch is refused
    assert log.count() == 48


def test_revisions_of_a_migrated_database(log, database_url):
    assert revisions(locate(database_url)) == ("0006", "0006")


def test_an_older_database_is_refused_with_the_command_and_upgraded_by_it(database_url):
    from alembic import command

    from recovery_model.log.database import _alembic_config

    engine = database_engine(database_url)
    with engine.begin() as connection:
        config = _alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with pytest.raises(LogError, match=r"version 0001, older than the code's 0006.*recovery db upgrade"):
        PredictionLog.open(database_url)
    assert upgrade(database_url) == ("0001", "0006")
    assert PredictionLog.open(database_url).count() == 0


def test_the_code_s_version_is_the_newest_migration_script():
    from recovery_model.log.database import HEAD, script_head

    assert script_head() == HEAD


def test_the_monitors_fast_read_keeps_a_spans_edges_and_its_types(log, default_predictor):
    """The monitor's fast read (values as the driver gives them) keeps a span's edges: from its first moment on,
    up to but not including its end, and its flags typed as before."""
    from datetime import UTC, datetime

    from recovery_model.log.monitoring import scored_with_outcomes

    moments = [datetime(2026, 3, day, 12, tzinfo=UTC) for day in (1, 2, 3)]
    for moment in moments:
        log.write(ward_records(default_predictor, when=moment, rows=slice(0, 5))[1])
    frame = scored_with_outcomes(log, ["age"], since=moments[1], until=moments[2])
    assert len(frame) == 5 and set(frame["predicted_at"]) == {pd.Timestamp(moments[1])}
    assert str(frame["event"].dtype) == "boolean" and str(frame["atypical"].dtype) == "boolean"


def test_the_monitors_queries_read_indexes_not_every_row(empty_log):
    """A log without shadows finds none from the index of the predictions' source; a period is read through the
    time index, not the source's (every row of the log: the one source most logs have matches them all); and its
    join to its outcomes reads the event from the index (the plans SQLite makes for the statements the monitor
    sends, as the driver traced them with their values)."""
    from recovery_model.log.monitoring import period_values

    sent: list[str] = []
    empty_log.engine.dispose()  # new connections, each traced
    event.listen(empty_log.engine, "connect", lambda connection, _: connection.set_trace_callback(sent.append))
    empty_log.shadow_pairs()
    period_values(empty_log, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), [], False)
    shadow_sql, period_sql = [sql for sql in sent if "FROM predictions" in sql]
    with empty_log.engine.connect() as connection:
        driver = connection.connection.dbapi_connection.cursor()
        plans = [" / ".join(row[3] for row in driver.execute(f"EXPLAIN QUERY PLAN {sql}"))
                 for sql in (shadow_sql, period_sql)]
    assert "SEARCH shadow USING INDEX ix_predictions_source" in plans[0] and "SCAN shadow" not in plans[0]
    assert "SEARCH predictions USING INDEX ix_predictions_time (predicted_at>? AND predicted_at<?)" in plans[1]
    assert "COVERING INDEX ix_outcomes_prediction_event" in plans[1]
