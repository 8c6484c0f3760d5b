"""The trainer against hand-computed updates, the WZE17 Eq. (12) objective, schedules, determinism."""

import pytest
import torch
from torch import nn

from losslab.data import Split, subset, teacher_task
from losslab.nets import fnn
from losslab.train import TrainConfig, train, wrong_labels


def _regression(seed=0, n=16, d=3):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return Split(x, x @ torch.tensor([[1.0], [-2.0], [0.5]], dtype=torch.float64) + 0.1)


def _linear(d=3):
    model = nn.Linear(d, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.3, 0.2, -0.1]], dtype=torch.float64))
    return model


def test_full_batch_gd_matches_closed_form_steps():
    data, model = _regression(), _linear()
    w = model.weight.detach().clone().T
    lr, n = 0.05, len(data)
    train(model, data, TrainConfig(epochs=3, lr=lr, batch_size=None, loss="mse"), seed=0)
    for _ in range(3):  # w <- w - lr * (2/n) X^T (X w - y)
        w = w - lr * 2 / n * data.x.T @ (data.x @ w - data.y)
    assert torch.allclose(model.weight.detach().T, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_heavy_ball_and_nesterov(nesterov):
    data, model = _regression(), _linear()
    w, v = model.weight.detach().clone().T, torch.zeros(3, 1, dtype=torch.float64)
    lr, mu, n = 0.05, 0.9, len(data)
    train(model, data, TrainConfig(epochs=4, lr=lr, momentum=mu, nesterov=nesterov, batch_size=None,
                                   loss="mse"), seed=0)
    for _ in range(4):  # PyTorch's convention: v <- mu v + g; step = g + mu v (Nesterov) or v
        g = 2 / n * data.x.T @ (data.x @ w - data.y)
        v = mu * v + g
        w = w - lr * ((g + mu * v) if nesterov else v)
    assert torch.allclose(model.weight.detach().T, w, rtol=0, atol=1e-12)


def test_step_schedule_divides_by_ten_at_fractions():
    data = _regression()
    result = train(_linear(), data, TrainConfig(epochs=8, lr=0.1, batch_size=None, loss="mse",
                                                milestones=(0.5, 0.75)), seed=0)
    lrs = [row["lr"] for row in result.history]
    assert lrs == pytest.approx([0.1] * 4 + [0.01] * 2 + [0.001] * 2)


def test_attack_objective_is_train_loss_plus_lambda_attack_loss():
    data = teacher_task(0, 64, classes=3)
    attack = teacher_task(1, 32, classes=3)
    attack = Split(attack.x, wrong_labels(attack.y, 3, seed=5))
    torch.manual_seed(0)
    model = fnn(1, width=8, in_features=10, out_features=3)
    lam = 0.7
    result = train(model, data, TrainConfig(epochs=1, lr=0.0, batch_size=None, attack_weight=lam), seed=0,
                   attack_set=attack)
    row = result.final
    assert row["objective"] == pytest.approx(row["train_loss"] + lam * row["attack_loss"], rel=1e-6)
    plain = train(model, data, TrainConfig(epochs=1, lr=0.0, batch_size=None), seed=0)
    assert plain.final["objective"] == pytest.approx(row["train_loss"], rel=1e-6)


def test_wrong_labels_are_always_wrong_and_seeded():
    y = torch.arange(10).repeat(50)
    wrong = wrong_labels(y, 10, seed=3)
    assert (wrong != y).all() and wrong.min() >= 0 and wrong.max() <= 9
    assert torch.equal(wrong, wrong_labels(y, 10, seed=3))
    assert len(wrong.unique()) == 10


def test_attack_training_lowers_attack_set_accuracy_on_wrong_labels():
    task = teacher_task(2, 128 + 256 + 256, classes=2)  # one teacher: train, test, attack
    data, test, fresh = subset(task, 0, 128), subset(task, 128, 384), subset(task, 384)
    attack = Split(fresh.x, wrong_labels(fresh.y, 2, seed=1))
    accs = {}
    for lam in (0.0, 2.0):
        torch.manual_seed(1)
        model = fnn(2, width=32, in_features=10, out_features=2)
        cfg = TrainConfig(epochs=40, lr=0.1, batch_size=None, momentum=0.9, attack_weight=lam)
        accs[lam] = train(model, data, cfg, seed=1, test_set=test, attack_set=attack).final["test_acc"]
    assert accs[2.0] < accs[0.0] - 0.2, accs  # fitting flipped labels off the train set harms the test set


def test_sgd_stops_at_full_train_accuracy_and_is_deterministic():
    data = teacher_task(5, 64, classes=2)

    def run(seed):
        torch.manual_seed(seed)
        model = fnn(2, width=64, in_features=10, out_features=2)
        cfg = TrainConfig(epochs=200, lr=0.1, batch_size=16, momentum=0.9, stop_at_full_train_accuracy=True)
        return model, train(model, data, cfg, seed=seed)

    (m1, r1), (m2, r2), (m3, _) = run(0), run(0), run(1)
    assert r1.stopped == "train accuracy 100%" and r1.final["train_acc"] == 1.0
    assert len(r1.history) < 200
    assert r1.history == r2.history
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters()))


def test_progress_line_goes_to_stderr(capsys):
    train(_linear(), _regression(), TrainConfig(epochs=2, lr=0.01, batch_size=None, loss="mse"), seed=0,
          progress_every_s=0.0, label="demo")
    err = capsys.readouterr().err
    assert "[demo] epoch 2/2" in err


def test_eval_every_thins_metric_rows_and_keeps_the_last():
    result = train(_linear(), _regression(), TrainConfig(epochs=10, lr=0.01, batch_size=None, loss="mse",
                                                         eval_every=4), seed=0)
    assert [row["epoch"] for row in result.history] == [4, 8, 10]


def test_adam_option_trains_and_unknown_optimizer_fails():
    data, model = _regression(), _linear()
    result = train(model, data, TrainConfig(epochs=200, optimizer="adam", lr=0.05, batch_size=None, loss="mse"),
                   seed=0)
    assert result.final["train_loss"] < 0.2 * result.history[0]["train_loss"]
    with pytest.raises(ValueError, match="optimizer"):
        train(_linear(), data, TrainConfig(optimizer="lbfgs"), seed=0)


def test_attack_warmup_trains_on_train_loss_alone_first():
    """attack_warmup_epochs = w: the first w epochs equal a plain run; the attack term switches on after."""
    data = teacher_task(0, 64, classes=3)
    attack = teacher_task(1, 32, classes=3)
    attack = Split(attack.x, wrong_labels(attack.y, 3, seed=5))

    def run(epochs=4, **kwargs):
        torch.manual_seed(0)
        model = fnn(1, width=32, in_features=10, out_features=3)
        cfg = TrainConfig(epochs=epochs, lr=0.1, batch_size=16, momentum=0.9, **kwargs)
        return train(model, data, cfg, seed=0, attack_set=attack)

    plain, warm = run(), run(attack_weight=0.7, attack_warmup_epochs=2)
    assert [r["objective"] for r in warm.history[:2]] == [r["objective"] for r in plain.history[:2]]
    assert warm.history[2]["objective"] > plain.history[2]["objective"]  # + 0.7 R_attack from epoch 3
    # stopping at 100% train accuracy waits for the attack phase
    first = len(run(epochs=200, stop_at_full_train_accuracy=True).history)
    assert first < 200
    stopped = run(epochs=first + 3, attack_weight=0.7, attack_warmup_epochs=first + 2,
                  stop_at_full_train_accuracy=True)
    assert len(stopped.history) > first + 2
