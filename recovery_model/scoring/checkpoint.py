"""The Predictor's checkpoint: safetensors weights plus JSON metadata, loaded without executing code.

A checkpoint is a folder:
    model.safetensors   tensors only (stacked member weights, input statistics, out-of-fold logits
                        and folds, SHAP background)
    model.json          everything else, with the SHA-256 of the weights and of itself
    report.json, report_arrays.npz, model_card.md
                        the evaluation, when `recovery evaluate` has run (see `report`)
Both checksums are verified on load, so a truncated or edited file is refused. `read_header` is the one
reader of what the metadata says (schema, thresholds, provenance), used by the Predictor, the model summary and
the Dask engine alike; it checks the schema against its fingerprint every time and never imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recovery_model.errors import CheckpointError, SchemaError
from recovery_model.schema import Schema
from recovery_model.scoring.thresholds import Thresholds

if TYPE_CHECKING:
    import torch

# Format 4 marks the neural additive default (one MLP per feature); format 3 is still read as it was written (one MLP
# over all inputs, or an additive network trained with --config additive before it became the default). Older
# formats lack what this version needs.
FORMAT_VERSION, OLDEST_READABLE = 4, 3
WHAT_OLDER_FORMATS_LACK = {1: "holds a single-network model, not the cross-fitted ensemble",
                           2: "lacks the training reference that typicality and drift checks need"}
WEIGHTS, METADATA, MODEL_CARD = "model.safetensors", "model.json", "model_card.md"
UPDATE_JSON = "update.json"  # beside a model that `recovery update` made: how it was chosen and how it did
RETRAIN_HINT = "Run `recovery train` (or `make model`) to write a fresh checkpoint."


def save_checkpoint(folder: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, folder / WEIGHTS)
    metadata = {**metadata, "format_version": FORMAT_VERSION,
                "weights_sha256": _sha256((folder / WEIGHTS).read_bytes())}
    metadata["metadata_sha256"] = _metadata_digest(metadata)
    (folder / METADATA).write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class ModelIdentity:
    """Which model: its version in words and its checkpoint's digest, the name the log, the cards and the service
    give it."""

    version: str
    digest: str

    @property
    def short_digest(self) -> str:
        return self.digest[:12]


@dataclass(frozen=True)
class CheckpointHeader:
    """What a verified checkpoint says about its model, read without its weights."""

    folder: Path
    metadata: dict[str, Any]
    schema: Schema
    thresholds: Thresholds

    @property
    def digest(self) -> str:
        """The checkpoint's own SHA-256 (of its metadata, which holds the weights' checksum): names this model."""
        return str(self.metadata["metadata_sha256"])

    @property
    def version(self) -> str:
        """The model's version in the log: the package's that trained it, or the one an update gave it."""
        return model_version(self.metadata)

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(self.version, self.digest)

    @property
    def average_risk(self) -> float:
        """The event rate of the training data: the risk of the average patient."""
        return average_risk(self.metadata)


def model_version(metadata: dict[str, Any]) -> str:
    return str(metadata.get("model_version") or metadata.get("package_version", ""))


def average_risk(metadata: dict[str, Any]) -> float:
    data = metadata.get("training_data", {})
    return data["events"] / data["rows"] if data.get("rows") else float("nan")


def read_header(folder: str | Path) -> CheckpointHeader:
    """The verified header of a checkpoint: its metadata, its schema (checked against its fingerprint) and its
    tier thresholds; a `CheckpointError` saying what to do when any of it is missing or wrong."""
    folder = Path(folder)
    metadata = _verified_metadata(folder)
    try:
        schema = Schema.from_dict(metadata["schema"], f"{folder / METADATA}")
        thresholds = Thresholds(**metadata["thresholds"])
        stored_fingerprint = metadata["schema_fingerprint"]
    except (KeyError, TypeError, SchemaError) as exc:
        raise CheckpointError(f"{folder} is incomplete or inconsistent ({type(exc).__name__}: {exc}). "
                              f"{RETRAIN_HINT}") from None
    if schema.fingerprint() != stored_fingerprint:
        raise CheckpointError(f"{folder}: the stored schema does not match its fingerprint. {RETRAIN_HINT}")
    return CheckpointHeader(folder, metadata, schema, thresholds)


def load_checkpoint(folder: str | Path) -> tuple[dict[str, torch.Tensor], CheckpointHeader]:
    """Tensors and header of a verified checkpoint, or a `CheckpointError` saying what to do."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    header = read_header(folder)
    metadata = header.metadata
    weights = (folder / WEIGHTS).read_bytes()
    if metadata.get("weights_sha256") != _sha256(weights):
        raise CheckpointError(f"{folder / WEIGHTS} does not match its checksum: it is truncated or was "
                              f"changed. Restore it from version control. {RETRAIN_HINT}")
    try:
        tensors = load_file(folder / WEIGHTS)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS} cannot be read ({exc}). {RETRAIN_HINT}") from None
    return tensors, header


def _verified_metadata(folder: str | Path) -> dict[str, Any]:
    """The verified metadata of a checkpoint, without reading its weights (and without importing torch)."""
    folder = Path(folder)
    for name in (METADATA, WEIGHTS):
        if not (folder / name).is_file():
            raise CheckpointError(f"No model checkpoint at {folder} ({name} is missing). {RETRAIN_HINT}")
    metadata = _read_metadata(folder / METADATA)
    version = metadata.get("format_version")
    if isinstance(version, int) and version < OLDEST_READABLE:
        raise CheckpointError(f"{folder} {WHAT_OLDER_FORMATS_LACK.get(version, 'is out of date')} (checkpoint "
                              f"format {version}; this version reads formats {OLDEST_READABLE} to {FORMAT_VERSION}). "
                              f"{RETRAIN_HINT}")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{folder} was written by recovery {metadata.get('package_version', '?')} in "
                              f"checkpoint format {version}; this installation reads format {FORMAT_VERSION}. "
                              "Upgrade recovery-model, or retrain with this version.")
    if metadata.get("metadata_sha256") != _metadata_digest(metadata):
        raise CheckpointError(f"{folder / METADATA} has been edited since it was written (checksum mismatch). "
                              f"Restore it from version control. {RETRAIN_HINT}")
    return metadata


def _read_metadata(path: Path) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}): the file is damaged. {RETRAIN_HINT}") from None
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path} does not hold checkpoint metadata. {RETRAIN_HINT}")
    return metadata


def _metadata_digest(metadata: dict[str, Any]) -> str:
    body = {k: v for k, v in metadata.items() if k != "metadata_sha256"}
    return _sha256(json.dumps(body, sort_keys=True).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
