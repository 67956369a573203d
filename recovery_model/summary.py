"""What a checkpoint says about its model, read without loading the network (and without torch).

The Home page and anything else that only *describes* the model use this; scoring needs the Predictor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recovery_model.checkpoint import MODEL_CARD, read_metadata
from recovery_model.errors import CheckpointError
from recovery_model.paths import checkpoint_folder
from recovery_model.report import EvaluationReport
from recovery_model.schema import Schema
from recovery_model.thresholds import Thresholds


@dataclass(frozen=True)
class ModelSummary:
    folder: Path
    schema: Schema
    thresholds: Thresholds
    metadata: dict[str, Any]

    @classmethod
    def read(cls, folder: str | Path | None = None) -> ModelSummary:
        """Verify and read a checkpoint's metadata: `folder`, else $RECOVERY_CHECKPOINT, else the default."""
        folder = checkpoint_folder(folder)
        metadata = read_metadata(folder)
        try:
            schema = Schema.from_dict(metadata["schema"], f"{folder}/model.json")
            thresholds = Thresholds(**metadata["thresholds"])
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{folder} is incomplete ({type(exc).__name__}: {exc}). "
                                  "Retrain with `recovery train`.") from None
        return cls(folder, schema, thresholds, metadata)

    @property
    def average_risk(self) -> float:
        """The event rate of the training data: the risk of the average patient."""
        return average_risk(self.metadata)

    @property
    def report(self) -> EvaluationReport | None:
        return EvaluationReport.load(self.folder)

    @property
    def model_card(self) -> str | None:
        path = self.folder / MODEL_CARD
        return path.read_text(encoding="utf-8") if path.is_file() else None


def average_risk(metadata: dict[str, Any]) -> float:
    data = metadata.get("training_data", {})
    return data["events"] / data["rows"] if data.get("rows") else float("nan")
