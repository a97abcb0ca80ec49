"""Planning the next version: a pure function from the head inventory and the changes.

Forward deltas: content whose digest the object already holds is not stored
again; only new digests get a content path in the new version directory.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from heritage.store.ocfl.errors import InvalidChange
from heritage.store.ocfl.inventory import (
    Inventory,
    User,
    Version,
    first_conflict,
    path_problem,
    version_name,
    version_number,
)

DEFAULT_DIGEST_ALGORITHM = "sha512"


@dataclass(frozen=True)
class Plan:
    inventory: Inventory
    # digest -> content path (relative to the object root) for content new in this version
    new_content: dict[str, str]
    # False when the new state equals the head state (nothing to record)
    changed: bool


def check_logical_path(path: str) -> None:
    problem = path_problem(path)
    reason = problem[1] if problem else None
    if reason is None and any(len(part.encode("utf-8")) > 255 for part in path.split("/")):
        reason = "has an element longer than 255 bytes"
    if reason is not None:
        raise InvalidChange(f"logical path {path!r} {reason}")


def plan_next_version(
    head: Inventory | None,
    object_id: str,
    additions: Mapping[str, str],
    removals: Collection[str],
    *,
    created: str,
    message: str,
    user: User,
) -> Plan:
    """The inventory after applying ``additions`` (path -> digest) and ``removals`` to ``head``.

    Digests in ``additions`` use the object's digest algorithm, in lower case.
    """
    both = set(additions) & set(removals)
    if both:
        raise InvalidChange(f"paths both added and removed: {sorted(both)}")
    for path in [*additions, *removals]:
        check_logical_path(path)
    if head is None:
        inventory = Inventory(
            id=object_id,
            head="v1",
            manifest={},
            versions={},
            digest_algorithm=DEFAULT_DIGEST_ALGORITHM,
        )
        old_state: dict[str, str] = {}
    else:
        if head.id != object_id:
            raise InvalidChange(f"object holds id {head.id!r}, not {object_id!r}")
        inventory = Inventory(
            id=head.id,
            head=version_name(version_number(head.head) + 1, like=head.head),
            manifest={digest: sorted(paths) for digest, paths in head.manifest.items()},
            versions=dict(head.versions),  # earlier version blocks are reused unchanged
            digest_algorithm=head.digest_algorithm,
            type=head.type,
            content_directory=head.content_directory,
            fixity=head.fixity,
        )
        old_state = head.head_version.logical_state()
    state = dict(old_state)
    for path in removals:
        if path not in state:
            raise InvalidChange(f"cannot remove {path!r}: not in the head version")
        del state[path]
    new_content: dict[str, str] = {}
    # imported objects may spell digests in upper case; a state must reuse the manifest's key
    keys = {digest.lower(): digest for digest in inventory.manifest}
    for path in sorted(additions):
        digest = additions[path].lower()
        key = keys.get(digest)
        if key is None:
            key = keys[digest] = digest
            content_path = f"{inventory.head}/{inventory.content_dir}/{path}"
            inventory.manifest[key] = [content_path]
            new_content[key] = content_path
        state[path] = key
    conflict = first_conflict(state)
    if conflict is not None:
        raise InvalidChange(f"{conflict[0]!r} would be both a file and a directory")
    grouped: dict[str, list[str]] = {}
    for path, digest in sorted(state.items()):  # in the order the written inventory has
        grouped.setdefault(digest, []).append(path)
    inventory.versions[inventory.head] = Version(
        created=created, state=grouped, message=message, user=user
    )
    if inventory.type != "https://ocfl.io/1.1/spec/#inventory":
        # a new version written by us conforms to 1.1 (OCFL E103 allows later, never earlier)
        inventory.type = "https://ocfl.io/1.1/spec/#inventory"
    changed = head is None or state != old_state
    return Plan(inventory=inventory, new_content=new_content, changed=changed)
