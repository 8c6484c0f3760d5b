"""The claim registry: load and validate `reference/` (one TOML file per claim).

Layout: `reference/papers.toml` lists the papers; `reference/<PAPER>/<ID>.toml` holds one claim
with the fields of `Claim`. Every malformed entry raises `CatalogError` naming file and field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("math", "numeric", "training")
CLAIM_ID = re.compile(r"^(?P<paper>[A-Z]+[0-9]+)-[A-Z0-9]+[a-z]?$")
REQUIRED = ("id", "paper", "locus", "kind", "statement", "criterion")


class CatalogError(ValueError):
    """A reference file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    file: str


@dataclass(frozen=True)
class Claim:
    id: str
    paper: str
    locus: str
    kind: str
    statement: str
    criterion: str
    paper_values: dict = field(default_factory=dict)
    source_file: str = ""


@dataclass(frozen=True)
class Catalog:
    papers: dict[str, Paper]
    claims: dict[str, Claim]

    def __contains__(self, claim_id: str) -> bool:
        return claim_id in self.claims

    def __getitem__(self, claim_id: str) -> Claim:
        return self.claims[claim_id]

    def ids(self) -> list[str]:
        return sorted(self.claims)


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc


def _load_papers(path: Path) -> dict[str, Paper]:
    if not path.is_file():
        raise CatalogError(f"{path}: missing (the list of papers)")
    papers = {}
    for i, entry in enumerate(_read_toml(path).get("paper", [])):
        for name in ("key", "title", "file"):
            if not isinstance(entry.get(name), str) or not entry[name].strip():
                raise CatalogError(f"{path}: paper #{i + 1}: field '{name}' must be a non-empty string")
        papers[entry["key"]] = Paper(entry["key"], entry["title"], entry["file"])
    if not papers:
        raise CatalogError(f"{path}: no [[paper]] entries")
    return papers


def _validate_claim(path: Path, raw: dict, papers: dict[str, Paper]) -> Claim:
    for name in REQUIRED:
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CatalogError(f"{path}: field '{name}' must be a non-empty string")
    unknown = set(raw) - set(REQUIRED) - {"paper_values"}
    if unknown:
        raise CatalogError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {REQUIRED + ('paper_values',)}")
    match = CLAIM_ID.match(raw["id"])
    if not match:
        raise CatalogError(f"{path}: field 'id' = {raw['id']!r} is not of the form PAPER-TAG (e.g. WZE17-T1)")
    if match["paper"] != raw["paper"]:
        raise CatalogError(f"{path}: field 'paper' = {raw['paper']!r} does not match the id's prefix {match['paper']!r}")
    if raw["paper"] not in papers:
        raise CatalogError(f"{path}: field 'paper' = {raw['paper']!r} is not in papers.toml ({sorted(papers)})")
    if path.stem != raw["id"]:
        raise CatalogError(f"{path}: field 'id' = {raw['id']!r} must equal the file name's stem")
    if raw["kind"] not in KINDS:
        raise CatalogError(f"{path}: field 'kind' = {raw['kind']!r} must be one of {KINDS}")
    values = raw.get("paper_values", {})
    if not isinstance(values, dict):
        raise CatalogError(f"{path}: field 'paper_values' must be a table")
    for key, value in values.items():
        if not isinstance(value, (str, int, float)):
            raise CatalogError(f"{path}: field 'paper_values.{key}' must be a number or a string")
    return Claim(
        id=raw["id"], paper=raw["paper"], locus=raw["locus"], kind=raw["kind"],
        statement=raw["statement"].strip(), criterion=raw["criterion"].strip(),
        paper_values=dict(values), source_file=str(path),
    )


def load_catalog(root: str | Path) -> Catalog:
    """Read every claim under `root` (the `reference/` folder) and validate it."""
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(f"{root}: the reference folder does not exist")
    papers = _load_papers(root / "papers.toml")
    claims: dict[str, Claim] = {}
    for path in sorted(root.glob("*/*.toml")):
        claim = _validate_claim(path, _read_toml(path), papers)
        if claim.id in claims:
            raise CatalogError(f"{path}: field 'id' = {claim.id!r} is already defined in {claims[claim.id].source_file}")
        if path.parent.name != claim.paper:
            raise CatalogError(f"{path}: claim of paper {claim.paper} must live in reference/{claim.paper}/")
        claims[claim.id] = claim
    if not claims:
        raise CatalogError(f"{root}: no claims found (expected reference/<PAPER>/<ID>.toml)")
    return Catalog(papers=papers, claims=claims)
