"""`Predictor`: the one public API the CLI and the dashboard use.

Load it once (`Predictor.load()`), then `assess` (validate, score and explain), `predict_risk` (the
same without explanations) and `rank` (a ward, ranked and flagged) from any thread.
The risk is the calibrated probability of the adverse event (for the default schema:
P(recovered = 0)). Tiers come from thresholds chosen on the out-of-fold risks (see `Thresholds`).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from recovery_model.errors import CheckpointError, DataValidationError, SchemaError
from recovery_model.model.config import NetworkConfig
from recovery_model.model.explain import AdditiveExplainer, Explainer, ShapeFunction, explainer_for
from recovery_model.model.risk_model import RiskModel
from recovery_model.model.trust import TYPICALITY_LEVEL, UNUSUAL_FEATURES, RiskInterval, Typicality
from recovery_model.parameters import FRACTION, POSITIVE_COUNT, check, check_optional
from recovery_model.paths import checkpoint_folder
from recovery_model.schema import Schema, reading_changes, remap_differences
from recovery_model.scoring.assessment import Assessment, RankedWard
from recovery_model.scoring.checkpoint import (
    ModelIdentity,
    average_risk,
    load_checkpoint,
    model_version,
    save_checkpoint,
)
from recovery_model.scoring.columns import (
    ATYPICAL,
    ATYPICAL_FEATURES,
    BELOW_THRESHOLD,
    MISSING_RISK_HIGH,
    MISSING_RISK_LOW,
    NOT_SCORED,
    PROBLEMS,
    REJECTED,
    RISK,
    RISK_HIGH,
    RISK_LOW,
    STATUS,
    TIER,
    TYPICALITY,
)
from recovery_model.scoring.drift import MIN_PATIENTS, DriftReport, check_drift
from recovery_model.scoring.missing import missing_spread
from recovery_model.scoring.suggestions import suggest
from recovery_model.scoring.thresholds import Thresholds
from recovery_model.scoring.validation import ValidationResult, missing_limit, validate

BACKGROUND_ROWS = 100
REFERENCE_ROWS = 2000  # training rows kept for drift tests: enough for KS against a ward, small on disk
SHAPE_POINTS, FEW_VALUES = 101, 10  # a shape function's grid; a feature with this few training values: each of them
SHAPE_RANGE = (0.005, 0.995)  # the training quantiles a shape function spans: beyond them the data say little


class Predictor:
    """A fitted risk model with its schema, thresholds and provenance."""

    def __init__(self, model: RiskModel, schema: Schema, thresholds: Thresholds, background: np.ndarray,
                 typicality: Typicality, reference: np.ndarray, interval: RiskInterval,
                 metadata: dict[str, Any] | None = None, folder: Path | None = None) -> None:
        if list(model.feature_names) != schema.feature_names:
            raise SchemaError("The model's features do not match the schema's.")
        self.model = model
        self.schema = schema
        self.thresholds = thresholds
        self.background = background
        self.typicality = typicality
        self.reference = reference
        self.interval = interval
        self.metadata = metadata or {}
        self.folder = folder
        self._explainer: Explainer | AdditiveExplainer | None = None
        self._explainer_lock = threading.Lock()

    # ----- training -------------------------------------------------------------------------
    @classmethod
    def fit(cls, frame: pd.DataFrame, schema: Schema, config: str | NetworkConfig = "default",
            seed: int = 42, progress: bool = False) -> Predictor:
        """Cross-fit the ensemble on every row, calibrate on its out-of-fold risks and choose thresholds."""
        event = schema.event_from_target(frame[schema.target.name])
        model = RiskModel(schema.feature_names, config, seed=seed, progress=progress).fit(frame, event)
        thresholds = Thresholds.from_risks(model.oof_risk_, event)
        values = frame[schema.feature_names]
        background = values.sample(min(BACKGROUND_ROWS, len(frame)), random_state=seed)
        reference = values.sample(min(REFERENCE_ROWS, len(frame)), random_state=seed + 1)
        metadata = {
            "package_version": package_version(),
            "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "seed": seed,
            "config_name": config if isinstance(config, str) else "custom",
            "training_data": {"fingerprint": data_fingerprint(frame), "rows": len(frame),
                              "events": int(event.sum())},
        }
        return cls(model, schema, thresholds, background.to_numpy(dtype=float),
                   Typicality.fit(values.to_numpy(dtype=float), seed), reference.to_numpy(dtype=float),
                   RiskInterval.fit(model.oof_risk_, event), metadata)

    # ----- persistence ----------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        tensors, settings = self.model.state()
        arrays = {"background": self.background, "reference": self.reference, **self.typicality.arrays(),
                  **self.interval.arrays()}
        tensors |= {name: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for name, a in arrays.items()}
        metadata = {**self.metadata, "model": settings, "schema": self.schema.to_dict(),
                    "schema_fingerprint": self.schema.fingerprint(), "thresholds": asdict(self.thresholds)}
        save_checkpoint(folder, tensors, metadata)
        self.folder = Path(folder)

    def remapped(self, schema: Schema) -> Predictor:
        """The same fitted model reading its inputs as `schema` says: where FHIR finds each value and how long a
        value keeps (`fhir`, `max_age_hours`), the only parts of a schema that change no fitted number. Anything
        else that differs is refused, naming it: changing it means retraining. The result has its own digest once
        saved, and its metadata says which model it was remapped from."""
        differences = remap_differences(self.schema, schema)
        if differences:
            raise SchemaError(f"The schema differs from the model's in more than where values are found: "
                              f"{'; '.join(differences[:3])}. Only FHIR codes, value sets, classes and shelf lives "
                              "(max_age_hours) may change without retraining; retrain with `recovery train "
                              "--schema`.")
        metadata = {k: v for k, v in self.metadata.items() if k not in ("metadata_sha256", "weights_sha256")}
        metadata["remapped"] = [*self.metadata.get("remapped", []), {
            "from_digest": self.digest, "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "features": reading_changes(self.schema, schema)}]
        return type(self)(self.model, schema, self.thresholds, self.background, self.typicality, self.reference,
                          self.interval, metadata)

    def recalibrated(self, intercept: float, slope: float, risk: np.ndarray, event: np.ndarray,
                     update: dict[str, Any]) -> Predictor:
        """The same network with its log-odds recalibrated on local outcomes: a + b·(log-odds), composed into the
        model's own Platt scaling, so the risk, its tier and the explanations all follow. The range's Venn-Abers
        pair is fitted again on `risk` and `event`, the local patients' recalibrated risks and outcomes (the training
        patients' no longer describe the calibration). `update` (method, figures, where from) goes into the
        metadata, with a version of its own; the digest is new once saved."""
        model = copy.copy(self.model)
        platt_slope, platt_intercept = self.model.calibration_
        model.calibration_ = (slope * platt_slope, intercept + slope * platt_intercept)
        metadata = {k: v for k, v in self.metadata.items() if k not in ("metadata_sha256", "weights_sha256")}
        metadata["model_version"] = update["version"]
        metadata["updates"] = [*self.metadata.get("updates", []), {
            **update, "from_digest": self.digest, "from_version": self.version,
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "intercept": intercept, "slope": slope}]
        return type(self)(model, self.schema, self.thresholds, self.background, self.typicality, self.reference,
                          RiskInterval.fit(risk, event), metadata)

    @classmethod
    def load(cls, folder: str | Path | None = None, expected_schema: Schema | None = None) -> Predictor:
        """Load and verify a checkpoint: `folder`, else $RECOVERY_CHECKPOINT, else the committed default."""
        folder = checkpoint_folder(folder)
        tensors, header = load_checkpoint(folder)
        schema = header.schema
        try:
            model = RiskModel.from_state(tensors, header.metadata["model"])
            arrays = {name: tensor.double().numpy() for name, tensor in tensors.items()
                      if name in ("background", "reference") or name.startswith(("typicality_", "interval_"))}
            typicality = Typicality.from_arrays(arrays)
            interval = (RiskInterval.from_arrays(arrays) if "interval_scores" in arrays else
                        RiskInterval.fit(model.oof_risk_, model.oof_event_))  # written before the vectors travelled
            background, reference = arrays["background"], arrays["reference"]
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{folder} is incomplete or inconsistent ({type(exc).__name__}: {exc}). "
                                  "Retrain with `recovery train`.") from None
        if expected_schema is not None and expected_schema.fingerprint() != schema.fingerprint():
            raise CheckpointError(
                f"{folder} was trained for schema '{schema.name}' ({len(schema.features)} features: "
                f"{', '.join(schema.feature_names[:5])}, ...), not for '{expected_schema.name}'. Load the "
                "checkpoint trained on this kind of data, or train one with `recovery train --schema`.")
        return cls(model, schema, header.thresholds, background, typicality, reference, interval, header.metadata,
                   folder)

    @property
    def average_risk(self) -> float:
        """The event rate of the training data: the risk of the average patient."""
        return average_risk(self.metadata)

    @property
    def version(self) -> str:
        """The model's version in the log: the package's that trained it, or the one an update gave it."""
        return model_version(self.metadata)

    @property
    def identity(self) -> ModelIdentity:
        """Version and digest together (a model not yet saved has no digest: `CheckpointError`)."""
        return ModelIdentity(self.version, self.digest)

    @property
    def digest(self) -> str:
        """The checkpoint's own SHA-256 (`CheckpointHeader.digest`): the name of this model in the prediction log
        and the service. A model not yet saved has none."""
        if "metadata_sha256" not in self.metadata:
            raise CheckpointError("This model has not been saved, so it has no digest to log predictions under; "
                                  "save it (`Predictor.save`) and load it again.")
        return str(self.metadata["metadata_sha256"])

    # ----- scoring --------------------------------------------------------------------------
    @property
    def missing_limit(self) -> int:
        """The most missing features a patient may have and still be scored (what training covered)."""
        return missing_limit(len(self.schema.features), self.model.max_missing_)

    def assess(self, frame: pd.DataFrame, explain: bool = True, first_row: int = 1) -> Assessment:
        """Validate, score and (by default) explain every row in one pass: the one way to score patients.

        Rejected rows keep their place with no risk, tier 'not scored' and the reason in `problems`;
        imputed and unusual values are named per row. `first_row` numbers the rows of a chunk of a file.
        """
        validation = validate(frame, self.schema, self.model.max_missing_, first_row)
        rows = validation.rows
        scorable = validation.is_scorable
        scored_rows = rows if scorable.all() else rows[scorable]
        risk = np.full(len(rows), np.nan)
        explanation = None
        if scorable.any():
            risk[scorable] = self.model.predict_proba(scored_rows)[:, 1]
            explanation = self._get_explainer().explain(scored_rows) if explain else None
        tier = np.where(scorable, self.thresholds.tier(np.nan_to_num(risk)), NOT_SCORED)
        rows = rows.assign(**{RISK: risk, TIER: tier}, **self._trust(rows, risk, scorable))
        return Assessment(rows, validation.unusual, validation.warnings, explanation)

    def _trust(self, rows: pd.DataFrame, risk: np.ndarray, scorable: np.ndarray) -> dict[str, Any]:
        """The range, the spread over what is not recorded, the typicality p-value and, for atypical rows, the
        features that make them so.

        The range holds the Venn-Abers pair, the risk itself and the spread of the risk over plausible values of
        the inputs the record lacks (`missing_spread`), so a clinician sees one range. Our smooth calibration
        keeps the ranking and measured as well or better on the real data sets than moving the risk into the
        pair, so the pair is shown as the evidence around it rather than replacing it."""
        n = len(rows)
        low, high, p_value = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        missing_low, missing_high = np.full(n, np.nan), np.full(n, np.nan)
        because = [""] * n
        if scorable.any():
            values = rows.loc[scorable, self.schema.feature_names].to_numpy(dtype=float)
            shown = risk[scorable]
            pair_low, pair_high = self.interval.bounds(shown)
            spread_low, spread_high = missing_spread(self.model, values, shown, self.reference,
                                                     self.schema.feature_names)
            missing_low[scorable], missing_high[scorable] = spread_low, spread_high
            low[scorable] = np.minimum.reduce([pair_low, shown, spread_low])
            high[scorable] = np.maximum.reduce([pair_high, shown, spread_high])
            p_value[scorable] = self.typicality.p_value(values)
            flagged = np.flatnonzero(p_value[scorable] < TYPICALITY_LEVEL)
            if len(flagged):
                contributions = self.typicality.contributions(values[flagged])
                positions = np.flatnonzero(scorable)[flagged]
                for i, row_contributions in zip(positions, contributions, strict=True):
                    because[i] = self._unusual_text(rows.iloc[i], row_contributions)
        atypical = pd.array(np.where(scorable, p_value < TYPICALITY_LEVEL, False), dtype="boolean")
        atypical[~scorable] = pd.NA
        return {RISK_LOW: low, RISK_HIGH: high, MISSING_RISK_LOW: missing_low, MISSING_RISK_HIGH: missing_high,
                TYPICALITY: p_value, ATYPICAL: atypical, ATYPICAL_FEATURES: because}

    def _unusual_text(self, row: pd.Series, contributions: np.ndarray) -> str:
        top = [j for j in np.argsort(-contributions)[:UNUSUAL_FEATURES] if contributions[j] > 0]
        features = [self.schema.features[j] for j in top]
        return "; ".join(f.format_value(row[f.name]) for f in features)

    def predict_risk(self, frame: pd.DataFrame) -> pd.DataFrame:
        """One row per input row, in input order: parsed values, risk, tier, status and flags."""
        return self.assess(frame, explain=False).rows

    def rank(self, frame: pd.DataFrame, top_k: int | None = None, threshold: float | None = None,
             explain: bool = True, first_row: int = 1) -> RankedWard:
        """Validate, score and rank a ward, highest risk first; flag the top K and those at or over a threshold
        (a fraction: 0.2 for 20 %; default the model's high-risk threshold)."""
        check_optional("top_k", top_k, POSITIVE_COUNT)
        check_optional("threshold", threshold, FRACTION)
        check("first_row", first_row, POSITIVE_COUNT)
        assessment = self.assess(frame, explain, first_row)
        return assessment.ranked(top_k, threshold if threshold is not None else self.thresholds.high)

    def check_drift(self, scored: ValidationResult | RankedWard | pd.DataFrame) -> DriftReport:
        """Do these scored patients differ from the training data? See `drift`.

        `scored`: an assessment or a ranked ward (its scored rows are tested), or the parsed values of scored rows
        (a sample of them, say). Nothing is validated again: drift reads what scoring already parsed."""
        if isinstance(scored, RankedWard):
            scored = scored.ranked
        elif isinstance(scored, ValidationResult):
            scored = scored.scorable
        return check_drift(scored, self.reference, self.schema)

    def suggest_changes(self, patient: pd.DataFrame) -> pd.DataFrame:
        """Up to three options that change at most three modifiable factors and lower the risk.

        One row per option: every feature's value, `risk` (with `risk_low`, `risk_high`, `typicality`,
        `atypical` as `assess` gives them), `changed` (the changed features' names) and `below_threshold`
        (below the patient's tier threshold). Empty when nothing the schema lets change lowers the risk.
        A refused patient raises `DataValidationError` with the reason: there is nothing to change from.
        """
        if len(patient) != 1:
            raise DataValidationError(f"Suggestions are for one patient at a time; this frame has {len(patient)} rows.")
        scored = self.assess(patient, explain=False).rows.iloc[0]
        if scored[STATUS] == REJECTED:
            raise DataValidationError(f"This patient was not scored, so there is nothing to suggest from: "
                                      f"{scored[PROBLEMS]}")
        target = self.thresholds.floor(scored[TIER])
        names = self.schema.feature_names
        options = suggest(scored, self.schema, lambda x: self.model.predict_proba(pd.DataFrame(x, columns=names))[:, 1],
                          lambda x: self.typicality.p_value(x) < TYPICALITY_LEVEL, scored[RISK], target)
        if not len(options):
            return options.assign(**{RISK: [], BELOW_THRESHOLD: []})
        assessed = self.assess(options[self.schema.feature_names], explain=False).rows
        trust = [RISK, RISK_LOW, RISK_HIGH, TYPICALITY, ATYPICAL, ATYPICAL_FEATURES]
        out = pd.concat([options, assessed[trust].reset_index(drop=True)], axis=1)
        return out.assign(**{BELOW_THRESHOLD: out[RISK] < target if target is not None else False})

    def shape_functions(self) -> list[ShapeFunction] | None:
        """Each feature's exact contribution to the log-odds over its training values (the reference rows' 0.5th to
        99.5th percentile; every value of a feature with few), in schema order; None when the network is not
        additive, where a feature's contribution depends on the others (see the dependence plot instead)."""
        explainer = self._get_explainer()
        if not isinstance(explainer, AdditiveExplainer):
            return None
        observed = [column[~np.isnan(column)] for column in self.reference.T]
        grids = [_shape_grid(values, feature.is_integer) for values, feature in zip(observed, self.schema.features,
                                                                                     strict=True)]
        return explainer.shapes(grids, observed)

    def warm_up(self) -> None:
        """Build the explainer, explain one patient and test a few training rows for drift (which loads the
        statistics library), so that a long-running face's first real request is fast."""
        self.assess(pd.DataFrame([self.schema.defaults()]))
        self.check_drift(pd.DataFrame(self.reference[:MIN_PATIENTS], columns=self.schema.feature_names))

    def _get_explainer(self) -> Explainer | AdditiveExplainer:
        with self._explainer_lock:  # built once; explaining itself needs no lock
            if self._explainer is None:
                self._explainer = explainer_for(self.model, self.background)
            return self._explainer


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a training frame, stored with the model it trained."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(",".join(map(str, frame.columns)).encode())
    return digest.hexdigest()


def package_version() -> str:
    try:
        return version("recovery-model")
    except PackageNotFoundError:
        return "0+unknown"


def _shape_grid(observed: np.ndarray, whole: bool) -> np.ndarray:
    """Where a shape function is read: every value of a feature with few, else evenly over the bulk of them (whole
    numbers for a whole-number feature: a value it cannot take would be refused)."""
    distinct = np.unique(observed)
    if len(distinct) == 0:  # never recorded in the sample: only what a missing value counts as, no invented point
        return distinct
    if len(distinct) <= FEW_VALUES:
        return distinct
    low, high = np.quantile(observed, SHAPE_RANGE)
    grid = np.linspace(low, high, SHAPE_POINTS)
    return np.unique(np.round(grid)) if whole else grid
