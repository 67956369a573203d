"""One interface to both batch engines: a `BatchJob` says what to rank, where to write it and whether to log it;
an engine says how (`LocalEngine`: chunks in this process; `DaskEngine`: partitions on a cluster). Both return the
same `BatchRun`, so a face wires neither by hand."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from recovery_model.batch.core import CHUNK_ROWS, BatchResult
from recovery_model.extras import require

if TYPE_CHECKING:
    from recovery_model.log.records import Context
    from recovery_model.log.store import PredictionLog
    from recovery_model.scoring.checkpoint import CheckpointHeader, ModelIdentity
    from recovery_model.scoring.predictor import Predictor


@dataclass(frozen=True)
class BatchJob:
    """A ward file (or a folder of them) to rank with the checkpoint in `checkpoint`. With a `log`, each scored row
    is logged under `ward` and `user`, and `shadow` (a checkpoint) scores each row too, logged and never listed."""

    source: Path | str
    output: Path
    rejected_output: Path
    checkpoint: Path
    top_k: int | None = None
    threshold: float | None = None
    explain: bool = False
    chunk_rows: int = CHUNK_ROWS
    as_of: datetime | None = None
    log: PredictionLog | None = None
    ward: str | None = None
    user: str | None = None
    shadow: Path | None = None

    def context(self, model: Predictor | CheckpointHeader) -> Context:
        """What every logged row of this run shares."""
        from recovery_model.log.records import Context, Source, input_digest

        return Context.for_model(model, Source.CLI_PREDICT, predicted_at=self.as_of, ward=self.ward,
                                 input_sha256=input_digest(Path(self.source)), user=self.user)


@dataclass(frozen=True)
class BatchRun:
    result: BatchResult
    shadow: ModelIdentity | None = None  # the model that scored in the shadow, when one did


class Engine(Protocol):
    def run(self, job: BatchJob) -> BatchRun: ...


@dataclass(frozen=True)
class LocalEngine:
    """Chunks read and scored in this process; the log written by a child process beside it (`BatchLog`)."""

    declared_format: str | None = None  # the input's and output's format, when their extensions do not say

    def run(self, job: BatchJob) -> BatchRun:
        from recovery_model.batch.local import rank_file
        from recovery_model.log.writer import BatchLog
        from recovery_model.scoring.predictor import Predictor

        predictor = Predictor.load(job.checkpoint)
        shadow = Predictor.load(job.shadow) if job.log is not None and job.shadow is not None else None
        batch_log = None if job.log is None else BatchLog(job.log, predictor.schema, job.context(predictor), shadow)
        with batch_log or contextlib.nullcontext():
            result = rank_file(predictor, job.source if isinstance(job.source, Path) else Path(job.source),
                               job.output, job.rejected_output, top_k=job.top_k, threshold=job.threshold,
                               explain=job.explain, chunk_rows=job.chunk_rows, declared_format=self.declared_format,
                               as_of=job.as_of, log=batch_log)
        return BatchRun(result, None if shadow is None else shadow.identity)


@dataclass(frozen=True)
class DaskEngine:
    """Partitions scored by the workers of a Dask cluster (`scheduler`, else a local one of `workers`), each logging
    its own rows. A shadow model is not run on a cluster: the job's `shadow` is left aside."""

    scheduler: str | None = None
    workers: int | None = None

    def run(self, job: BatchJob) -> BatchRun:
        require("distributed", "cluster", "--engine dask")
        from recovery_model.batch.cluster import rank_on_cluster
        from recovery_model.log.writer import LogTarget
        from recovery_model.scoring.checkpoint import read_header

        target = None if job.log is None else LogTarget(job.log.location.url, job.context(read_header(job.checkpoint)))
        return BatchRun(rank_on_cluster(job.source, job.output, job.rejected_output, checkpoint=job.checkpoint,
                                        top_k=job.top_k, threshold=job.threshold, explain=job.explain,
                                        chunk_rows=job.chunk_rows, scheduler=self.scheduler, workers=self.workers,
                                        log=target, as_of=job.as_of))
