"""The claim registry: every catalog id is present, and malformed entries are clear errors."""

import re
from pathlib import Path

import pytest

from losslab.catalog import CatalogError, load_catalog

ROOT = Path(__file__).resolve().parents[2]
SHARED_CLAIMS = ROOT.parent / "shared" / "CLAIMS.md"

GOOD = """id = "WZE17-T1"
paper = "WZE17"
locus = "Theorem 1"
kind = "math"
statement = "a bound"
criterion = "LHS <= RHS"

[paper_values]
"runs" = 6
"""


def make_reference(tmp_path: Path, claim_text: str = GOOD, name: str = "WZE17-T1") -> Path:
    ref = tmp_path / "reference"
    (ref / "WZE17").mkdir(parents=True)
    (ref / "papers.toml").write_text('[[paper]]\nkey = "WZE17"\ntitle = "t"\nfile = "f.txt"\n')
    (ref / "WZE17" / f"{name}.toml").write_text(claim_text)
    return ref


def test_repository_catalog_loads_with_all_four_papers():
    catalog = load_catalog(ROOT / "reference")
    assert set(catalog.papers) == {"WZE17", "NMH19", "LI19", "LP17"}
    assert {c.kind for c in catalog.claims.values()} == {"math", "numeric", "training"}


@pytest.mark.skipif(not SHARED_CLAIMS.is_file(), reason="../shared/CLAIMS.md not beside the checkout")
def test_every_claim_of_the_shared_catalog_is_registered():
    ids = set(re.findall(r"^\| ((?:WZE17|NMH19|LI19|LP17)-[A-Za-z0-9]+) \|", SHARED_CLAIMS.read_text(), re.M))
    assert len(ids) == 41
    assert ids == set(load_catalog(ROOT / "reference").ids())


def test_a_valid_entry_loads(tmp_path):
    claim = load_catalog(make_reference(tmp_path))["WZE17-T1"]
    assert claim.paper_values == {"runs": 6} and claim.kind == "math"


@pytest.mark.parametrize("old, new, field", [
    ('kind = "math"', 'kind = "maths"', "'kind'"),
    ('locus = "Theorem 1"\n', "", "'locus'"),
    ('paper = "WZE17"', 'paper = "LP17"', "'paper'"),
    ('"runs" = 6', '"runs" = [6]', "'paper_values.runs'"),
    ('criterion = "LHS <= RHS"', 'criterion = "LHS <= RHS"\nextra = 1', "unknown field"),
    ('criterion = "LHS <= RHS"', 'criterion = ""', "'criterion'"),
])
def test_malformed_entry_names_file_and_field(tmp_path, old, new, field):
    ref = make_reference(tmp_path, GOOD.replace(old, new))
    with pytest.raises(CatalogError) as info:
        load_catalog(ref)
    assert "WZE17-T1.toml" in str(info.value) and field in str(info.value)


def test_id_must_match_file_name(tmp_path):
    with pytest.raises(CatalogError, match="file name"):
        load_catalog(make_reference(tmp_path, name="WZE17-T2"))


def test_invalid_toml_is_reported_with_its_path(tmp_path):
    with pytest.raises(CatalogError, match="WZE17-T1.toml: not valid TOML"):
        load_catalog(make_reference(tmp_path, GOOD + "\nthis is not toml"))


WITH_PARTS = GOOD + """
[[parts]]
id = "relu"
statement = "ReLU nets"

[[parts]]
id = "psd"
statement = "PSD by convexity"
check = "identity"

[criteria.slack]
value = 1e-12
source = "float64 rounding"
parts = ["relu"]
"""


def test_parts_and_criteria_load(tmp_path):
    claim = load_catalog(make_reference(tmp_path, WITH_PARTS))["WZE17-T1"]
    assert claim.part_ids() == ["relu", "psd"] and claim.parts["psd"].check == "identity"
    assert claim.threshold("slack") == 1e-12 and claim.criteria["slack"].source == "float64 rounding"
    with pytest.raises(KeyError, match=r"WZE17-T1.toml: no \[criteria.margin\]"):
        claim.threshold("margin")


def test_a_claim_without_parts_has_one_implicit_part(tmp_path):
    claim = load_catalog(make_reference(tmp_path))["WZE17-T1"]
    assert claim.part_ids() == ["main"] and claim.parts["main"].statement == "a bound"


@pytest.mark.parametrize("old, new, field", [
    ('source = "float64 rounding"\n', "", "criteria.slack: field 'source' is missing"),
    ('source = "float64 rounding"', 'source = "the value measured here on 5 seeds"', "cites this suite's own runs"),
    ('source = "float64 rounding"', 'source = "fitted to our runs"', "cites this suite's own runs"),
    ('parts = ["relu"]', 'parts = ["tanh"]', "names a part not in [[parts]]"),
    ('value = 1e-12', 'value = {a = 1}', "field 'value'"),
    ('check = "identity"', 'check = "obvious"', "field 'check'"),
    ('id = "psd"', 'id = "relu"', "defined twice"),
    ('id = "psd"', 'id = "PSD!"', "parts[1]: field 'id'"),
    ('[criteria.slack]', '[criteria.slack]\ntolerance = 2', "criteria.slack: unknown field"),
])
def test_malformed_parts_and_criteria_name_file_and_field(tmp_path, old, new, field):
    ref = make_reference(tmp_path, WITH_PARTS.replace(old, new))
    with pytest.raises(CatalogError) as info:
        load_catalog(ref)
    assert "WZE17-T1.toml" in str(info.value) and field in str(info.value)
