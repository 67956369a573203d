"""The neural network: K cross-fitted members trained as one batched module.

Each member is an MLP (stacked weights, one `torch.baddbmm` per layer for all members) beside an
optional linear ("wide") path. The linear path starts where a regularised logistic regression on
the member's own training folds ends (and, by default, stays there: the MLP fits its residual), and
the MLP's output layer starts near zero (1 % of the usual scale): at epoch 0 every member is, to that
precision, the logistic regression, and the non-linear part must earn its place on the member's
held-out fold (early stopping restores epoch 0 if it never does)."""

from __future__ import annotations

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


class EnsembleNetwork(nn.Module):
    """Inputs [members, rows, features] → one logit per member and row: [members, rows].

    With `sub_members` k > 1 each member's MLP is a TabM-mini ensemble (Gorishniy et al., ICLR 2025): k copies
    that share every hidden layer, each seeing the inputs through its own multiplicative adapter (initialised to
    random signs) and ending in its own output head; the member's MLP output is their mean. Sharing stays inside a
    member, so a member's held-out fold remains unseen by everything it averages."""

    def __init__(self, members: int, n_inputs: int, hidden: tuple[int, ...], dropout: float,
                 linear_path: bool, sub_members: int = 1) -> None:
        super().__init__()
        self.size, self.sub_members = members, sub_members
        layers: list[nn.Module] = []
        width_in = n_inputs
        for width in hidden:
            layers += [StackedLinear(members, width_in, width), nn.ReLU(), Dropout(dropout)]
            width_in = width
        output = StackedLinear(members, width_in, 1) if sub_members == 1 else CopyHeads(members, sub_members, width_in)
        with torch.no_grad():  # near zero, not zero: a zero output layer passes no gradient to the layers below
            output.weight.mul_(OUTPUT_INIT_SCALE)
            output.bias.zero_()
        self.deep = nn.Sequential(*layers, output)
        self.adapter = None
        if sub_members > 1:
            self.adapter = nn.Parameter(torch.randint(0, 2, (members, sub_members, 1, n_inputs)).float() * 2 - 1)
        self.wide = StackedLinear(members, n_inputs, 1) if linear_path else None
        if self.wide is not None:
            nn.init.zeros_(self.wide.weight)
            nn.init.zeros_(self.wide.bias)

    def forward(self, x: torch.Tensor, members: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [members, rows]; `members`: only these members (x holds just their inputs): training leaves the
        members that have stopped out of the arithmetic."""
        out = x
        if self.adapter is not None:  # [m, rows, in] → [m, k·rows, in]: the k copies share the member's layers
            adapter = self.adapter if members is None else self.adapter[members]
            out = (x.unsqueeze(1) * adapter).reshape(x.shape[0], -1, x.shape[2])
        *hidden, head = self.deep
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

    def seed_dropout(self, seed: int) -> None:
        for index, layer in enumerate(m for m in self.deep if isinstance(m, Dropout)):
            layer.generator = np.random.default_rng([seed, index])

    def mlp_parameters(self) -> list[nn.Parameter]:
        return [*self.deep.parameters(), *([self.adapter] if self.adapter is not None else [])]

    @property
    def stacked_linears(self) -> list[StackedLinear]:
        return [m for m in self.deep if isinstance(m, StackedLinear)]

    def plain_copies(self, member: int) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
        """One member's MLP as the plain ReLU networks whose mean it outputs (one, or its k TabM copies), float64:
        per copy the layers' weights (out, in) and biases, the copy's adapter folded into its first layer."""
        *hidden, head = (m for m in self.deep if isinstance(m, StackedLinear | CopyHeads))
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
