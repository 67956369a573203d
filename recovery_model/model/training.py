"""Our own training loop: K members as one batched network, each on its own folds, each stopping on its own.

No training framework: the loop is short, and every decision in it is ours to explain.

- Every member draws its mini-batches from its own training folds only; all members step together
  in one batched forward/backward pass, so five members cost little more than one.
- Each member is scored on its own held-out fold after every epoch (and before the first, when the
  network is exactly the warm-started logistic regression). Early stopping is per member: a member
  stops contributing to the loss after `patience` epochs without improvement, and its best epoch's
  weights are restored at the end.
- AdamW: decoupled weight decay on the MLP. (Adam's coupled L2 is not used: while the MLP's output
  starts near zero its data gradient is tiny, the L2 term dominated, and Adam's normalised steps
  shrank every hidden layer to dead ReLUs; measured: the MLP's output was constant.) By default the
  linear path is frozen at the warm start and the MLP fits its residual (`freeze_linear`); when it trains,
  it carries the warm start's own L2 penalty, C / 2 · ||w||² per row as in scikit-learn, in the loss, so
  training leaves it where logistic regression put it unless the training folds say otherwise.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from recovery_model.model.config import NetworkConfig
from recovery_model.model.network import EnsembleNetwork

PROGRESS_EVERY = 10  # epochs between progress lines when the output is not a terminal
TRAINING_THREADS = 2
TWO_THREADS_FROM_BATCH_ROWS = 2048


@dataclass
class EarlyStopping:
    """Per-member early stopping on held-out loss (lower is better), restoring each member's best epoch.

    Modelled on skorch's callback, for stacked members: every parameter's leading dimension is the
    member, so a member's best weights are its slice of each parameter.
    """

    patience: int = 10
    min_delta: float = 1e-4
    best_score_: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False)
    best_epoch_: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), init=False)
    stopped_epoch_: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), init=False)
    _waited: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int), init=False, repr=False)
    _best_state: dict[str, torch.Tensor] = field(default_factory=dict, init=False, repr=False)

    def step(self, epoch: int, scores: np.ndarray, model: nn.Module) -> np.ndarray:
        """Record this epoch's score per member; return the mask of members still training."""
        scores = np.asarray(scores, dtype=float)
        if not len(self.best_score_):
            members = len(scores)
            self.best_score_ = np.full(members, np.inf)
            self.best_epoch_ = np.full(members, -1)
            self.stopped_epoch_ = np.zeros(members, dtype=int)
            self._waited = np.zeros(members, dtype=int)
            self._best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        active = self.stopped_epoch_ == 0
        improved = active & (scores < self.best_score_ - self.min_delta)
        self.best_score_[improved], self.best_epoch_[improved] = scores[improved], epoch
        self._waited = np.where(improved, 0, self._waited + active)
        if improved.any():
            which = torch.from_numpy(improved)
            for name, value in model.state_dict().items():
                self._best_state[name][which] = value.detach()[which]
        self.stopped_epoch_[active & (self._waited >= self.patience)] = epoch
        return self.stopped_epoch_ == 0

    def restore(self, model: nn.Module) -> None:
        if self._best_state:
            model.load_state_dict(self._best_state)


@dataclass(frozen=True)
class LinearStart:
    """Each member's fitted logistic regression (coef [members, inputs], intercept [members]), its C, and the
    members' summed log-loss on their held-out folds."""

    coef: np.ndarray
    intercept: np.ndarray
    c: float
    held_out_loss: float = float("nan")


@dataclass
class TrainingResult:
    network: EnsembleNetwork
    history: list[dict[str, float | None]]
    best_epochs: list[int]
    stopped_epochs: list[int | None]
    logits: np.ndarray  # [members, rows]: every member's logits on every row, at its best epoch


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@contextmanager
def training_threads(batch_rows: int) -> Iterator[None]:
    """Two threads for a large batch (members × rows), where the products split well across both cores (measured on
    the 15,000-row cohort, 5 × 512 rows: 3.1 s against 4.2 s on one thread); one for a small one, where a second
    thread only costs (a 299-patient set trained several times slower). Never more threads than torch was given."""
    previous = torch.get_num_threads()
    torch.set_num_threads(min(TRAINING_THREADS, previous) if batch_rows >= TWO_THREADS_FROM_BATCH_ROWS else 1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_ensemble(inputs: np.ndarray, y: np.ndarray, train_masks: np.ndarray, config: NetworkConfig,
                   warm_start: LinearStart | None = None, seed: int = 0,
                   progress: bool = False, features: int = 0) -> TrainingResult:
    """Fit one member per row of `train_masks` ([members, rows], True = training row of that member).

    `inputs` is [members, rows, inputs] (each member's own scaling), its first `features` the features' scaled
    values (what an additive network's MLPs read); a member is scored on the rows it does not train on. With
    `warm_start`, the linear path starts at those regressions.
    """
    if config.additive and not features:
        raise ValueError("An additive network needs `features`: how many of the inputs are the features' scaled "
                         "values (one MLP each).")
    with training_threads(len(train_masks) * config.batch_size):
        return _train(torch.as_tensor(inputs, dtype=torch.float32), np.asarray(y, dtype=float),
                      np.asarray(train_masks, dtype=bool), config, warm_start, seed, progress, features)


def _train(inputs: torch.Tensor, y: np.ndarray, train_masks: np.ndarray, config: NetworkConfig,
           warm_start: LinearStart | None, seed: int, progress: bool, features: int) -> TrainingResult:
    generator = seed_everything(seed)
    members = len(train_masks)
    network = EnsembleNetwork(members, inputs.shape[2], config.hidden, config.dropout, warm_start is not None,
                              config.sub_members, features if config.additive else 0)
    network.seed_dropout(seed)
    if warm_start is not None:
        network.warm_start(torch.as_tensor(warm_start.coef, dtype=torch.float32),
                           torch.as_tensor(warm_start.intercept, dtype=torch.float32))
    trained_wide = warm_start is not None and not config.freeze_linear
    for parameter in _wide_parameters(network):
        parameter.requires_grad_(trained_wide)
    optimiser = torch.optim.AdamW([{"params": network.mlp_parameters(), "weight_decay": config.weight_decay},
                                   {"params": _wide_parameters(network) if trained_wide else [], "weight_decay": 0.0}],
                                  lr=config.learning_rate)
    wide_penalty = (1.0 / (warm_start.c * float(train_masks.sum(axis=1).mean()))
                    if trained_wide and warm_start is not None else 0.0)
    targets = torch.as_tensor(y, dtype=torch.float32)
    train_rows = [torch.from_numpy(np.flatnonzero(mask)) for mask in train_masks]
    held_out = _HeldOut(inputs, [np.flatnonzero(~mask) for mask in train_masks], y)
    stopper = EarlyStopping(patience=config.patience, min_delta=config.min_delta)
    history: list[dict[str, float | None]] = []
    report = _Progress(progress, config.max_epochs)
    active = stopper.step(0, held_out.record(history, 0, None, network), network)
    for epoch in range(1, config.max_epochs + 1):
        train_loss = _run_epoch(network, optimiser, inputs, targets, train_rows, active, config.batch_size,
                                generator, wide_penalty)
        scores = held_out.record(history, epoch, train_loss, network)
        report.update(epoch, history[-1], int(active.sum()))
        active = stopper.step(epoch, scores, network)
        if not active.any():
            break
    report.close()
    stopper.restore(network)
    network.eval()
    logits = network.member_logits(inputs).numpy()
    stopped = [int(e) if e else None for e in stopper.stopped_epoch_]
    return TrainingResult(network, history, [int(e) for e in stopper.best_epoch_], stopped, logits)


def _wide_parameters(network: EnsembleNetwork) -> list[nn.Parameter]:
    return [network.wide.weight, network.wide.bias] if network.wide is not None else []


class _HeldOut:
    """Each member's own held-out rows, gathered once: scoring an epoch costs one pass over n rows, not K."""

    def __init__(self, inputs: torch.Tensor, rows: list[np.ndarray], y: np.ndarray) -> None:
        length = max(len(r) for r in rows)
        index = np.stack([np.resize(r, length) for r in rows])  # short members repeat their rows, then masked
        self.valid = torch.from_numpy(np.arange(length)[None, :] < np.array([len(r) for r in rows])[:, None])
        self.index = torch.from_numpy(index)
        self.inputs = inputs[torch.arange(len(rows)).unsqueeze(1), self.index]
        self.targets = torch.as_tensor(y, dtype=torch.float32)[self.index]
        self.y = y

    def record(self, history: list, epoch: int, train_loss: float | None, network: EnsembleNetwork) -> np.ndarray:
        """Append this epoch to the history; return each member's loss on its own held-out rows."""
        from sklearn.metrics import roc_auc_score  # training only: keeps the app's start-up light

        logits = network.member_logits(self.inputs)
        losses = nn.functional.binary_cross_entropy_with_logits(logits, self.targets, reduction="none")
        member_loss = ((losses * self.valid).sum(dim=1) / self.valid.sum(dim=1)).double().numpy()
        total = torch.zeros(len(self.y)).index_add_(0, self.index[self.valid], logits[self.valid])
        count = torch.zeros(len(self.y)).index_add_(0, self.index[self.valid], torch.ones(int(self.valid.sum())))
        out_of_fold = (total / count.clamp(min=1)).numpy()
        y = self.y
        auroc = float(roc_auc_score(y, out_of_fold)) if 0 < y.sum() < len(y) else float("nan")
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": float(member_loss.mean()),
                        "val_auroc": auroc})
        return member_loss


def _run_epoch(network: EnsembleNetwork, optimiser: torch.optim.Optimizer, inputs: torch.Tensor,
               targets: torch.Tensor, train_rows: list[torch.Tensor], active: np.ndarray, batch_size: int,
               generator: torch.Generator, wide_penalty: float) -> float:
    """One pass over every active member's training rows. Members that have stopped are left out of the arithmetic
    (their batch orders and dropout masks are still drawn, so the others' are what they would have been)."""
    network.train()
    order = _member_orders(train_rows, generator)
    chosen = None if active.all() else torch.from_numpy(np.flatnonzero(active))
    members = (torch.arange(len(train_rows)) if chosen is None else chosen).unsqueeze(1)
    total, count = 0.0, 0
    for start in range(0, order.shape[1], batch_size):
        batch = order[members.squeeze(1), start:start + batch_size]
        logits = network(inputs[members, batch], chosen)
        losses = nn.functional.binary_cross_entropy_with_logits(logits, targets[batch], reduction="none")
        member_loss = losses.mean(dim=1)
        if wide_penalty and network.wide is not None:
            weight = network.wide.weight if chosen is None else network.wide.weight[chosen]
            member_loss = member_loss + 0.5 * wide_penalty * weight.pow(2).sum(dim=(1, 2))
        loss = member_loss.sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += loss.item() * batch.shape[1]
        count += batch.shape[1]
    return total / count / max(int(active.sum()), 1)


def _member_orders(train_rows: list[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """A shuffled order of each member's own rows, padded (with more of its own rows) to one length."""
    length = max(len(rows) for rows in train_rows)
    orders = []
    for rows in train_rows:
        order = rows[torch.randperm(len(rows), generator=generator)]
        if len(order) < length:
            order = torch.cat([order, rows[torch.randint(len(rows), (length - len(order),), generator=generator)]])
        orders.append(order)
    return torch.stack(orders)


class _Progress:
    """A progress bar in a terminal; a line every `PROGRESS_EVERY` epochs in a log file."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.bar = enabled, None
        if enabled and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="training", unit="epoch", leave=False)

    def update(self, epoch: int, row: dict, active: int) -> None:
        if not self.enabled:
            return
        text = f"val_loss={row['val_loss']:.4f} out-of-fold AUROC={row['val_auroc']:.3f} members training={active}"
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(text)
        elif epoch % PROGRESS_EVERY == 0:
            print(f"  epoch {epoch}: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
