"""Taking a backup of an instance, and restoring one into a fresh instance.

A backup directory holds (``docs/backup.md`` has the details)::

    heritage-backup.json         what, when, from which schema revision, counts
    database/<table>.jsonl       the logical dump of every table (dump.py)
    storage/...                  the OCFL storage root, file for file
    manifest-sha512.txt          SHA-512 of every other file

Consistency while the instance runs: the database is dumped inside one read
transaction first, the storage root copied after it. The store only grows
(versions are never changed) and is the source of truth, so the copy holds at
least every version the dump knows of; versions committed meanwhile are in the
store but not in the index, and the restore brings the index in line
(``rebuild_index``). Data keys made meanwhile are dumped once more after the
copy (``late-workspace-keys.jsonl``), so files encrypted with them still open.
The keys file is written last, so it holds every master key that wraps a data
key of the dump, a rotation running meanwhile included.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from heritage import __version__
from heritage.audit.services import verify_chain
from heritage.backup.dump import (
    DumpError,
    dump_table,
    load_table,
    read_table,
    reset_sequences,
    row_counts,
    snapshot,
    tables,
)
from heritage.backup.files import BackupError, BackupWriter, verify_backup
from heritage.backup.keysfile import (
    MIN_PASSPHRASE,
    KeyBundle,
    KeysFileError,
    collect_keys,
    install_keys,
    read_keys_file,
    write_keys_file,
)
from heritage.backup.storage import (
    StagedRoot,
    StorageCopy,
    copy_storage_root,
    restore_storage_root,
    storage_root_is_empty,
)
from heritage.config import Settings
from heritage.db.base import utcnow
from heritage.db.engine import Database
from heritage.db.migrate import alembic_config, current_revision, upgrade
from heritage.search.outbox import queue_all
from heritage.store.index import RebuildReport, rebuild_index
from heritage.store.models import StoredObject, WorkspaceKey
from heritage.store.ocfl.store import ROOT_DECLARATION
from heritage.workspaces.models import Workspace

FORMAT = "heritage-cloud-backup"
FORMAT_VERSION = 1
DESCRIPTOR = "heritage-backup.json"
DATABASE_DIR = "database"
STORAGE_DIR = "storage"
LATE_KEYS = f"{DATABASE_DIR}/late-workspace-keys.jsonl"


@dataclass
class BackupReport:
    location: Path
    revision: str | None
    tables: dict[str, int]
    storage: StorageCopy | None
    late_keys: int = 0
    master_key_ids: list[str] = field(default_factory=list)  # those wrapping dumped data keys
    keys_file: Path | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreReport:
    revision: str
    tables: dict[str, int]
    audit_entries: int
    objects: int = 0
    files: int = 0
    keys: list[str] = field(default_factory=list)
    index: RebuildReport | None = None  # set when the store was ahead of the dumped index
    warnings: list[str] = field(default_factory=list)


def _safe_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        return f"{scheme}{sep}{credentials.split(':')[0]}:***@{host}"
    return url


# --- backup -----------------------------------------------------------------------------------


def backup(
    settings: Settings,
    dest: Path,
    *,
    keys_out: Path | None = None,
    passphrase: str | None = None,
    keys_kdf: dict[str, int] | None = None,
) -> BackupReport:
    """Write a backup of the instance to the new directory ``dest`` (and its keys to
    ``keys_out``, encrypted with ``passphrase``)."""
    if keys_out is not None and (passphrase is None or len(passphrase) < MIN_PASSPHRASE):
        # checked first: a backup of a large store should not fail at its very end
        raise KeysFileError(f"a keys file needs a passphrase of {MIN_PASSPHRASE}+ characters")
    if keys_out is not None and keys_out.exists():
        raise KeysFileError(f"{keys_out} already exists; keys files are never overwritten")
    root = settings.resolved_storage_root
    if settings.store_backend == "local" and dest.absolute().resolve().is_relative_to(root):
        raise BackupError(f"{dest} is inside the storage root; put the backup elsewhere")
    database = Database(settings.resolved_database_url)
    writer = BackupWriter(dest)
    try:
        report = _write_backup(settings, database, writer)
        if keys_out is not None:
            assert passphrase is not None
            bundle = collect_keys(settings)
            report.keys_file = write_keys_file(keys_out, bundle, passphrase, keys_kdf)
            missing = sorted(set(report.master_key_ids) - bundle.master_key_ids())
            if missing:
                report.warnings.append(
                    f"data keys are wrapped by master key {', '.join(missing)}, which this "
                    "instance does not have: their files cannot be restored"
                )
        writer.publish()
        return report
    except BaseException:
        writer.discard()
        raise
    finally:
        database.dispose()


def _write_backup(settings: Settings, database: Database, writer: BackupWriter) -> BackupReport:
    counts: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    with snapshot(database) as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
        present = set(inspect(connection).get_table_names())
        for table in tables():
            if table.name not in present:
                continue  # a schema older than this code: the restore migrates up after loading
            name = f"{DATABASE_DIR}/{table.name}.jsonl"
            with writer.create(name) as out:
                counts[table.name] = dump_table(connection, table, out)
            entries.append({"name": table.name, "file": name, "rows": counts[table.name]})
        dumped_keys = set(connection.scalars(select(WorkspaceKey.key_id)))
        master_ids = sorted(set(connection.scalars(select(WorkspaceKey.master_key_id))))
    storage = None
    if settings.store_backend != "local" or (root_declared(settings.resolved_storage_root)):
        from heritage.store.backends import open_storage_root

        storage = copy_storage_root(open_storage_root(settings), writer, STORAGE_DIR)
    late = 0
    if "workspace_keys" in counts:
        # data keys made while the store was copied: files in the copy may use them
        with database.engine.connect() as connection, writer.create(LATE_KEYS) as out:
            late = dump_table(
                connection,
                WorkspaceKey.__table__,  # type: ignore[arg-type]
                out,
                where=WorkspaceKey.key_id.not_in(dumped_keys) if dumped_keys else None,
            )
    descriptor = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": utcnow().isoformat(),
        "heritage_version": __version__,
        "instance": settings.base_url,
        "database": {
            "dialect": database.engine.dialect.name,
            "alembic_revision": revision,
            "tables": entries,
            "late_workspace_keys": LATE_KEYS if "workspace_keys" in counts else None,
        },
        "storage": None
        if storage is None
        else {
            "directory": STORAGE_DIR,
            "layout": storage.layout,
            "objects": storage.objects,
            "files": storage.files,
            "bytes": storage.bytes,
        },
        "master_key_ids": master_ids,
    }
    writer.add_bytes(DESCRIPTOR, (json.dumps(descriptor, indent=2) + "\n").encode("utf-8"))
    return BackupReport(
        location=writer.dest,
        revision=revision,
        tables=counts,
        storage=storage,
        late_keys=late,
        master_key_ids=master_ids,
        warnings=list(storage.warnings) if storage else [],
    )


def root_declared(path: Path) -> bool:
    return (path / ROOT_DECLARATION).is_file()


# --- restore ----------------------------------------------------------------------------------


def read_descriptor(location: Path) -> dict[str, Any]:
    try:
        descriptor = json.loads((location / DESCRIPTOR).read_text("utf-8"))
    except (OSError, ValueError):
        raise BackupError(f"{location} holds no readable {DESCRIPTOR}: not a backup") from None
    if not isinstance(descriptor, dict) or descriptor.get("format") != FORMAT:
        raise BackupError(f"{location} is not a Heritage Cloud backup")
    if descriptor.get("version") != FORMAT_VERSION:
        raise BackupError(f"backup format version {descriptor.get('version')!r} is not supported")
    return descriptor


def _wrapping_master_keys(location: Path, descriptor: dict[str, Any]) -> set[str]:
    files = [f"{DATABASE_DIR}/workspace_keys.jsonl", descriptor["database"]["late_workspace_keys"]]
    ids: set[str] = set()
    for name in files:
        if name and (location / name).is_file():
            for row in read_table(location / name, WorkspaceKey.__table__):  # type: ignore[arg-type]
                ids.add(row["master_key_id"])
    return ids


def _check_fresh(settings: Settings, database: Database) -> None:
    with database.engine.connect() as connection:
        filled = {name: rows for name, rows in row_counts(connection).items() if rows}
    if filled:
        shown = ", ".join(f"{rows} in {name}" for name, rows in sorted(filled.items())[:5])
        raise BackupError(
            f"the database {_safe_url(database.url)} is not empty ({shown}); a backup is "
            "restored into a fresh instance only: an empty database and a new data directory"
        )
    if settings.store_backend != "local":
        raise BackupError(
            f"restoring into a {settings.store_backend} storage root is not supported; "
            "restore into a local one"
        )
    if not storage_root_is_empty(settings.resolved_storage_root):
        raise BackupError(
            f"the storage root {settings.resolved_storage_root} already holds objects; a backup "
            "is restored into a fresh instance only"
        )


def _prepare_schema(database: Database, revision: str | None) -> None:
    """Bring the empty database to the backup's schema revision."""
    if revision is None:
        raise BackupError("the backup names no schema revision")
    current = current_revision(database)
    if current == revision:
        return
    config = alembic_config(database)
    try:
        ScriptDirectory.from_config(config).get_revision(revision)
    except CommandError:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this version of Heritage "
            "Cloud: restore with the version that made it (or a newer one)"
        ) from None
    if current is not None:
        command.downgrade(config, "base")  # empty (checked), so nothing is lost
    upgrade(database, revision)


def _load(database: Database, location: Path, descriptor: dict[str, Any]) -> tuple[dict, int]:
    """Load every table in one transaction; committed only when the audit chain verifies."""
    files = {entry["name"]: entry for entry in descriptor["database"]["tables"]}
    known = {table.name for table in tables()}
    unknown = sorted(set(files) - known)
    if unknown:
        raise BackupError(f"the backup has tables this version does not know: {unknown}")
    counts: dict[str, int] = {}
    writer = database.engine.execution_options(sqlite_begin="IMMEDIATE")
    with writer.connect() as connection, connection.begin():
        for table in tables():
            entry = files.get(table.name)
            if entry is None:
                continue
            rows = load_table(connection, table, read_table(location / entry["file"], table))
            if rows != entry["rows"]:
                raise BackupError(f"{entry['file']} holds {rows} rows, not {entry['rows']}")
            counts[table.name] = rows
        late = descriptor["database"]["late_workspace_keys"]
        if late:
            _load_late_keys(connection, location / late)
        reset_sequences(connection)
        with Session(bind=connection) as session:
            chain = verify_chain(session)
        if not chain.ok:
            raise BackupError(
                f"the audit log in the backup does not verify at entry {chain.first_bad_seq}: "
                f"{chain.problem}; nothing was restored"
            )
    return counts, chain.checked


def _load_late_keys(connection: Any, path: Path) -> None:
    table = WorkspaceKey.__table__
    have = set(connection.scalars(select(WorkspaceKey.key_id)))
    workspaces = set(connection.scalars(select(Workspace.id)))
    for row in read_table(path, table):  # type: ignore[arg-type]
        if row["key_id"] in have:
            continue
        if row["workspace_id"] not in workspaces:
            row["workspace_id"] = None  # its workspace came later; rebuild-index recreates it
        connection.execute(table.insert(), [row])


def _reconcile(settings: Settings, database: Database) -> RebuildReport | None:
    """Rebuild the index when the restored store is ahead of it (versions made during the
    backup); an index that already agrees is left exactly as it was."""
    from heritage.store.backends import open_storage_root

    if not root_declared(settings.resolved_storage_root):
        return None
    storage = open_storage_root(settings)
    heads = {object_id: storage.inventory(object_id).head for object_id in storage.object_ids()}
    with database.session() as session:
        query = select(StoredObject.object_id, StoredObject.head_version)
        indexed = {object_id: head for object_id, head in session.execute(query)}
    if heads == indexed:
        return None
    from heritage.store.keyring import WorkspaceKeyring

    return rebuild_index(
        database, storage, key_lookup=WorkspaceKeyring(settings, database).data_key
    )


def restore(
    settings: Settings,
    src: Path,
    *,
    keys_file: Path | None = None,
    passphrase: str | None = None,
) -> RestoreReport:
    """Restore the backup at ``src`` into the fresh instance of ``settings``.

    Everything is checked before anything is written: every file against the
    manifest, the keys file against its passphrase, the target for emptiness.
    """
    src = src.expanduser().absolute()
    manifest = verify_backup(src)
    descriptor = read_descriptor(src)
    bundle: KeyBundle | None = None
    try:
        needed = _wrapping_master_keys(src, descriptor)
    except DumpError as error:
        raise BackupError(f"backup {src}: {error}") from None
    if keys_file is not None:
        if passphrase is None:
            raise KeysFileError(f"{keys_file}: a passphrase is needed to open it")
        bundle = read_keys_file(keys_file, passphrase)
        missing = sorted(needed - bundle.master_key_ids())
        if missing:
            raise KeysFileError(
                f"{keys_file} does not hold master key {', '.join(missing)}, which wraps data "
                "keys of this backup: it belongs to another instance or an earlier rotation"
            )
    settings.ensure_data_dir()  # where an embedded database lives
    database = Database(settings.resolved_database_url)
    try:
        _check_fresh(settings, database)
        revision = descriptor["database"]["alembic_revision"]
        staged: StagedRoot | None = None
        if descriptor["storage"] is not None:
            staged = restore_storage_root(
                src, manifest, descriptor["storage"]["directory"], settings.resolved_storage_root
            )
        try:
            _prepare_schema(database, revision)
            counts, audit_entries = _load(database, src, descriptor)
        except DumpError as error:
            if staged is not None:
                staged.discard()
            raise BackupError(f"backup {src}: {error}") from None
        except BaseException:
            if staged is not None:
                staged.discard()
            raise
        if staged is not None:
            staged.put_in_place()
        report = RestoreReport(revision=revision, tables=counts, audit_entries=audit_entries)
        if descriptor["storage"] is not None:
            report.objects = descriptor["storage"]["objects"]
            report.files = descriptor["storage"]["files"]
        if bundle is not None:
            report.keys = install_keys(settings, bundle)
        elif needed:
            report.warnings.append(
                "no keys file given: files of encrypted workspaces do not open until the keys "
                "are imported (heritage keys import FILE)"
            )
        upgrade(database)  # a backup from an older version: its schema moves on to this one's
        report.index = _reconcile(settings, database)
        # The search index is not in backups: the first sync builds it from the records.
        queue_all(database)
        return report
    finally:
        database.dispose()
