"""SHAP attributions of the calibrated log-odds, via shap's DeepExplainer on a private float64 copy.

Space: **log-odds of not recovering** (the calibrated logit). For every row,
`base_value + attributions.sum() == log_odds` to within 1e-5: float64 keeps DeepLIFT's
summation-to-delta exact. Because standardisation is a per-feature affine map, attributions
on standardised inputs are the attributions of the original values, which we show unscaled.
DeepExplainer hooks the model while it runs, so each `Explainer` owns a deep copy and a lock.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from recovery_model.model import RiskModel, sigmoid
from recovery_model.schema import Schema


class _CalibratedNetwork(nn.Module):
    """network → Platt scaling, as one module, so attributions are in calibrated log-odds."""

    def __init__(self, network: nn.Module, slope: float, intercept: float) -> None:
        super().__init__()
        self.network = network
        self.platt = nn.Linear(1, 1)
        with torch.no_grad():
            self.platt.weight.fill_(slope)
            self.platt.bias.fill_(intercept)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.platt(self.network(x))


@dataclass(frozen=True)
class Explanation:
    """Attributions for a batch of rows, in log-odds of not recovering."""

    base_value: float
    attributions: pd.DataFrame
    values: pd.DataFrame
    log_odds: np.ndarray

    @property
    def risk(self) -> np.ndarray:
        return sigmoid(self.log_odds)

    @property
    def base_risk(self) -> float:
        return float(sigmoid(self.base_value))

    def importance(self) -> dict[str, float]:
        """Mean |attribution| per feature, largest first: what drives risk across these rows."""
        mean = self.attributions.abs().mean().sort_values(ascending=False)
        return {name: float(value) for name, value in mean.items()}

    def drivers(self, row: int, schema: Schema, top: int | None = None) -> pd.DataFrame:
        """One row's features ordered by |attribution|, with the value as a clinician reads it."""
        contributions = self.attributions.iloc[row]
        order = contributions.abs().sort_values(ascending=False).index[:top]
        return pd.DataFrame({
            "feature": list(order),
            "label": [schema.feature(n).display_name for n in order],
            "value": [self.values.iloc[row][n] for n in order],
            "shown_as": [schema.feature(n).format_value(self.values.iloc[row][n]) for n in order],
            "log_odds": [float(contributions[n]) for n in order],
        })

    def driver_text(self, row: int, schema: Schema, top: int = 3) -> list[str]:
        """'SpO2 = 87.0% ↑ risk' for the top drivers of one row."""
        table = self.drivers(row, schema, top)
        return [f"{r.shown_as} {'↑' if r.log_odds > 0 else '↓'} risk" for r in table.itertuples()]


class Explainer:
    """Explains a fitted `RiskModel` against a background of standardised training rows."""

    def __init__(self, model: RiskModel, background: np.ndarray) -> None:
        self._model = model
        network = copy.deepcopy(model.network_).double().eval()
        self._module = _CalibratedNetwork(network, *model.calibration_).double().eval()
        self._background = torch.as_tensor(np.asarray(background, dtype=np.float64))
        import shap  # imported on first use: it adds ~2 s to start-up, which the Home page need not pay

        self._explainer = shap.DeepExplainer(self._module, self._background)
        self._lock = threading.Lock()
        with torch.no_grad():
            self.base_value = float(self._module(self._background).mean())

    def explain(self, x: pd.DataFrame) -> Explanation:
        names = self._model.feature_names
        inputs = torch.as_tensor(self._model.standardise(x).astype(np.float64))
        with self._lock:
            raw = self._explainer.shap_values(inputs, check_additivity=False)
            with torch.no_grad():
                log_odds = self._module(inputs).squeeze(1).numpy()
        attributions = np.asarray(raw, dtype=np.float64).reshape(len(x), len(names))
        imputed = np.where(x[names].isna().to_numpy(), self._model.medians_, x[names].to_numpy(dtype=float))
        return Explanation(base_value=self.base_value,
                           attributions=pd.DataFrame(attributions, columns=names, index=x.index),
                           values=pd.DataFrame(imputed, columns=names, index=x.index),
                           log_odds=log_odds)
