"""The instance signing key, the signatures written with each version, the documented format."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from heritage.store.ocfl import (
    Changes,
    ObjectNotFound,
    PathNotFound,
    StorageRoot,
    User,
)
from heritage.store.ocfl.validate import import_object, validate_storage_root
from heritage.store.signing import (
    EXTENSION_NAME,
    MESSAGE_PREFIX,
    InstanceSigner,
    PublicSigningKey,
    SignatureRecord,
    SigningKey,
    SigningKeyError,
    jwk_set,
    key_id_of,
    load_instance_keys,
    load_public_keys,
    rotate_signing_key,
    signed_message,
)
from heritage.store.verify import verify_object

ALICE = User("Alice", "mailto:alice@example.org")
RECORD = "urn:heritage:record:42"
SIGNATURES = f"extensions/{EXTENSION_NAME}"
DOC = Path(__file__).resolve().parents[2] / "docs" / "signatures.md"


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def root(tmp_path: Path, key: SigningKey) -> Iterator[StorageRoot]:
    storage = StorageRoot(tmp_path / "ocfl", signer=InstanceSigner(key)).initialize()
    yield storage
    storage.wait_for_cleanup()


def commit(root: StorageRoot, files: Mapping[str, bytes], object_id: str = RECORD) -> str:
    return root.create_or_update(object_id, Changes.of(dict(files)), "change", ALICE).version


# --- keys -------------------------------------------------------------------------------------


def test_signing_key_file_is_created_once_private_and_pkcs8(tmp_path: Path) -> None:
    keys_dir = tmp_path / "data" / "keys"
    first = load_instance_keys(keys_dir).current
    assert first is not None
    key_file = keys_dir / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    again = load_instance_keys(keys_dir).current
    assert again is not None and again.key_id == first.key_id
    assert re.fullmatch(r"ed25519:[0-9a-f]{16}", first.key_id)
    raw = first.public.raw
    assert first.key_id == "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]
    assert not [p for p in keys_dir.iterdir() if p.name.endswith(".tmp")]


def test_concurrent_first_use_keeps_one_key(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    ids: list[str] = []

    def load() -> None:
        current = load_instance_keys(keys_dir).current
        assert current is not None
        ids.append(current.key_id)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(ids) == 8 and len(set(ids)) == 1


def test_verifying_never_creates_a_key_and_open_key_files_are_refused(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    assert load_instance_keys(keys_dir, create=False).current is None
    assert not keys_dir.joinpath("signing.key").exists()
    load_instance_keys(keys_dir)
    os.chmod(keys_dir / "signing.key", 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_instance_keys(keys_dir)
    os.chmod(keys_dir / "signing.key", 0o600)
    (keys_dir / "signing.key").write_bytes(b"not a key")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM key"):
        load_instance_keys(keys_dir)


def test_rotation_retires_the_public_key_and_keeps_old_signatures_valid(
    tmp_path: Path,
) -> None:
    keys_dir = tmp_path / "keys"
    old = load_instance_keys(keys_dir).current
    assert old is not None
    storage = StorageRoot(tmp_path / "ocfl", signer=InstanceSigner(old)).initialize()
    commit(storage, {"a.txt": b"one"})
    new = rotate_signing_key(keys_dir)
    assert new.key_id != old.key_id
    keys = load_instance_keys(keys_dir)
    assert keys.current is not None and keys.current.key_id == new.key_id
    assert [k.key_id for k in keys.public_keys()] == [new.key_id, old.key_id]
    assert stat.S_IMODE((keys_dir / "signing.key").stat().st_mode) == 0o600
    # the private part of the old key is gone for good; only its public key is kept
    retired = list((keys_dir / "signing-retired").iterdir())
    assert [p.read_bytes()[:26] for p in retired] == [b"-----BEGIN PUBLIC KEY-----"]

    storage = StorageRoot(storage.path, signer=InstanceSigner(new)).open()
    commit(storage, {"b.txt": b"two"})
    storage.wait_for_cleanup()
    obj = storage.object_root(RECORD)
    signers = {
        version: json.loads((obj / SIGNATURES / f"{version}.sig.json").read_bytes())["keyId"]
        for version in ("v1", "v2")
    }
    assert signers == {"v1": old.key_id, "v2": new.key_id}
    assert verify_object(obj, keys.public_keys()).ok
    only_new = verify_object(obj, [new.public])
    assert only_new.at("HC-SIG-UNTRUSTED-KEY") == [f"{SIGNATURES}/v1.sig.json"]


def test_public_keys_load_from_pem_jwk_and_jwk_set(tmp_path: Path, key: SigningKey) -> None:
    other = SigningKey.generate()
    pem = tmp_path / "key.pem"
    pem.write_bytes(key.public.to_pem())
    single = tmp_path / "key.jwk"
    single.write_text(json.dumps(key.public.to_jwk()))
    keyset = tmp_path / "keys.json"
    keyset.write_text(json.dumps(jwk_set([key.public, other.public])))
    assert load_public_keys(pem) == [key.public]
    assert load_public_keys(single) == [key.public]
    assert load_public_keys(keyset) == [key.public, other.public]
    wrong_kid = tmp_path / "wrong.jwk"
    wrong_kid.write_text(json.dumps({**key.public.to_jwk(), "kid": other.key_id}))
    with pytest.raises(SigningKeyError, match="kid"):
        load_public_keys(wrong_kid)
    (tmp_path / "junk").write_bytes(b"junk")
    with pytest.raises(SigningKeyError):
        load_public_keys(tmp_path / "junk")


def test_jwk_follows_rfc_8037(key: SigningKey) -> None:
    jwk = jwk_set([key.public])["keys"][0]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(key.public.raw).rstrip(b"=").decode(),
        "kid": key.key_id,
        "use": "sig",
    }
    assert PublicSigningKey.from_jwk(jwk) == key.public


# --- the signature format ------------------------------------------------------------------


def test_signed_message_is_the_documented_bytes() -> None:
    message = signed_message("urn:x:1", "v3", "sha512", "ABCDEF")
    assert message == (
        b"heritage-cloud signed inventory v1\n"
        b"object-id: urn:x:1\n"
        b"version: v3\n"
        b"inventory-digest: sha512:abcdef\n"
    )
    assert message.startswith(MESSAGE_PREFIX)
    assert MESSAGE_PREFIX.decode() in DOC.read_text()


def test_signer_returns_a_verifiable_signature_file_and_config(key: SigningKey) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    signer = InstanceSigner(key, clock=lambda: when)
    inventory = b'{"id": "urn:x:1"}\n'
    files = signer.sign_version("urn:x:1", "v1", inventory)
    assert set(files) == {"v1.sig.json", "config.json"}
    assert json.loads(files["config.json"])["extensionName"] == EXTENSION_NAME
    document = json.loads(files["v1.sig.json"])
    assert document["format"] == "heritage-cloud-signed-inventory"
    assert document["formatVersion"] == 1
    assert document["algorithm"] == "Ed25519"
    assert document["objectId"] == "urn:x:1" and document["version"] == "v1"
    assert document["inventoryDigest"] == {
        "algorithm": "sha512",
        "value": hashlib.sha512(inventory).hexdigest(),
    }
    assert document["keyId"] == key.key_id
    assert document["signed"] == "2026-01-02T03:04:05.600000Z"
    # checked with the plain cryptography API, independently of our own classes
    raw = base64.urlsafe_b64decode(document["publicKey"] + "=")
    signature = base64.urlsafe_b64decode(document["signature"] + "==")
    message = signed_message("urn:x:1", "v1", "sha512", document["inventoryDigest"]["value"])
    Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    record = SignatureRecord.from_bytes(files["v1.sig.json"])
    assert record.to_json() == files["v1.sig.json"]


# --- signing in the storage root -------------------------------------------------------------


def test_every_version_gets_its_signature_in_the_same_tree(
    root: StorageRoot, key: SigningKey
) -> None:
    commit(root, {"a.txt": b"alpha"})
    root.wait_for_cleanup()
    obj = root.object_root(RECORD)
    v1_signature = (obj / SIGNATURES / "v1.sig.json").read_bytes()
    commit(root, {"b.txt": b"beta"})
    commit(root, {"c/d.txt": b"delta"})
    root.wait_for_cleanup()
    names = sorted(p.name for p in (obj / SIGNATURES).iterdir())
    assert names == ["config.json", "v1.sig.json", "v2.sig.json", "v3.sig.json"]
    assert (obj / SIGNATURES / "v1.sig.json").read_bytes() == v1_signature  # carried over
    for version in ("v1", "v2", "v3"):
        record = SignatureRecord.from_bytes((obj / SIGNATURES / f"{version}.sig.json").read_bytes())
        inventory = (obj / version / "inventory.json").read_bytes()
        assert record.digest == hashlib.sha512(inventory).hexdigest()
        assert (record.object_id, record.version) == (RECORD, version)
        assert key.public.verify(record.signature, record.message())
    assert (obj / "inventory.json").read_bytes() == (obj / "v3" / "inventory.json").read_bytes()
    report = verify_object(obj, [key.public])
    assert report.ok and report.findings == [], [f.line() for f in report.findings]
    assert report.signatures_verified == 3


def test_ocfl_py_still_finds_the_root_and_object_valid(root: StorageRoot) -> None:
    commit(root, {"a.txt": b"alpha"})
    commit(root, {"a.txt": b"alpha 2"})
    root.wait_for_cleanup()
    report = validate_storage_root(root.path)
    assert report.valid, report.summary()
    assert report.errors == []
    object_warnings = {issue.code for issue in report.warnings if issue.path}
    assert "W013" in object_warnings  # an unregistered object extension: a warning only
    w013 = [issue.message for issue in report.warnings if issue.code == "W013"]
    assert any(EXTENSION_NAME in message for message in w013)
    empty = [d for d, dirs, files in os.walk(root.path) if not dirs and not files]
    assert not empty


def test_a_failing_signer_leaves_no_version_behind(root: StorageRoot, key: SigningKey) -> None:
    commit(root, {"a.txt": b"alpha"})

    class Broken:
        extension_name = EXTENSION_NAME

        def sign_version(self, object_id: str, version: str, data: bytes) -> Mapping[str, bytes]:
            raise RuntimeError("key unavailable")

    broken = StorageRoot(root.path, signer=Broken()).open()
    with pytest.raises(RuntimeError, match="key unavailable"):
        commit(broken, {"b.txt": b"beta"})
    broken.wait_for_cleanup()
    assert root.inventory(RECORD).head == "v1"
    obj = root.object_root(RECORD)
    assert not (obj / "v2").exists()
    assert verify_object(obj, [key.public]).ok


def test_signer_file_names_must_be_plain(root: StorageRoot) -> None:
    class Escaping:
        extension_name = EXTENSION_NAME

        def sign_version(self, object_id: str, version: str, data: bytes) -> Mapping[str, bytes]:
            return {"../../v1/content/evil": b"x"}

    storage = StorageRoot(root.path, signer=Escaping()).open()
    with pytest.raises(ValueError, match="plain names"):
        commit(storage, {"a.txt": b"alpha"})
    assert not storage.exists(RECORD)


def test_imported_objects_stay_unsigned_later_versions_are_signed(
    tmp_path: Path, root: StorageRoot, key: SigningKey
) -> None:
    pytest.importorskip("ocfl")
    elsewhere = StorageRoot(tmp_path / "elsewhere").initialize()
    commit(elsewhere, {"a.txt": b"alpha"}, "urn:elsewhere:1")
    commit(elsewhere, {"b.txt": b"beta"}, "urn:elsewhere:1")
    elsewhere.wait_for_cleanup()
    import_object(elsewhere.object_root("urn:elsewhere:1"), root)
    obj = root.object_root("urn:elsewhere:1")
    assert not (obj / "extensions").exists()  # copied unchanged
    commit(root, {"c.txt": b"gamma"}, "urn:elsewhere:1")
    root.wait_for_cleanup()
    assert sorted(p.name for p in (obj / SIGNATURES).iterdir()) == ["config.json", "v3.sig.json"]
    strict = verify_object(obj, [key.public])
    assert sorted(strict.at("HC-SIG-MISSING")) == [
        f"{SIGNATURES}/v1.sig.json",
        f"{SIGNATURES}/v2.sig.json",
    ]
    assert not strict.ok
    lenient = verify_object(obj, [key.public], allow_unsigned=True)
    assert lenient.ok and lenient.signatures_verified == 1
    assert {f.code for f in lenient.warnings} == {"HC-SIG-MISSING"}


# --- raw access --------------------------------------------------------------------------------


def test_raw_access_lists_reads_and_restores_stored_files(root: StorageRoot) -> None:
    commit(root, {"a.txt": b"alpha", "dir/b.txt": b"beta"})
    files = root.object_files(RECORD)
    assert files == sorted(files)
    assert {"0=ocfl_object_1.1", "inventory.json", "v1/content/a.txt", "v1/content/dir/b.txt"} <= (
        set(files)
    )
    assert f"{SIGNATURES}/v1.sig.json" in files
    with root.open_stored(RECORD, "v1/content/dir/b.txt") as stream:
        assert stream.read() == b"beta"
    for bad in ("../ocfl_layout.json", "/etc/passwd", "v1/../inventory.json", ""):
        with pytest.raises(ValueError):
            root.open_stored(RECORD, bad)
        with pytest.raises(ValueError):
            root.restore_stored(RECORD, bad, io.BytesIO(b"x"))
    with pytest.raises(PathNotFound):
        root.open_stored(RECORD, "v1/content/nope")
    with pytest.raises(ObjectNotFound):
        root.object_files("urn:none")

    target = root.object_root(RECORD) / "v1/content/a.txt"
    target.write_bytes(b"rot")  # damage, then repair from a good copy
    root.restore_stored(RECORD, "v1/content/a.txt", io.BytesIO(b"alpha"))
    assert target.read_bytes() == b"alpha"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    with pytest.raises(PathNotFound):
        root.restore_stored(RECORD, "v1/content/new.txt", io.BytesIO(b"x"))
    root.wait_for_cleanup()
    assert root.object_files(RECORD) == files  # no temporary file left in the object


# --- the documented recipes ----------------------------------------------------------------


def doc_example(name: str) -> str:
    match = re.search(
        rf"<!-- example:{name} -->\n```\w+\n(.*?)```\n<!-- /example:{name} -->",
        DOC.read_text(),
        re.S,
    )
    assert match, f"no {name} example in {DOC}"
    return match.group(1)


def flip_signature_bit(path: Path) -> None:
    record = json.loads(path.read_text())
    signature = bytearray(base64.urlsafe_b64decode(record["signature"] + "=="))
    signature[0] ^= 1
    record["signature"] = base64.urlsafe_b64encode(bytes(signature)).rstrip(b"=").decode()
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


@pytest.fixture
def signed_copy(root: StorageRoot, key: SigningKey, tmp_path: Path) -> tuple[Path, Path]:
    commit(root, {"a.txt": b"alpha"})
    commit(root, {"b.txt": b"beta"})
    root.wait_for_cleanup()
    copy = tmp_path / "copy"
    shutil.copytree(root.object_root(RECORD), copy)
    pem = tmp_path / "heritage-signing-key.pem"
    pem.write_bytes(key.public.to_pem())
    return copy, pem


def test_documented_python_recipe_verifies_and_rejects(
    signed_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    obj, pem = signed_copy
    script = tmp_path / "check.py"
    script.write_text(doc_example("python"))
    run = [sys.executable, str(script), str(obj), "v2", str(pem)]
    good = subprocess.run(run, capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert "signature by ed25519:" in good.stdout
    flip_signature_bit(obj / SIGNATURES / "v2.sig.json")
    bad = subprocess.run(run, capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "InvalidSignature" in bad.stderr


def test_documented_openssl_recipe_verifies_and_rejects(
    signed_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on PATH")
    obj, pem = signed_copy
    script = tmp_path / "check.sh"
    script.write_text(doc_example("openssl"))
    env = {**os.environ, "OBJECT": str(obj), "VERSION": "v2", "KEY": str(pem)}
    good = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Signature Verified Successfully" in good.stdout
    flip_signature_bit(obj / SIGNATURES / "v2.sig.json")
    bad = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert bad.returncode != 0
    assert "Signature Verification Failure" in bad.stdout + bad.stderr
    assert f"signed by: {key_id_of(load_public_keys(pem)[0].raw)}" in bad.stdout

    inventory = obj / "v2" / "inventory.json"
    inventory.write_bytes(inventory.read_bytes().replace(b'"change"', b'"forged"'))
    forged = subprocess.run(
        ["sh", str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, check=False
    )
    assert forged.returncode != 0
    assert "inventory digest" not in forged.stdout  # stopped at step 1
