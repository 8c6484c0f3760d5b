"""The claim registry: load and validate `reference/` (one TOML file per claim).

Layout: `reference/papers.toml` lists the papers; `reference/<PAPER>/<ID>.toml` holds one claim
with the fields of `Claim`, its `[[parts]]` (statements or table cells) and its preregistered
`[criteria.NAME]` (value + source); docs/verdicts.md. Every malformed entry raises `CatalogError`
naming file and field.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("math", "numeric", "training")
CHECKS = ("empirical", "identity")  # identity: cannot fail by construction, never evidence
CLAIM_ID = re.compile(r"^(?P<paper>[A-Z]+[0-9]+)-[A-Z0-9]+[a-z]?$")
PART_ID = re.compile(r"^[a-z0-9][a-z0-9_.+-]*$")
REQUIRED = ("id", "paper", "locus", "kind", "statement", "criterion")
OPTIONAL = ("paper_values", "parts", "criteria")
DEFAULT_PART = "main"
# A criterion's source is a paper value or a principle, never this suite's own runs.
SELF_FITTED = re.compile(r"\b(our (own )?(runs?|measurements?)|this suite'?s? (own )?(runs?|measurements?)|"
                         r"fitted to|measured (here|by us|on our))\b", re.IGNORECASE)


class CatalogError(ValueError):
    """A reference file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Paper:
    key: str
    title: str
    file: str


@dataclass(frozen=True)
class Part:
    """One statement or table cell of a claim; check "identity" = cannot fail by construction."""

    id: str
    statement: str
    check: str = "empirical"


@dataclass(frozen=True)
class Criterion:
    """A preregistered threshold: its value and where it comes from (paper locus or principle)."""

    name: str
    value: object
    source: str
    parts: tuple[str, ...] = ()


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
    parts: dict[str, Part] = field(default_factory=dict)
    criteria: dict[str, Criterion] = field(default_factory=dict)

    def threshold(self, name: str):
        """The value of criterion `name` from this claim's TOML (KeyError names the file and the known names)."""
        if name not in self.criteria:
            raise KeyError(f"{self.source_file}: no [criteria.{name}] (known: {sorted(self.criteria)})")
        return self.criteria[name].value

    def part_ids(self) -> list[str]:
        return list(self.parts)


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
    unknown = set(raw) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise CatalogError(f"{path}: unknown field(s) {sorted(unknown)}; allowed: {REQUIRED + OPTIONAL}")
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
    parts = _validate_parts(path, raw.get("parts"), raw["statement"])
    return Claim(
        id=raw["id"], paper=raw["paper"], locus=raw["locus"], kind=raw["kind"],
        statement=raw["statement"].strip(), criterion=raw["criterion"].strip(),
        paper_values=dict(values), source_file=str(path),
        parts=parts, criteria=_validate_criteria(path, raw.get("criteria", {}), parts),
    )


def _table(where: str, entry, allowed: tuple[str, ...]) -> dict:
    """`entry` as a TOML table holding only `allowed` keys, else a CatalogError at `where`."""
    if not isinstance(entry, dict):
        raise CatalogError(f"{where}: must be a table with {', '.join(allowed)}")
    unknown = set(entry) - set(allowed)
    if unknown:
        raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {', '.join(allowed)}")
    return entry


def _validate_parts(path: Path, raw, statement: str) -> dict[str, Part]:
    if raw is None:
        return {DEFAULT_PART: Part(DEFAULT_PART, statement.strip())}
    if not isinstance(raw, list) or not raw:
        raise CatalogError(f"{path}: field 'parts' must be a non-empty array of tables ([[parts]])")
    parts: dict[str, Part] = {}
    for i, entry in enumerate(raw):
        where = f"{path}: parts[{i}]"
        entry = _table(where, entry, ("id", "statement", "check"))
        pid = entry.get("id")
        if not isinstance(pid, str) or not PART_ID.match(pid):
            raise CatalogError(f"{where}: field 'id' = {pid!r} must match {PART_ID.pattern}")
        if pid in parts:
            raise CatalogError(f"{where}: field 'id' = {pid!r} is defined twice")
        text = entry.get("statement")
        if not isinstance(text, str) or not text.strip():
            raise CatalogError(f"{where}: field 'statement' must be a non-empty string")
        check = entry.get("check", "empirical")
        if check not in CHECKS:
            raise CatalogError(f"{where}: field 'check' = {check!r} must be one of {CHECKS}")
        parts[pid] = Part(pid, text.strip(), check)
    return parts


def _is_criterion_value(value) -> bool:
    if isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)


def _validate_criteria(path: Path, raw, parts: dict[str, Part]) -> dict[str, Criterion]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: field 'criteria' must be a table of [criteria.NAME] tables")
    criteria = {}
    for name, entry in raw.items():
        where = f"{path}: criteria.{name}"
        entry = _table(where, entry, ("value", "source", "parts"))
        if "value" not in entry or not _is_criterion_value(entry["value"]):
            raise CatalogError(f"{where}: field 'value' must be a number, bool, string or array of numbers")
        source = entry.get("source")
        if not isinstance(source, str) or not source.strip():
            raise CatalogError(f"{where}: field 'source' is missing: say which paper value or principle "
                               f"the threshold comes from")
        if SELF_FITTED.search(source):
            raise CatalogError(f"{where}: field 'source' = {source!r} cites this suite's own runs; a criterion "
                               f"comes from a paper value or a principle")
        named = entry.get("parts", [])
        if not isinstance(named, list) or any(p not in parts for p in named):
            raise CatalogError(f"{where}: field 'parts' = {named!r} names a part not in [[parts]] "
                               f"({sorted(parts)})")
        criteria[name] = Criterion(name, entry["value"], source.strip(), tuple(named))
    return criteria


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
