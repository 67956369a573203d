"""Scoring a health system's files on a Dask cluster: `recovery predict --engine dask`.

The distribution is Dask's. Each input file becomes partitions (a CSV file is one, a Parquet file one per row
group, small row groups joined), and each partition is read, validated and scored on a worker by the same
`Predictor.rank` as in one process, so the checks, messages and row numbers are the same. The checkpoint goes
to each worker once, in a worker plugin that loads it when the worker starts; a task carries only its file's
name. `dask.dataframe` then sorts every scored row by risk across all partitions (ties: file order, then row
order, as in one process), ranks are the global positions, and the list is written as partitioned Parquet
(files part.00000.parquet, ... in rank order) or one CSV. Output is written beside its destination and moved
into place only when every partition has come back: a run that fails leaves no output.

Every worker and this process must be able to read the input files and write the output folder (a shared
file system); workers need recovery-model installed, as here.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from distributed.diagnostics.plugin import WorkerPlugin

from recovery_model.batch.core import (
    CHUNK_ROWS,
    Accounts,
    BatchResult,
    DriftSample,
    add_counts,
    append_rejected,
    duplicate_ids_warning,
    score_frames,
)
from recovery_model.errors import DataValidationError, RecoveryError
from recovery_model.paths import checkpoint_folder
from recovery_model.readers.csv import spreadsheet_safe
from recovery_model.readers.formats import TABULAR, Format, reader
from recovery_model.readers.table import column_names, file_format, open_frames
from recovery_model.scoring.checkpoint import METADATA, WEIGHTS, read_header
from recovery_model.scoring.columns import IN_TOP_K, RANK, RISK, ROW, SOURCE_FILE, in_top_k

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

    from recovery_model.log.writer import LogTarget
    from recovery_model.schema import Schema
    from recovery_model.scoring.drift import DriftReport
    from recovery_model.scoring.predictor import Predictor

TABULAR_SUFFIXES = tuple(suffix for kind in TABULAR for suffix in reader(kind).suffixes)
SAMPLES_PER_MERGE = 8
FILE_ORDER = "_file_order"  # internal sort key: the input file's position, for ties
_LOADED: dict[str, Predictor] = {}  # per worker process: checkpoint digest → the loaded Predictor


@dataclass(frozen=True)
class Partition:
    """Rows of one input file that one task scores: a CSV file whole, or some row groups of a Parquet file."""

    path: str
    file_order: int
    row_groups: tuple[int, ...] = ()
    first_row: int = 1  # the number of its first row in its file, counted from 1 as a spreadsheet does


def input_files(spec: str | Path) -> list[Path]:
    """A folder's CSV and Parquet files, a glob's matches, or one file; in name order."""
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in TABULAR_SUFFIXES)
    else:
        files = sorted(Path(p) for p in glob.glob(str(spec)) if Path(p).is_file())
    if not files:
        raise DataValidationError(f"{spec} names no CSV or Parquet files: give a folder, a glob such as "
                                  "'exports/*.parquet', or a file.")
    return files


def plan_partitions(files: list[Path], chunk_rows: int) -> list[Partition]:
    """Parquet files split at row groups (joined until a partition holds `chunk_rows` rows); CSV files whole."""
    from recovery_model.readers.parquet import row_group_rows

    partitions = []
    for order, path in enumerate(files):
        if file_format(path) != Format.PARQUET:
            partitions.append(Partition(str(path), order))
            continue
        sizes = row_group_rows(path)
        groups: list[int] = []
        first, held = 1, 0
        for group, rows in enumerate(sizes):
            groups.append(group)
            held += rows
            if held >= chunk_rows or group == len(sizes) - 1:
                partitions.append(Partition(str(path), order, tuple(groups), first))
                first, groups, held = first + held, [], 0
    return partitions


# ----- on the workers ------------------------------------------------------------------------------------------
class CheckpointPlugin(WorkerPlugin):
    """The checkpoint's files travel once per worker, and are loaded when the worker starts (or joins later)."""

    idempotent = True  # registered again by a later run with the same model, it is not loaded again

    def __init__(self, files: dict[str, bytes], digest: str) -> None:
        self.files = files
        self.digest = digest
        self.name = f"recovery-checkpoint-{digest[:16]}"  # one per model

    def setup(self, worker: Any) -> None:
        import torch

        from recovery_model.scoring.predictor import Predictor

        folder = Path(worker.local_directory) / f"recovery-checkpoint-{self.digest[:16]}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in self.files.items():
            (folder / name).write_bytes(data)
        torch.set_num_threads(max(1, int(getattr(worker.state, "nthreads", 1))))  # one thread a task slot
        _LOADED[self.digest] = Predictor.load(folder)

    def teardown(self, worker: Any) -> None:
        _LOADED.pop(self.digest, None)


def _predictor(digest: str) -> Predictor:
    if digest not in _LOADED:
        raise RecoveryError("This worker has no model: the checkpoint plugin did not run on it. Restart the worker.")
    return _LOADED[digest]


def score_partition(partition: Partition, digest: str, threshold: float | None, explain: bool,
                    chunk_rows: int, log: LogTarget | None = None, as_of: datetime | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, Accounts]:
    """One partition through the batch core: its ranked rows (with their file and row), its rejected rows, and
    its accounts (counts, each rejected row's reason, its drift sample). With a `log`, its scored rows are logged
    here, on the worker."""
    predictor = _predictor(digest)
    schema = predictor.schema
    name = Path(partition.path).name
    frames = open_frames(Path(partition.path), schema, chunk_rows, as_of=as_of, row_groups=partition.row_groups or None)
    accounts = Accounts(DriftSample(schema.feature_names, seed=[partition.file_order, partition.first_row]))
    scored, rejected = [], []
    for ward in score_frames(predictor, frames.chunks, partition.path, accounts, threshold, explain,
                             partition.first_row, where=f" of {name}"):
        if log is not None:
            log.write(ward, schema)
        table = ward.table(schema).assign(**{ROW: ward.ranked[ROW].to_numpy()})
        scored.append(_as_text(table, schema, name, partition.file_order))
        rejected.append(_as_text(ward.rejected, schema, name, partition.file_order))
    return pd.concat(scored, ignore_index=True), pd.concat(rejected, ignore_index=True), accounts


def _as_text(table: pd.DataFrame, schema: Schema, name: str, file_order: int) -> pd.DataFrame:
    """Pass-through columns as text, so that partitions from CSV and Parquet files share one layout."""
    own = {*schema.feature_names, RISK, RANK, ROW, IN_TOP_K}
    text = {c: _text(table[c]) for c in table.columns if c not in own and not pd.api.types.is_float_dtype(table[c])
            and not pd.api.types.is_bool_dtype(table[c])}
    return table.assign(**text).assign(**{SOURCE_FILE: name, FILE_ORDER: file_order})


def _text(column: pd.Series) -> pd.Series:
    return column.map(lambda value: None if pd.isna(value) else str(value)).astype(object)


def _add_ranks(part: pd.DataFrame, offsets: list[int], top_k: int | None,
               partition_info: dict | None = None) -> pd.DataFrame:
    start = offsets[partition_info["number"]] if partition_info else 0
    rank = np.arange(start + 1, start + len(part) + 1)
    return part.assign(**{RANK: rank, IN_TOP_K: in_top_k(rank, top_k)}).drop(columns=[FILE_ORDER])


def _merge_samples(*samples: DriftSample) -> DriftSample:
    return DriftSample.merged(samples)


def _drift(sample: DriftSample, digest: str) -> DriftReport:
    """The same drift test as one process, on the merged sample of the scored rows, where the model is loaded."""
    return _predictor(digest).check_drift(sample.rows())


# ----- on the client -------------------------------------------------------------------------------------------
def rank_on_cluster(sources: str | Path, output: Path, rejected_output: Path, checkpoint: Path | None = None,
                    top_k: int | None = None, threshold: float | None = None, explain: bool = False,
                    chunk_rows: int = CHUNK_ROWS, scheduler: str | None = None,
                    workers: int | None = None, log: LogTarget | None = None,
                    as_of: datetime | None = None) -> BatchResult:
    """Score every row of `sources` on a Dask cluster (`scheduler`, else a LocalCluster of `workers`) and write
    `output` ranked by risk: a folder of Parquet files, or one CSV file when `output` ends in .csv. With a `log`,
    every scored row is logged by the worker that scores it. `as_of`: the index time every worker judges each
    value's shelf life at (default now, taken once here, not by each worker's clock)."""
    from distributed import KilledWorker

    folder = checkpoint_folder(checkpoint)
    header = read_header(folder)  # verified (its checksum covers the weights' checksum), and without torch
    files = input_files(sources)
    _check_same_columns(files)
    partitions = plan_partitions(files, chunk_rows)
    checkpoint_files = {name: (folder / name).read_bytes() for name in (METADATA, WEIGHTS)}
    staging = output.with_name(f".{output.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        with _client(scheduler, workers) as client:
            plugin = CheckpointPlugin(checkpoint_files, header.digest)
            client.register_plugin(plugin, name=plugin.name)
            job = _Job(client, header.schema, plugin.digest, top_k, log, as_of or datetime.now(UTC))
            result, rejected = job.run(partitions, staging, output.suffix.lower() == ".csv", threshold, explain,
                                       chunk_rows)
        _remove(output)
        staging.rename(output)
        if log is not None:
            result.logged = result.counts["scored"]  # each partition's rows were logged whole, or the run failed
            if top_k:
                log.mark_top_k(top_k)
    except KilledWorker as exc:
        raise RecoveryError(f"A Dask worker died while scoring ({exc.task}) more often than the scheduler allows "
                            "(distributed.scheduler.allowed-failures): the run stopped and wrote no output. Check "
                            "the workers' memory (lower --chunk-rows, or split large files) and run again.") from None
    except OSError as exc:
        raise RecoveryError(f"The Dask cluster could not be used ({exc}); no output was written. Check --scheduler, "
                            "and that every worker can read the input files and write the output folder.") from None
    finally:
        _remove(staging)
    rejected_output.unlink(missing_ok=True)
    if len(rejected):
        append_rejected(rejected_output, rejected, first=True)
    return result


def _check_same_columns(files: list[Path]) -> None:
    """Every file must have the first file's columns (any order): the ranked list has one layout."""
    first = set(column_names(files[0]))
    for path in files[1:]:
        other = set(column_names(path))
        if other != first:
            extra, missing = sorted(other - first), sorted(first - other)
            differences = ([f"it adds {', '.join(extra)}"] if extra else []) + \
                ([f"it lacks {', '.join(missing)}"] if missing else [])
            raise DataValidationError(
                f"{path} does not have the columns of {files[0]}: {'; '.join(differences)}. Files scored together "
                "must share their columns; score the others in a run of their own.")


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int | None) -> Iterator[Client]:
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, timeout="30s") as client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield client


@dataclass
class _Job:
    """One run on the cluster: score every partition, gather counts and rejected rows, rank globally, write."""

    client: Client
    schema: Schema
    digest: str
    top_k: int | None
    log: LogTarget | None
    as_of: datetime

    def run(self, partitions: list[Partition], staging: Path, as_csv: bool, threshold: float | None, explain: bool,
            chunk_rows: int) -> tuple[BatchResult, pd.DataFrame]:
        """The run's result, and every rejected row in file and row order (partitions are planned in that order)."""
        import dask.dataframe as dd

        client = self.client
        results = client.map(score_partition, partitions, digest=self.digest, threshold=threshold, explain=explain,
                             chunk_rows=chunk_rows, log=self.log, as_of=self.as_of, pure=False)
        scored_parts = client.map(_pick, results, index=0, pure=False)
        accounts = client.map(_pick, results, index=2, pure=False)
        samples = client.map(_sample_of, accounts, pure=False)
        result = BatchResult()
        for counts, rejected_rows in client.gather(client.map(_counts_and_rejected, accounts, pure=False)):
            add_counts(result.counts, counts)
            result.rejected += rejected_rows
        rejected = pd.concat(client.gather(client.map(_pick, results, index=1, pure=False)), ignore_index=True)
        del results, accounts  # the scheduler may drop them now: the scored tables and the samples are still needed
        meta = client.submit(_pick, scored_parts[0], index=slice(0, 0), pure=False).result()
        ordered = self._ordered(dd.from_delayed(scored_parts, meta=meta)) if result.counts["scored"] else None
        del scored_parts  # the sorted copy is all that is kept from here on
        self._write(ordered, meta.drop(columns=[FILE_ORDER]), staging, as_csv)
        result.drift = client.submit(_drift, self._merged(samples), self.digest, pure=False).result()
        result.warnings += self._duplicate_ids(ordered, rejected)
        return result, spreadsheet_safe(rejected.drop(columns=[FILE_ORDER]))

    def _merged(self, samples: list) -> Any:
        """The partitions' drift samples merged on the workers, a few at a time, into one uniform sample."""
        while len(samples) > 1:
            samples = [self.client.submit(_merge_samples, *samples[i:i + SAMPLES_PER_MERGE], pure=False)
                       for i in range(0, len(samples), SAMPLES_PER_MERGE)]
        return samples[0]

    def _ordered(self, scored: Any) -> Any:
        """Every scored row sorted by risk across partitions (ties: file, then row), held on the cluster."""
        return self.client.persist(scored.sort_values([RISK, FILE_ORDER, ROW], ascending=[False, True, True]))

    def _write(self, ordered: Any, layout: pd.DataFrame, staging: Path, as_csv: bool) -> None:
        """Ranks are global positions: each sorted partition starts where the ones before it end."""
        import dask.dataframe as dd

        if ordered is None:
            ranked = dd.from_pandas(layout, npartitions=1)
        else:
            lengths = ordered.map_partitions(len).compute().tolist()
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
            ranked = ordered.map_partitions(_add_ranks, offsets, self.top_k, meta=layout)
        if as_csv:
            ranked.map_partitions(spreadsheet_safe, meta=layout).to_csv(
                str(staging), single_file=True, index=False, quoting=csv.QUOTE_ALL, lineterminator="\n")
        else:
            ranked.to_parquet(str(staging), write_index=False, schema=_arrow_schema(layout),
                              name_function=lambda i: f"part.{i:05d}.parquet")

    def _duplicate_ids(self, ordered: Any, rejected: pd.DataFrame) -> list[str]:
        """Patient ids on more than one row across every file. Counted on the cluster; only the ids that repeat
        (and the rows they are on) come back, not every id."""
        id_column = self.schema.id_column
        if id_column not in rejected.columns:
            return []
        located = [id_column, SOURCE_FILE, ROW, FILE_ORDER]
        refused = rejected[located].dropna(subset=[id_column])
        seen = refused
        if ordered is not None:
            ids = ordered[id_column]
            counts = ids.value_counts().compute()
            suspects = set(counts[counts > 1].index) | (set(refused[id_column]) & set(counts.index))
            found = ordered[ids.isin(list(suspects))][located].compute() if suspects else refused.iloc[:0]
            seen = pd.concat([found, refused], ignore_index=True)
        seen = seen[seen[id_column].duplicated(keep=False)].sort_values([FILE_ORDER, ROW], kind="stable")
        return duplicate_ids_warning([(str(pid), [f"{row} of {name}" for row, name in
                                                  zip(group[ROW], group[SOURCE_FILE], strict=True)])
                                      for pid, group in seen.groupby(id_column, sort=False)])


def _arrow_schema(layout: pd.DataFrame) -> Any:
    """The Parquet output's column types, from the ranked table's dtypes (text columns are strings)."""
    import pyarrow as pa

    def arrow_type(dtype: Any) -> pa.DataType:
        if pd.api.types.is_bool_dtype(dtype):
            return pa.bool_()
        if pd.api.types.is_integer_dtype(dtype):
            return pa.int64()
        if pd.api.types.is_float_dtype(dtype):
            return pa.float64()
        return pa.string()

    return pa.schema([(name, arrow_type(dtype)) for name, dtype in layout.dtypes.items()])


def _pick(result: Any, index: int | slice) -> Any:
    """An element of a task's result (a partition's tables and accounts), taken on the worker that holds it."""
    return result[index]


def _sample_of(accounts: Accounts) -> DriftSample:
    return accounts.sample


def _counts_and_rejected(accounts: Accounts) -> tuple[dict[str, int], list[tuple[str, str]]]:
    return accounts.counts, accounts.rejected


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
