import numpy as np
import pytest
import torch
from torch import nn

from recovery_model.model.config import CONFIGS, NetworkConfig, sized_for
from recovery_model.model.network import Dropout, EnsembleNetwork, FeatureNetworks
from recovery_model.model.training import EarlyStopping, LinearStart, train_ensemble


def _toy(seed=0, n=600, members=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = (rng.random(n) < 1 / (1 + np.exp(-(2 * x[:, 0] * x[:, 1] - 1)))).astype(float)
    masks = np.ones((members, n), dtype=bool)
    for member in range(members):
        masks[member, member::members] = False
    return np.broadcast_to(x, (members, n, 4)).copy(), y, masks


class _Stacked(nn.Module):
    def __init__(self, members):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(members, 2))


def test_early_stopping_waits_patience_epochs_per_member():
    model = _Stacked(2)
    stopper = EarlyStopping(patience=2, min_delta=0.01)
    scores = [[1.0, 1.0], [0.8, 1.0], [0.795, 1.0], [0.9, 0.5]]  # 0.795 improves by less than min_delta
    active = [stopper.step(epoch, s, model).tolist() for epoch, s in enumerate(scores)]
    assert active == [[True, True], [True, True], [True, False], [False, False]]
    assert stopper.best_epoch_.tolist() == [1, 0] and stopper.stopped_epoch_.tolist() == [3, 2]


def test_early_stopping_restores_each_members_best_weights():
    model = _Stacked(2)
    stopper = EarlyStopping(patience=5)
    with torch.no_grad():
        model.weight.fill_(1.0)
    stopper.step(0, [0.5, 0.5], model)
    with torch.no_grad():
        model.weight.fill_(7.0)
    stopper.step(1, [0.9, 0.1], model)  # only the second member improved
    with torch.no_grad():
        model.weight.fill_(9.0)
    stopper.restore(model)
    assert model.weight[0].tolist() == [1.0, 1.0] and model.weight[1].tolist() == [7.0, 7.0]


def test_members_are_independent_in_the_batched_network():
    """What one member trains on does not change another: each sees only its own folds."""
    inputs, y, masks = _toy()
    config = NetworkConfig(hidden=(8,), dropout=0.0, max_epochs=5, patience=50, batch_size=64)
    other = masks.copy()
    other[1] = np.roll(masks[1], 7)  # the second member trains on other rows (as many)
    first, second = (train_ensemble(inputs, y, masks, config, seed=1, features=4),
                     train_ensemble(inputs, y, other, config, seed=1, features=4))
    np.testing.assert_array_equal(first.logits[0], second.logits[0])
    assert not np.allclose(first.logits[1], second.logits[1])


def test_a_subset_of_tabm_members_computes_what_the_whole_network_does_for_them():
    """Stopped members leave the batch: the rest, each with its copies' adapters and heads, are unchanged by it."""
    network = EnsembleNetwork(4, 6, (8, 4), 0.0, linear_path=True, sub_members=3).eval()
    x = torch.randn(4, 10, 6)
    chosen = torch.tensor([1, 3])
    with torch.no_grad():
        torch.testing.assert_close(network(x[chosen], chosen), network(x)[chosen])


def test_each_member_keeps_the_epoch_with_its_lowest_held_out_loss():
    inputs, y, masks = _toy()
    config = NetworkConfig(hidden=(32,), dropout=0.0, weight_decay=0.0, learning_rate=0.05, max_epochs=40,
                           patience=4, batch_size=64)
    result = train_ensemble(inputs, y, masks, config, seed=1, features=4)
    assert all(s is not None for s in result.stopped_epochs)
    for member in range(2):
        held_out = ~masks[member]
        logits = torch.as_tensor(result.logits[member][held_out])
        loss = float(nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y[held_out])))
        assert result.stopped_epochs[member] == result.best_epochs[member] + config.patience
        assert loss <= min(h["val_loss"] for h in result.history) + 0.2  # restored, not the last epoch
    assert len(result.history) == max(result.stopped_epochs) + 1  # epoch 0 is recorded too


def test_warm_start_is_epoch_zero_and_the_fallback():
    inputs, y, masks = _toy()
    coef = np.tile([0.3, -0.2, 0.0, 0.1], (2, 1))
    config = NetworkConfig(hidden=(8,), max_epochs=0)
    result = train_ensemble(inputs, y, masks, config, LinearStart(coef, np.array([-1.0, -1.0]), 1.0), seed=0,
                            features=4)
    expected = inputs[0] @ coef[0] - 1.0
    np.testing.assert_allclose(result.logits[0], expected, atol=0.05)
    assert result.best_epochs == [0, 0]


def test_an_additive_network_without_its_features_is_refused_not_trained_as_another_network():
    inputs, y, masks = _toy()
    with pytest.raises(ValueError, match="additive network needs `features`"):
        train_ensemble(inputs, y, masks, NetworkConfig(hidden=(8,), max_epochs=1), seed=0)


def test_history_has_train_and_out_of_fold_columns():
    inputs, y, masks = _toy()
    result = train_ensemble(inputs, y, masks, NetworkConfig(hidden=(8,), max_epochs=3, patience=50), seed=0,
                            features=4)
    assert [set(h) for h in result.history] == [{"epoch", "train_loss", "val_loss", "val_auroc"}] * 4
    assert result.history[0]["train_loss"] is None
    assert all(0 <= h["val_auroc"] <= 1 for h in result.history)


def test_same_seed_same_model():
    inputs, y, masks = _toy()
    config = NetworkConfig(hidden=(8, 4), max_epochs=5)
    first = train_ensemble(inputs, y, masks, config, seed=5, features=4)
    second = train_ensemble(inputs, y, masks, config, seed=5, features=4)
    assert isinstance(first.network.deep, FeatureNetworks)  # the default: one MLP per feature
    for a, b in zip(first.network.state_dict().values(), second.network.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert first.history == second.history


def test_every_activation_is_its_own_module():
    model = EnsembleNetwork(5, 15, CONFIGS["seed"].hidden, 0.3, linear_path=True)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == len(CONFIGS["seed"].hidden) == len({id(m) for m in relus})


def test_dropout_scales_kept_units_and_is_off_in_evaluation():
    layer = Dropout(0.5)
    x = torch.ones(4, 1000)
    out = layer.train()(x)
    assert set(out.unique().tolist()) <= {0.0, 2.0} and 0.4 < float((out == 0).float().mean()) < 0.6
    assert torch.equal(layer.eval()(x), x)


def test_seed_configuration_is_the_notebooks():
    seed = CONFIGS["seed"]
    assert seed.hidden == (128, 64, 32, 16, 8) and seed.dropout == 0.3 and seed.weight_decay == 1e-3
    assert seed.patience == 5 and seed.batch_size == 32
    assert not seed.linear_path and not seed.missing_indicators and seed.hinges == (0,)


def test_small_data_get_more_repeats_and_smaller_batches():
    assert sized_for(CONFIGS["default"], 300).repeats == 3
    assert sized_for(CONFIGS["default"], 300).batch_size == 30
    assert sized_for(CONFIGS["default"], 15_000).repeats == 1
    assert sized_for(CONFIGS["default"], 15_000).batch_size == 512
