"""`recovery predict --engine dask` on a real two-worker LocalCluster: the same ranking, counts and refusals as
one process, a checkpoint loaded once per worker, and a worker that dies mid-run."""

import os
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from recovery_model.batch.cluster import Partition, input_files, plan_partitions, rank_on_cluster
from recovery_model.batch.local import rank_file
from recovery_model.cli import main
from recovery_model.errors import DataValidationError
from tests.conftest import DATA

pytestmark = pytest.mark.usefixtures("plain_main")


@pytest.fixture(scope="module")
def cluster(dask_cluster):
    return dask_cluster


@pytest.fixture
def ward_files(tmp_path):
    """The sample ward split over a CSV file (with one impossible SpO2) and a Parquet file of row groups of 5."""
    ward = pd.read_csv(DATA / "sample_ward.csv", dtype=str)
    ward.loc[3, "oxygen_level"] = "250"
    folder = tmp_path / "exports"
    folder.mkdir()
    ward.iloc[:20].to_csv(folder / "a_ward7.csv", index=False)
    typed = pd.read_csv(DATA / "sample_ward.csv", dtype={"patient_id": str}).iloc[20:]
    typed.to_parquet(folder / "b_ward8.parquet", index=False, row_group_size=5)
    combined = tmp_path / "combined.csv"
    ward.to_csv(combined, index=False)
    return folder, combined


def _ranked(result_path: Path) -> pd.DataFrame:
    return pd.read_parquet(result_path) if result_path.suffix != ".csv" else pd.read_csv(result_path, dtype=str)


def test_the_cluster_ranks_like_one_process(cluster, small_predictor, ward_files, tmp_path):
    folder, combined = ward_files
    single = rank_file(small_predictor, combined, tmp_path / "single.parquet", tmp_path / "single_rejected.csv",
                       top_k=7, chunk_rows=6)
    result = rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "ranked_rejected.csv",
                             checkpoint=small_predictor.folder, top_k=7, chunk_rows=6,
                             scheduler=cluster.scheduler_address)
    one, many = pd.read_parquet(tmp_path / "single.parquet"), pd.read_parquet(tmp_path / "ranked")
    assert sorted(p.name for p in (tmp_path / "ranked").iterdir())[0] == "part.00000.parquet"
    assert list(many["patient_id"]) == list(one["patient_id"])
    # the same to float32 rounding: a partition multiplies a different number of rows at once, and BLAS may sum
    # those products in another order (measured: 2.7e-8 at most, on 5 of 47 rows)
    np.testing.assert_allclose(many["risk"].to_numpy(), one["risk"].to_numpy(), rtol=1e-6, atol=1e-9)
    assert list(many["rank"]) == list(range(1, 48)) and many["in_top_k"].sum() == 7
    assert set(many["source_file"]) == {"a_ward7.csv", "b_ward8.parquet"}
    assert result.counts == single.counts == {"rows": 48, "scored": 47, "flagged": single.counts["flagged"],
                                              "rejected": 1}
    assert result.rejected == [("4 of a_ward7.csv", "oxygen_level = '250': outside the possible range 50–100 %; "
                                                   "check the value or its unit")]
    rejected = pd.read_csv(tmp_path / "ranked_rejected.csv")
    assert list(rejected["row"]) == [4] and list(rejected["source_file"]) == ["a_ward7.csv"]
    assert result.drift.patients == single.drift.patients == 47
    for column in ("risk_low", "risk_high"):
        np.testing.assert_allclose(many[column].to_numpy(float), one[column].to_numpy(float), rtol=1e-6, atol=1e-9)
    for column in ("tier", "typicality", "bed"):
        assert list(many[column].astype(str)) == list(one[column].astype(str)), column


def test_csv_output_is_one_spreadsheet_safe_file(cluster, small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    ward = pd.read_parquet(folder / "b_ward8.parquet")
    ward.loc[ward.index[0], "patient_id"] = "=HYPERLINK(\"http://x\")"
    ward.to_parquet(folder / "b_ward8.parquet", index=False)
    rank_on_cluster(folder, tmp_path / "ranked.csv", tmp_path / "ranked_rejected.csv",
                    checkpoint=small_predictor.folder, chunk_rows=6, scheduler=cluster.scheduler_address)
    ranked = pd.read_csv(tmp_path / "ranked.csv", dtype={"patient_id": str})
    assert len(ranked) == 47 and ranked["risk"].is_monotonic_decreasing
    assert "'=HYPERLINK" in (tmp_path / "ranked.csv").read_text()


def test_partitions_follow_row_groups_and_number_rows_in_their_file(ward_files):
    folder, _ = ward_files
    partitions = plan_partitions(input_files(folder), chunk_rows=6)
    assert partitions[0] == Partition(str(folder / "a_ward7.csv"), 0)
    assert [(p.row_groups, p.first_row) for p in partitions[1:]] == [((0, 1), 1), ((2, 3), 11), ((4, 5), 21)]


def _models_on_this_worker() -> dict[str, int]:
    from recovery_model.batch import cluster

    return {digest: id(predictor) for digest, predictor in cluster._LOADED.items()}


def test_the_checkpoint_is_loaded_once_per_worker_even_across_runs(cluster, small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    loaded = []
    with Client(cluster) as client:
        for run in range(2):
            rank_on_cluster(folder, tmp_path / f"ranked{run}", tmp_path / "r.csv", checkpoint=small_predictor.folder,
                            chunk_rows=6, scheduler=cluster.scheduler_address)
            loaded.append(client.run(_models_on_this_worker))
    assert len(loaded[0]) == 2 and all(len(models) == 1 for models in loaded[0].values())
    assert loaded[1] == loaded[0]  # the same model objects: not loaded again, not shipped with the tasks


def test_files_with_other_columns_are_refused_by_name(small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    pd.read_csv(folder / "a_ward7.csv").drop(columns=["bed"]).to_csv(folder / "c_ward9.csv", index=False)
    with pytest.raises(DataValidationError, match=r"c_ward9.csv does not have the columns of .*a_ward7.csv: it "
                                                  r"lacks bed"):
        rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "r.csv", checkpoint=small_predictor.folder)


def test_no_input_files_is_said_plainly(small_predictor, tmp_path):
    with pytest.raises(DataValidationError, match="names no CSV or Parquet files"):
        rank_on_cluster(str(tmp_path / "*.parquet"), tmp_path / "ranked", tmp_path / "r.csv",
                        checkpoint=small_predictor.folder)


class KillOnFirstScore(WorkerPlugin):
    """Test-only: the worker that starts scoring a partition dies, once (or every time, with `always`)."""

    def __init__(self, marker: str, always: bool = False) -> None:
        self.marker, self.always = marker, always

    def transition(self, key, start, finish, **kwargs):
        name = key[0] if isinstance(key, tuple) else str(key)
        scoring = finish == "executing" and str(name).startswith("score_partition")
        if scoring and (self.always or not os.path.exists(self.marker)):
            Path(self.marker).touch()
            os._exit(1)


def test_a_worker_that_dies_mid_run_is_replaced_and_the_result_is_complete(small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local, \
            Client(local) as client:
        client.register_plugin(KillOnFirstScore(str(tmp_path / "died")), name="kill-once")
        result = rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "r.csv", checkpoint=small_predictor.folder,
                                 chunk_rows=6, scheduler=local.scheduler_address)
    assert (tmp_path / "died").exists()
    assert result.counts["rows"] == 48 and len(pd.read_parquet(tmp_path / "ranked")) == 47


def test_a_run_whose_workers_keep_dying_fails_clearly_and_writes_nothing(small_predictor, ward_files, tmp_path,
                                                                         capsys):
    folder, _ = ward_files
    out = tmp_path / "ranked"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as local, \
            Client(local) as client:
        client.register_plugin(KillOnFirstScore(str(tmp_path / "died"), always=True), name="kill-always")
        code = main(["predict", "--engine", "dask", "--scheduler", local.scheduler_address, "--input", str(folder),
                     "--output", str(out), "--checkpoint", str(small_predictor.folder)])
    err = capsys.readouterr().err
    assert code == 2 and "A Dask worker died while scoring" in err and "wrote no output" in err
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".ranked.partial-*"))


def test_the_cli_starts_its_own_cluster(small_predictor, ward_files, tmp_path, capsys):
    folder, _ = ward_files
    code = main(["predict", "--engine", "dask", "--workers", "2", "--input", str(folder / "*"), "--output",
                 str(tmp_path / "ranked.csv"), "--checkpoint", str(small_predictor.folder), "--top-k", "3"])
    captured = capsys.readouterr()
    assert code == 0 and "48 rows in: 47 scored" in captured.out
    assert "row 4 of a_ward7.csv: oxygen_level = '250'" in captured.err
    assert pd.read_csv(tmp_path / "ranked.csv")["in_top_k"].sum() == 3


def test_a_patient_in_two_files_is_named(cluster, small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    ward = pd.read_csv(folder / "a_ward7.csv", dtype=str)
    ward.head(2).to_csv(folder / "c_again.csv", index=False)
    result = rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "r.csv", checkpoint=small_predictor.folder,
                             chunk_rows=6, scheduler=cluster.scheduler_address)
    assert result.counts["rows"] == 50
    first = ward["patient_id"][0]
    assert any("2 patient ids appear on more than one row" in w and f"'{first}' on rows 1 of a_ward7.csv, 1 of "
               "c_again.csv" in w for w in result.warnings)


def test_a_run_with_nothing_to_score_writes_an_empty_list_and_every_refusal(cluster, small_predictor, tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    ward = pd.read_csv(DATA / "sample_ward.csv", dtype=str).head(3).assign(oxygen_level="250")
    ward.to_csv(folder / "a.csv", index=False)
    result = rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "r.csv", checkpoint=small_predictor.folder,
                             scheduler=cluster.scheduler_address)
    assert result.counts == {"rows": 3, "scored": 0, "flagged": 0, "rejected": 3}
    assert len(pd.read_parquet(tmp_path / "ranked")) == 0 and len(pd.read_csv(tmp_path / "r.csv")) == 3


IGNORED_OPTIONS = [(["--engine", "dask", "--format", "csv"], "--format is for --engine local"),
                   (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --engine dask")]


@pytest.mark.parametrize(("options", "says"), IGNORED_OPTIONS)
def test_options_the_engine_would_ignore_are_refused(options, says, tmp_path, capsys):
    code = main(["predict", "--input", str(DATA / "sample_ward.csv"), "--output", str(tmp_path / "o.csv"), *options])
    assert code == 2 and says in capsys.readouterr().err


def test_a_refused_row_and_a_scored_row_with_one_id_are_a_duplicate(cluster, small_predictor, ward_files, tmp_path):
    folder, _ = ward_files
    refused = pd.read_csv(folder / "a_ward7.csv", dtype=str).iloc[[3]]  # the row with SpO2 250, refused
    scored_twin = pd.read_csv(folder / "a_ward7.csv", dtype=str).iloc[[3]].assign(oxygen_level="95")
    pd.concat([refused, scored_twin]).iloc[[1]].to_csv(folder / "c_twin.csv", index=False)
    result = rank_on_cluster(folder, tmp_path / "ranked", tmp_path / "r.csv", checkpoint=small_predictor.folder,
                             chunk_rows=6, scheduler=cluster.scheduler_address)
    assert any(f"'{refused['patient_id'].iloc[0]}' on rows 4 of a_ward7.csv, 1 of c_twin.csv" in w
               for w in result.warnings)


def test_a_file_the_workers_cannot_use_is_named_on_the_command_line(cluster, small_predictor, tmp_path, capsys):
    folder = tmp_path / "exports"
    folder.mkdir()
    pd.read_csv(DATA / "sample_ward.csv").drop(columns=["oxygen_level"]).to_csv(folder / "ward7.csv", index=False)
    code = main(["predict", "--engine", "dask", "--scheduler", cluster.scheduler_address, "--input", str(folder),
                 "--output", str(tmp_path / "ranked"), "--checkpoint", str(small_predictor.folder)])
    err = capsys.readouterr().err
    assert code == 2 and "ward7.csv: Missing required columns: oxygen_level" in err and "Traceback" not in err
    assert not (tmp_path / "ranked").exists()


def test_each_partition_logs_its_rows_on_the_worker_and_the_top_k_is_marked(cluster, small_predictor, ward_files,
                                                                            tmp_path):
    from sqlalchemy import select

    from recovery_model.log.database import upgrade
    from recovery_model.log.records import Context, Source
    from recovery_model.log.store import PredictionLog
    from recovery_model.log.tables import predictions
    from recovery_model.log.writer import LogTarget

    url = f"sqlite:///{tmp_path / 'cluster.sqlite'}"
    upgrade(url)
    target = LogTarget(url, Context.for_model(small_predictor, Source.CLI_PREDICT, ward="W8"))
    result = rank_on_cluster(ward_files[0], tmp_path / "ranked", tmp_path / "rejected.csv",
                             checkpoint=small_predictor.folder, top_k=5, chunk_rows=6,
                             scheduler=cluster.scheduler_address, log=target)
    log = PredictionLog.open(url)
    stored = log.read_frame(select(predictions.c.patient_id, predictions.c.in_top_k, predictions.c.ward))
    ranked = pd.read_parquet(tmp_path / "ranked")
    assert result.logged == len(stored) == 47 and set(stored["ward"]) == {"W8"}
    assert set(stored.loc[stored["in_top_k"].astype(bool), "patient_id"]) == set(
        ranked.loc[ranked["in_top_k"], "patient_id"])


def test_every_worker_judges_a_value_s_age_at_the_run_s_index_time(cluster, small_predictor, tmp_path):
    """Measured at noon on 1 January 2020: a current heart rate at 23:00 that day, too old (24 h) a week later,
    whatever each worker's own clock says."""
    from datetime import UTC, datetime

    folder = tmp_path / "exports"
    folder.mkdir()
    ward = pd.read_csv(DATA / "sample_ward.csv", dtype=str).head(12).assign(heart_rate_time="2020-01-01T12:00Z")
    ward.to_csv(folder / "ward.csv", index=False)
    kept = {}
    for day in (1, 8):
        out = tmp_path / f"ranked_{day}.csv"
        rank_on_cluster(folder, out, tmp_path / "r.csv", checkpoint=small_predictor.folder,
                        scheduler=cluster.scheduler_address, as_of=datetime(2020, 1, day, 23, tzinfo=UTC))
        kept[day] = _ranked(out)["heart_rate"].notna().all()
    assert kept == {1: True, 8: False}
