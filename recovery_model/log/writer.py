"""A batch run's log, written by a process of its own while the run goes on scoring.

Building a chunk's records and inserting them hold the interpreter lock for most of their time, so a thread would
only take turns with the scoring; a process runs them on another core. Each scored chunk travels to it as the
columns a record needs (and the driver texts, when explained); the queue holds at most two chunks, so memory
stays bounded however large the input. `close` waits for the last chunk, marks the run's top K (known only once
all of it is ranked) and raises what went wrong: a run never reports rows as logged that are not. The Dask
engine's workers are processes already: each logs its own partitions (`LogTarget`).
"""

from __future__ import annotations

import multiprocessing
import queue
from dataclasses import dataclass
from typing import Any

import pandas as pd

from recovery_model.errors import LogError
from recovery_model.log.records import Context, driver_texts, prediction_records
from recovery_model.log.store import PredictionLog
from recovery_model.schema import Schema
from recovery_model.scoring.assessment import RankedWard
from recovery_model.scoring.columns import (
    ABOVE_THRESHOLD,
    ATYPICAL,
    IN_TOP_K,
    PROBLEMS,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    ROW,
    TIER,
)

QUEUED_CHUNKS = 2
WAIT_S = 1.0
RECORD_COLUMNS = (ROW, RISK, RISK_LOW, RISK_HIGH, TIER, ATYPICAL, ABOVE_THRESHOLD, IN_TOP_K, PROBLEMS)


@dataclass(frozen=True)
class LogTarget:
    """A run's log as another process needs it: the database's URL (the opener's, resolved) and the context."""

    url: str
    context: Context

    def write(self, ward: RankedWard, schema: Schema) -> int:
        if not len(ward.ranked):
            return 0
        return PredictionLog.open(self.url).write(prediction_records(ward.ranked, schema, self.context,
                                                                     driver_texts(ward.explanation, schema)))

    def mark_top_k(self, top_k: int) -> None:
        PredictionLog.open(self.url).mark_top_k(self.context.run_id, top_k)


class BatchLog:
    """`add` each ranked chunk of one run; `close` once the run is ranked (or leave the `with` block)."""

    def __init__(self, log: PredictionLog, schema: Schema, context: Context) -> None:
        self.log, self.schema, self.context = log, schema, context
        spawn = multiprocessing.get_context("spawn")  # never fork a process that holds torch's threads
        self._chunks = spawn.Queue(maxsize=QUEUED_CHUNKS)
        self._results = spawn.Queue()
        self._process = spawn.Process(target=_write_chunks, name="prediction-log", daemon=True,
                                      args=(LogTarget(log.location.url, context), schema, self._chunks,
                                            self._results))
        self._process.start()
        self._outcome: tuple[str, Any] | None = None

    def add(self, ward: RankedWard) -> None:
        """Log the scored rows of a chunk (rejected rows were never shown a risk: they go to the rejected file)."""
        if not len(ward.ranked):
            return
        columns = [c for c in (self.schema.id_column, *self.schema.feature_names, *RECORD_COLUMNS)
                   if c in ward.ranked.columns]
        self._put((ward.ranked[columns], driver_texts(ward.explanation, self.schema)))

    def close(self, top_k: int | None = None) -> int:
        """Wait until every chunk is written and mark the K highest risks; the rows written."""
        self._put(None)
        kind, value = self._finish()
        if kind == "error":
            raise LogError(value)
        if top_k:
            self.log.mark_top_k(self.context.run_id, top_k)
        return value

    def __enter__(self) -> BatchLog:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if self._process.is_alive():  # the run failed before `close`: stop, and let its own error be reported
            self._process.terminate()
            self._process.join()

    def _put(self, item: Any) -> None:
        """Hand a chunk over, or stop waiting (with the reason) if the writer has failed or died."""
        while True:
            try:
                self._chunks.put(item, timeout=WAIT_S)
                return
            except queue.Full:
                if not self._process.is_alive() or not self._results.empty():
                    kind, value = self._finish()
                    raise LogError(value if kind == "error" else "The prediction log's writer stopped early.") from None

    def _finish(self) -> tuple[str, Any]:
        if self._outcome is None:
            try:
                self._outcome = self._results.get(timeout=None if self._process.is_alive() else WAIT_S)
            except queue.Empty:
                self._outcome = ("error", f"The prediction log's writer died (exit code {self._process.exitcode}); "
                                          "this run's predictions are not all logged.")
            self._process.join()
        return self._outcome


def _write_chunks(target: LogTarget, schema: Schema, chunks: Any, results: Any) -> None:
    """The writer process: each chunk's records into the log until the end; then how many, or what failed."""
    written, problem = 0, None
    log = None
    while (item := chunks.get()) is not None:
        if problem is not None:
            continue  # drain, so the scoring side never blocks on a full queue
        rows, drivers = item
        try:
            log = log or PredictionLog.open(target.url)
            written += log.write(prediction_records(pd.DataFrame(rows), schema, target.context, drivers))
        except Exception as exc:  # reported to the run, which raises it
            problem = str(exc)
    results.put(("error", problem) if problem else ("done", written))
