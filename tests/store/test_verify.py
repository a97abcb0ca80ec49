"""Verification: each kind of damage or forgery is found, by its code and at its path."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from heritage.store import verify as verify_module
from heritage.store.ocfl import Changes, StorageRoot, User
from heritage.store.signing import (
    EXTENSION_NAME,
    InstanceSigner,
    SigningKey,
    sign_inventory,
)
from heritage.store.verify import VerificationReport, verify_object, verify_stored

ALICE = User("Alice", "mailto:alice@example.org")
RECORD = "urn:heritage:record:7"
SIG = f"extensions/{EXTENSION_NAME}"
DOC = Path(__file__).resolve().parents[2] / "docs" / "signatures.md"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, key: SigningKey) -> Path:
    """A signed object of three versions, copied out of its storage root."""
    base = tmp_path_factory.mktemp("verify")
    root = StorageRoot(base / "ocfl", signer=InstanceSigner(key)).initialize()
    files = {"a.txt": b"alpha", "b.txt": b"beta", "dir/c.txt": b"gamma"}
    root.create_or_update(RECORD, Changes.of(files), "first", ALICE)
    root.create_or_update(RECORD, Changes.of({"d.txt": b"delta"}), "second", ALICE)
    root.create_or_update(RECORD, Changes.of({"a.txt": b"alpha 2"}), "third", ALICE)
    root.wait_for_cleanup()
    copy = base / "pristine"
    shutil.copytree(root.object_root(RECORD), copy)
    return copy


@pytest.fixture
def obj(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "object"
    shutil.copytree(pristine, copy)
    return copy


def check(obj: Path, key: SigningKey, **options: Any) -> VerificationReport:
    return verify_object(obj, [key.public], **options)


def codes_at(report: VerificationReport) -> set[tuple[str, str]]:
    return {(finding.code, finding.path) for finding in report.findings}


def fix_sidecar(inventory: Path) -> None:
    digest = hashlib.sha512(inventory.read_bytes()).hexdigest()
    inventory.with_name("inventory.json.sha512").write_text(f"{digest} inventory.json\n")


def rewrite_inventories(obj: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """What a forger without the key can do: change the inventory and fix the sidecars."""
    inventory = json.loads((obj / "inventory.json").read_bytes())
    change(inventory)
    data = (json.dumps(inventory, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    for path in (obj / "inventory.json", obj / inventory["head"] / "inventory.json"):
        path.write_bytes(data)
        fix_sidecar(path)


def resign(obj: Path, key: SigningKey) -> None:
    """What someone holding ``key`` can do: sign every version's inventory anew."""
    head = json.loads((obj / "inventory.json").read_bytes())
    for version in head["versions"]:
        data = (obj / version / "inventory.json").read_bytes()
        record = sign_inventory(key, head["id"], version, data, "2026-01-01T00:00:00Z")
        (obj / SIG / f"{version}.sig.json").write_bytes(record.to_json())


def first_path(inventory: dict[str, Any], logical: str, version: str = "v1") -> str:
    state = inventory["versions"][version]["state"]
    digest = next(d for d, paths in state.items() if logical in paths)
    return inventory["manifest"][digest][0]


# --- the good case ----------------------------------------------------------------------------


def test_an_untouched_object_verifies_with_no_finding(obj: Path, key: SigningKey) -> None:
    report = check(obj, key)
    assert report.ok, [f.line() for f in report.findings]
    assert report.findings == []
    assert (report.object_id, report.head) == (RECORD, "v3")
    assert report.signatures_verified == 3
    assert report.files_checked == 5
    assert report.summary().startswith("OK: urn:heritage:record:7 (v3)")


# --- inventories and sidecars ------------------------------------------------------------------


def test_tampered_inventory_with_fixed_sidecars_fails_the_signature(
    obj: Path, key: SigningKey
) -> None:
    rewrite_inventories(obj, lambda inv: inv["versions"]["v3"].update(message="forged"))
    report = check(obj, key)
    assert codes_at(report) == {
        ("HC-SIG-DIGEST-MISMATCH", "inventory.json"),
        ("HC-SIG-DIGEST-MISMATCH", "v3/inventory.json"),
    }
    assert not report.ok


def test_content_replaced_together_with_its_manifest_digest_is_caught(
    obj: Path, key: SigningKey
) -> None:
    inventory = json.loads((obj / "inventory.json").read_bytes())
    path = first_path(inventory, "b.txt")
    forged = b"not beta"
    (obj / path).write_bytes(forged)

    def change(inv: dict[str, Any]) -> None:
        old = next(d for d, paths in inv["manifest"].items() if path in paths)
        new = hashlib.sha512(forged).hexdigest()
        inv["manifest"][new] = inv["manifest"].pop(old)
        for version in inv["versions"].values():
            if old in version["state"]:
                version["state"][new] = version["state"].pop(old)

    rewrite_inventories(obj, change)
    report = check(obj, key)
    # the content matches the forged manifest; only the signatures can tell
    assert ("HC-SIG-DIGEST-MISMATCH", "inventory.json") in codes_at(report)
    assert ("HC-SIG-DIGEST-MISMATCH", "v3/inventory.json") in codes_at(report)
    assert "HC-DIGEST-MISMATCH" not in report.codes()


def test_tampered_sidecar(obj: Path, key: SigningKey) -> None:
    (obj / "inventory.json.sha512").write_text("0" * 128 + " inventory.json\n")
    report = check(obj, key)
    assert ("HC-SIDECAR-MISMATCH", "inventory.json.sha512") in codes_at(report)
    sidecar = next(f for f in report.findings if f.code == "HC-SIDECAR-MISMATCH")
    assert sidecar.ocfl_code == "E060"


def test_root_inventory_differing_from_the_head_copy(obj: Path, key: SigningKey) -> None:
    root = obj / "inventory.json"
    root.write_bytes(root.read_bytes().replace(b'"third"', b'"THIRD"'))
    fix_sidecar(root)
    report = check(obj, key)
    assert codes_at(report) == {
        ("HC-HEAD-INVENTORY-DIFFERS", "inventory.json"),
        ("HC-SIG-DIGEST-MISMATCH", "inventory.json"),
    }


def test_missing_root_inventory_falls_back_to_the_head_version(obj: Path, key: SigningKey) -> None:
    (obj / "inventory.json").unlink()
    report = check(obj, key, ocfl_validation=False)
    assert ("HC-INVENTORY-MISSING", "inventory.json") in codes_at(report)
    assert ("HC-INVENTORY-FALLBACK", "inventory.json") in codes_at(report)
    assert report.signatures_verified == 3  # the version inventories still verify


# --- content -----------------------------------------------------------------------------------


def test_tampered_content(obj: Path, key: SigningKey) -> None:
    (obj / "v1/content/dir/c.txt").write_bytes(b"gamma!")
    report = check(obj, key)
    assert codes_at(report) == {("HC-DIGEST-MISMATCH", "v1/content/dir/c.txt")}
    assert report.findings[0].ocfl_code == "E092"


def test_swapped_files_are_named_as_swapped(obj: Path, key: SigningKey) -> None:
    a, b = obj / "v1/content/a.txt", obj / "v1/content/b.txt"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    report = check(obj, key)
    assert codes_at(report) == {
        ("HC-FILE-SWAPPED", "v1/content/a.txt"),
        ("HC-FILE-SWAPPED", "v1/content/b.txt"),
    }
    message = next(f.message for f in report.findings if f.path == "v1/content/a.txt")
    assert "v1/content/b.txt" in message


def test_deleted_file(obj: Path, key: SigningKey) -> None:
    (obj / "v2/content/d.txt").unlink()
    report = check(obj, key)
    assert ("HC-FILE-MISSING", "v2/content/d.txt") in codes_at(report)
    assert {f.code for f in report.errors} == {"HC-FILE-MISSING"}


def test_extra_files_anywhere(obj: Path, key: SigningKey) -> None:
    (obj / "v2/content/smuggled.bin").write_bytes(b"x")
    (obj / "notes.txt").write_bytes(b"x")
    (obj / SIG / "readme.txt").write_bytes(b"x")
    report = check(obj, key)
    found = {(f.code, f.path, f.ocfl_code) for f in report.findings if f.source == "heritage"}
    assert found == {
        ("HC-FILE-EXTRA", "v2/content/smuggled.bin", "E023"),
        ("HC-FILE-EXTRA", "notes.txt", "E001"),
        ("HC-FILE-EXTRA", f"{SIG}/readme.txt", None),
    }


def test_fixity_blocks_are_checked(obj: Path, key: SigningKey) -> None:
    def add_fixity(inv: dict[str, Any]) -> None:
        inv["fixity"] = {
            "md5": {
                hashlib.md5(b"alpha").hexdigest(): ["v1/content/a.txt"],  # noqa: S324
                "0" * 32: ["v1/content/b.txt"],
            }
        }

    rewrite_inventories(obj, add_fixity)
    resign(obj, key)  # an honest instance wrote this fixity block
    report = check(obj, key)
    assert codes_at(report) == {("HC-FIXITY-MISMATCH", "v1/content/b.txt")}


# --- signatures ------------------------------------------------------------------------------


def test_removed_signature_file(obj: Path, key: SigningKey) -> None:
    (obj / SIG / "v2.sig.json").unlink()
    report = check(obj, key)
    assert codes_at(report) == {("HC-SIG-MISSING", f"{SIG}/v2.sig.json")}
    assert not report.ok
    lenient = check(obj, key, allow_unsigned=True)
    assert lenient.ok and {f.code for f in lenient.warnings} == {"HC-SIG-MISSING"}


def test_all_signatures_removed_is_not_a_clean_object(obj: Path, key: SigningKey) -> None:
    shutil.rmtree(obj / "extensions")
    report = check(obj, key)
    assert sorted(report.at("HC-SIG-MISSING")) == [f"{SIG}/v{n}.sig.json" for n in (1, 2, 3)]
    assert not report.ok


def test_signature_by_another_key(obj: Path, key: SigningKey) -> None:
    other = SigningKey.generate()
    rewrite_inventories(obj, lambda inv: inv["versions"]["v3"].update(message="forged"))
    resign(obj, other)  # a forger signs with their own key
    report = check(obj, key)
    assert codes_at(report) == {("HC-SIG-UNTRUSTED-KEY", f"{SIG}/v{n}.sig.json") for n in (1, 2, 3)}
    assert all(other.key_id in f.message for f in report.findings)


def test_wrong_public_key_given_offline(obj: Path) -> None:
    stranger = SigningKey.generate()
    report = verify_object(obj, [stranger.public])
    assert report.at("HC-SIG-UNTRUSTED-KEY") == [f"{SIG}/v{n}.sig.json" for n in (1, 2, 3)]
    nobody = verify_object(obj, [])
    assert nobody.codes() == {"HC-SIG-UNTRUSTED-KEY"}


def test_altered_signature_file_is_a_bad_signature(obj: Path, key: SigningKey) -> None:
    path = obj / SIG / "v1.sig.json"
    record = json.loads(path.read_bytes())
    record["inventoryDigest"]["value"] = hashlib.sha512(b"other").hexdigest()
    path.write_text(json.dumps(record, indent=2, sort_keys=True))
    assert codes_at(check(obj, key)) == {("HC-SIG-BAD", f"{SIG}/v1.sig.json")}


def test_signature_copied_from_another_version(obj: Path, key: SigningKey) -> None:
    shutil.copyfile(obj / SIG / "v1.sig.json", obj / SIG / "v2.sig.json")
    assert codes_at(check(obj, key)) == {("HC-SIG-WRONG-OBJECT", f"{SIG}/v2.sig.json")}


def test_malformed_signature_file(obj: Path, key: SigningKey) -> None:
    (obj / SIG / "v3.sig.json").write_text("{}")
    report = check(obj, key)
    assert codes_at(report) == {("HC-SIG-MALFORMED", f"{SIG}/v3.sig.json")}


def test_rolled_back_object_leaves_an_orphan_signature(obj: Path, key: SigningKey) -> None:
    shutil.rmtree(obj / "v3")
    for name in ("inventory.json", "inventory.json.sha512"):
        shutil.copyfile(obj / "v2" / name, obj / name)
    report = check(obj, key)
    assert codes_at(report) == {("HC-SIG-ORPHAN", f"{SIG}/v3.sig.json")}


def test_an_unlisted_version_directory(obj: Path, key: SigningKey) -> None:
    shutil.copytree(obj / "v3", obj / "v4")
    report = check(obj, key, ocfl_validation=False)
    assert codes_at(report) == {("HC-VERSION-EXTRA", "v4")}


# --- OCFL findings and storage roots ------------------------------------------------------------


def test_ocfl_py_errors_are_included_with_their_codes(obj: Path, key: SigningKey) -> None:
    (obj / "v1/content/empty-dir").mkdir()  # only ocfl-py looks at directories
    report = check(obj, key)
    assert not report.ok
    assert any(f.source == "ocfl-py" and f.code == "E024" for f in report.errors), [
        f.line() for f in report.findings
    ]
    (obj / "0=ocfl_object_1.1").unlink()
    declaration = check(obj, key)
    assert ("HC-DECLARATION-MISSING", "") in codes_at(declaration)


class RemoteOnly:
    """A storage root seen only through the raw-access methods, as an S3 root is."""

    def __init__(self, objects: dict[str, Path]) -> None:
        self.objects = objects

    def object_files(self, object_id: str) -> list[str]:
        base = self.objects[object_id]
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def open_stored(self, object_id: str, relative_path: str) -> BinaryIO:
        return (self.objects[object_id] / relative_path).open("rb")


def test_objects_are_verified_through_raw_access(obj: Path, key: SigningKey) -> None:
    remote = RemoteOnly({RECORD: obj})
    assert verify_stored(remote, RECORD, [key.public]).findings == []
    (obj / "v1/content/a.txt").write_bytes(b"rot")
    report = verify_stored(remote, RECORD, [key.public])
    assert codes_at(report) == {("HC-DIGEST-MISMATCH", "v1/content/a.txt")}
    missing = verify_stored(remote, "urn:none", [key.public])
    assert missing.codes() == {"HC-OBJECT-MISSING"}
    elsewhere = verify_stored(RemoteOnly({"urn:other": obj}), "urn:other", [key.public])
    assert ("HC-OBJECT-ID-MISMATCH", "inventory.json") in codes_at(elsewhere)


@pytest.fixture
def store(tmp_path: Path, key: SigningKey) -> Iterator[StorageRoot]:
    storage = StorageRoot(tmp_path / "ocfl", signer=InstanceSigner(key)).initialize()
    yield storage
    storage.wait_for_cleanup()


def test_local_storage_root_objects_verify_in_place(store: StorageRoot, key: SigningKey) -> None:
    store.create_or_update(RECORD, Changes.of({"a.txt": b"alpha"}), "first", ALICE)
    store.create_or_update(RECORD, Changes.of({"b.txt": b"beta"}), "second", ALICE)
    store.wait_for_cleanup()
    assert verify_stored(store, RECORD, [key.public]).findings == []
    (store.object_root(RECORD) / "v2/content/b.txt").write_bytes(b"BETA")
    report = verify_stored(store, RECORD, [key.public])
    assert codes_at(report) == {("HC-DIGEST-MISMATCH", "v2/content/b.txt")}
    assert "ocfl-py" not in {f.source for f in report.findings}  # E092 not reported twice


def test_every_finding_code_is_documented() -> None:
    source = Path(verify_module.__file__).read_text()
    codes = set(re.findall(r'"(HC-[A-Z-]+)"', source))
    documented = set(re.findall(r"^\| `(HC-[A-Z-]+)` \|", DOC.read_text(), re.M))
    assert codes == documented


def test_broken_inventories_get_ocfl_codes_older_versions_still_checked(
    obj: Path, key: SigningKey
) -> None:
    for path in (obj / "inventory.json", obj / "v3/inventory.json"):
        path.write_bytes(b"{not json")
        fix_sidecar(path)
    report = check(obj, key)
    assert ("HC-INVENTORY-INVALID", "inventory.json") in codes_at(report)
    invalid = next(f for f in report.findings if f.path == "inventory.json")
    assert invalid.ocfl_code == "E033"
    assert report.at("HC-INVENTORY-FALLBACK") == ["inventory.json"]  # v2's inventory is used
    assert codes_at(report) == {
        ("HC-INVENTORY-INVALID", "inventory.json"),
        ("HC-INVENTORY-INVALID", "v3/inventory.json"),
        ("HC-INVENTORY-FALLBACK", "inventory.json"),
    }
