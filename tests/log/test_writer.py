from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from recovery_model.batch.local import rank_file
from recovery_model.cli import main
from recovery_model.errors import LogError
from recovery_model.log.database import database_engine
from recovery_model.log.records import Context, Source
from recovery_model.log.store import PredictionLog
from recovery_model.log.writer import BatchLog
from tests.conftest import DATA


def test_a_ranked_file_is_logged_whole_by_the_writer_process(log, default_predictor, tmp_path):
    context = Context.for_model(default_predictor, Source.CLI_PREDICT, ward="W3")
    with BatchLog(log, default_predictor.schema, context) as batch:
        result = rank_file(default_predictor, DATA / "sample_ward.csv", tmp_path / "ranked.csv",
                           tmp_path / "rejected.csv", top_k=4, chunk_rows=10, explain=True, log=batch)
    assert result.logged == 48 == log.count()
    ranked = pd.read_csv(tmp_path / "ranked.csv")
    stored = [log.get(i) for i in _ids(log)]
    assert {r["patient_id"] for r in stored if r["in_top_k"]} == set(ranked.loc[ranked["in_top_k"], "patient_id"])
    assert all(len(r["drivers"]) == 3 and r["ward"] == "W3" for r in stored)


def test_a_writer_that_fails_makes_the_run_fail_and_says_so(log, default_predictor, tmp_path, database_url):
    with database_engine(database_url).begin() as connection:
        connection.execute(text("ALTER TABLE predictions RENAME TO predictions_gone"))
    context = Context.for_model(default_predictor, Source.CLI_PREDICT)
    with pytest.raises(LogError, match="this change was not logged"), \
            BatchLog(log, default_predictor.schema, context) as batch:
        rank_file(default_predictor, DATA / "sample_ward.csv", tmp_path / "ranked.csv", tmp_path / "rejected.csv",
                  chunk_rows=10, log=batch)


def test_predict_logs_its_rows_at_the_index_time_and_no_log_logs_none(log, database_url, tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setenv("RECOVERY_DATABASE_URL", database_url)
    out = str(tmp_path / "ranked.csv")
    assert main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", out, "--no-log"]) == 0
    assert "Not logged (--no-log)." in capsys.readouterr().out and log.count() == 0
    assert main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", out, "--as-of", "2026-10-01",
                 "--ward", "5 North"]) == 0
    assert "48 predictions logged to" in capsys.readouterr().out
    stored = log.get(_ids(log)[0])
    assert stored["predicted_at"] == datetime(2026, 10, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert stored["ward"] == "5 North" and stored["source"] == "cli_predict" and len(stored["input_sha256"]) == 64


def _ids(log: PredictionLog) -> list[str]:
    from sqlalchemy import select

    from recovery_model.log.tables import predictions

    with log.connection() as connection:
        return list(connection.execute(select(predictions.c.id)).scalars())
