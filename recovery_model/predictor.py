"""`Predictor`: the one public API the CLI and the dashboard use.

Load it once (`Predictor.load()`), then `predict_risk`, `explain` and `rank` from any thread.
The risk is the calibrated probability of the adverse event (for the default schema:
P(recovered = 0)). Tiers come from thresholds chosen on the out-of-fold risks (see `Thresholds`).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recovery_model.checkpoint import load_checkpoint, save_checkpoint, write_json
from recovery_model.data import fingerprint
from recovery_model.errors import CheckpointError
from recovery_model.explain import Explainer, Explanation
from recovery_model.model import RiskModel
from recovery_model.network import NetworkConfig
from recovery_model.paths import DEFAULT_CHECKPOINT
from recovery_model.schema import Schema, SchemaError
from recovery_model.validation import (
    IMPUTED,
    PROBLEMS,
    ROW,
    STATUS,
    UNUSUAL,
    ValidationResult,
    missing_limit,
    validate,
)

RISK, TIER, RANK, IN_TOP_K, ABOVE_THRESHOLD = "risk", "tier", "rank", "in_top_k", "above_threshold"
HIGH_SENSITIVITY, MODERATE_SENSITIVITY = 0.5, 0.8
BACKGROUND_ROWS = 100
CHECKPOINT_ENV = "RECOVERY_CHECKPOINT"
_SCORE_COLUMNS = {RANK, ROW, RISK, TIER, IN_TOP_K, ABOVE_THRESHOLD, STATUS, PROBLEMS, UNUSUAL, IMPUTED}


@dataclass(frozen=True)
class Thresholds:
    """Risk cut-offs for the tiers, chosen on the out-of-fold risks of the training rows.

    high: the riskiest patients who, together, held half of the events;
    moderate: down to the risk at which 80 % of them were caught. Below that is low.
    """

    high: float
    moderate: float
    high_sensitivity: float = HIGH_SENSITIVITY
    moderate_sensitivity: float = MODERATE_SENSITIVITY

    def tier(self, risk: np.ndarray) -> np.ndarray:
        risk = np.asarray(risk, dtype=float)
        return np.where(risk >= self.high, "high", np.where(risk >= self.moderate, "moderate", "low"))

    @classmethod
    def from_risks(cls, risk: np.ndarray, event: np.ndarray) -> Thresholds:
        return cls(high=threshold_for_sensitivity(risk, event, HIGH_SENSITIVITY),
                   moderate=threshold_for_sensitivity(risk, event, MODERATE_SENSITIVITY))


def threshold_for_sensitivity(risk: np.ndarray, event: np.ndarray, sensitivity: float) -> float:
    """The highest threshold at which `risk >= threshold` catches at least `sensitivity` of events."""
    event_risks = np.sort(np.asarray(risk)[np.asarray(event) == 1])[::-1]
    needed = int(np.ceil(sensitivity * len(event_risks)))
    return float(event_risks[max(needed - 1, 0)])


@dataclass
class RankedWard:
    """A ward list after validation: ranked scored rows, rejected rows, counts and explanations."""

    ranked: pd.DataFrame
    rejected: pd.DataFrame
    counts: dict[str, int]
    warnings: list[str]
    explanation: Explanation | None

    def flagged(self, top_k: int | None, threshold: float) -> RankedWard:
        """The same ward with the top-K and threshold flags set anew: no re-scoring, no re-explaining."""
        ranked = self.ranked.assign(**{IN_TOP_K: self.ranked[RANK] <= top_k if top_k else False,
                                       ABOVE_THRESHOLD: self.ranked[RISK] >= threshold})
        return RankedWard(ranked, self.rejected, self.counts, self.warnings, self.explanation)

    def table(self, schema: Schema, drivers: int = 3) -> pd.DataFrame:
        """The list a bed manager reads: rank, ids and pass-through columns, risk, tier, flags,
        the top drivers (when explained), then the values as parsed."""
        ranked = self.ranked
        features = schema.feature_names
        passthrough = [c for c in ranked.columns if c not in features and c not in _SCORE_COLUMNS]
        table = ranked[[RANK, *passthrough, RISK, TIER, IN_TOP_K, ABOVE_THRESHOLD, UNUSUAL, IMPUTED]].copy()
        if self.explanation is not None:
            texts = [self.explanation.driver_text(i, schema, drivers) for i in range(len(ranked))]
            for d in range(drivers):
                table[f"driver_{d + 1}"] = [t[d] if d < len(t) else "" for t in texts]
        return pd.concat([table, ranked[features]], axis=1).reset_index(drop=True)


class Predictor:
    """A fitted risk model with its schema, thresholds and provenance."""

    def __init__(self, model: RiskModel, schema: Schema, thresholds: Thresholds, background: np.ndarray,
                 metadata: dict[str, Any] | None = None, folder: Path | None = None) -> None:
        if list(model.feature_names) != schema.feature_names:
            raise SchemaError("The model's features do not match the schema's.")
        self.model = model
        self.schema = schema
        self.thresholds = thresholds
        self.background = background
        self.metadata = metadata or {}
        self.folder = folder
        self._explainer: Explainer | None = None
        self._explainer_lock = threading.Lock()

    # ----- training -------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, config: str | NetworkConfig = "default",
            seed: int = 42, progress: bool = False) -> Predictor:
        """Cross-fit the ensemble on every row, calibrate on its out-of-fold risks and choose thresholds."""
        event = schema.event_from_target(frame[schema.target.name])
        model = RiskModel(schema.feature_names, config, seed=seed, progress=progress).fit(frame, event)
        thresholds = Thresholds.from_risks(model.oof_risk_, event)
        background = frame[schema.feature_names].sample(min(BACKGROUND_ROWS, len(frame)), random_state=seed)
        metadata = {
            "package_version": package_version(),
            "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": seed,
            "config_name": config if isinstance(config, str) else "custom",
            "training_data": {"fingerprint": fingerprint(frame), "rows": len(frame), "events": int(event.sum())},
        }
        return cls(model, schema, thresholds, background.to_numpy(dtype=float), metadata)

    # ----- persistence ----------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        tensors, settings = self.model.state()
        tensors["background"] = torch.from_numpy(np.ascontiguousarray(self.background, dtype=np.float64))
        metadata = {**self.metadata, "model": settings, "schema": self.schema.to_dict(),
                    "schema_fingerprint": self.schema.fingerprint(), "thresholds": asdict(self.thresholds)}
        save_checkpoint(folder, tensors, metadata)
        self.folder = Path(folder)

    @classmethod
    def load(cls, folder: str | Path | None = None, expected_schema: Schema | None = None) -> Predictor:
        """Load and verify a checkpoint: `folder`, else $RECOVERY_CHECKPOINT, else the committed default."""
        folder = Path(folder or os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)
        tensors, metadata = load_checkpoint(folder)
        try:
            schema = Schema.from_dict(metadata["schema"], f"{folder}/model.json")
            if schema.fingerprint() != metadata["schema_fingerprint"]:
                raise CheckpointError(f"{folder}: the stored schema does not match its fingerprint.")
            model = RiskModel.from_state(tensors, metadata["model"])
            thresholds = Thresholds(**metadata["thresholds"])
            background = tensors["background"].double().numpy()
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{folder} is incomplete or inconsistent ({type(exc).__name__}: {exc}). "
                                  "Retrain with `recovery train`.") from None
        if expected_schema is not None and expected_schema.fingerprint() != schema.fingerprint():
            raise CheckpointError(
                f"{folder} was trained for schema '{schema.name}' ({len(schema.features)} features: "
                f"{', '.join(schema.feature_names[:5])}, ...), not for '{expected_schema.name}'. Load the "
                "checkpoint trained on this kind of data, or train one with `recovery train --schema`.")
        return cls(model, schema, thresholds, background, metadata, folder)

    @property
    def average_risk(self) -> float:
        """The event rate of the training data: the risk of the average patient."""
        data = self.metadata.get("training_data", {})
        return data["events"] / data["rows"] if data.get("rows") else float("nan")

    @property
    def report(self) -> dict[str, Any] | None:
        """The evaluation report written by `recovery evaluate`, if there is one."""
        path = self.folder / "report.json" if self.folder else None
        return json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else None

    @property
    def model_card(self) -> str | None:
        path = self.folder / "model_card.md" if self.folder else None
        return path.read_text(encoding="utf-8") if path and path.is_file() else None

    def write_report(self, report: dict[str, Any], model_card: str) -> None:
        if self.folder is None:
            raise CheckpointError("Save the predictor before writing its report.")
        write_json(self.folder, "report.json", report)
        (self.folder / "model_card.md").write_text(model_card, encoding="utf-8")

    # ----- scoring --------------------------------------------------------------------------
    @property
    def missing_limit(self) -> int:
        """The most missing features a patient may have and still be scored (what training covered)."""
        return missing_limit(len(self.schema.features), self.model.max_missing_)

    def validate(self, frame: pd.DataFrame) -> ValidationResult:
        return validate(frame, self.schema, self.model.max_missing_)

    def predict_risk(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row, in input order: parsed values, risk, tier, status and flags.

        Rejected rows keep their place with `risk` empty, `status` 'rejected' and the reason in
        `problems`; imputed and unusual values are named in `imputed_values` / `unusual_values`.
        """
        return self._score(self.validate(frame))

    def risk(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated risks for rows already known to be valid (no validation, no flags)."""
        return self.model.predict_proba(frame)[:, 1]

    def explain(self, frame: pd.DataFrame) -> Explanation:
        """SHAP attributions in calibrated log-odds (base + sum = log-odds of the risk)."""
        return self._get_explainer().explain(frame)

    def warm_up(self) -> None:
        """Build the explainer and explain one patient, so the first real request is fast."""
        self.explain(pd.DataFrame([self.schema.defaults()]))

    def _get_explainer(self) -> Explainer:
        with self._explainer_lock:  # built once; explaining itself needs no lock
            if self._explainer is None:
                self._explainer = Explainer(self.model, self.background)
            return self._explainer

    def rank(self, frame: pd.DataFrame, top_k: int | None = None, threshold: float | None = None,
             explain: bool = True) -> RankedWard:
        """Validate, score and rank a ward, highest risk first; flag the top K and those over a threshold."""
        validation = self.validate(frame)
        scored = self._score(validation)
        ranked = scored[scored[STATUS] != "rejected"].sort_values(RISK, ascending=False, kind="stable")
        ranked.insert(0, RANK, np.arange(1, len(ranked) + 1))
        explanation = self.explain(ranked) if explain and len(ranked) else None
        ward = RankedWard(ranked, scored[scored[STATUS] == "rejected"], validation.counts(), validation.warnings,
                          explanation)
        return ward.flagged(top_k, threshold if threshold is not None else self.thresholds.high)

    def tier(self, risk: np.ndarray) -> np.ndarray:
        return self.thresholds.tier(risk)

    def _score(self, validation: ValidationResult) -> pd.DataFrame:
        out = validation.frame
        scorable = (out[STATUS] != "rejected").to_numpy()
        risk = np.full(len(out), np.nan)
        if scorable.any():
            risk[scorable] = self.risk(out[scorable] if not scorable.all() else out)
        tier = np.where(scorable, self.tier(np.nan_to_num(risk)), "not scored")
        return out.assign(**{RISK: risk, TIER: tier})


def package_version() -> str:
    try:
        return version("recovery-model")
    except PackageNotFoundError:
        return "0+unknown"
