"""An OCFL 1.1 storage root in an S3 bucket, with the interface and guarantees of ``store.py``.

S3 has no rename, no directories and no locks, but every PUT of one key is
atomic (readers see the old or the new bytes) and, on AWS S3 since 2024 and on
SeaweedFS (checked against 4.48), PUT and CompleteMultipartUpload honour
``If-None-Match: *`` (create only) and ``If-Match: <etag>`` (compare and swap),
atomically even under concurrent requests. The protocol rests on those two facts.

Readers
-------
An object exists when its root ``inventory.json`` exists. Readers trust it only
when its sidecar matches; otherwise (a writer is between the two root writes, or
died there) they use the highest version directory whose ``inventory.json``
matches its own sidecar and names that version. They never take locks.

Writers: one claim per object
-----------------------------
A writer first takes the object's claim, ``extensions/heritage-staging/claims/
<sha256 of id>.json`` in the storage root, with ``If-None-Match: *``. The claim
is a lease (``lease_seconds``, judged on the server's clock): the holder renews
it with ``If-Match`` on its own ETag while it works and right before each step
that changes what readers see, so a holder that lost it stops. Other writers
wait (``lock_timeout``); one whose holder's lease ran out takes the claim over
with ``If-Match`` on the dead claim's ETag (one taker wins) and cleans up first.
The claim records the version being written and the extension files it added.

A commit of version N+1 then writes, in this order:

1. every new content file under ``vN+1/content/`` (multipart above a threshold);
2. ``vN+1/inventory.json`` and its sidecar, both with ``If-None-Match: *``;
3. the signer's files, if any, under ``extensions/<signer>/``;
4. the root ``inventory.json`` (``If-Match`` on the ETag it was planned from),
   then the root sidecar. A new object writes the root sidecar first and the root
   inventory last with ``If-None-Match: *``, so it appears in one step.

Then it deletes the claim. A crash before step 4 leaves the object at version N
for readers (the root still matches); between the two root writes readers fall
back to ``vN+1``, which is complete. A purge deletes the root inventory first
(the object is gone in one step), then the rest.

Recovery
--------
Whoever takes over a dead claim (``recover()``, which ``open()`` runs, or the
next writer of that object) settles the object: a root inventory that does not
match its sidecar is rolled forward from the newest complete version (it must be
the newest version directory, else the object is reported corrupt); version
directories above the root's head and the dead writer's new extension files are
deleted, unfinished multipart uploads aborted; files under an object root
without a root inventory (a create, import or purge cut short) are deleted. A
writer that fails with an ordinary exception settles its object at once itself.

Limits: the lease is the only fence for deleting a dead writer's files. A writer
that stalls for longer than its lease right after renewing it, and then resumes,
could publish a version whose files a recovering writer deleted meanwhile; the
conditional writes make every other interleaving fail cleanly. Keep
``lease_seconds`` well above any pause a writer may see. A reader holding a
file open while the object is purged gets an error on its next read.
"""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import structlog
from boto3.s3.transfer import TransferConfig

from heritage.config import Settings
from heritage.store.backends import storage_backend
from heritage.store.ocfl.bulk import CreatedObject, NewObject
from heritage.store.ocfl.commit import OBJECT_DECLARATION, OBJECT_DECLARATION_TEXT
from heritage.store.ocfl.digests import BLOCK_SIZE, digest_bytes, new_hash
from heritage.store.ocfl.errors import (
    CorruptObject,
    InvalidChange,
    InventoryError,
    ObjectExists,
    ObjectNotFound,
    OcflError,
    PathNotFound,
    StoreNotInitialised,
    VersionNotFound,
)
from heritage.store.ocfl.hooks import StagedFile, VersionSigner
from heritage.store.ocfl.inventory import (
    CONTENT_PATH_CODES,
    DEFAULT_CONTENT_DIRECTORY,
    INVENTORY_NAME,
    Inventory,
    User,
    Version,
    parse_inventory,
    path_problem,
    remember_written,
    sidecar_name,
    sidecar_text,
    version_name,
    version_number,
)
from heritage.store.ocfl.layouts import (
    DEFAULT_LAYOUT,
    StorageLayout,
    digest_of_id,
    get_layout,
    layout_class,
)
from heritage.store.ocfl.s3_io import (
    DEFAULT_TRANSFER,
    Bucket,
    Claim,
    Claims,
    HashingReader,
    ObjectLocked,
    PreconditionFailed,
    S3Error,
    make_client,
)
from heritage.store.ocfl.s3_repair import S3Repairs
from heritage.store.ocfl.s3_state import Head, load_head, put_new, settle, swap
from heritage.store.ocfl.store import (
    LAYOUT_FILE,
    ROOT_DECLARATION,
    ROOT_DECLARATION_TEXT,
    STAGING_EXTENSION,
    STAGING_NOTE,
    Changes,
    CommitResult,
    VersionInfo,
    check_head,
)
from heritage.store.ocfl.versioning import (
    DEFAULT_DIGEST_ALGORITHM,
    check_logical_path,
    plan_next_version,
)

log = structlog.get_logger(__name__)

CLAIMS = f"extensions/{STAGING_EXTENSION}/claims/"
_OBJECT_DECLARATION = re.compile(r"^0=ocfl_object_\d+\.\d+$")

_STAGING_NOTE_TEXT = """\
# Local storage root extension: heritage-staging (S3)

`extensions/heritage-staging/` belongs to Heritage Cloud. It is not part of any
OCFL object and holds only transient data:

* `config.json`: names the extension;
* `claims/<sha256 of object id>.json`: a writer's lease on one object while it
  commits a version, purges, imports or repairs it (see the S3 storage root
  section of Heritage Cloud's docs/storage.md).

A claim whose lease ran out is left over from a writer that died; the next
writer of that object, or opening the storage root, cleans up after it.
"""


@dataclass
class _Work:
    object_id: str
    root: str
    claim: Claim
    head: Head | None
    dirty: bool = False  # something of the object was written or deleted


class S3StorageRoot(S3Repairs):
    """An OCFL storage root under ``prefix`` in an S3 bucket. ``initialize()`` or ``open()`` first.

    Give a boto3 ``client``, or the endpoint and credentials to make one.
    ``layout`` names the layout for ``initialize()``; ``open()`` uses the
    declared one. Instances are safe to share between threads; any number of
    processes on any machines may use the same root at once (see the module
    docstring for how writers of one object take turns).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        layout: str | None = None,
        layout_config: Mapping[str, Any] | None = None,
        signer: VersionSigner | None = None,
        transfer_config: TransferConfig | None = None,
        lease_seconds: float = 120.0,
        lock_timeout: float = 180.0,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 storage root needs a bucket")
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._base = f"{self.prefix}/" if self.prefix else ""
        if client is None:
            client = make_client(endpoint_url, access_key_id, secret_access_key, region)
        self._bucket = Bucket(client, bucket, access_key_id)
        self._layout_name = layout
        self._layout_config = layout_config
        self._layout: StorageLayout | None = None
        self.signer = signer
        self.transfer_config = transfer_config or DEFAULT_TRANSFER
        self._claims = Claims(self._bucket, self._base + CLAIMS, lease_seconds, lock_timeout)
        # writers of one object in this process queue here instead of polling its claim
        self._turns: dict[str, tuple[threading.Lock, list[int]]] = {}
        self._turns_guard = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        location: str | None = None,
        *,
        signer: VersionSigner | None = None,
        **options: Any,
    ) -> S3StorageRoot:
        """The root at ``location`` (``s3://bucket/prefix``), else the configured bucket/prefix."""
        if location:
            if not location.startswith("s3://"):
                raise ValueError(f"an S3 location looks like s3://bucket/prefix, not {location!r}")
            bucket, _, prefix = location[len("s3://") :].partition("/")
        else:
            bucket, prefix = settings.s3_bucket or "", settings.s3_prefix
        if not bucket:
            raise StoreNotInitialised("no S3 bucket configured (HERITAGE_S3_BUCKET)")
        secret = settings.s3_secret_access_key
        return cls(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            signer=signer,
            **options,
        )

    @property
    def location(self) -> str:
        return f"s3://{self.bucket_name}/{self.prefix}"

    def __repr__(self) -> str:
        return f"S3StorageRoot({self.location!r}, endpoint={self._bucket.endpoint!r})"

    @property
    def layout(self) -> StorageLayout:
        if self._layout is None:
            raise StoreNotInitialised(f"storage root {self.location} is not open")
        return self._layout

    # --- set-up -------------------------------------------------------------------------------

    def declared(self) -> bool:
        """Whether the prefix holds a storage root declaration (raises S3Error on no access)."""
        return self._bucket.get(self._base + ROOT_DECLARATION) is not None

    def initialize(self) -> S3StorageRoot:
        """Declare the storage root (the prefix must be empty), then open it.

        The declaration ``0=ocfl_1.1`` is written last, so a crash leaves no
        half-declared root; initialising again overwrites such remains.
        """
        layout = get_layout(self._layout_name or DEFAULT_LAYOUT, self._layout_config)
        files = {
            LAYOUT_FILE: _json_bytes({"extension": layout.name, "description": layout.description})
        }
        config = layout.config()
        if config is not None:
            files[f"extensions/{layout.name}/config.json"] = _json_bytes(config)
        files[f"extensions/{STAGING_EXTENSION}/config.json"] = _json_bytes(
            {"extensionName": STAGING_EXTENSION}
        )
        files[STAGING_NOTE] = _STAGING_NOTE_TEXT.encode("utf-8")
        ours = {self._base + name for name in files}
        for key in self._bucket.keys(self._base):
            if key not in ours:
                raise FileExistsError(f"{self.location} is not empty (it holds {key})")
        for name, data in files.items():
            self._bucket.put(self._base + name, data)
        try:
            self._bucket.put(
                self._base + ROOT_DECLARATION, ROOT_DECLARATION_TEXT, if_none_match=True
            )
        except PreconditionFailed:
            raise FileExistsError(f"{self.location} was initialised meanwhile") from None
        return self.open()

    def open(self, *, recover: bool = True) -> S3StorageRoot:
        """Check the declaration, load the layout, and clean up after dead writers
        (``recover=False``: only look, e.g. to inspect what a crash left)."""
        declaration = self._bucket.get(self._base + ROOT_DECLARATION)
        if declaration is None or declaration.data != ROOT_DECLARATION_TEXT:
            raise StoreNotInitialised(f"{self.location} is not an OCFL 1.1 storage root")
        layout_file = self._bucket.get(self._base + LAYOUT_FILE)
        try:
            declared = json.loads(layout_file.data if layout_file else b"")["extension"]
        except (ValueError, KeyError, TypeError):
            raise StoreNotInitialised(f"{self.location}: {LAYOUT_FILE} is missing or bad") from None
        if self._layout_name and layout_class(self._layout_name) is not layout_class(declared):
            raise StoreNotInitialised(
                f"{self.location} uses layout {declared}, not {self._layout_name}"
            )
        config_file = self._bucket.get(f"{self._base}extensions/{declared}/config.json")
        config = json.loads(config_file.data) if config_file is not None else None
        self._layout = get_layout(declared, config)
        if recover:
            self.recover()
        return self

    def recover(self) -> list[str]:
        """Settle every object whose writer died (its claim's lease ran out); their ids."""
        self.layout  # noqa: B018 - fails early when not open
        recovered = []
        for key, stored in list(self._claims.stale()):
            claim = self._claims.take_over(key, stored, "recover")
            if claim is None:
                continue  # another process is recovering it
            object_id = claim.body.get("object")
            if not isinstance(object_id, str):
                self._claims.release(claim)
                continue
            with self._turn(object_id):
                try:
                    settle(self._bucket, self.object_root(object_id), object_id, claim.body)
                except CorruptObject as error:
                    # nothing a retry would change: report it and let writers through
                    log.error("ocfl_s3_recovery_failed", object_id=object_id, error=str(error))
                    self._claims.release(claim)
                    continue
                except OcflError as error:
                    # S3 failed us: the claim expires and the next recovery or writer retries
                    log.warning("ocfl_s3_recovery_failed", object_id=object_id, error=str(error))
                    continue
                self._claims.release(claim)
            log.info("ocfl_s3_recovered", object_id=object_id, dead=stored.data.decode())
            recovered.append(object_id)
        return recovered

    def wait_for_cleanup(self) -> None:
        """Nothing to wait for: an S3 commit leaves no background work (parity with StorageRoot)."""

    # --- reading ------------------------------------------------------------------------------

    def object_root(self, object_id: str) -> str:
        """The key prefix of the object's root (no trailing slash)."""
        return self._base + self.layout.object_path(object_id)

    def exists(self, object_id: str) -> bool:
        return self._bucket.head(f"{self.object_root(object_id)}/{INVENTORY_NAME}") is not None

    def object_ids(self) -> Iterator[str]:
        """Every object's id: the listing jumps over each object root once it is found."""
        self.layout  # noqa: B018 - fails early when not open
        own_extensions = self._base + "extensions/"
        start_after: str | None = None
        while True:
            jump = None
            for key in self._bucket.keys(self._base, start_after=start_after):
                directory, _, name = key.rpartition("/")
                if key.startswith(own_extensions):
                    jump = own_extensions[:-1] + "0"  # '0' sorts right after '/'
                    break
                if _OBJECT_DECLARATION.match(name) and len(directory) >= len(self._base):
                    stored = self._bucket.get(f"{directory}/{INVENTORY_NAME}")
                    if stored is not None:  # else a create or purge cut short: no object
                        yield _inventory_id(stored.data, directory)
                    jump = directory + "0"  # nothing below an object root is another object
                    break
            if jump is None:
                return
            start_after = jump

    def inventory(self, object_id: str) -> Inventory:
        return self._require(object_id).inventory

    def versions(self, object_id: str) -> list[VersionInfo]:
        inventory = self.inventory(object_id)
        return [
            VersionInfo(name, v.created_at, v.message, v.user)
            for name in inventory.version_names()
            for v in [inventory.versions[name]]
        ]

    def state(self, object_id: str, version: str | None = None) -> dict[str, str]:
        """Logical path -> digest of a version (the head by default)."""
        return _version(self.inventory(object_id), version).logical_state()

    def read(self, object_id: str, logical_path: str, version: str | None = None) -> BinaryIO:
        """A seekable reader of a file of a version (the head by default), by ranged GETs."""
        head = self._require(object_id)
        digest = _version(head.inventory, version).logical_state().get(logical_path)
        if digest is None:
            raise PathNotFound(f"{logical_path!r} is not in {object_id} {version or 'head'}")
        content_path = head.inventory.manifest[digest][0]
        stream = self._bucket.open(f"{self.object_root(object_id)}/{content_path}")
        if stream is None:
            if not self.exists(object_id):
                raise ObjectNotFound(f"no object {object_id!r} (purged meanwhile)")
            raise CorruptObject(
                f"{object_id}: content {content_path} of {logical_path!r} is missing"
            )
        return stream

    def _require(self, object_id: str) -> Head:
        head = load_head(self._bucket, self.object_root(object_id), object_id)
        if head is None:
            raise ObjectNotFound(f"no object {object_id!r}")
        return head

    # --- writing ------------------------------------------------------------------------------

    def create_objects(
        self, new: Sequence[NewObject], *, created: datetime | None = None
    ) -> list[CreatedObject]:
        """Create every object of ``new``, as ``bulk.BulkCreation`` does on local disk; here
        one commit each (an object appears on S3 with its root inventory, atomically)."""
        results = []
        for item in new:
            if self.exists(item.object_id):
                results.append(CreatedObject(item.object_id, None))
                continue
            self.create_or_update(
                item.object_id,
                Changes.of(dict(item.files)),
                item.message,
                item.user,
                created=created,
            )
            results.append(CreatedObject(item.object_id, self.inventory(item.object_id)))
        return results

    def create_or_update(
        self,
        object_id: str,
        changes: Changes,
        message: str,
        user: User,
        *,
        created: datetime | None = None,
        expected_head: str | None = None,
    ) -> CommitResult:
        """Write a new version (v1 for a new object) with the changes, message, user and time.

        With ``expected_head``, :class:`HeadMismatch` unless the object is at that version
        once the commit holds its claim (nothing is written then)."""
        if not isinstance(message, str):
            raise TypeError("a version needs a message")
        if not isinstance(user, User):
            raise TypeError("a version needs a User")
        when = (created or datetime.now(UTC)).astimezone(UTC)
        created_text = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        _check_changes(changes)  # before any key is written from a path
        with self._claimed(object_id, "commit") as work:
            head = work.head.inventory if work.head is not None else None
            check_head(object_id, head, expected_head)
            algorithm = head.digest_algorithm if head else DEFAULT_DIGEST_ALGORITHM
            version = version_name(version_number(head.head) + 1, like=head.head) if head else "v1"
            content_dir = head.content_dir if head else DEFAULT_CONTENT_DIRECTORY
            self._start(work, "update" if head else "create", version=version)
            known = {digest.lower() for digest in head.manifest} if head else set()
            additions, uploaded = self._upload(
                work, changes.add, algorithm, f"{work.root}/{version}/{content_dir}/", known
            )
            plan = plan_next_version(
                head,
                object_id,
                additions,
                changes.remove,
                created=created_text,
                message=message,
                user=user,
            )
            wanted = {f"{work.root}/{path}" for path in plan.new_content.values()}
            if wanted - uploaded:
                raise CorruptObject(f"{object_id}: content {sorted(wanted - uploaded)} not stored")
            if uploaded - wanted:  # content the object already holds, or twice in this version
                self._bucket.delete_many(sorted(uploaded - wanted))
            if not plan.changed:
                assert head is not None
                return CommitResult(object_id, head.head, changed=False, inventory=head)
            self._publish(work, plan.inventory)
            return CommitResult(
                object_id, plan.inventory.head, changed=True, inventory=plan.inventory
            )

    def _upload(
        self,
        work: _Work,
        add: Mapping[str, BinaryIO | bytes | StagedFile],
        algorithm: str,
        content_prefix: str,
        known: set[str],
    ) -> tuple[dict[str, str], set[str]]:
        """Store each added file at its would-be content path; (path -> digest, keys written).

        Digests known beforehand (bytes, staged files) skip content the object
        already holds; a stream is hashed while it uploads and deleted afterwards
        by the caller if it turns out to be such content.
        """
        config = self.transfer_config

        def keep_claim(_: int = 0) -> None:
            self._claims.renew_if_due(work.claim)

        seen = set(known)
        digests: dict[str, str] = {}
        uploaded: set[str] = set()
        for path, source in sorted(add.items()):
            key = content_prefix + path
            if isinstance(source, StagedFile):
                digest = (
                    source.digests.get(algorithm) or _digest_file(source.path, algorithm)
                ).lower()
                if digest not in seen:
                    self._bucket.upload_file(key, source.path, config, keep_claim)
                    uploaded.add(key)
            elif isinstance(source, bytes):
                digest = digest_bytes(source, algorithm)
                if digest not in seen:
                    self._bucket.upload(key, io.BytesIO(source), config, keep_claim)
                    uploaded.add(key)
            else:
                reader = HashingReader(source, algorithm, keep_claim)
                self._bucket.upload(key, reader, config, keep_claim)
                uploaded.add(key)
                digest = reader.hexdigest()
            seen.add(digest)
            digests[path] = digest
        return digests, uploaded

    def _publish(self, work: _Work, inventory: Inventory) -> None:
        """Steps 2 to 4 of the commit protocol (module docstring)."""
        root, version = work.root, inventory.head
        data = inventory.to_json()
        remember_written(data, inventory)
        algorithm = inventory.digest_algorithm
        sidecar = sidecar_text(data, algorithm)
        new_object = work.head is None
        if new_object:
            self._bucket.put(f"{root}/{OBJECT_DECLARATION}", OBJECT_DECLARATION_TEXT)
        self._claims.renew(work.claim)  # fence: still ours
        put_new(self._bucket, f"{root}/{version}/{INVENTORY_NAME}", data)
        put_new(self._bucket, f"{root}/{version}/{sidecar_name(algorithm)}", sidecar)
        if self.signer is not None:
            self._sign(work, inventory.id, version, data)
        self._claims.renew(work.claim)  # fence, right before readers can see the version
        if new_object:
            self._bucket.put(f"{root}/{sidecar_name(algorithm)}", sidecar)
            put_new(self._bucket, f"{root}/{INVENTORY_NAME}", data)  # the object appears here
        else:
            assert work.head is not None
            swap(self._bucket, f"{root}/{INVENTORY_NAME}", data, work.head.root_etag)
            self._bucket.put(f"{root}/{sidecar_name(algorithm)}", sidecar)

    def _sign(self, work: _Work, object_id: str, version: str, data: bytes) -> None:
        assert self.signer is not None
        extension = self.signer.extension_name
        files = dict(self.signer.sign_version(object_id, version, data))
        bad = [name for name in [extension, *files] if not _plain_name(name)]
        if bad:
            raise ValueError(f"signer names must be plain file names, not {bad!r}")
        prefix = f"{work.root}/extensions/{extension}/"
        existing = set(self._bucket.keys(prefix))
        new = sorted(prefix + name for name in files if prefix + name not in existing)
        self._claims.renew(work.claim, new_files=new)  # recovery deletes them if we die
        for name, content in sorted(files.items()):
            key = prefix + name
            if key in existing:
                current = self._bucket.get(key)
                if current is not None and current.data == content:
                    continue
            self._bucket.put(key, bytes(content))

    def purge(self, object_id: str) -> None:
        """Delete an object and its whole history for good (services check who may ask)."""
        with self._claimed(object_id, "purge") as work:
            if work.head is None:
                raise ObjectNotFound(f"no object {object_id!r}")
            self._start(work, "purge")
            self._bucket.delete(f"{work.root}/{INVENTORY_NAME}")  # gone for readers, in one step
            self._bucket.delete_many(list(self._bucket.keys(work.root + "/")))

    def import_tree(self, object_id: str, source: Path) -> None:
        """Copy an already validated object root into place (used by ``validate.import_object``).

        Everything but the root inventory goes first; the root inventory last,
        with ``If-None-Match: *``, so the object appears whole or not at all.
        """
        files = sorted(_tree_files(Path(source)))
        names = {relative for relative, _ in files}
        if INVENTORY_NAME not in names:
            raise CorruptObject(f"{source} has no {INVENTORY_NAME}")
        with self._claimed(object_id, "import") as work:
            if work.head is not None:
                raise ObjectExists(f"object {object_id!r} is already in the storage root")
            self._start(work, "import")

            def keep_claim(_: int = 0) -> None:
                self._claims.renew_if_due(work.claim)

            root_files = [(r, p) for r, p in files if r.startswith(INVENTORY_NAME) and "/" not in r]
            for relative, path in files:
                if (relative, path) not in root_files:
                    self._bucket.upload_file(
                        f"{work.root}/{relative}", path, self.transfer_config, keep_claim
                    )
            self._claims.renew(work.claim)
            for relative, path in root_files:
                if relative != INVENTORY_NAME:
                    self._bucket.put(f"{work.root}/{relative}", path.read_bytes())
            put_new(
                self._bucket,
                f"{work.root}/{INVENTORY_NAME}",
                (Path(source) / INVENTORY_NAME).read_bytes(),
            )

    @contextmanager
    def _claimed(self, object_id: str, action: str, *, lenient: bool = False) -> Iterator[_Work]:
        """Hold the object's claim, settle what a dead writer left, and release it afterwards.

        An ordinary exception settles the object again (removing what this
        writer wrote) before the claim is released; a lost claim touches
        nothing. Anything else (a crash, KeyboardInterrupt) leaves the claim to
        expire, and whoever comes next cleans up.
        """
        root = self.object_root(object_id)
        with self._turn(object_id):
            claim, dead = self._claims.acquire(digest_of_id(object_id), object_id, action)
            try:
                head = settle(self._bucket, self.object_root(object_id), object_id, dead)
            except CorruptObject:
                if not lenient:
                    self._claims.release(claim)
                    raise
                head = None  # a repair may be exactly what fixes it
            except Exception:
                if dead is None:  # nothing inherited to clean up: let other writers in
                    self._claims.release(claim)
                raise
            if dead is not None:
                self._claims.renew(claim, doing=None, version=None, new_files=[])  # settled
            work = _Work(object_id, root, claim, head)
            try:
                yield work
            except ObjectLocked:
                raise  # the claim is another writer's now: touch nothing
            except Exception:
                if work.dirty and not self._settle_quietly(object_id, claim.body):
                    raise  # the claim stays; it expires and the next writer settles the object
                self._claims.release(claim)
                raise
            self._claims.release(claim)

    def _settle_quietly(self, object_id: str, body: Mapping[str, Any]) -> bool:
        try:
            settle(self._bucket, self.object_root(object_id), object_id, body)
        except Exception:
            log.warning("ocfl_s3_cleanup_failed", object_id=object_id, exc_info=True)
            return False
        return True

    @contextmanager
    def _turn(self, object_id: str) -> Iterator[None]:
        """This process's writers of one object, one at a time (other objects go on)."""
        with self._turns_guard:
            lock, users = self._turns.setdefault(object_id, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._turns_guard:
                users[0] -= 1
                if users[0] == 0:
                    del self._turns[object_id]

    def _start(self, work: _Work, doing: str, **details: Any) -> None:
        """Record in the claim what is about to change, before the first write to the object."""
        self._claims.renew(work.claim, doing=doing, **details)
        work.dirty = True

    # --- raw access (fixity audits, verification); restore_stored, replace_tree and
    # scratch_directory (repair and replication) come from s3_repair.S3Repairs ----------------

    def object_files(self, object_id: str) -> list[str]:
        """Every stored file of the object, relative to its root, sorted; nothing is checked."""
        prefix = self.object_root(object_id) + "/"
        files = sorted(key[len(prefix) :] for key in self._bucket.keys(prefix))
        if not files:
            raise ObjectNotFound(f"no object {object_id!r}")
        return files

    def open_stored(self, object_id: str, relative_path: str) -> BinaryIO:
        """The stored bytes of one file, seekable, by ranged GETs; no inventory is consulted."""
        _check_stored_path(relative_path)
        root = self.object_root(object_id)
        stream = self._bucket.open(f"{root}/{relative_path}")
        if stream is None:
            if self._bucket.first_key(root + "/") is None:
                raise ObjectNotFound(f"no object {object_id!r}")
            raise PathNotFound(f"{object_id} has no file {relative_path!r}")
        return stream


# --- helpers ------------------------------------------------------------------------------------


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _version(inventory: Inventory, version: str | None) -> Version:
    name = version or inventory.head
    if name not in inventory.versions:
        raise VersionNotFound(f"{inventory.id} has no version {name!r}")
    return inventory.versions[name]


def _inventory_id(data: bytes, directory: str) -> str:
    try:
        return parse_inventory(data).id
    except InventoryError as error:
        raise CorruptObject(f"{directory}/{INVENTORY_NAME}: {error}") from None


def _check_changes(changes: Changes) -> None:
    for path in [*changes.add, *changes.remove]:
        check_logical_path(path)
    both = set(changes.add) & set(changes.remove)
    if both:
        raise InvalidChange(f"paths both added and removed: {sorted(both)}")


def _check_stored_path(relative_path: str) -> None:
    """Refuse absolute paths and ``..``: raw access never leaves the object root."""
    problem = path_problem(relative_path, CONTENT_PATH_CODES)
    if problem is not None:
        raise ValueError(f"stored path {relative_path!r} {problem[1]}")


def _plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and not any(char in name for char in "/\\\x00")
    )


def _digest_file(path: Path, algorithm: str) -> str:
    hasher = new_hash(algorithm)
    with path.open("rb") as stream:
        while block := stream.read(BLOCK_SIZE):
            hasher.update(block)
    return hasher.hexdigest()


def _tree_files(source: Path) -> Iterator[tuple[str, Path]]:
    """(relative path with '/', file) for every file below ``source``; refuses symbolic links."""
    for path in source.rglob("*"):
        if path.is_symlink():
            raise CorruptObject(f"{path} is a symbolic link (OCFL E090)")
        if path.is_file():
            yield path.relative_to(source).as_posix(), path


@storage_backend("s3")
def _open_s3(
    settings: Settings, location: str | None, signer: VersionSigner | None
) -> S3StorageRoot:
    root = S3StorageRoot.from_settings(settings, location, signer=signer)
    return root.open() if root.declared() else root.initialize()


__all__ = ["ObjectLocked", "S3Error", "S3StorageRoot"]
