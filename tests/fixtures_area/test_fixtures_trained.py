"""The recipe registry and the trained_net fixture (tiny recipe; the MNIST one needs --data-dir)."""

import json
from dataclasses import replace

import pytest
import torch

from fixtures.recipes import RECIPES, TIERS, make_model, recipe_data, recipe_for
from losslab.cache import entry_key
from losslab.nets import count_parameters
from losslab.seeds import claim_seed


def test_every_recipe_is_json_keyable_and_names_match():
    keys = set()
    for name, tiers in RECIPES.items():
        assert set(tiers) <= set(TIERS) and tiers, name
        for tier, recipe in tiers.items():
            assert recipe.name == name
            keys.add(entry_key(recipe, tier, 0))
            json.dumps(recipe.net_kwargs)
    assert len(keys) == sum(len(t) for t in RECIPES.values())
    with pytest.raises(KeyError, match="unknown recipe"):
        recipe_for("no-such-recipe", "cpu")


def test_cpu_tier_recipes_build_the_papers_nets():
    assert count_parameters(make_model(recipe_for("wze17-mlenet-mnist512", "cpu"), 0)) == 3781
    assert count_parameters(make_model(recipe_for("lp17-dcnn-cifar10", "cpu"), 0)) == 188810
    assert count_parameters(make_model(recipe_for("wze17-fnn12-cubic", "cpu"), 0)) == 18161
    assert recipe_for("nmh19-cnn13-softplus-mnist", "cpu") is None  # softplus: not run at the CPU tier
    paper = recipe_for("nmh19-cnn13-sigmoid-skip-mnist", "paper")
    assert paper.skip_neurons == 55000 and paper.config.nesterov and paper.config.epochs == 300


def test_make_model_is_seeded():
    recipe = recipe_for("wze17-mlenet-mnist512", "cpu")
    a, b, c = make_model(recipe, 1), make_model(recipe, 1), make_model(recipe, 2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.features[0].weight, c.features[0].weight)
    # WZE17: N(0, 2/fan_in) initialisation; conv1 fan_in = 25
    assert abs(float(a.features[3].weight.detach().std()) - (2 / 150) ** 0.5) < 0.02


def test_make_model_applies_the_wze17_table2_inits():
    from fixtures.inits import INITS, apply_init
    recipe = recipe_for("wze17-tab2-lenet-mnist", "cpu")
    for init in INITS:
        if init == "he_normal":  # make_model's own stream (cached results): checked in test_make_model_is_seeded
            continue
        got = make_model(replace(recipe, init=init), 3)
        want = apply_init(make_model(recipe, 3), init, 3)
        assert all(torch.equal(p, q) for p, q in zip(got.parameters(), want.parameters())), init
    zeros = make_model(replace(recipe, init="zeros"), 3)
    assert all(not p.detach().any() for p in zeros.parameters())
    assert float(make_model(replace(recipe, init="uniform_0_0.1"), 3).features[0].weight.detach().min()) >= 0.0


def test_make_model_rejects_an_unknown_init():
    recipe = replace(recipe_for("tiny-teacher-fnn", "cpu"), init="xavier")
    with pytest.raises(ValueError, match=r"'tiny-teacher-fnn'.*'xavier'.*'he_normal'.*'zeros'"):
        make_model(recipe, 0)


def test_attack_split_follows_train_split_with_wrong_labels(data_dir):
    if data_dir is None:
        pytest.skip("needs --data-dir / LOSSLAB_DATA_DIR")
    recipe = replace(recipe_for("wze17-mlenet-mnist512-attack", "cpu"), n_attack=256, n_test=100)
    data = recipe_data(recipe, data_dir)
    plain = recipe_data(replace(recipe, n_train=512 + 256, n_attack=0), data_dir)["train"]
    assert len(data["train"]) == 512 and len(data["attack"]) == 256 and len(data["test"]) == 100
    assert torch.equal(data["attack"].x, plain.x[512:])
    assert (data["attack"].y != plain.y[512:]).all()


def test_trained_net_fixture_trains_once_and_reuses(trained_net, tmp_path):
    model, metrics = trained_net("tiny-teacher-fnn", run_index=0)
    assert metrics["seed"] == claim_seed("WZE17-FIG1", 0)
    assert metrics["final"]["train_acc"] == 1.0 and metrics["stopped"] == "train accuracy 100%"
    assert metrics["history"][-1]["epoch"] == metrics["epochs_run"] < 30
    again, metrics2 = trained_net("tiny-teacher-fnn", run_index=0)
    assert metrics2["cache_key"] == metrics["cache_key"] and metrics2["train_seconds"] == metrics["train_seconds"]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))
    _, other = trained_net("tiny-teacher-fnn", run_index=1)
    assert other["cache_key"] != metrics["cache_key"]
    assert not model.training


def test_trained_net_skips_a_recipe_without_cpu_tier(trained_net, tier):
    if tier != "cpu":
        pytest.skip("checks the CPU-tier skip")
    with pytest.raises(pytest.skip.Exception, match="--tier gpu"):
        trained_net("nmh19-cnn13-softplus-mnist")


def test_missing_data_skips_with_the_fix(recipe_data_for, data_dir):
    if data_dir is not None:
        pytest.skip("checks the behaviour without a data dir")
    with pytest.raises(pytest.skip.Exception, match="LOSSLAB_DATA_DIR"):
        recipe_data_for("wze17-mlenet-mnist512")
