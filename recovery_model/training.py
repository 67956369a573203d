"""Our own training loop: mini-batches, Adam with L2 weight decay, early stopping, a history.

No training framework: the loop is short, and every decision in it is ours to explain.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from recovery_model.network import MLP, NetworkConfig


@dataclass
class EarlyStopping:
    """Stop when the monitored loss has not improved by `min_delta` for `patience` epochs.

    Modelled on skorch's callback: `monitor` names the history column, lower is better, and
    with `restore_best` the weights of the best epoch are put back when training ends.
    """

    patience: int = 10
    min_delta: float = 1e-4
    monitor: str = "val_loss"
    restore_best: bool = True
    best_score_: float = field(default=float("inf"), init=False)
    best_epoch_: int = field(default=-1, init=False)
    stopped_epoch_: int | None = field(default=None, init=False)
    _best_state: dict | None = field(default=None, init=False, repr=False)
    _waited: int = field(default=0, init=False, repr=False)

    def step(self, epoch: int, score: float, model: nn.Module) -> bool:
        """Record this epoch's score; return True when training should stop."""
        if score < self.best_score_ - self.min_delta:
            self.best_score_, self.best_epoch_, self._waited = score, epoch, 0
            self._best_state = copy.deepcopy(model.state_dict())
            return False
        self._waited += 1
        if self._waited >= self.patience:
            self.stopped_epoch_ = epoch
            return True
        return False

    def restore(self, model: nn.Module) -> None:
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)


@dataclass
class TrainingResult:
    model: MLP
    history: list[dict[str, float]]
    best_epoch: int
    stopped_epoch: int | None


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def train_network(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                  config: NetworkConfig, seed: int = 0, pos_weight: float = 1.0,
                  progress: bool = False) -> TrainingResult:
    """Fit an MLP on standardised features; early-stop on validation loss and restore the best.

    Losses are unweighted binary cross-entropy unless `pos_weight` > 1; a weighted model must be
    recalibrated afterwards, which the caller always does.
    """
    with single_thread():
        return _train(x_train, y_train, x_val, y_val, config, seed, pos_weight, progress)


@contextmanager
def single_thread() -> Iterator[None]:
    """Small matrix products run faster on one thread than split across cores (measured: 6 s vs 38 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _train(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
           config: NetworkConfig, seed: int, pos_weight: float, progress: bool) -> TrainingResult:
    from sklearn.metrics import roc_auc_score  # training only: keeps the app's start-up light
    from tqdm.auto import tqdm

    generator = seed_everything(seed)
    model = MLP(x_train.shape[1], config.hidden, config.dropout)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight))
    val_loss_fn = nn.BCEWithLogitsLoss()
    xt, yt = _tensor(x_train), _tensor(y_train).unsqueeze(1)
    xv, yv = _tensor(x_val), _tensor(y_val).unsqueeze(1)
    stopper = EarlyStopping(patience=config.patience, min_delta=config.min_delta)
    history: list[dict[str, float]] = []
    epochs = tqdm(range(1, config.max_epochs + 1), desc="training", unit="epoch", disable=not progress,
                  leave=False)
    for epoch in epochs:
        train_loss = _run_epoch(model, optimiser, loss_fn, xt, yt, config.batch_size, generator)
        val_logits = predict_logits(model, xv)
        val_loss = float(val_loss_fn(torch.from_numpy(val_logits).unsqueeze(1), yv))
        val_auroc = float(roc_auc_score(y_val, val_logits)) if 0 < y_val.sum() < len(y_val) else float("nan")
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_auroc": val_auroc})
        epochs.set_postfix(val_loss=f"{val_loss:.4f}", val_auroc=f"{val_auroc:.3f}")
        if stopper.step(epoch, val_loss, model):
            break
    stopper.restore(model)
    model.eval()
    return TrainingResult(model, history, stopper.best_epoch_, stopper.stopped_epoch_)


def predict_logits(model: nn.Module, x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Logits of non-recovery in evaluation mode (dropout off), as a 1-D float64 array."""
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        x = x if isinstance(x, torch.Tensor) else _tensor(x)
        out = model(x.to(next(model.parameters()).dtype)).squeeze(1).double().numpy()
    model.train(was_training)
    return out


def _run_epoch(model: nn.Module, optimiser: torch.optim.Optimizer, loss_fn: nn.Module, x: torch.Tensor,
               y: torch.Tensor, batch_size: int, generator: torch.Generator) -> float:
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total = 0.0
    for start in range(0, len(x), batch_size):
        batch = order[start:start + batch_size]
        optimiser.zero_grad()
        loss = loss_fn(model(x[batch]), y[batch])
        loss.backward()
        optimiser.step()
        total += loss.item() * len(batch)
    return total / len(x)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float32))
