"""The risk model: a cross-fitted ensemble of networks, Platt-calibrated on its out-of-fold predictions.

`RiskModel` follows scikit-learn's conventions: constructor arguments are stored as given, `fit`
learns everything from the rows it is given, fitted state ends in `_`, and `predict_proba` returns
two columns.

Cross-fitting uses every row: the rows are split into K stratified folds (repeated for small data),
member k trains on all folds but its own and early-stops on its own. Each row's *out-of-fold* logit
(from the members that never saw it) is honest: calibration is fitted on it, and the internal
validation reports it. The deployed model averages all members' logits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike

from recovery_model.model.config import CONFIGS, NetworkConfig, sized_for
from recovery_model.model.inputs import InputTransform, nan_median
from recovery_model.model.network import EnsembleNetwork
from recovery_model.model.training import LinearStart, train_ensemble

ROWS_PER_PASS = 20_000  # rows transformed and scored at once: 200,000 rows took 8-10 s in one pass, 2.6-3.8 s in these


def row_passes(values: np.ndarray) -> list[np.ndarray]:
    """`values` in slices of `ROWS_PER_PASS` rows (one empty slice for no rows): every member's inputs for every row
    at once would be gigabytes, and writing them costs more than the network."""
    return [values[start:start + ROWS_PER_PASS] for start in range(0, max(len(values), 1), ROWS_PER_PASS)]


class RiskModel:
    """P(adverse event | features) from a cross-fitted, calibrated ensemble.

    Parameters
    ----------
    feature_names: the columns to use, in order.
    config: a name from `CONFIGS` or a `NetworkConfig`; the batch size and the number of repeats
        are then adapted to the data size (`sized_for`).
    seed: makes the folds and the fit reproducible.
    """

    def __init__(self, feature_names: list[str], config: str | NetworkConfig = "default", seed: int = 0,
                 progress: bool = False) -> None:
        self.feature_names = feature_names
        self.config = config
        self.seed = seed
        self.progress = progress

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> RiskModel:
        from sklearn.model_selection import RepeatedStratifiedKFold  # training only: keeps start-up light

        y = np.asarray(y, dtype=int)
        base = CONFIGS[self.config] if isinstance(self.config, str) else self.config
        self.config_ = config = sized_for(base, len(y))
        values = x[self.feature_names].to_numpy(dtype=float)
        splitter = RepeatedStratifiedKFold(n_splits=config.folds, n_repeats=config.repeats, random_state=self.seed)
        train_masks = np.zeros((config.members, len(y)), dtype=bool)
        for member, (train_rows, _) in enumerate(splitter.split(values, y)):
            train_masks[member, train_rows] = True
        self.folds_ = _fold_ids(train_masks[:config.folds])
        self.transform_, inputs, warm_start = choose_inputs(values, y, train_masks, config)
        self.linear_c_ = warm_start.c if warm_start else None
        result = train_ensemble(inputs, y, train_masks, config, warm_start, seed=self.seed, progress=self.progress,
                                features=self.transform_.n_features)
        self.network_ = result.network
        self.history_, self.best_epochs_, self.stopped_epochs_ = result.history, result.best_epochs, \
            result.stopped_epochs
        held_out = ~train_masks
        self.oof_logit_ = (result.logits * held_out).sum(axis=0) / held_out.sum(axis=0)
        self.oof_event_ = y
        self.calibration_ = fit_platt(self.oof_logit_, y)
        self.medians_ = nan_median(values)
        self.max_missing_ = int(np.isnan(values).sum(axis=1).max()) if len(values) else 0
        return self

    @property
    def members(self) -> int:
        return self.transform_.members

    def member_logits(self, x: pd.DataFrame) -> np.ndarray:
        """Each member's uncalibrated logit: [members, rows], a pass of rows at a time (`row_passes`)."""
        values = x[self.feature_names].to_numpy(dtype=float)
        return np.concatenate([self._member_logits(rows) for rows in row_passes(values)], axis=1)

    def _member_logits(self, values: np.ndarray) -> np.ndarray:
        inputs = torch.as_tensor(self.transform_.transform(values))
        return self.network_.member_logits(inputs).double().numpy()

    def network_logit(self, x: pd.DataFrame) -> np.ndarray:
        """The ensemble's logit: the members' average."""
        return self.member_logits(x).mean(axis=0)

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of the event."""
        slope, intercept = self.calibration_
        return slope * self.network_logit(x) + intercept

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        risk = sigmoid(self.decision_function(x))
        return np.column_stack([1.0 - risk, risk])

    @property
    def oof_risk_(self) -> np.ndarray:
        """Calibrated out-of-fold risk of every training row (the internal validation's predictions)."""
        slope, intercept = self.calibration_
        return sigmoid(slope * self.oof_logit_ + intercept)

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors and JSON-able settings that rebuild this fitted model (see `from_state`)."""
        tensors = {f"network.{k}": v.detach().clone().contiguous() for k, v in self.network_.state_dict().items()}
        tensors |= {f"inputs.{k}": torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64))
                    for k, v in self.transform_.arrays().items()}
        tensors |= {"medians": torch.from_numpy(np.asarray(self.medians_, dtype=np.float64)),
                    "oof.logit": torch.from_numpy(np.asarray(self.oof_logit_, dtype=np.float64)),
                    "oof.event": torch.from_numpy(np.asarray(self.oof_event_, dtype=np.int8)),
                    "oof.fold": torch.from_numpy(np.asarray(self.folds_, dtype=np.int8))}
        settings = {"feature_names": list(self.feature_names), "config": self.config_.to_dict(),
                    "config_name": self.config if isinstance(self.config, str) else "custom",
                    "seed": self.seed, "indicators": list(self.transform_.indicators),
                    "curved": list(self.transform_.curved), "encoding": self.transform_.encoding,
                    "calibration": {"slope": self.calibration_[0], "intercept": self.calibration_[1]},
                    "best_epochs": self.best_epochs_, "stopped_epochs": self.stopped_epochs_,
                    "max_missing": self.max_missing_, "linear_c": self.linear_c_, "history": self.history_}
        return tensors, settings

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], settings: dict) -> RiskModel:
        config = NetworkConfig.from_dict(settings["config"])
        model = cls(settings["feature_names"], settings.get("config_name", config), settings["seed"])
        model.config_ = config
        model.transform_ = InputTransform.from_arrays(
            {k: tensors[f"inputs.{k}"].double().numpy() for k in ("medians", "centres", "scales", "knots")},
            settings["indicators"], settings["curved"], settings.get("encoding", "hinges"))
        network = EnsembleNetwork(model.transform_.members, model.transform_.n_inputs, config.hidden,
                                  config.dropout, config.linear_path, config.sub_members,
                                  model.transform_.n_features if config.additive else 0)
        network.load_state_dict({k.removeprefix("network."): v for k, v in tensors.items()
                                 if k.startswith("network.")})
        model.network_ = network.eval()
        model.medians_ = tensors["medians"].double().numpy()
        model.oof_logit_ = tensors["oof.logit"].double().numpy()
        model.oof_event_ = tensors["oof.event"].numpy().astype(int)
        model.folds_ = tensors["oof.fold"].numpy().astype(int)
        model.calibration_ = (float(settings["calibration"]["slope"]), float(settings["calibration"]["intercept"]))
        model.history_ = settings["history"]
        model.best_epochs_, model.stopped_epochs_ = settings["best_epochs"], settings["stopped_epochs"]
        model.max_missing_ = int(settings["max_missing"])
        model.linear_c_ = settings["linear_c"]
        return model


def _fold_ids(first_repeat_masks: np.ndarray) -> np.ndarray:
    """Which fold (0..K-1) holds each row out, in the first repeat: the folds every baseline shares."""
    return np.argmax(~first_repeat_masks, axis=0)


def choose_inputs(values: np.ndarray, y: np.ndarray, train_masks: np.ndarray,
                  config: NetworkConfig) -> tuple[InputTransform, np.ndarray, LinearStart | None]:
    """The input encoding (hinges or piecewise-linear bins, how many knots) and the linear path's strength C with the
    lowest log-loss on the members' held-out folds; without a linear path, the first candidate."""
    best: tuple[InputTransform, np.ndarray, LinearStart | None] | None = None
    for encoding, knots in config.input_candidates:
        transform = InputTransform.fit(values, train_masks, config.scaling, config.missing_indicators, knots, encoding)
        inputs = transform.transform(values)
        if not config.linear_path:
            return transform, inputs, None
        start = logistic_paths(inputs, y, train_masks, config.linear_c)
        if best is None or best[2] is None or start.held_out_loss < best[2].held_out_loss:
            best = (transform, inputs, start)
    if best is None:
        raise ValueError("the network config names no input candidates")
    return best


def logistic_paths(inputs: np.ndarray, y: np.ndarray, train_masks: np.ndarray,
                   candidates: tuple[float, ...]) -> LinearStart:
    """L2-regularised logistic regression on each member's own training rows: the linear paths' start.

    The strength C is the candidate with the lowest log-loss on the members' held-out folds (an inner
    cross-validation on the same folds), so a data set with few patients gets a stiffer line. (The members fit one
    after another: BLAS already uses both cores, and two threads on top of it were slower, measured.)
    """
    strengths = sorted(candidates)
    paths = [_regularisation_path(inputs[member], y, mask, strengths) for member, mask in enumerate(train_masks)]
    losses = [sum(path[i][2] for path in paths) for i in range(len(strengths))]
    best = int(np.argmin(losses))
    return LinearStart(np.array([path[best][0] for path in paths]), np.array([path[best][1] for path in paths]),
                       strengths[best], float(losses[best]))


def _regularisation_path(inputs: np.ndarray, y: np.ndarray, mask: np.ndarray,
                         strengths: list[float]) -> list[tuple[np.ndarray, float, float]]:
    """One member's regressions for each strength, each starting from the stiffer one before it: per strength the
    coefficients, the intercept and the summed log-loss on the member's held-out rows."""
    from sklearn.linear_model import LogisticRegression

    regression = LogisticRegression(solver="newton-cholesky", max_iter=500, warm_start=True)
    path = []
    for c in strengths:
        regression.set_params(C=c).fit(inputs[mask], y[mask])
        held_out = regression.predict_proba(inputs[~mask])[:, 1].clip(1e-12, 1 - 1e-12)
        loss = -float(np.sum(y[~mask] * np.log(held_out) + (1 - y[~mask]) * np.log(1 - held_out)))
        path.append((regression.coef_[0].copy(), float(regression.intercept_[0]), loss))
    return path


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: the slope and intercept that make sigmoid(slope * logit + intercept) calibrated."""
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(logits).reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def sigmoid(z: ArrayLike) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))
