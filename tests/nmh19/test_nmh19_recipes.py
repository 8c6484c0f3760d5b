"""NMH19 recipes (fixtures/recipes.py) follow the paper's Sec. 4 setting at the paper tier, for every table cell."""

from fixtures.recipes import NMH19_INIT, RECIPES, recipe_for
from losslab.experiments import nmh19
from losslab.nets import build_net


def test_every_cell_has_a_paper_recipe_in_the_papers_setting():
    for cell in nmh19.CELLS:
        r = recipe_for(cell.recipe, "paper")
        n = 55000 if cell.table == 1 else 50000
        assert (r.n_train, r.n_test, r.net, dict(r.net_kwargs)) == (n, 10000, cell.net, {"activation": cell.activation})
        assert r.skip_neurons == (0 if cell.variant == "plain" else n)  # N = n
        assert r.init == NMH19_INIT and not r.normalize  # keras he_normal, no pre-processing
        assert r.config.augment == ("crop-flip" if cell.augmented else None)
        assert (r.config.epochs, r.config.nesterov, r.config.milestones, r.config.weight_decay) == (300, True,
                                                                                                   (0.5, 0.75), 0)
        assert r.config.lr == (0.1 if cell.net == "densenet121" else 0.01)


def test_cpu_and_gpu_tiers_cover_only_the_cheap_nets():
    for tier, nets in (("cpu", {"cnn13", "vgg11", "vgg13", "vgg16"}), ("gpu", {"cnn13", "vgg11"})):
        assert {r[tier].net for name, r in RECIPES.items() if name.startswith("nmh19-") and tier in r} == nets
    assert all(recipe_for(c.recipe, "cpu") is None for c in nmh19.CELLS if c.activation == "softplus")


def test_densenet_skip_neurons_come_from_the_first_dense_block():
    # first block: 6 layers, BN-act over 64 + 32 j channels and over 128 bottleneck channels, at 32 x 32
    model = build_net("densenet121", skip={"n": 50000, "seed": 0, "input_shape": (3, 32, 32)}, activation="sigmoid")
    assert model.total_hidden == (sum(64 + 32 * j for j in range(6)) + 6 * 128) * 32 * 32
