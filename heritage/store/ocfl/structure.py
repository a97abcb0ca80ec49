"""A second opinion on an object's structure, for the rules ocfl-py 2.1 words differently.

ocfl-py is the judge of validity, but for a few broken objects it reports a
related code instead of the one the specification names: version directories
v1, v2, v4 come out as E046 rather than E010, a file beside ``content/`` as
E042 rather than E015, a version inventory with the wrong head as E066 rather
than E040. Imports must name the specification's code, so these checks,
written from the specification's text, run beside ocfl-py and their codes are
added to its own. They are deliberately few and strict only where the
specification is unambiguous, and run against every good and warn fixture in
the tests so they never refuse a valid object.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import orjson

from heritage.store.ocfl.errors import InventoryError
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    INVENTORY_NAME,
    Inventory,
    parse_inventory,
    path_problem,
)

_VERSION_DIR = re.compile(r"^v\d+$")


@dataclass(frozen=True)
class Finding:
    code: str
    message: str


def _version_naming(names: list[str]) -> list[Finding]:
    """E009-E013: v1..vN without gaps, one naming convention, zero padding within its width."""
    findings: list[Finding] = []
    padded = [name for name in names if name.startswith("v0")]
    plain = [name for name in names if not name.startswith("v0")]
    if padded and plain:
        # v01..v09 then v10 looks like two conventions: the padding ran out of digits
        findings.append(Finding("E011", f"zero-padded versions overflow their width: {plain}"))
        findings.append(Finding("E013", f"version names mix conventions: {sorted(names)}"))
    if len({len(name) for name in padded}) > 1:
        findings.append(Finding("E012", f"zero-padded versions differ in width: {padded}"))
    numbers = sorted(int(name[1:]) for name in names)
    if numbers and numbers[0] != 1:
        findings.append(Finding("E009", f"versions start at v{numbers[0]}, not v1"))
    if numbers != list(range(numbers[0] if numbers else 1, len(numbers) + 1)):
        findings.append(Finding("E010", f"version directories are not continuous: {numbers}"))
    return findings


def _version_directory(directory: Path, root: Inventory) -> list[Finding]:
    findings: list[Finding] = []
    for entry in directory.iterdir():
        # an inventory and its sidecar (of any algorithm: objects may change algorithm)
        is_inventory = entry.name == INVENTORY_NAME or entry.name.startswith(INVENTORY_NAME + ".")
        if entry.is_file() and not is_inventory:
            message = f"{directory.name}/{entry.name} is a file outside the content directory"
            findings.append(Finding("E015", message))
    inventory_path = directory / INVENTORY_NAME
    if not inventory_path.is_file():
        return findings  # W010: only a warning, ocfl-py reports it
    try:
        inventory = parse_inventory(inventory_path.read_bytes())
    except InventoryError as exc:
        return [*findings, Finding(exc.code, f"{directory.name}/inventory.json: {exc.message}")]
    if inventory.head != directory.name:
        message = f"{directory.name}/inventory.json has head {inventory.head}"
        findings.append(Finding("E040", message))
    if inventory.content_dir != root.content_dir:
        message = (
            f"{directory.name}/inventory.json has contentDirectory"
            f" {inventory.content_dir!r}, the root inventory {root.content_dir!r}"
        )
        findings.append(Finding("E019", message))
    return findings


def _content_path_findings(raw: object) -> list[Finding]:
    """E099/E100 for every unsafe content path in the manifest and fixity blocks.

    The inventory parser stops at the first problem; an import report should
    name each kind of problem present.
    """
    if not isinstance(raw, dict):
        return []
    blocks = [raw.get("manifest")]
    fixity = raw.get("fixity")
    if isinstance(fixity, dict):
        blocks += list(fixity.values())
    findings: dict[str, Finding] = {}
    for block in blocks:
        if not isinstance(block, dict):
            continue
        for paths in block.values():
            for content_path in paths if isinstance(paths, list) else []:
                problem = path_problem(content_path, CONTENT_PATH_CODES)
                if problem is not None and problem[0] not in findings:
                    message = f"content path {content_path!r} {problem[1]}"
                    findings[problem[0]] = Finding(problem[0], message)
    return list(findings.values())


def check_object(path: Path) -> list[Finding]:
    """Structural errors in the object at ``path`` (empty when it passes these checks)."""
    findings: list[Finding] = []
    versions = sorted(entry.name for entry in path.iterdir() if _VERSION_DIR.match(entry.name))
    findings += _version_naming(versions)
    try:
        data = (path / INVENTORY_NAME).read_bytes()
    except FileNotFoundError:
        return [*findings, Finding("E063", "no root inventory.json")]
    with suppress(orjson.JSONDecodeError):
        findings += _content_path_findings(orjson.loads(data))
    try:
        root = parse_inventory(data)
    except InventoryError as exc:
        return [*findings, Finding(exc.code, f"inventory.json: {exc.message}")]
    for name in versions:
        if (path / name).is_dir():
            findings += _version_directory(path / name, root)
    return findings
