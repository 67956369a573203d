"""The neural network: K cross-fitted members trained as one batched module.

Each member is an MLP (stacked weights, one `torch.baddbmm` per layer for all members) beside an
optional linear ("wide") path. The linear path starts where a regularised logistic regression on
the member's own training folds ends (and, by default, stays there: the MLP fits its residual), and
the MLP's output layer starts near zero (1 % of the usual scale): at epoch 0 every member is, to that
precision, the logistic regression, and the non-linear part must earn its place on the member's
held-out fold (early stopping restores epoch 0 if it never does)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

OUTPUT_INIT_SCALE = 0.01


class StackedLinear(nn.Module):
    """`members` independent linear layers applied in one batched matrix product."""

    def __init__(self, members: int, width_in: int, width_out: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(width_in)  # nn.Linear's default initialisation, member by member
        self.weight = nn.Parameter(torch.empty(members, width_in, width_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, 1, width_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """x [members, rows, in] → [members, rows, out]; `members`: only these members (x holds just them)."""
        if members is None:
            return torch.baddbmm(self.bias, x, self.weight)
        return torch.baddbmm(self.bias[members], x, self.weight[members])


class CopyHeads(nn.Module):
    """The output heads of a member's k TabM copies: weight [members, k, width], bias [members, k]."""

    def __init__(self, members: int, copies: int, width: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(members, copies, width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, copies).uniform_(-bound, bound))

    def forward(self, hidden: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """hidden [m, k·rows, width] (copy-major) → the copies' mean output [m, rows, 1]."""
        weight, bias = (self.weight, self.bias) if members is None else (self.weight[members], self.bias[members])
        count, copies = weight.shape[0], weight.shape[1]
        per_copy = torch.einsum("mkrw,mkw->mkr", hidden.view(count, copies, -1, hidden.shape[-1]), weight)
        return (per_copy + bias.unsqueeze(-1)).mean(dim=1).unsqueeze(-1)


class Dropout(nn.Module):
    """Inverted dropout drawing its mask from a seeded NumPy generator.

    Same maths as `nn.Dropout`; NumPy's PCG64 draws the mask about 3x faster than torch's CPU
    generator, and dropout was a third of the training time (measured on the 15,000-row cohort).
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.generator = np.random.default_rng(0)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None, total: int = 0) -> torch.Tensor:
        """With `members` (x holds only those of `total`), the masks of all `total` are drawn and theirs taken, so
        a member's masks do not depend on which others are still training."""
        if not self.training or self.p == 0:
            return x
        shape = (total, *x.shape[1:]) if members is not None else tuple(x.shape)
        draw = self.generator.random(shape, dtype=np.float32)
        dropped = torch.from_numpy(draw[members.numpy()] if members is not None else draw) < self.p
        return x.masked_fill(dropped, 0.0) * (1.0 / (1.0 - self.p))


class FeatureNetworks(nn.Module):
    """A neural additive model's deep part (Agarwal et al., NeurIPS 2021): for every member, one small MLP per
    feature, each seeing that feature's scaled value alone. x [members, rows, features] → each feature's output
    [members, rows, features], whose sum is the member's deep logit: a feature's contribution is its own output, read
    off exactly, with no attribution pass."""

    def __init__(self, members: int, features: int, hidden: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        widths = (1, *hidden)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for width_in, width_out in itertools.pairwise(widths):
            bound = 1 / math.sqrt(width_in)
            self.weights.append(nn.Parameter(torch.empty(members, features, width_in, width_out).uniform_(-bound,
                                                                                                          bound)))
            self.biases.append(nn.Parameter(torch.empty(members, features, width_out).uniform_(-bound, bound)))
        bound = 1 / math.sqrt(widths[-1])
        self.output_weight = nn.Parameter(torch.empty(members, features, widths[-1]).uniform_(-bound, bound)
                                          * OUTPUT_INIT_SCALE)
        self.output_bias = nn.Parameter(torch.zeros(members, features))
        self.dropouts = nn.ModuleList(Dropout(dropout) for _ in hidden)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None, total: int = 0) -> torch.Tensor:
        """x [m, rows, features] → [m, rows, features]; `members`: only these of `total` (x holds just them). Works
        feature-major ([m, features, rows, width]) so that every layer is one batched matrix product."""
        def chosen(parameter: torch.Tensor) -> torch.Tensor:
            return parameter if members is None else parameter[members]

        hidden = x.transpose(1, 2).unsqueeze(-1)
        for weight, bias, dropout in zip(self.weights, self.biases, self.dropouts, strict=True):
            hidden = torch.relu(torch.matmul(hidden, chosen(weight)) + chosen(bias).unsqueeze(2))
            hidden = dropout(hidden, members, total)
        out = torch.matmul(hidden, chosen(self.output_weight).unsqueeze(-1)).squeeze(-1)
        return (out + chosen(self.output_bias).unsqueeze(-1)).transpose(1, 2)


class EnsembleNetwork(nn.Module):
    """Inputs [members, rows, features] → one logit per member and row: [members, rows].

    With `sub_members` k > 1 each member's MLP is a TabM-mini ensemble (Gorishniy et al., ICLR 2025): k copies
    that share every hidden layer, each seeing the inputs through its own multiplicative adapter (initialised to
    random signs) and ending in its own output head; the member's MLP output is their mean. Sharing stays inside a
    member, so a member's held-out fold remains unseen by everything it averages.

    With `additive_features` F > 0 the deep part is instead a neural additive model over the first F inputs (the
    features' scaled values): `FeatureNetworks`, one MLP of widths `hidden` per feature."""

    def __init__(self, members: int, n_inputs: int, hidden: tuple[int, ...], dropout: float,
                 linear_path: bool, sub_members: int = 1, additive_features: int = 0) -> None:
        super().__init__()
        self.size, self.sub_members, self.additive_features = members, sub_members, additive_features
        self.deep: nn.Sequential | FeatureNetworks = (FeatureNetworks(members, additive_features, hidden, dropout)
                                                      if additive_features else
                                                      _stacked_mlp(members, n_inputs, hidden, dropout, sub_members))
        self.adapter = None
        if sub_members > 1 and not additive_features:
            self.adapter = nn.Parameter(torch.randint(0, 2, (members, sub_members, 1, n_inputs)).float() * 2 - 1)
        self.wide = StackedLinear(members, n_inputs, 1) if linear_path else None
        if self.wide is not None:
            nn.init.zeros_(self.wide.weight)
            nn.init.zeros_(self.wide.bias)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [members, rows]; `members`: only these members (x holds just their inputs): training leaves the
        members that have stopped out of the arithmetic."""
        if isinstance(self.deep, FeatureNetworks):
            out = self.deep(x[..., :self.additive_features], members, self.size).sum(dim=-1, keepdim=True)
            if self.wide is not None:
                out = out + self.wide(x, members)
            return out.squeeze(-1)
        out = x
        if self.adapter is not None:  # [m, rows, in] → [m, k·rows, in]: the k copies share the member's layers
            adapter = self.adapter if members is None else self.adapter[members]
            out = (x.unsqueeze(1) * adapter).reshape(x.shape[0], -1, x.shape[2])
        *hidden, head = list(self.deep)
        for layer in hidden:
            if isinstance(layer, StackedLinear):
                out = layer(out, members)
            elif isinstance(layer, Dropout):
                out = layer(out, members, self.size)
            else:
                out = layer(out)
        out = head(out, members)
        if self.wide is not None:
            out = out + self.wide(x, members)
        return out.squeeze(-1)

    def member_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inference: every member's logits with dropout off, [members, rows]; the training mode is restored."""
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            out = self(inputs.to(torch.float32))
        self.train(was_training)
        return out

    def feature_outputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """An additive network's deep part per feature, dropout off: inputs [members, rows, in] → [members, rows,
        features], in the inputs' dtype."""
        if not isinstance(self.deep, FeatureNetworks):
            raise ValueError("Only an additive network has outputs per feature.")
        was_training = self.training
        self.eval()
        with torch.inference_mode():
            out = self.deep(inputs[..., :self.additive_features])
        self.train(was_training)
        return out

    def seed_dropout(self, seed: int) -> None:
        for index, layer in enumerate(m for m in self.deep.modules() if isinstance(m, Dropout)):
            layer.generator = np.random.default_rng([seed, index])

    def mlp_parameters(self) -> list[nn.Parameter]:
        return [*self.deep.parameters(), *([self.adapter] if self.adapter is not None else [])]

    @property
    def stacked_linears(self) -> list[StackedLinear]:
        return [m for m in self.deep.children() if isinstance(m, StackedLinear)]

    def plain_copies(self, member: int) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """One member's MLP as the plain ReLU networks whose mean it outputs (one, or its k TabM copies), float64:
        per copy the layers' weights (out, in) and biases, the copy's adapter folded into its first layer."""
        *hidden, head = (m for m in self.deep.children() if isinstance(m, StackedLinear | CopyHeads))
        weights = [layer.weight.detach()[member].double().T for layer in hidden]
        biases = [layer.bias.detach()[member, 0].double() for layer in hidden]
        head_bias = head.bias
        if head_bias is None:
            raise ValueError("the head layer has no bias")
        if isinstance(head, StackedLinear):
            return [([*weights, head.weight.detach()[member].double().T],
                     [*biases, head_bias.detach()[member, 0].double()])]
        adapter = self.adapter
        if adapter is None:
            raise ValueError("copy heads without an adapter")
        copies = []
        for copy in range(self.sub_members):
            scaled = [w.clone() for w in weights] + [head.weight.detach()[member, copy].double().unsqueeze(0)]
            scaled[0] = scaled[0] * adapter.detach()[member, copy, 0].double()
            copies.append((scaled, [*(b.clone() for b in biases), head_bias.detach()[member, copy].double().view(1)]))
        return copies

    def warm_start(self, coef: torch.Tensor, intercept: torch.Tensor) -> None:
        """Set the linear path to fitted logistic regressions: coef [members, features], intercept [members]."""
        if self.wide is None:
            raise ValueError("This network has no linear path to warm-start.")
        with torch.no_grad():
            self.wide.weight.copy_(coef.unsqueeze(-1))
            self.wide.bias.copy_(intercept.view(-1, 1, 1))


def _stacked_mlp(members: int, n_inputs: int, hidden: tuple[int, ...], dropout: float,
                 sub_members: int) -> nn.Sequential:
    """Every member's MLP over all inputs, its output layer near zero (not zero: a zero output layer passes no
    gradient to the layers below)."""
    layers: list[nn.Module] = []
    width_in = n_inputs
    for width in hidden:
        layers += [StackedLinear(members, width_in, width), nn.ReLU(), Dropout(dropout)]
        width_in = width
    output = StackedLinear(members, width_in, 1) if sub_members == 1 else CopyHeads(members, sub_members, width_in)
    with torch.no_grad():
        output.weight.mul_(OUTPUT_INIT_SCALE)
        output.bias.zero_()
    return nn.Sequential(*layers, output)
