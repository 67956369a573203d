"""SHAP attributions of the calibrated log-odds: DeepLIFT's rescale rule, batched over rows, references and members.

Space: **log-odds of not recovering** (the calibrated logit). For every row,
`base_value + attributions.sum() == log_odds` (float64 keeps DeepLIFT's summation-to-delta exact).

The ensemble's calibrated logit is `slope · mean_k(member_k) + intercept`, a linear combination of
members, so its attributions are the same combination of the members' attributions. Each member
sees its own inputs (scaled values, hinges, missing-value indicators); because every input comes
from exactly one feature, a feature's attribution is the sum over its inputs (DeepLIFT's chain rule
through an element-wise input map). The linear path's attribution is exact: w · (x − reference).

This computes what shap's DeepExplainer computes for each member (tests/test_explain.py checks
agreement), but for all rows and background rows at once: shap's PyTorch explainer loops over rows
and took 570 s for a 10,000-row ward. It reads a frozen float64 copy of the weights and hooks
nothing, so concurrent calls need no lock.

An additive network (`NetworkConfig.additive`) needs no attribution pass: every input belongs to one feature and
the deep part is one MLP per feature, so a feature's SHAP value against the background is its own outputs minus
their mean over the background rows, exactly (`AdditiveExplainer`; `explainer_for` picks the right one).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from recovery_model.model.risk_model import RiskModel, row_passes, sigmoid
from recovery_model.schema import Feature, Schema

PAIRS_PER_BATCH = 2**12  # (row, reference) pairs a pass holds: small enough to stay in cache, measured fastest
TINY = 1e-30  # representable in float32, and far below the resolution of any other difference
FLOAT32_FROM_ROWS = 1000


@dataclass(frozen=True)
class Explanation:
    """Attributions for a batch of rows, in log-odds of not recovering."""

    base_value: float
    attributions: pd.DataFrame
    values: pd.DataFrame  # as the model saw them: a missing value is the training median it was filled with
    log_odds: np.ndarray
    missing: pd.DataFrame | None = None  # True where the row did not hold the value

    @property
    def risk(self) -> np.ndarray:
        return sigmoid(self.log_odds)

    @property
    def base_risk(self) -> float:
        return float(sigmoid(self.base_value))

    def take(self, positions: np.ndarray) -> Explanation:
        """The explanation of the rows at `positions`, in that order."""
        return Explanation(self.base_value, self.attributions.iloc[positions], self.values.iloc[positions],
                           self.log_odds[positions], None if self.missing is None else self.missing.iloc[positions])

    def importance(self) -> dict[str, float]:
        """Mean |attribution| per feature, largest first: what drives risk across these rows."""
        mean = self.attributions.abs().mean().sort_values(ascending=False)
        return {name: float(value) for name, value in mean.items()}

    def drivers(self, row: int, schema: Schema, top: int | None = None) -> pd.DataFrame:
        """One row's features ordered by |attribution|, with the value as a clinician reads it."""
        names = list(self.attributions.columns)
        contributions, values = self.attributions.to_numpy()[row], self.values.to_numpy()[row]
        missing = self.missing.to_numpy()[row] if self.missing is not None else np.zeros(len(names), dtype=bool)
        order = self._order(contributions[None, :], top)[0]
        features = [schema.feature(names[j]) for j in order]
        return pd.DataFrame({
            "feature": [names[j] for j in order],
            "label": [f.display_name for f in features],
            "value": values[order],
            "shown_as": [_in_words(f, values[j], missing[j]) for f, j in zip(features, order, strict=True)],
            "log_odds": contributions[order].astype(float),
        })

    @staticmethod
    def _order(attributions: np.ndarray, top: int | None) -> np.ndarray:
        """Per row, the features' positions by |attribution|, largest first (ties in schema order)."""
        return np.argsort(-np.abs(attributions), axis=1, kind="stable")[:, :top]

    def driver_text(self, row: int, schema: Schema, top: int = 3) -> list[str]:
        """'SpO2 = 87.0% ↑ risk' for the top drivers of one row."""
        return self.driver_texts(schema, top, rows=[row])[0]

    def driver_texts(self, schema: Schema, top: int = 3, rows: list[int] | None = None) -> list[list[str]]:
        """`driver_text` for each of `rows` (all by default), with one sort for all of them: a 10,000-row ward's
        drivers for the prediction log are read here, not one small table per patient."""
        positions = np.arange(len(self.values)) if rows is None else np.asarray(rows, dtype=int)
        names = list(self.attributions.columns)
        attributions = self.attributions.to_numpy()[positions]
        values = self.values.to_numpy()[positions]
        missing = (self.missing.to_numpy()[positions] if self.missing is not None
                   else np.zeros(values.shape, dtype=bool))
        features = [schema.feature(name) for name in names]
        return [[f"{_in_words(features[j], values[i, j], missing[i, j])} {'↑' if attributions[i, j] > 0 else '↓'} risk"
                 for j in order] for i, order in enumerate(self._order(attributions, top))]


def _in_words(feature: Feature, value: float, missing: bool) -> str:
    """'BMI = 31.2 kg/m²', or 'Stress not recorded' for a value the row lacked: the median that filled it is the
    model's, never shown as the patient's."""
    return f"{feature.display_name} not recorded" if missing else feature.format_value(value)


@dataclass(frozen=True)
class _Member:
    """One member's calibrated share of the logit: hidden layers, output and linear path, in one dtype.

    Weights are (out, in); the output layer and the linear path carry slope / members, the biases also
    intercept / members, so that the members' outputs add up to the calibrated logit.
    """

    weights: list[torch.Tensor]
    biases: list[torch.Tensor]
    wide: torch.Tensor  # (inputs,): zeros when the network has no linear path
    wide_bias: torch.Tensor
    background: torch.Tensor

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Pre-activations of each hidden layer, and this member's share of the calibrated logit."""
        pre, hidden = [], x
        for weight, bias in zip(self.weights[:-1], self.biases[:-1], strict=True):
            z = hidden @ weight.T + bias
            pre.append(z)
            hidden = torch.relu(z)
        deep = (hidden @ self.weights[-1].T + self.biases[-1]).squeeze(-1)
        return pre, deep + x @ self.wide + self.wide_bias

    def to(self, dtype: torch.dtype) -> _Member:
        return _Member([w.to(dtype) for w in self.weights], [b.to(dtype) for b in self.biases],
                       self.wide.to(dtype), self.wide_bias.to(dtype), self.background.to(dtype))


class Explainer:
    """Explains a fitted `RiskModel` against a background of training rows (raw values, NaN = missing).

    Float64 throughout for up to `FLOAT32_FROM_ROWS` rows (a patient, a ward); larger batches compute
    the row-by-reference multipliers in float32, twice as fast, with local accuracy still within
    1e-6 (tested at 1e-5).
    """

    def __init__(self, model: RiskModel, background: np.ndarray) -> None:
        self._model = model
        transform = model.transform_
        slope, intercept = model.calibration_
        references = transform.transform(np.asarray(background, dtype=float))
        network = model.network_
        members, self._sources = [], []
        for k in range(transform.members):
            copies = network.plain_copies(k)
            parts = transform.members * len(copies)  # each copy carries its share of the calibrated logit
            wide_weight = torch.zeros(transform.n_inputs, dtype=torch.float64)
            wide_bias = torch.zeros((), dtype=torch.float64)
            if network.wide is not None:
                wide_weight = network.wide.weight.detach()[k, :, 0].double()
                wide_bias = network.wide.bias.detach()[k, 0, 0].double()
            for weights, biases in copies:
                weights[-1], biases[-1] = weights[-1] * slope / parts, (biases[-1] * slope + intercept) / parts
                members.append(_Member(weights, biases, wide_weight * slope / parts, wide_bias * slope / parts,
                                       torch.as_tensor(references[k])))
                self._sources.append(k)
        self._members = {torch.float64: members, torch.float32: [m.to(torch.float32) for m in members]}
        self._reference_pre = {dtype: [m.forward(m.background)[0] for m in ms] for dtype, ms in self._members.items()}
        self._grouping = torch.as_tensor(np.eye(len(model.feature_names))[transform.source_feature])
        self.base_value = float(sum(m.forward(m.background)[1].mean() for m in members))

    def _attribute(self, member: _Member, reference_pre: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """DeepLIFT rescale attributions of each row to each input, averaged over the background rows.

        At each ReLU the multiplier is Δrelu / Δz for every (row, reference) pair: exactly 1 where both are active,
        0 where neither is, the fraction between where one is. `TINY` is added to both differences after
        subtracting, which changes no other pair's value (it is below a float's resolution there) and makes Δz = 0
        (the row and the reference at the same point) give the gradient, 1 or 0. Every pass but the product with the
        next layer's weights is in place: the element-wise work, not the matrix products, dominated."""
        pre, _ = member.forward(x)
        n, refs = len(x), len(member.background)
        multiplier = member.weights[-1].expand(n, refs, -1)  # d output / d last hidden activation
        for z_x, z_r, weight in zip(reversed(pre), reversed(reference_pre), reversed(member.weights[:-1]),
                                    strict=True):
            dz = (z_x[:, None, :] - z_r[None, :, :]).add_(TINY)
            rescaled = torch.relu(z_x)[:, None, :] - torch.relu(z_r)[None, :, :]
            rescaled.add_((z_x > 0).to(x.dtype).mul_(TINY)[:, None, :]).div_(dz).mul_(multiplier)
            multiplier = rescaled @ weight
        multiplier = multiplier + member.wide
        return ((x[:, None, :] - member.background[None, :, :]) * multiplier).mean(dim=1).double()

    def explain(self, x: pd.DataFrame) -> Explanation:
        names = self._model.feature_names
        raw = x[names].to_numpy(dtype=float)
        inputs = torch.as_tensor(self._model.transform_.transform(raw))
        dtype = torch.float32 if len(x) >= FLOAT32_FROM_ROWS else torch.float64
        members = self._members[dtype]
        rows_per_batch = max(1, PAIRS_PER_BATCH // len(members[0].background))
        attributions = torch.zeros((len(x), len(names)), dtype=torch.float64)
        log_odds = torch.zeros(len(x), dtype=torch.float64)
        with torch.inference_mode():
            for index, (member, source) in enumerate(zip(members, self._sources, strict=True)):
                member_inputs = inputs[source].to(dtype)
                if len(x):
                    per_input = torch.cat([self._attribute(member, self._reference_pre[dtype][index], chunk)
                                           for chunk in torch.split(member_inputs, rows_per_batch)])
                    attributions += per_input @ self._grouping
                log_odds += self._members[torch.float64][index].forward(inputs[source])[1]
        return _explanation(self._model, x, raw, self.base_value, attributions, log_odds)


class AdditiveExplainer:
    """Exact attributions of an additive network (`NetworkConfig.additive`) against a background of training rows:
    per member, each feature's MLP output and its linear-path inputs' share, minus their means over the background;
    the members' average, calibrated. For a sum of one-feature functions these are the SHAP values themselves."""

    def __init__(self, model: RiskModel, background: np.ndarray) -> None:
        self._model = model
        self._network = copy.deepcopy(model.network_).double().eval()
        self._features = model.transform_.n_features
        self._slope, self._intercept = model.calibration_
        references = torch.as_tensor(model.transform_.transform(np.asarray(background, dtype=float)))
        self._grouping = torch.as_tensor(np.eye(self._features)[model.transform_.source_feature])
        wide = self._network.wide
        self._wide = (wide.weight.detach()[..., 0] if wide is not None
                      else torch.zeros(references.shape[0], references.shape[2], dtype=torch.float64))
        with torch.inference_mode():
            self._reference_deep = self._network.feature_outputs(references).mean(dim=1)
            self._reference_inputs = references.mean(dim=1)
            self.base_value = float(self._slope * self._network(references).mean() + self._intercept)

    def explain(self, x: pd.DataFrame) -> Explanation:
        names = self._model.feature_names
        raw = x[names].to_numpy(dtype=float)
        passes = [self._explain_pass(rows) for rows in row_passes(raw)]
        attributions = torch.cat([attributions for attributions, _ in passes])
        log_odds = torch.cat([log_odds for _, log_odds in passes])
        return _explanation(self._model, x, raw, self.base_value, attributions, log_odds)

    def _explain_pass(self, raw: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The attributions and calibrated log-odds of one pass of rows (`row_passes`)."""
        inputs = torch.as_tensor(self._model.transform_.transform(raw))
        with torch.inference_mode():
            attributions = self._member_attributions(inputs).mean(dim=0)
            log_odds = self._slope * self._network(inputs).mean(dim=0) + self._intercept
        return attributions, log_odds

    def shapes(self, grids: list[np.ndarray], observed: list[np.ndarray]) -> list[ShapeFunction]:
        """Every feature's exact contribution at each value of its grid and when it is not recorded, whatever the
        other features hold (the network is a sum of one-feature functions), with the members' spread; `observed`:
        the training values each is read against (kept beside it, for their density). One pass for all features:
        a block of rows per feature, the others at their medians."""
        blocks = [np.append(np.asarray(grid, dtype=float), np.nan) for grid in grids]
        raw = np.repeat(self._model.medians_[None, :], sum(map(len, blocks)), axis=0)
        starts = np.cumsum([0, *map(len, blocks)])
        for j, (start, block) in enumerate(zip(starts[:-1], blocks, strict=True)):
            raw[start:start + len(block), j] = block
        with torch.inference_mode():
            members = self._member_attributions(torch.as_tensor(self._model.transform_.transform(raw))).numpy()
        shapes = []
        for j, (start, block, values) in enumerate(zip(starts[:-1], blocks, observed, strict=True)):
            own = members[:, start:start + len(block), j]
            mean, low, high = own.mean(axis=0), own.min(axis=0), own.max(axis=0)
            shapes.append(ShapeFunction(self._model.feature_names[j], block[:-1], mean[:-1], low[:-1], high[:-1],
                                        (float(mean[-1]), float(low[-1]), float(high[-1])),
                                        np.asarray(values, dtype=float)))
        return shapes

    def _member_attributions(self, inputs: torch.Tensor) -> torch.Tensor:
        """Every member's calibrated attributions, [members, rows, features]: the explanation is their mean."""
        deep = self._network.feature_outputs(inputs) - self._reference_deep[:, None, :]
        wide = ((inputs - self._reference_inputs[:, None, :]) * self._wide[:, None, :]) @ self._grouping
        return (deep + wide) * self._slope


@dataclass(frozen=True)
class ShapeFunction:
    """One feature's contribution to the log-odds of an additive network, against the background, as a function of
    its value: what EBM's users read as the model itself. `low`/`high` are the smallest and largest of the
    cross-fitted members' own contributions (where they disagree, the data said little); `not_recorded` is the
    contribution (mean, low, high) when the value is missing: the training median plus its missing-value indicator;
    `observed` the training values recorded (a sample), for where the curve rests on data."""

    feature: str
    values: np.ndarray
    contribution: np.ndarray
    low: np.ndarray
    high: np.ndarray
    not_recorded: tuple[float, float, float]
    observed: np.ndarray


def _explanation(model: RiskModel, x: pd.DataFrame, raw: np.ndarray, base_value: float, attributions: torch.Tensor,
                 log_odds: torch.Tensor) -> Explanation:
    """The rows' explanation, a missing value shown at the training median that filled it."""
    names = model.feature_names
    imputed = np.where(np.isnan(raw), model.medians_, raw)
    return Explanation(base_value=base_value,
                       attributions=pd.DataFrame(attributions.numpy(), columns=names, index=x.index),
                       values=pd.DataFrame(imputed, columns=names, index=x.index),
                       log_odds=log_odds.numpy(), missing=pd.DataFrame(np.isnan(raw), columns=names, index=x.index))


def explainer_for(model: RiskModel, background: np.ndarray) -> Explainer | AdditiveExplainer:
    """The exact explainer of this model: read off an additive network, DeepLIFT's rescale rule otherwise."""
    return AdditiveExplainer(model, background) if model.config_.additive else Explainer(model, background)
