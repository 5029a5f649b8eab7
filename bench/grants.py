"""Shared helpers for the comparison benchmark: the catalog, and the (action, resource) grants of a policy.

A policy's grants are the pairs (action, resource) its Allow statements name, every action pattern expanded
against clawc's catalog (Sources/ClawcCatalog/Resources/catalog/<service>.json): case-insensitive, `*` any run
of characters, `?` one character, exactly as IAM matches action names. Resources are kept as written.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CATALOG = REPO / "Sources" / "ClawcCatalog" / "Resources" / "catalog"


@lru_cache(maxsize=None)
def service(prefix: str) -> dict:
    path = CATALOG / f"{prefix.lower()}.json"
    if not path.exists():
        return {"actions": {}, "resourceTypes": {}}
    return json.loads(path.read_text())


@lru_cache(maxsize=None)
def action_names(prefix: str) -> tuple[str, ...]:
    """Every action of a service, as `prefix:Name` in the catalog's casing."""
    return tuple(f"{prefix.lower()}:{name}" for name in sorted(service(prefix)["actions"]))


@lru_cache(maxsize=None)
def _glob(pattern: str) -> re.Pattern:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@lru_cache(maxsize=None)
def expand_action(pattern: str) -> frozenset[str]:
    """The catalog actions an action pattern matches, lower-cased. `*` alone matches every action of every service
    (reported as the single marker `*`). An exact name that the catalog lacks is kept as written (lower-cased)."""
    if pattern == "*":
        return frozenset({"*"})
    if ":" not in pattern:
        return frozenset({pattern.lower()})
    prefix, _, name = pattern.partition(":")
    if "*" in prefix or "?" in prefix:
        return frozenset({pattern.lower()})
    names = action_names(prefix.lower())
    if "*" not in name and "?" not in name:
        return frozenset({pattern.lower()})
    rx = _glob(pattern)
    return frozenset(a.lower() for a in names if rx.fullmatch(a))


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def grants(policy: dict) -> tuple[set[tuple[str, str]], list[str]]:
    """The (action, resource) pairs a policy allows, and problems that make the pairs not the whole story
    (NotAction, NotResource, conditions, Deny)."""
    pairs: set[tuple[str, str]] = set()
    problems: list[str] = []
    for st in as_list(policy.get("Statement")):
        if st.get("Effect") != "Allow":
            problems.append(f"non-Allow statement {st.get('Sid')}")
            continue
        for key in ("NotAction", "NotResource", "Condition"):
            if key in st:
                problems.append(f"{key} in statement {st.get('Sid')}")
        actions = set()
        for a in as_list(st.get("Action")):
            actions |= expand_action(a)
        for r in as_list(st.get("Resource")):
            for a in actions:
                pairs.add((a, r))
    return pairs, problems


def wildcard_actions(policy: dict) -> list[str]:
    """The action patterns of a policy that hold `*` or `?`."""
    out = []
    for st in as_list(policy.get("Statement")):
        for a in as_list(st.get("Action")):
            if "*" in a or "?" in a:
                out.append(a)
    return sorted(set(out))


def minified(policy: dict) -> str:
    """The policy as STS counts it: JSON with no whitespace between tokens."""
    return json.dumps(policy, separators=(",", ":"), ensure_ascii=False)


def compare(out_pairs: set[tuple[str, str]], input_pairs: set[tuple[str, str]]) -> dict:
    """What an output grants beyond the input, and what input it no longer grants."""
    extra = out_pairs - input_pairs
    missing = input_pairs - out_pairs
    input_resources = {r for _, r in input_pairs}
    wider_resources = sorted({r for _, r in extra if r not in input_resources})
    extra_actions = sorted({a for a, _ in extra})
    return {
        "extra_pairs": len(extra),
        "missing_pairs": len(missing),
        "extra_actions": extra_actions,
        "wider_resources": wider_resources,
        "extra_example": sorted(extra)[:3],
        "missing_example": sorted(missing)[:3],
    }
