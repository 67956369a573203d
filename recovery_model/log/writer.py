"""A batch run's log: each scored chunk becomes records and is written on a thread of its own while the next
chunk is scored.

Scoring (torch) and the database's inserts both release the interpreter lock for much of their time, so the two
overlap; the queue holds at most two chunks, so memory stays bounded however large the input. `close` waits for
the last chunk, marks the run's top K (known only once all of it is ranked) and re-raises what went wrong: a run
never reports rows as logged that are not.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Any

from recovery_model.log.records import Context, prediction_records
from recovery_model.log.store import PredictionLog
from recovery_model.schema import Schema
from recovery_model.scoring.assessment import RankedWard

QUEUED_CHUNKS = 2
_DONE = object()


@dataclass(frozen=True)
class LogTarget:
    """A run's log as a Dask worker needs it: the database's URL (the driver's, resolved) and the run's context.
    Each partition writes its own rows; the driver marks the top K at the end."""

    url: str
    context: Context

    def write(self, ward: RankedWard, schema: Schema) -> int:
        if not len(ward.ranked):
            return 0
        return PredictionLog.open(self.url).write(prediction_records(ward.ranked, schema, self.context,
                                                                     ward.explanation))

    def mark_top_k(self, top_k: int) -> None:
        PredictionLog.open(self.url).mark_top_k(self.context.run_id, top_k)


class BatchLog:
    """`add` each ranked chunk of one run; `close` (or leave the `with` block) once the run is ranked."""

    def __init__(self, log: PredictionLog, schema: Schema, context: Context) -> None:
        self.log, self.schema, self.context = log, schema, context
        self.written = 0
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def add(self, ward: RankedWard) -> None:
        """Log the scored rows of a chunk (rejected rows were never shown a risk: they go to the rejected file)."""
        self._raise_if_failed()
        if len(ward.ranked):
            self._queue.put(ward)

    def close(self, top_k: int | None = None) -> int:
        """Wait until every chunk is written and mark the K highest risks; the rows written."""
        self._queue.put(_DONE)
        self._thread.join()
        self._raise_if_failed()
        if top_k:
            self.log.mark_top_k(self.context.run_id, top_k)
        return self.written

    def __enter__(self) -> BatchLog:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if self._thread.is_alive():  # the run failed before `close`: stop, and let its own error be reported
            self._queue.put(_DONE)
            self._thread.join()

    def _run(self) -> None:
        while (ward := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    records = prediction_records(ward.ranked, self.schema, self.context, ward.explanation)
                    self.written += self.log.write(records)
                except BaseException as exc:  # handed to the scoring thread, which raises it
                    self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
