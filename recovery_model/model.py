"""The risk model: imputation, standardisation, the MLP and Platt calibration, fitted as one.

`RiskModel` follows scikit-learn's conventions: constructor arguments are stored as given,
`fit` learns everything from training rows only (validation rows are used to stop early and
to calibrate), fitted state ends in `_`, and `predict_proba` returns two columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from recovery_model.network import CONFIGS, MLP, NetworkConfig
from recovery_model.training import predict_logits, train_network


class RiskModel:
    """P(adverse event | features): an MLP on standardised inputs, Platt-calibrated on held-out rows.

    Parameters
    ----------
    feature_names: the columns to use, in order.
    config: a name from `CONFIGS` or a `NetworkConfig`.
    pos_weight: weight of the event class in the loss (1 = unweighted). Calibration follows
        either way, so weighting changes ranking, not the meaning of a predicted risk.
    seed: makes the fit reproducible.
    """

    def __init__(self, feature_names: list[str], config: str | NetworkConfig = "default",
                 pos_weight: float = 1.0, seed: int = 0, progress: bool = False) -> None:
        self.feature_names = feature_names
        self.config = config
        self.pos_weight = pos_weight
        self.seed = seed
        self.progress = progress

    @property
    def network_config(self) -> NetworkConfig:
        return CONFIGS[self.config] if isinstance(self.config, str) else self.config

    def fit(self, x: pd.DataFrame, y: np.ndarray, x_val: pd.DataFrame | None = None,
            y_val: np.ndarray | None = None) -> RiskModel:
        """Fit on (x, y); without validation rows, hold out a stratified 15 % of x."""
        from sklearn.model_selection import train_test_split  # training only: keeps the app's start-up light

        y = np.asarray(y)
        if x_val is None or y_val is None:
            x, x_val, y, y_val = train_test_split(x, y, test_size=0.15, stratify=y, random_state=self.seed)
        train = x[self.feature_names].astype(float)
        self.medians_ = train.median().to_numpy()
        filled = train.fillna(dict(zip(self.feature_names, self.medians_, strict=True))).to_numpy()
        self.means_ = filled.mean(axis=0)
        self.scales_ = np.where(filled.std(axis=0) > 0, filled.std(axis=0), 1.0)
        result = train_network(self.standardise(x), y, self.standardise(x_val), np.asarray(y_val),
                               self.network_config, seed=self.seed, pos_weight=self.pos_weight,
                               progress=self.progress)
        self.network_, self.history_ = result.model, result.history
        self.best_epoch_, self.stopped_epoch_ = result.best_epoch, result.stopped_epoch
        self.calibration_ = fit_platt(predict_logits(self.network_, self.standardise(x_val)), y_val)
        return self

    def standardise(self, x: pd.DataFrame) -> np.ndarray:
        """Training-median imputation then z-scores, as float32 for the network."""
        values = x[self.feature_names].to_numpy(dtype=float)
        values = np.where(np.isnan(values), self.medians_, values)
        return ((values - self.means_) / self.scales_).astype(np.float32)

    def network_logit(self, x: pd.DataFrame) -> np.ndarray:
        return predict_logits(self.network_, self.standardise(x))

    def decision_function(self, x: pd.DataFrame) -> np.ndarray:
        """Calibrated log-odds of the event."""
        slope, intercept = self.calibration_
        return slope * self.network_logit(x) + intercept

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        risk = sigmoid(self.decision_function(x))
        return np.column_stack([1.0 - risk, risk])

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Tensors and JSON-able settings that rebuild this fitted model (see `from_state`)."""
        tensors = {f"network.{k}": v.detach().clone().contiguous() for k, v in self.network_.state_dict().items()}
        tensors |= {name: torch.tensor(np.array(getattr(self, f"{name}_"), dtype=np.float64))
                    for name in ("medians", "means", "scales")}
        settings = {"feature_names": list(self.feature_names), "config": self.network_config.to_dict(),
                    "pos_weight": self.pos_weight, "seed": self.seed,
                    "calibration": {"slope": self.calibration_[0], "intercept": self.calibration_[1]},
                    "best_epoch": self.best_epoch_, "stopped_epoch": self.stopped_epoch_,
                    "history": self.history_}
        return tensors, settings

    @classmethod
    def from_state(cls, tensors: dict[str, torch.Tensor], settings: dict) -> RiskModel:
        config = NetworkConfig.from_dict(settings["config"])
        model = cls(settings["feature_names"], config, settings["pos_weight"], settings["seed"])
        model.medians_ = tensors["medians"].double().numpy()
        model.means_ = tensors["means"].double().numpy()
        model.scales_ = tensors["scales"].double().numpy()
        network = MLP(len(model.feature_names), config.hidden, config.dropout)
        network.load_state_dict({k.removeprefix("network."): v for k, v in tensors.items()
                                 if k.startswith("network.")})
        model.network_ = network.eval()
        model.calibration_ = (float(settings["calibration"]["slope"]),
                              float(settings["calibration"]["intercept"]))
        model.history_ = settings["history"]
        model.best_epoch_, model.stopped_epoch_ = settings["best_epoch"], settings["stopped_epoch"]
        return model


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: the slope and intercept that make sigmoid(slope * logit + intercept) calibrated."""
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(logits).reshape(-1, 1), y)
    return float(platt.coef_[0, 0]), float(platt.intercept_[0])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))
