import numpy as np
import torch
from torch import nn

from recovery_model.network import CONFIGS, MLP, NetworkConfig
from recovery_model.training import EarlyStopping, train_network


def _toy(seed=0, n=600):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x[:, 0] - 3)))).astype(np.float32)
    return x, y


def test_early_stopping_waits_patience_epochs_after_the_best():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=3, min_delta=0.01)
    losses = [1.0, 0.8, 0.795, 0.9, 0.85]  # 0.795 improves by less than min_delta: it does not count
    stops = [stopper.step(epoch, loss, model) for epoch, loss in enumerate(losses, start=1)]
    assert stops == [False, False, False, False, True]
    assert stopper.best_epoch_ == 2 and stopper.stopped_epoch_ == 5


def test_early_stopping_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1)
    with torch.no_grad():
        model.weight.fill_(1.0)
    stopper.step(1, 0.5, model)
    with torch.no_grad():
        model.weight.fill_(7.0)
    assert stopper.step(2, 0.9, model)
    stopper.restore(model)
    assert torch.all(model.weight == 1.0)


def test_training_restores_the_epoch_with_the_lowest_validation_loss():
    x, y = _toy()
    config = NetworkConfig(hidden=(32,), dropout=0.0, weight_decay=0.0, learning_rate=0.05, max_epochs=40,
                           patience=4, batch_size=64)
    result = train_network(x[:400], y[:400], x[400:], y[400:], config, seed=1)
    losses = [h["val_loss"] for h in result.history]
    assert result.stopped_epoch is not None and len(losses) < config.max_epochs
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert len(losses) == result.best_epoch + config.patience
    with torch.no_grad():
        restored = nn.BCEWithLogitsLoss()(result.model(torch.from_numpy(x[400:])).squeeze(1), torch.from_numpy(y[400:]))
    assert abs(float(restored) - min(losses)) < 1e-5


def test_history_has_train_and_validation_columns():
    x, y = _toy()
    result = train_network(x[:400], y[:400], x[400:], y[400:], NetworkConfig(hidden=(8,), max_epochs=3), seed=0)
    assert [set(h) for h in result.history] == [{"epoch", "train_loss", "val_loss", "val_auroc"}] * 3
    assert all(0 <= h["val_auroc"] <= 1 for h in result.history)


def test_same_seed_same_model():
    x, y = _toy()
    config = NetworkConfig(hidden=(8, 4), max_epochs=5)
    first = train_network(x[:400], y[:400], x[400:], y[400:], config, seed=5)
    second = train_network(x[:400], y[:400], x[400:], y[400:], config, seed=5)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert first.history == second.history


def test_every_activation_is_its_own_module():
    model = MLP(15, CONFIGS["seed"].hidden, 0.3)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len(CONFIGS["seed"].hidden) == len({id(m) for m in relus})


def test_seed_configuration_is_the_notebooks():
    seed = CONFIGS["seed"]
    assert seed.hidden == (128, 64, 32, 16, 8) and seed.dropout == 0.3 and seed.weight_decay == 1e-3
    assert seed.patience == 5
