"""What a checkpoint says about its model, read without loading the network (and without torch): its header,
its evaluation report and its model card.

The Home page and anything else that only *describes* the model use this; scoring needs the Predictor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recovery_model.evaluation.report import EvaluationReport
from recovery_model.paths import checkpoint_folder
from recovery_model.scoring.checkpoint import MODEL_CARD, UPDATE_JSON, CheckpointHeader, read_header


@dataclass(frozen=True)
class ModelSummary(CheckpointHeader):
    @classmethod
    def read(cls, folder: str | Path | None = None) -> ModelSummary:
        """Verify and read a checkpoint's header: `folder`, else $RECOVERY_CHECKPOINT, else the default."""
        header = read_header(checkpoint_folder(folder))
        return cls(header.folder, header.metadata, header.schema, header.thresholds)

    @property
    def report(self) -> EvaluationReport | None:
        return EvaluationReport.load(self.folder)

    @property
    def update(self) -> dict | None:
        """`update.json` when this model came from `recovery update`: how it was chosen and how it did."""
        path = self.folder / UPDATE_JSON
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    @property
    def model_card(self) -> str | None:
        path = self.folder / MODEL_CARD
        return path.read_text(encoding="utf-8") if path.is_file() else None


def write_report(folder: Path, report: EvaluationReport, model_card: str) -> None:
    """The evaluation beside the checkpoint it describes: report.json, its arrays, and the model card."""
    report.save(folder)
    (folder / MODEL_CARD).write_text(model_card, encoding="utf-8")
