"""Backup and restore of a whole instance into a fresh one (SQLite, PostgreSQL, across both)."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import create_engine, text

from heritage.accounts.identity import SYSTEM
from heritage.accounts.services import AccountService
from heritage.audit.services import verify_chain
from heritage.backup import BackupDamaged, BackupError, KeysFileError, backup, restore
from heritage.backup.dump import dump_table, row_counts, snapshot, tables
from heritage.backup.files import MANIFEST_NAME, BackupWriter, read_manifest
from heritage.backup.storage import copy_storage_root, root_files
from heritage.config import Settings, load_settings
from heritage.db.engine import Database
from heritage.errors import ContentUnavailable
from heritage.runtime import Runtime
from heritage.store.crypto.errors import MissingKey, WrongMasterKey
from heritage.store.description import DESCRIPTION_PATH
from heritage.store.services import PreservationService
from heritage.testing.plugin import TEST_SECRET_KEY
from heritage.testing.storage import snapshot_storage_root
from heritage.testing.world import World, build_world

PASSPHRASE = "a long and memorable passphrase"
SCAN = bytes(range(256)) * 9000  # 2.3 MB: several encryption chunks


@pytest.fixture
def world(heritage_runtime: Runtime) -> World:
    """The standard world plus objects with history in private and public workspaces."""
    world = build_world(heritage_runtime)
    service = PreservationService(heritage_runtime)
    letter = service.create_object(SYSTEM, "alpha", title="Letter", files={"scan.tif": SCAN})
    service.add_files(SYSTEM, "alpha", letter.uuid, {"notes.txt": b"first", "x.bin": b"\0" * 9})
    service.add_files(SYSTEM, "alpha", letter.uuid, {"notes.txt": b"zweite Fassung"})
    service.remove_files(SYSTEM, "alpha", letter.uuid, ["x.bin"])
    gone = service.create_object(SYSTEM, "alpha", title="Mistake", files={"a.txt": b"a"})
    service.delete_object(SYSTEM, "alpha", gone.uuid)
    service.create_object(SYSTEM, "gamma", title="Public", files={"map.png": b"\x89PNG" * 500})
    service.create_object(SYSTEM, "beta", title="Archive", files={"deed.pdf": b"%PDF" * 800})
    return world


def settings_for(data_dir: Path, database_url: str) -> Settings:
    return load_settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        secret_key=TEST_SECRET_KEY,
        password_memory_kib=1024,
        queue="immediate",
        embedded_worker=False,
    )


NewInstance = Callable[[str], Settings]


@pytest.fixture
def new_instance(
    heritage_db_kind: str, heritage_postgres: str | None, tmp_path: Path
) -> Iterator[NewInstance]:
    """Settings of a fresh instance: a new data directory and a new, empty database
    (never migrated) of the kind asked for ("same" is the kind this run tests)."""
    created: list[str] = []
    admin = (
        create_engine(heritage_postgres, isolation_level="AUTOCOMMIT")
        if heritage_postgres
        else None
    )

    def make(kind: str = "same") -> Settings:
        kind = heritage_db_kind if kind == "same" else kind
        name = f"r_{uuid.uuid4().hex[:12]}"
        data_dir = tmp_path / name
        if kind == "postgresql":
            assert admin is not None and heritage_postgres is not None
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            created.append(name)
            return settings_for(data_dir, heritage_postgres.rsplit("/", 1)[0] + f"/{name}")
        return settings_for(data_dir, f"sqlite:///{data_dir / 'heritage.sqlite3'}")

    yield make
    if admin is not None:
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def dump_all(settings: Settings) -> dict[str, bytes]:
    database = Database(settings.resolved_database_url)
    try:
        with snapshot(database) as connection:
            out: dict[str, bytes] = {}
            for table in tables():
                buffer = io.BytesIO()
                dump_table(connection, table, buffer)
                out[table.name] = buffer.getvalue()
            return out
    finally:
        database.dispose()


def every_file(runtime: Runtime) -> dict[tuple[str, str, str], bytes]:
    """(object id, version, path) -> plaintext, for every file of every version."""
    service = PreservationService(runtime)
    files: dict[tuple[str, str, str], bytes] = {}
    for slug in ("alpha", "beta", "gamma"):
        for row in service.list_objects(SYSTEM, slug):
            uuid_ = row.object_id.removeprefix("urn:uuid:")
            for version in service.versions(SYSTEM, slug, uuid_):
                state = runtime.storage.state(row.object_id, version.name)
                for path in sorted(set(state) - {DESCRIPTION_PATH}):
                    with service.open_file(SYSTEM, slug, uuid_, path, version.name) as opened:
                        data = opened.read_all()
                    assert hashlib.sha256(data).hexdigest() == opened.sha256
                    files[(row.object_id, version.name, path)] = data
    return files


def stored_digests(root: Path) -> dict[str, str]:
    """Every file of a storage root but the transient ones, with its SHA-512."""
    digests = {
        name: hashlib.sha512((root / name).read_bytes()).hexdigest() for name in root_files(root)
    }
    for directory, _, names in os.walk(root):
        if any(n.startswith("0=ocfl_object_") for n in names):
            for current, _, inner in os.walk(directory):
                for name in inner:
                    path = Path(current) / name
                    digests[path.relative_to(root).as_posix()] = hashlib.sha512(
                        path.read_bytes()
                    ).hexdigest()
    return digests


def stock_validator(root: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "ocfl-validate.py"
    if not script.exists():
        pytest.skip("ocfl-validate.py (ocfl-py) is not installed next to the interpreter")
    return subprocess.run(
        [sys.executable, str(script), str(root)], capture_output=True, text=True, timeout=120
    )


def assert_same_instance(source: Runtime, restored_settings: Settings) -> None:
    restored = Runtime(restored_settings)
    try:
        before, after = every_file(source), every_file(restored)
        assert len(before) >= 9
        assert after == before
        assert dump_all(restored_settings) == dump_all(source.settings)
        with restored.database.session() as session:
            chain = verify_chain(session)
        assert chain.ok and chain.checked > 20
        source.storage.wait_for_cleanup()
        root = restored_settings.resolved_storage_root
        assert stored_digests(root) == stored_digests(source.settings.resolved_storage_root)
    finally:
        restored.close()


def test_restore_gives_identical_content_and_records(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path
) -> None:
    from heritage.store.ocfl.validate import validate_storage_root

    keys = tmp_path / "instance.hckeys"
    report = backup(
        heritage_runtime.settings, tmp_path / "backup", keys_out=keys, passphrase=PASSPHRASE
    )
    assert report.storage is not None and report.storage.objects == 8
    assert report.tables["audit_entries"] > 20 and report.late_keys == 0
    assert keys.stat().st_mode & 0o077 == 0
    assert PASSPHRASE.encode() not in keys.read_bytes()

    fresh = new_instance("same")
    restored = restore(fresh, tmp_path / "backup", keys_file=keys, passphrase=PASSPHRASE)
    assert restored.index is None  # the index already agreed with the store
    assert restored.audit_entries == report.tables["audit_entries"]
    assert any("master key" in line for line in restored.keys)
    assert_same_instance(heritage_runtime, fresh)

    root = fresh.resolved_storage_root
    assert validate_storage_root(root).valid
    checked = stock_validator(root)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # the restored instance carries on: ids continue after the restored rows
    again = Runtime(fresh)
    try:
        user = AccountService(again).create_user(SYSTEM, "new@example.org", "a long password!")
        assert user.id > max(p.user_id for p in world.people.values())
        made = PreservationService(again).create_object(SYSTEM, "alpha", files={"n": b"new"})
        assert made.row.head_version == "v1" and made.files[0].encrypted_with
    finally:
        again.close()


def test_backup_moves_between_sqlite_and_postgresql(
    heritage_runtime: Runtime,
    world: World,
    new_instance: NewInstance,
    tmp_path: Path,
    heritage_db_kind: str,
) -> None:
    if heritage_db_kind != "postgresql":
        pytest.skip("needs PostgreSQL (run with --db=postgresql)")
    keys = tmp_path / "k.hckeys"
    backup(heritage_runtime.settings, tmp_path / "from-pg", keys_out=keys, passphrase=PASSPHRASE)
    on_sqlite = new_instance("sqlite")
    restore(on_sqlite, tmp_path / "from-pg", keys_file=keys, passphrase=PASSPHRASE)
    assert_same_instance(heritage_runtime, on_sqlite)

    keys_again = tmp_path / "k2.hckeys"
    backup(on_sqlite, tmp_path / "from-sqlite", keys_out=keys_again, passphrase=PASSPHRASE)
    back_on_pg = new_instance("postgresql")
    restore(back_on_pg, tmp_path / "from-sqlite", keys_file=keys_again, passphrase=PASSPHRASE)
    assert_same_instance(heritage_runtime, back_on_pg)


def nothing_written(settings: Settings) -> None:
    embedded = settings.resolved_data_dir / "heritage.sqlite3"
    if not settings.uses_sqlite or embedded.exists():
        database = Database(settings.resolved_database_url)
        try:
            with database.engine.connect() as connection:
                assert not any(row_counts(connection).values())
        finally:
            database.dispose()
    root = settings.resolved_storage_root
    assert not root.exists() or not any(root.iterdir())
    assert not (settings.resolved_data_dir / "keys").exists()
    leftovers = (
        [p.name for p in root.parent.glob(f".{root.name}.*")] if root.parent.exists() else []
    )
    assert not leftovers


def test_wrong_passphrase_is_refused_by_the_keys_files_name(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path
) -> None:
    keys = tmp_path / "instance.hckeys"
    backup(heritage_runtime.settings, tmp_path / "b", keys_out=keys, passphrase=PASSPHRASE)
    fresh = new_instance()
    with pytest.raises(KeysFileError) as caught:
        restore(fresh, tmp_path / "b", keys_file=keys, passphrase=PASSPHRASE + "!")
    assert str(keys) in str(caught.value) and "wrong passphrase" in str(caught.value)
    nothing_written(fresh)

    # the keys file is authenticated as a whole: one changed byte and it opens no more
    damaged = tmp_path / "damaged.hckeys"
    text_ = keys.read_text()
    at = text_.index('"ciphertext": "') + 20
    damaged.write_text(text_[:at] + ("A" if text_[at] != "A" else "B") + text_[at + 1 :])
    with pytest.raises(KeysFileError, match=r"damaged\.hckeys"):
        restore(fresh, tmp_path / "b", keys_file=damaged, passphrase=PASSPHRASE)
    nothing_written(fresh)
    # and so is its header: weaker parameters swapped in do not pass for the real ones
    weakened = tmp_path / "weakened.hckeys"
    weakened.write_text(text_.replace('"iterations": 3', '"iterations": 2'))
    with pytest.raises(KeysFileError, match="does not decrypt"):
        restore(fresh, tmp_path / "b", keys_file=weakened, passphrase=PASSPHRASE)
    nothing_written(fresh)


def test_without_keys_encrypted_files_fail_by_name_never_as_garbage(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from heritage.cli.main import app

    keys = tmp_path / "instance.hckeys"
    backup(heritage_runtime.settings, tmp_path / "b", keys_out=keys, passphrase=PASSPHRASE)
    fresh = new_instance()
    report = restore(fresh, tmp_path / "b")
    assert any("no keys file" in warning for warning in report.warnings)

    restored = Runtime(fresh)
    service = PreservationService(restored)
    try:
        public = service.list_objects(SYSTEM, "gamma")[0]
        uuid_ = public.object_id.removeprefix("urn:uuid:")
        with service.open_file(SYSTEM, "gamma", uuid_, "map.png") as opened:
            assert opened.read_all() == b"\x89PNG" * 500
        for slug in ("alpha", "beta"):
            for row in service.list_objects(SYSTEM, slug):
                uuid_ = row.object_id.removeprefix("urn:uuid:")
                for stored in service.get(SYSTEM, slug, uuid_).files:
                    # refused, and the failure named: never bytes that are not the file
                    with pytest.raises((ContentUnavailable, WrongMasterKey, MissingKey)) as caught:
                        service.open_file(SYSTEM, slug, uuid_, stored.logical_path)
                    assert "MasterKeyUnavailable" in str(caught.value)
                    assert "heritage keys import" in str(caught.value)
        # and no master key of its own was made meanwhile
        assert not (fresh.resolved_data_dir / "keys" / "master.key").exists()
    finally:
        restored.close()

    # importing the keys afterwards opens them (a new process: no key is cached)
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    env = {
        "HERITAGE_DATA_DIR": str(fresh.resolved_data_dir),
        "HERITAGE_DATABASE_URL": fresh.resolved_database_url,
        "HERITAGE_SECRET_KEY": TEST_SECRET_KEY,
    }
    logging_config = structlog.get_config()
    try:
        result = CliRunner(env=env).invoke(
            app, ["keys", "import", str(keys), "--passphrase-file", str(passphrase_file)]
        )
    finally:
        structlog.configure(**logging_config)  # the CLI pointed it at the captured stderr
    assert result.exit_code == 0, result.output
    assert "master key" in result.stdout and "installed" in result.stdout
    again = Runtime(fresh)
    try:
        assert every_file(again) == every_file(heritage_runtime)
    finally:
        again.close()


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


DAMAGES: dict[str, Callable[[Path], str]] = {}


def damage(name: str) -> Callable[[Callable[[Path], str]], Callable[[Path], str]]:
    def register(function: Callable[[Path], str]) -> Callable[[Path], str]:
        DAMAGES[name] = function
        return function

    return register


@damage("content file changed")
def _content(location: Path) -> str:
    content = max(
        (p for p in (location / "storage").rglob("*") if p.is_file() and "/content/" in str(p)),
        key=lambda p: p.stat().st_size,
    )
    flip_byte(content)
    return content.relative_to(location).as_posix()


@damage("table dump changed")
def _table(location: Path) -> str:
    path = location / "database" / "audit_entries.jsonl"
    path.write_bytes(path.read_bytes().replace(b"object.create", b"object.crEate", 1))
    return "database/audit_entries.jsonl"


@damage("file missing")
def _missing(location: Path) -> str:
    (location / "database" / "users.jsonl").unlink()
    return "database/users.jsonl is missing"


@damage("extra file")
def _extra(location: Path) -> str:
    (location / "storage" / "stray.txt").write_bytes(b"?")
    return "storage/stray.txt is not in the manifest"


@damage("manifest missing")
def _manifest(location: Path) -> str:
    (location / MANIFEST_NAME).unlink()
    return MANIFEST_NAME


@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_a_damaged_backup_is_refused_before_anything_is_written(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path, kind: str
) -> None:
    keys = tmp_path / "k.hckeys"
    backup(heritage_runtime.settings, tmp_path / "b", keys_out=keys, passphrase=PASSPHRASE)
    named = DAMAGES[kind](tmp_path / "b")
    fresh = new_instance()
    with pytest.raises(BackupDamaged) as caught:
        restore(fresh, tmp_path / "b", keys_file=keys, passphrase=PASSPHRASE)
    assert named in str(caught.value)
    nothing_written(fresh)


def test_restore_refuses_an_instance_that_is_not_fresh(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path
) -> None:
    backup(heritage_runtime.settings, tmp_path / "b")
    with pytest.raises(BackupError, match="is not empty"):
        restore(heritage_runtime.settings, tmp_path / "b")
    # an empty database but a storage root with objects in it: refused too
    fresh = new_instance()
    snapshot_storage_root(
        heritage_runtime.storage,
        heritage_runtime.settings.resolved_storage_root,
        fresh.resolved_storage_root,
    )
    with pytest.raises(BackupError, match="already holds objects"):
        restore(fresh, tmp_path / "b")


def test_an_interrupted_backup_never_looks_complete(
    heritage_runtime: Runtime, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import heritage.backup.services as services

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(services, "copy_storage_root", broken)
    with pytest.raises(OSError, match="disk full"):
        backup(heritage_runtime.settings, tmp_path / "b")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".b", "b"))) == []
    monkeypatch.undo()
    # and a finished one refuses to be overwritten
    backup(heritage_runtime.settings, tmp_path / "b")
    with pytest.raises(BackupError, match="already exists"):
        backup(heritage_runtime.settings, tmp_path / "b")


def test_versions_committed_during_the_backup_are_indexed_on_restore(
    heritage_runtime: Runtime,
    world: World,
    new_instance: NewInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The store is copied after the database snapshot: a version committed in between
    (and a data key made for a new encrypted workspace) still arrive whole."""
    import heritage.backup.services as services
    from heritage.workspaces.services import WorkspaceService

    service = PreservationService(heritage_runtime)
    letter = next(o for o in service.list_objects(SYSTEM, "alpha") if o.title == "Letter")
    letter_uuid = letter.object_id.removeprefix("urn:uuid:")
    real_copy = services.copy_storage_root

    def copy_after_a_commit(*args: object, **kwargs: object) -> object:
        service.add_files(SYSTEM, "alpha", letter_uuid, {"late.txt": b"late"})
        WorkspaceService(heritage_runtime).create(SYSTEM, "delta", "Delta", institution="inst-a")
        service.create_object(SYSTEM, "delta", title="New", files={"d.txt": b"delta"})
        return real_copy(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(services, "copy_storage_root", copy_after_a_commit)
    keys = tmp_path / "k.hckeys"
    report = backup(heritage_runtime.settings, tmp_path / "b", keys_out=keys, passphrase=PASSPHRASE)
    assert report.late_keys == 1
    fresh = new_instance()
    restored = restore(fresh, tmp_path / "b", keys_file=keys, passphrase=PASSPHRASE)
    assert restored.index is not None and not restored.index.problems
    assert restored.index.workspaces_recreated == ["delta"]
    again = Runtime(fresh)
    try:
        service_again = PreservationService(again)
        with service_again.open_file(SYSTEM, "alpha", letter_uuid, "late.txt") as opened:
            assert opened.read_all() == b"late"
        delta = service_again.list_objects(SYSTEM, "delta")[0]
        with service_again.open_file(
            SYSTEM, "delta", delta.object_id.removeprefix("urn:uuid:"), "d.txt"
        ) as opened:
            assert opened.encrypted and opened.read_all() == b"delta"
    finally:
        again.close()


def test_backup_and_restore_from_the_command_line(
    heritage_runtime: Runtime, world: World, new_instance: NewInstance, tmp_path: Path
) -> None:
    def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERITAGE_")}
        env.update(
            HERITAGE_DATA_DIR=str(settings.resolved_data_dir),
            HERITAGE_DATABASE_URL=settings.resolved_database_url,
            HERITAGE_SECRET_KEY=TEST_SECRET_KEY,
            NO_COLOR="1",
            COLUMNS="200",
        )
        return subprocess.run(
            [sys.executable, "-m", "heritage", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    passphrase = tmp_path / "passphrase.txt"
    passphrase.write_text(PASSPHRASE + "\n")
    keys = tmp_path / "keys.hckeys"
    made = run(
        heritage_runtime.settings,
        "backup",
        str(tmp_path / "b"),
        "--keys-out",
        str(keys),
        "--passphrase-file",
        str(passphrase),
    )
    assert made.returncode == 0, made.stderr
    assert "Backup written" in made.stdout and PASSPHRASE not in made.stdout + made.stderr
    no_prompt = run(
        heritage_runtime.settings,
        "backup",
        str(tmp_path / "c"),
        "--keys-out",
        str(tmp_path / "c.hckeys"),
    )
    assert no_prompt.returncode != 0 and "passphrase" in no_prompt.stderr

    fresh = new_instance()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase at all\n")
    refused = run(
        fresh, "restore", str(tmp_path / "b"), "--keys", str(keys), "--passphrase-file", str(wrong)
    )
    assert refused.returncode == 1 and str(keys) in refused.stderr
    assert "Traceback" not in refused.stderr
    done = run(
        fresh,
        "restore",
        str(tmp_path / "b"),
        "--keys",
        str(keys),
        "--passphrase-file",
        str(passphrase),
    )
    assert done.returncode == 0, done.stderr
    assert "Restored" in done.stdout
    assert_same_instance(heritage_runtime, fresh)


class RawOnly:
    """A storage root seen only through its raw access, as an S3 root is (no local path)."""

    def __init__(self, root: Any, before_read: Callable[[str, str], None] | None = None) -> None:
        self._root = root
        self._before_read = before_read

    @property
    def layout(self) -> Any:
        return self._root.layout

    def object_ids(self) -> Iterator[str]:
        return self._root.object_ids()

    def object_files(self, object_id: str) -> list[str]:
        return self._root.object_files(object_id)

    def open_stored(self, object_id: str, relative_path: str) -> Any:
        if self._before_read is not None:
            self._before_read(object_id, relative_path)
        return self._root.open_stored(object_id, relative_path)


def copy_to(storage: Any, location: Path) -> dict[str, str]:
    writer = BackupWriter(location)
    copy_storage_root(storage, writer, "storage")
    writer.publish()
    return read_manifest(location)


def test_a_root_without_a_local_path_is_copied_through_raw_access(
    heritage_runtime: Runtime, world: World, tmp_path: Path
) -> None:
    root = heritage_runtime.storage
    root.wait_for_cleanup()
    assert copy_to(RawOnly(root), tmp_path / "raw") == copy_to(root, tmp_path / "local")


def test_an_object_that_changes_while_it_is_copied_is_copied_again(
    heritage_runtime: Runtime, world: World, tmp_path: Path
) -> None:
    from heritage.store.ocfl.validate import validate_storage_root

    service = PreservationService(heritage_runtime)
    letter = next(o for o in service.list_objects(SYSTEM, "alpha") if o.title == "Letter")
    reads: list[str] = []

    def commit_once(object_id: str, relative_path: str) -> None:
        # a new version lands after the object was listed, before its root inventory is read
        if object_id == letter.object_id and relative_path == "inventory.json" and not reads:
            reads.append(relative_path)
            uuid_ = letter.object_id.removeprefix("urn:uuid:")
            service.add_files(SYSTEM, "alpha", uuid_, {"late.txt": b"late"})

    copy_to(RawOnly(heritage_runtime.storage, commit_once), tmp_path / "b")
    assert reads, "the commit happened during the copy"
    copied = tmp_path / "b" / "storage"
    report = validate_storage_root(copied)
    assert report.valid, report.summary()
    head = heritage_runtime.storage.inventory(letter.object_id).head
    object_dir = copied / heritage_runtime.storage.layout.object_path(letter.object_id)
    assert (object_dir / head / "inventory.json").read_bytes() == (
        object_dir / "inventory.json"
    ).read_bytes()


def test_the_dump_sees_one_instant_while_others_write(heritage_runtime: Runtime) -> None:
    from heritage.audit.services import record

    database = Database(heritage_runtime.settings.resolved_database_url)
    try:
        with snapshot(database) as connection:
            before = row_counts(connection)["audit_entries"]
            with heritage_runtime.database.session(write=True) as session:
                record(session, SYSTEM, "test.step", "thing", 1)
                session.commit()
            assert row_counts(connection)["audit_entries"] == before
            if connection.dialect.name == "postgresql":
                level = connection.execute(text("SHOW transaction_isolation")).scalar()
                assert level == "repeatable read"
                assert connection.execute(text("SHOW transaction_read_only")).scalar() == "on"
        with database.engine.connect() as connection:
            assert row_counts(connection)["audit_entries"] == before + 1
    finally:
        database.dispose()


def test_a_damaged_stored_file_is_backed_up_as_it_is_and_named(
    heritage_runtime: Runtime, world: World, tmp_path: Path
) -> None:
    storage = heritage_runtime.storage
    letter = next(
        row
        for row in PreservationService(heritage_runtime).list_objects(SYSTEM, "alpha")
        if row.title == "Letter"
    )
    content = storage.inventory(letter.object_id).manifest
    damaged = next(paths[0] for paths in content.values() if paths[0].endswith("scan.tif"))
    flip_byte(storage.object_root(letter.object_id) / damaged)
    report = backup(heritage_runtime.settings, tmp_path / "b")
    assert report.warnings == [f"{letter.object_id}: {damaged} does not match its inventory digest"]
