"""The smoke scale: recipes shrunk on the same code path (fixtures.recipes.smoke_recipe) and the plugin that
runs only tier-dependent tests and records, not fails, claim checks on smoke numbers (fixtures/smoke.py)."""

from fixtures import recipes
from fixtures.recipes import RECIPES, SMOKE_IMAGES, SMOKE_NET_KWARGS, smoke_recipe

pytest_plugins = ["pytester"]


def test_smoke_recipes_keep_the_code_path_and_cut_data_and_epochs():
    for tiers in RECIPES.values():
        for recipe in tiers.values():
            small, c = smoke_recipe(recipe), smoke_recipe(recipe).config
            # the one layout change: narrower nets (SMOKE_NET_KWARGS)
            assert dict(small.net_kwargs) == {**dict(recipe.net_kwargs), **SMOKE_NET_KWARGS.get(recipe.net, {})}
            assert (small.net, small.init, small.dtype, small.data) == \
                (recipe.net, recipe.init, recipe.dtype, recipe.data)
            assert small.skip_neurons == -(-recipe.skip_neurons * small.n_train // recipe.n_train)  # ceil: N / n kept
            assert (c.optimizer, c.loss, c.attack_weight, c.milestones) == \
                (recipe.config.optimizer, recipe.config.loss, recipe.config.attack_weight, recipe.config.milestones)
            assert max(small.n_train, small.n_test, small.n_attack) <= SMOKE_IMAGES and c.epochs <= 2
            assert (c.batch_size is None) == (recipe.config.batch_size is None)
            assert c.batch_size is None or c.batch_size < small.n_train or small.n_train == 1
            assert (small.n_attack > 0) == (recipe.n_attack > 0)
            assert c.epochs > c.attack_warmup_epochs  # an attack term, if any, switches on


def test_recipe_for_at_scale_and_smoke_seed_follow_the_scale(monkeypatch):
    monkeypatch.setitem(recipes._scale, "value", "smoke")
    assert recipes.recipe_for("wze17-mlenet-mnist512", "paper") == smoke_recipe(RECIPES["wze17-mlenet-mnist512"]["paper"])
    assert recipes.at_scale(400, 2) == 2
    assert {recipes.smoke_seed(s) for s in range(1000, 1010)} == set(range(recipes.SMOKE_SEEDS))
    monkeypatch.setitem(recipes._scale, "value", "full")
    assert recipes.recipe_for("wze17-mlenet-mnist512", "paper") == RECIPES["wze17-mlenet-mnist512"]["paper"]
    assert recipes.at_scale(400, 2) == 400 and recipes.smoke_seed(1003) == 1003


INNER = """
import pytest

def test_check_fails_on_smoke_numbers(tier):
    assert 0.1 > 0.5, "the claim's margin"

@pytest.mark.xfail(strict=True, reason="a finding at full scale")
def test_strict_xfail_that_passes_at_smoke(tier):
    pass

def test_a_crash_still_fails(tier):
    raise TypeError("shape mismatch")

def test_explicit_fail_is_a_check(tier):
    pytest.fail("too few nets fitted")

@pytest.fixture(scope="module")
def gated(tier):
    pytest.fail("only 0 solutions reached train accuracy >= 0.99")

def test_behind_a_gate(gated):
    pass

def test_behind_the_same_cached_gate(gated):
    pass

def test_tier_independent_math():
    pass
"""


def test_plugin_runs_tier_tests_records_checks_and_fails_crashes(pytester, monkeypatch):
    monkeypatch.setitem(recipes._scale, "value", "full")  # the inner run sets it; restored after
    pytester.makeconftest('import pytest\npytest_plugins = ["losslab.report.options", "fixtures.smoke"]\n'
                          '@pytest.fixture(scope="session")\ndef tier():\n    return "gpu"\n')
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("--scale", "smoke", "-p", "no:xdist", "-rA")
    result.assert_outcomes(passed=3, failed=1, skipped=2, deselected=1)
    result.stdout.fnmatch_lines(["*FAILED*test_a_crash_still_fails*TypeError*"])
    result.stdout.fnmatch_lines(["smoke scale, tier ?: 4 tests ran (3 passed, 1 failed; 2 claim checks failed on "
                                 "smoke numbers, recorded only), 2 skipped; * s CPU"])
    pytester.runpytest("-p", "no:xdist").assert_outcomes(passed=1, failed=4, errors=2)  # at full scale: all fail


def test_sweep_summaries_are_shown_and_written_to_the_report_folder(pytester, monkeypatch):
    monkeypatch.setitem(recipes._scale, "value", "full")
    pytester.makeconftest('pytest_plugins = ["losslab.report.options", "fixtures.smoke"]\n')
    pytester.makepyfile(test_inner='import pytest\n\n@pytest.mark.smoke_sweep\n'
                                   'def test_sweep(record_property):\n'
                                   '    record_property("losslab_smoke_sweep", "smoke scale, tier gpu: 7 tests ran")\n')
    result = pytester.runpytest("-p", "no:xdist", "--report", "out")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*smoke sweeps*", "smoke scale, tier gpu: 7 tests ran"])
    assert (pytester.path / "out" / "smoke_sweeps.txt").read_text() == "smoke scale, tier gpu: 7 tests ran\n"
