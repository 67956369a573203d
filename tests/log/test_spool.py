"""What cannot be written while the log's database is away is kept on disk and written once, in order, when it is
back (`recovery_model.log.spool`); the service and its token check go on meanwhile."""

import json

import pandas as pd
import pytest

from recovery_model.log.records import Context, Source, prediction_records
from recovery_model.log.spool import REFUSED, DurableLog, Logged, Spool
from tests.conftest import DATA
from tests.log.postgres_server import PrivateServer


def records_of(predictor, rows=slice(0, 4)):
    ranked = predictor.rank(pd.read_csv(DATA / "sample_ward.csv").iloc[rows], explain=False)
    return prediction_records(ranked.ranked, predictor.schema, Context.for_model(predictor, Source.CLI_PREDICT))


def test_kept_writes_are_written_in_order_and_once(log, default_predictor, tmp_path):
    spool = Spool(tmp_path / "spool")
    first, second = records_of(default_predictor, slice(0, 3)), records_of(default_predictor, slice(3, 5))
    spool.keep(first)
    spool.keep(second)
    log.write(first)  # written before a crash removed its file: it must not be written twice
    assert spool.drain(log) == 2
    assert log.count() == 5 and spool.pending() == []


def test_a_kept_file_the_database_refuses_is_set_aside_and_holds_nothing_back(log, default_predictor, tmp_path):
    spool = Spool(tmp_path / "spool")
    bad = records_of(default_predictor) | {"model_version": [None] * 4}  # NOT NULL: refused, now and for ever
    spool.keep(bad)
    spool.keep(records_of(default_predictor, slice(4, 6)))
    assert spool.drain(log) == 2
    assert log.count() == 2 and len(list((spool.folder / REFUSED).iterdir())) == 1


def test_a_kept_file_damaged_on_disk_is_set_aside_and_holds_nothing_back(log, default_predictor, tmp_path):
    spool = Spool(tmp_path / "spool")
    spool.keep(records_of(default_predictor)).write_text('{"id": ["truncated', encoding="utf-8")
    spool.keep(records_of(default_predictor, slice(4, 6)))
    assert spool.drain(log) == 2
    assert log.count() == 2 and len(list((spool.folder / REFUSED).iterdir())) == 1


def test_a_disk_that_cannot_keep_a_write_says_so_and_the_service_starts_all_the_same(default_predictor, tmp_path):
    from recovery_model.errors import LogError

    (tmp_path / "a file").write_text("not a folder")
    spool = Spool(tmp_path / "a file" / "spool")  # nothing made until a write is kept
    assert spool.pending() == []
    with pytest.raises(LogError, match=r"cannot keep what was not written.*RECOVERY_SPOOL_DIR"):
        spool.keep(records_of(default_predictor))


def test_a_file_claimed_by_a_process_that_died_is_pending_again(log, default_predictor, tmp_path):
    spool = Spool(tmp_path / "spool")
    kept = spool.keep(records_of(default_predictor))
    kept.rename(kept.with_name(f"{kept.stem}.999999999.claimed"))  # no such process
    assert Spool(tmp_path / "spool").drain(log) == 4


def test_times_survive_the_spool(log, default_predictor, tmp_path):
    records = records_of(default_predictor)
    path = Spool(tmp_path / "spool").keep(records)
    assert json.loads(path.read_text())["predicted_at"][0] == {"$time": records["predicted_at"][0].isoformat()}
    Spool(tmp_path / "spool").drain(log)
    assert log.get(records["id"][0])["predicted_at"] == records["predicted_at"][0]


@pytest.fixture
def server():
    private = PrivateServer()
    yield private
    private.remove()


def test_a_database_restart_mid_load_loses_no_prediction(server, default_predictor, tmp_path, monkeypatch):
    from recovery_model.log.database import upgrade
    from recovery_model.log.store import PredictionLog

    upgrade(server.url)
    monkeypatch.setenv("RECOVERY_SPOOL_DIR", str(tmp_path / "spool"))
    durable = DurableLog(PredictionLog.open(server.url))
    made, outcomes = [], []
    for call in range(30):
        if call == 10:
            server.stop()
        if call == 20:
            server.start()
        records = records_of(default_predictor, slice(call % 40, call % 40 + 1))
        made += records["id"]
        outcomes.append(durable.write(records))
    assert outcomes == [Logged.WRITTEN] * 10 + [Logged.KEPT] * 10 + [Logged.WRITTEN] * 10
    stored = PredictionLog.open(server.url).read_frame(
        "SELECT id, predicted_at FROM predictions ORDER BY predicted_at, id")
    assert sorted(stored["id"]) == sorted(made) and len(stored) == 30  # every one, once
    assert stored["id"].tolist() == made  # in the order they were made
    assert durable.kept() == 0
