"""A batch run's log, written by a process of its own while the run goes on scoring.

Building a chunk's records and inserting them hold the interpreter lock for most of their time, so a thread would
only take turns with the scoring; a process runs them on another core. Each scored chunk travels to it as the
columns a record needs (and the driver texts, when explained) through a pipe, which holds little, so memory stays
bounded however large the input. `close` waits for the last chunk, marks the run's top K (known only once
all of it is ranked) and raises what went wrong: a run never reports rows as logged that are not. The Dask
engine's workers are processes already: each logs its own partitions (`LogTarget`).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from recovery_model.errors import LogError
from recovery_model.log.records import Context, driver_texts, prediction_records
from recovery_model.log.shadow import shadow_records
from recovery_model.log.store import PredictionLog
from recovery_model.schema import Schema
from recovery_model.scoring.assessment import RankedWard

if TYPE_CHECKING:
    from recovery_model.scoring.predictor import Predictor
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

RECORD_COLUMNS = (ROW, RISK, RISK_LOW, RISK_HIGH, TIER, ATYPICAL, ABOVE_THRESHOLD, IN_TOP_K, PROBLEMS)


@dataclass(frozen=True)
class LogTarget:
    """A run's log as another process needs it: the database's URL (the opener's, resolved) and the context."""

    url: str
    context: Context

    def write(self, ward: RankedWard, schema: Schema) -> int:
        if not len(ward.ranked):
            return 0
        drivers = driver_texts(ward.ranked, ward.explanation, schema)
        return PredictionLog.open(self.url).write(prediction_records(ward.ranked, schema, self.context, drivers))

    def mark_top_k(self, top_k: int) -> None:
        PredictionLog.open(self.url).mark_top_k(self.context.run_id, top_k)


class BatchLog:
    """`add` each ranked chunk of one run; `close` once the run is ranked (or leave the `with` block).

    The writer is `python -m recovery_model.log.writer`, fed pickled chunks through its standard input: a plain
    child process, which (unlike multiprocessing's spawn) never re-runs the parent's main script. The pipe is the
    queue: a write waits only when the writer is a chunk behind."""

    def __init__(self, log: PredictionLog, schema: Schema, context: Context, shadow: Predictor | None = None) -> None:
        self.log, self.schema, self.context, self.shadow = log, schema, context, shadow
        self._process = subprocess.Popen([sys.executable, "-m", "recovery_model.log.writer"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._send((LogTarget(log.location.url, context), schema))

    def add(self, ward: RankedWard) -> None:
        """Log the scored rows of a chunk (rejected rows were never shown a risk: they go to the rejected file)."""
        if not len(ward.ranked):
            return
        columns = [c for c in (self.schema.id_column, *self.schema.feature_names, *RECORD_COLUMNS)
                   if c in ward.ranked.columns]
        self._send((ward.ranked[columns], driver_texts(ward.ranked, ward.explanation, self.schema)))
        if self.shadow is not None:  # scored here, written there: the records travel ready
            self._send(shadow_records(self.shadow, ward.ranked, self.context))

    def close(self, top_k: int | None = None) -> int:
        """Wait until every chunk is written and mark the K highest risks; the rows written."""
        self._send(None)
        kind, value = self._outcome()
        if kind == "error":
            raise LogError(value)
        if top_k:
            self.log.mark_top_k(self.context.run_id, top_k)
        return value

    def __enter__(self) -> BatchLog:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if self._process.poll() is None:  # the run failed before `close`: stop, and let its own error be reported
            self._process.kill()
            self._process.communicate()

    def _send(self, item: Any) -> None:
        try:
            stdin = self._process.stdin
            if stdin is None:
                raise BrokenPipeError("the writer has no standard input")
            pickle.dump(item, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
        except (BrokenPipeError, OSError):
            raise LogError(self._outcome()[1]) from None

    def _outcome(self) -> tuple[str, Any]:
        out, err = self._process.communicate()
        try:
            return pickle.loads(out)
        except (pickle.UnpicklingError, EOFError):
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            return "error", (f"The prediction log's writer stopped (exit code {self._process.returncode}: "
                             f"{last[0]}); this run's predictions are not all logged.")


def _write_chunks() -> None:
    """The writer process: each chunk's records into the log until the end; then how many, or what failed."""
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    target, schema = pickle.load(source)
    written, problem, log = 0, None, None
    while (item := pickle.load(source)) is not None:
        if problem is not None:
            continue  # drain, so the scoring side never blocks on a full pipe
        try:
            log = log or PredictionLog.open(target.url)
            if isinstance(item, dict):  # a shadow model's records: logged, not counted as the run's predictions
                log.write(item)
                continue
            rows, drivers = item
            written += log.write(prediction_records(pd.DataFrame(rows), schema, target.context, drivers))
        except Exception as exc:  # reported to the run, which raises it
            problem = str(exc)
    pickle.dump(("error", problem) if problem else ("done", written), sink)
    sink.flush()


if __name__ == "__main__":
    _write_chunks()
