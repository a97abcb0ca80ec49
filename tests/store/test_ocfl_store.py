"""The OCFL storage root: versions, reads, dedup, layouts, purge, recovery, judged by ocfl-py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heritage.store.ocfl import (
    Changes,
    InvalidChange,
    ObjectNotFound,
    PathNotFound,
    StorageRoot,
    StoreNotInitialised,
    User,
    VersionNotFound,
    get_layout,
)
from heritage.store.ocfl import commit as commit_module
from heritage.store.ocfl import inventory as inventory_module
from heritage.store.ocfl import store as store_module
from heritage.store.ocfl.layouts import LayoutError

ALICE = User("Alice", "mailto:alice@example.org")
BOB = User("Bob", "https://orcid.org/0000-0002-1825-0097")
RECORD = "urn:heritage:record:1"
# What ocfl-py 2.1 always says about our roots, and why it is harmless: it lists
# only 0002 and 0003 as registered storage root extensions (0004 is registered
# too), and extensions/heritage-staging is our documented local extension.
EXPECTED_ROOT_WARNINGS = {
    "OCFL Storage Root includes unregistered extension directory "
    "'extensions/0004-hashed-n-tuple-storage-layout'",
    "OCFL Storage Root includes unregistered extension directory 'extensions/heritage-staging'",
}


def assert_valid(root: StorageRoot) -> None:
    """ocfl-py's validator (through our adapter) finds no error and no unexpected warning,
    and no directory anywhere under the root is empty (OCFL E073, which ocfl-py does not
    check inside extensions/)."""
    pytest.importorskip("ocfl")
    from heritage.store.ocfl.validate import validate_storage_root

    root.wait_for_cleanup()
    empty = [d for d, dirs, files in os.walk(root.path) if not dirs and not files]
    assert not empty, f"empty directories: {empty}"

    report = validate_storage_root(root.path)
    assert report.valid, report.summary()
    unexpected = {w.message for w in report.warnings} - EXPECTED_ROOT_WARNINGS
    assert not unexpected, report.summary()


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def content_files(object_root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(object_root)) for p in object_root.glob("v*/content/**/*") if p.is_file()
    )


@pytest.fixture
def root(tmp_path: Path) -> StorageRoot:
    storage = StorageRoot(tmp_path / "ocfl").initialize()
    yield storage
    storage.wait_for_cleanup()


def test_initialize_declares_root_layout_and_local_extension(tmp_path: Path) -> None:
    storage = StorageRoot(tmp_path / "ocfl").initialize()
    path = storage.path
    assert (path / "0=ocfl_1.1").read_bytes() == b"ocfl_1.1\n"
    layout = json.loads((path / "ocfl_layout.json").read_text())
    # 0003 by default: stock ocfl-validate.py (ocfl-py 2.1) knows it, and the id stays
    # readable in the path for whoever browses the disk in fifty years
    assert layout["extension"] == "0003-hash-and-id-n-tuple-storage-layout"
    config = json.loads(
        (path / "extensions/0003-hash-and-id-n-tuple-storage-layout/config.json").read_text()
    )
    assert config["extensionName"] == "0003-hash-and-id-n-tuple-storage-layout"
    assert config["digestAlgorithm"] == "sha256"
    assert "heritage-staging" in (path / "heritage-staging.md").read_text()
    staging_config = json.loads((path / "extensions/heritage-staging/config.json").read_text())
    assert staging_config == {"extensionName": "heritage-staging"}
    assert not list(tmp_path.glob(".ocfl.init-*")), "the build directory is renamed into place"
    assert_valid(storage)

    assert StorageRoot(path).open().layout == storage.layout
    with pytest.raises(StoreNotInitialised):
        StorageRoot(path, layout="0002").open()
    with pytest.raises(FileExistsError):
        StorageRoot(path).initialize()
    with pytest.raises(StoreNotInitialised):
        StorageRoot(tmp_path).open()


def test_layout_0004_follows_the_extension_examples() -> None:
    default = get_layout("0004")
    assert default.object_path("object-01") == (
        "3c0/ff4/240/3c0ff4240c1e116dba14c7627f2319b58aa3d77606d0d90dfc6161608ac987d4"
    )
    assert default.object_path("..hor/rib:le-$id") == (
        "487/326/d8c/487326d8c2a3c0b885e23da1469b4d6671fd4e76978924b4443e9e3c316cda6d"
    )
    md5 = get_layout(
        "0004-hashed-n-tuple-storage-layout",
        {"digestAlgorithm": "md5", "tupleSize": 2, "numberOfTuples": 15, "shortObjectRoot": True},
    )
    assert md5.object_path("object-01") == "ff/75/53/44/92/48/5e/ab/b3/9f/86/35/67/28/88/4e"
    flat = get_layout("0004", {"tupleSize": 0, "numberOfTuples": 0})
    assert flat.object_path("object-01") == (
        "3c0ff4240c1e116dba14c7627f2319b58aa3d77606d0d90dfc6161608ac987d4"
    )
    for bad in ({"tupleSize": 0}, {"tupleSize": 33}, {"digestAlgorithm": "crc32"}):
        with pytest.raises(LayoutError):
            get_layout("0004", bad)


def test_layout_0003_agrees_with_the_extension_and_ocfl_py() -> None:
    ours = get_layout("0003")
    assert ours.object_path("object-01") == "3c0/ff4/240/object-01"
    assert ours.object_path("..Hor/rib:lè-$id") == "373/529/21a/%2e%2eHor%2frib%3al%c3%a8-%24id"
    long_id = "abcdefghij" * 26
    assert ours.object_path(long_id) == (
        "55b/432/806/"
        + "abcdefghij" * 10
        + "-55b432806f4e270da0cf23815ed338742179002153cd8d896f23b3e2d8a14359"
    )
    layout_0003 = pytest.importorskip("ocfl.layout_0003_hash_and_id_n_tuple")
    theirs = layout_0003.Layout_0003_Hash_And_Id_N_Tuple()
    for object_id in ("object-01", "urn:x:é/ü 1", long_id, "a" * 101, "%41"):
        assert ours.object_path(object_id) == theirs.identifier_to_path(object_id)


def test_layout_0002_refuses_ids_that_are_not_directory_names() -> None:
    flat = get_layout("flat-direct")
    assert flat.object_path("object-01") == "object-01"
    for bad in ("", ".", "..", "a/b", "extensions", "0=ocfl_object_1.1", "x" * 256):
        with pytest.raises(LayoutError):
            flat.object_path(bad)
    with pytest.raises(LayoutError):
        get_layout("no-such-layout")


def test_versions_keep_history_deduplicate_and_record_who_when_why(root: StorageRoot) -> None:
    first = b'{"title": "Astrolabe"}'
    image = os.urandom(300_000)
    before = datetime.now(UTC).replace(microsecond=0)
    v1 = root.create_or_update(
        RECORD,
        Changes.of({"metadata.json": first, "images/front.tif": io.BytesIO(image)}),
        "Catalogued",
        ALICE,
    )
    assert (v1.version, v1.changed) == ("v1", True)
    assert_valid(root)
    object_root = root.object_root(RECORD)
    v1_files = {p: p.read_bytes() for p in (object_root / "v1").rglob("*") if p.is_file()}

    second = b'{"title": "Astrolabe, brass"}'
    v2 = root.create_or_update(
        RECORD,
        Changes.of({"metadata.json": second, "images/copy-of-front.tif": image}),
        "Title corrected; same image under a second name",
        BOB,
    )
    assert v2.version == "v2"
    assert_valid(root)

    v3 = root.create_or_update(
        RECORD, Changes.of(remove={"images/front.tif"}), "Front image withdrawn", ALICE
    )
    assert v3.version == "v3"
    assert_valid(root)

    # Each version's state, and each earlier version byte-identical.
    assert set(root.state(RECORD, "v1")) == {"metadata.json", "images/front.tif"}
    assert set(root.state(RECORD, "v2")) == {
        "metadata.json",
        "images/front.tif",
        "images/copy-of-front.tif",
    }
    assert set(root.state(RECORD)) == {"metadata.json", "images/copy-of-front.tif"}
    with root.read(RECORD, "metadata.json", "v1") as stream:
        assert stream.read() == first
    with root.read(RECORD, "metadata.json", "v2") as stream:
        assert stream.read() == second
    assert root.read(RECORD, "metadata.json").read() == second
    # Removal only from the head state: v1 and v2 still have the file.
    assert root.read(RECORD, "images/front.tif", "v1").read() == image
    assert root.read(RECORD, "images/front.tif", "v2").read() == image
    with pytest.raises(PathNotFound):
        root.read(RECORD, "images/front.tif")
    # Version directories are never rewritten.
    assert {p: p.read_bytes() for p in (object_root / "v1").rglob("*") if p.is_file()} == v1_files

    # Forward deltas: the same bytes are stored once, new bytes in the new version only.
    assert content_files(object_root) == [
        "v1/content/images/front.tif",
        "v1/content/metadata.json",
        "v2/content/metadata.json",
    ]
    inventory = root.inventory(RECORD)
    assert inventory.manifest[sha512(image)] == ["v1/content/images/front.tif"]
    assert inventory.versions["v2"].state[sha512(image)] == [
        "images/copy-of-front.tif",
        "images/front.tif",
    ]
    assert not (object_root / "v3" / "content").exists()

    # Who, when and why, for every version.
    versions = root.versions(RECORD)
    assert [(v.name, v.message, v.user) for v in versions] == [
        ("v1", "Catalogued", ALICE),
        ("v2", "Title corrected; same image under a second name", BOB),
        ("v3", "Front image withdrawn", ALICE),
    ]
    for version in versions:
        assert version.created.tzinfo is not None
        assert before <= version.created <= datetime.now(UTC)
    raw = json.loads((object_root / "inventory.json").read_text())
    assert raw["type"] == "https://ocfl.io/1.1/spec/#inventory"
    assert raw["digestAlgorithm"] == "sha512"
    assert raw["head"] == "v3"
    assert raw["versions"]["v1"]["created"].endswith("Z")
    assert raw["versions"]["v2"]["user"] == {
        "name": "Bob",
        "address": "https://orcid.org/0000-0002-1825-0097",
    }
    assert (object_root / "inventory.json").read_bytes() == (
        object_root / "v3" / "inventory.json"
    ).read_bytes()
    sidecar = (object_root / "inventory.json.sha512").read_text().split()
    assert sidecar == [sha512((object_root / "inventory.json").read_bytes()), "inventory.json"]


def test_an_unchanged_state_writes_no_version(root: StorageRoot) -> None:
    root.create_or_update(RECORD, Changes.of({"a.txt": b"same"}), "first", ALICE)
    result = root.create_or_update(RECORD, Changes.of({"a.txt": b"same"}), "again", ALICE)
    assert (result.version, result.changed) == ("v1", False)
    assert [v.name for v in root.versions(RECORD)] == ["v1"]


def test_a_commit_returns_and_caches_the_inventory_it_wrote(root: StorageRoot) -> None:
    """What a commit keeps in memory (returned, and cached as the parse of the bytes it
    wrote) is what parsing those bytes afresh gives, path lists in their order too."""
    root.create_or_update(RECORD, Changes.of({"b.txt": b"same", "a.txt": b"same"}), "1", ALICE)
    result = root.create_or_update(
        RECORD, Changes.of({"c.txt": b"same", "d.txt": b"new"}, remove={"b.txt"}), "2", BOB
    )
    written = (root.object_root(RECORD) / "inventory.json").read_bytes()
    assert result.inventory is not None
    assert inventory_module.parse_inventory(written) is result.inventory
    assert inventory_module._parse(written) == result.inventory
    assert result.inventory.to_json() == written


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (Changes.of({"/abs": b"x"}), "begin or end"),
        (Changes.of({"a/../b": b"x"}), "'..'"),
        (Changes.of({"a//b": b"x"}), "empty"),
        (Changes.of({"a.txt/b": b"x"}), "both a file and a directory"),
        (Changes.of(remove={"missing.txt"}), "not in the head version"),
        (Changes.of({"a.txt": b"x"}, remove={"a.txt"}), "both added and removed"),
    ],
)
def test_invalid_changes_are_refused_and_leave_nothing_behind(
    root: StorageRoot, changes: Changes, reason: str
) -> None:
    root.create_or_update(RECORD, Changes.of({"a.txt": b"v1"}), "first", ALICE)
    with pytest.raises(InvalidChange, match=reason):
        root.create_or_update(RECORD, changes, "bad", ALICE)
    with pytest.raises(InvalidChange):
        root.create_or_update("urn:heritage:record:new", Changes.of(remove={"a.txt"}), "x", ALICE)
    root.wait_for_cleanup()
    assert [v.name for v in root.versions(RECORD)] == ["v1"]
    assert not root.exists("urn:heritage:record:new")
    assert not list((root.path / "extensions/heritage-staging").glob("work-*"))
    assert_valid(root)


def test_reading_what_does_not_exist(root: StorageRoot) -> None:
    with pytest.raises(ObjectNotFound):
        root.read(RECORD, "a.txt")
    root.create_or_update(RECORD, Changes.of({"a.txt": b"x"}), "first", ALICE)
    with pytest.raises(VersionNotFound):
        root.read(RECORD, "a.txt", "v9")
    with pytest.raises(PathNotFound):
        root.read(RECORD, "b.txt")
    with pytest.raises(ValueError):
        User("Alice", "not a uri")


class CountingReader(io.RawIOBase):
    """A stream that records the sizes asked of it, to show files are copied in blocks."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.requests: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.requests.append(size)
        return self._data.read(size)


def test_large_files_stream_in_blocks_and_hash_in_one_pass(root: StorageRoot) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    reader = CountingReader(data)
    root.create_or_update(RECORD, Changes.of({"scan.bin": reader}), "scan", ALICE)  # type: ignore[dict-item]
    assert max(reader.requests) == 1024 * 1024
    assert len(reader.requests) == 7  # six blocks and the empty read at the end
    assert root.state(RECORD) == {"scan.bin": sha512(data)}
    with root.read(RECORD, "scan.bin") as stream:
        assert hashlib.sha512(stream.read()).hexdigest() == sha512(data)


def test_object_ids_and_purge(root: StorageRoot) -> None:
    ids = [f"urn:heritage:record:{n}" for n in range(5)]
    for object_id in ids:
        root.create_or_update(object_id, Changes.of({"m.json": object_id.encode()}), "new", ALICE)
    assert sorted(root.object_ids()) == sorted(ids)

    purged_root = root.object_root(ids[0])
    root.purge(ids[0])
    assert not root.exists(ids[0])
    # No empty directories are left in the hierarchy (OCFL E073).
    assert not purged_root.parent.exists()
    assert sorted(root.object_ids()) == sorted(ids[1:])
    with pytest.raises(ObjectNotFound):
        root.purge(ids[0])
    assert_valid(root)


def test_flat_and_0003_layouts_work_too(tmp_path: Path) -> None:
    for layout in ("0002-flat-direct-storage-layout", "0003-hash-and-id-n-tuple-storage-layout"):
        storage = StorageRoot(tmp_path / layout, layout=layout).initialize()
        storage.create_or_update("object-01", Changes.of({"a.txt": b"a"}), "first", ALICE)
        storage.create_or_update("object-01", Changes.of({"b.txt": b"b"}), "second", ALICE)
        assert storage.object_root("object-01").relative_to(storage.path).as_posix() == (
            get_layout(layout).object_path("object-01")
        )
        assert sorted(storage.state("object-01")) == ["a.txt", "b.txt"]
        storage.wait_for_cleanup()


def test_threads_writing_one_object_get_consecutive_versions(root: StorageRoot) -> None:
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for step in range(5):
                changes = Changes.of({f"w{number}/{step}.txt": f"{number}-{step}".encode()})
                root.create_or_update(RECORD, changes, f"writer {number} step {step}", ALICE)
        except BaseException as exc:  # collected and reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert [v.name for v in root.versions(RECORD)] == [f"v{n}" for n in range(1, 21)]
    assert len(root.state(RECORD)) == 20
    assert_valid(root)


def test_readers_never_see_a_broken_object_while_commits_swap_trees(root: StorageRoot) -> None:
    root.create_or_update(RECORD, Changes.of({"m.json": b"0"}), "v1", ALICE)
    stop = threading.Event()
    seen: list[bytes] = []
    failures: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                with root.read(RECORD, "m.json") as stream:
                    seen.append(stream.read())
                root.read(RECORD, "m.json", "v1").close()
            except BaseException as exc:  # reported below
                failures.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(1, 30):
        root.create_or_update(RECORD, Changes.of({"m.json": str(n).encode()}), f"v{n + 1}", ALICE)
    stop.set()
    thread.join()
    assert not failures
    assert seen


def test_recovery_removes_only_work_of_dead_writers(root: StorageRoot) -> None:
    staging = root.path / "extensions/heritage-staging"
    dead = staging / "work-dead-writer"
    (dead / "new" / "v1").mkdir(parents=True)
    (dead / "new" / "v1" / "half-written").write_bytes(b"...")
    live = staging / "work-live-writer"
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        StorageRoot(root.path).open()
        assert not dead.exists()
        assert live.exists(), "a work directory whose writer holds its lock is left alone"
    finally:
        os.close(fd)
    StorageRoot(root.path).open()
    assert not live.exists()


@pytest.mark.parametrize("cut_after", ["version", "inventory"])
def test_a_publish_cut_short_is_rolled_forward(
    root: StorageRoot, monkeypatch: pytest.MonkeyPatch, cut_after: str
) -> None:
    """A writer killed after the version directory (or the root inventory) reached the
    object: readers see a complete version at every moment, and recovery finishes it."""
    root.create_or_update(RECORD, Changes.of({"m.json": b"1"}), "v1", ALICE)
    real_replace, real_rename = commit_module.os.replace, commit_module.rename_no_replace

    class Killed(BaseException):
        pass

    def dying_rename(src: Path, dst: Path) -> None:
        real_rename(src, dst)
        if cut_after == "version":
            raise Killed

    def dying_replace(src: Path, dst: Path) -> None:
        real_replace(src, dst)
        if Path(dst).name == "inventory.json":
            raise Killed  # the sidecar is never replaced

    monkeypatch.setattr(commit_module, "rename_no_replace", dying_rename)
    monkeypatch.setattr(commit_module.os, "replace", dying_replace)
    # a killed process runs no clean-up: keep its work directory as it was
    monkeypatch.setattr(store_module._DISPOSER, "dispose", lambda path, fd: os.close(fd))
    with pytest.raises(Killed):
        root.create_or_update(RECORD, Changes.of({"m.json": b"2"}), "v2", ALICE)
    monkeypatch.undo()
    expected = b"1" if cut_after == "version" else b"2"
    assert root.read(RECORD, "m.json").read() == expected  # whole, old or new
    StorageRoot(root.path).open()  # recovery rolls the publish forward
    assert root.read(RECORD, "m.json").read() == b"2"
    assert [v.name for v in root.versions(RECORD)] == ["v1", "v2"]
    root.create_or_update(RECORD, Changes.of({"m.json": b"3"}), "v3", ALICE)
    assert_valid(root)


def test_the_next_writer_finishes_a_dead_writers_publish(
    root: StorageRoot, monkeypatch: pytest.MonkeyPatch
) -> None:
    root.create_or_update(RECORD, Changes.of({"m.json": b"1"}), "v1", ALICE)
    real_rename = commit_module.rename_no_replace

    class Killed(BaseException):
        pass

    def dying_rename(src: Path, dst: Path) -> None:
        real_rename(src, dst)
        raise Killed

    monkeypatch.setattr(commit_module, "rename_no_replace", dying_rename)
    monkeypatch.setattr(store_module._DISPOSER, "dispose", lambda path, fd: os.close(fd))
    with pytest.raises(Killed):
        root.create_or_update(RECORD, Changes.of({"m.json": b"2"}), "v2", ALICE)
    monkeypatch.undo()
    # no open() in between: the next commit notices v2 on disk and finishes it first
    root.create_or_update(RECORD, Changes.of({"n.json": b"n"}), "v3", ALICE)
    assert [v.name for v in root.versions(RECORD)] == ["v1", "v2", "v3"]
    assert root.state(RECORD).keys() == {"m.json", "n.json"}
    assert root.read(RECORD, "m.json").read() == b"2"
    assert_valid(root)


def test_ocfl_validate_cli_agrees(root: StorageRoot, tmp_path: Path) -> None:
    """ocfl-py's own command line tool, run as an operator would."""
    pytest.importorskip("ocfl")
    cli = Path(sys.executable).parent / "ocfl-validate.py"
    if not cli.exists():
        pytest.skip("ocfl-validate.py is not installed next to the interpreter")
    root.create_or_update(RECORD, Changes.of({"m.json": b"1", "a/b.txt": b"2"}), "v1", ALICE)
    root.create_or_update(RECORD, Changes.of({"m.json": b"3"}, remove={"a/b.txt"}), "v2", BOB)

    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(cli), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    obj = run(root.object_root(RECORD))
    assert obj.returncode == 0, obj.stdout + obj.stderr
    assert "is VALID" in obj.stdout
    ours = subprocess.run(
        [sys.executable, "-m", "heritage.store.ocfl.validate", str(root.path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ours.returncode == 0, ours.stdout + ours.stderr
    assert "VALID (1 objects)" in ours.stdout

    # Storage roots with the layouts ocfl-py implements pass the CLI as they are.
    for layout in ("0002-flat-direct-storage-layout", "0003-hash-and-id-n-tuple-storage-layout"):
        other = StorageRoot(tmp_path / layout, layout=layout).initialize()
        other.create_or_update("object-01", Changes.of({"a.txt": b"a"}), "first", ALICE)
        other.create_or_update("object-01", Changes.of({"a.txt": b"b"}), "second", ALICE)
        other.wait_for_cleanup()
        result = run(other.path)
        assert result.returncode == 0, result.stdout + result.stderr

    # For 0004, ocfl-py 2.1 has no layout class and answers E071 for the root;
    # check that this is the only thing it objects to.
    result = run(root.path)
    if result.returncode != 0:
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import ocfl,sys; s=ocfl.StorageRoot(root=sys.argv[1]);"
                "s.validate(log_warnings=False); print(sorted(s.log.codes))",
                str(root.path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert probe.stdout.strip() == "['E071']", probe.stdout + probe.stderr


def test_timing_of_a_small_metadata_commit(
    root: StorageRoot, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sanity print, not an assertion: the median time to commit a 2 KB metadata version."""
    for n in range(50):
        root.create_or_update(
            RECORD, Changes.of({"metadata.json": os.urandom(1024).hex().encode()}), f"{n}", ALICE
        )
    root.wait_for_cleanup()
    timings = []
    for n in range(20):
        metadata = os.urandom(1024).hex().encode()  # 2 KB
        started = time.perf_counter()
        root.create_or_update(RECORD, Changes.of({"metadata.json": metadata}), f"edit {n}", ALICE)
        timings.append((time.perf_counter() - started) * 1000)
        root.wait_for_cleanup()  # edits are seconds apart in use, not back to back
    with capsys.disabled():
        print(
            f"\nOCFL commit of a 2 KB metadata version on an object with 50+ versions:"
            f" median {statistics.median(timings):.1f} ms"
            f" (min {min(timings):.1f}, max {max(timings):.1f}, n={len(timings)})"
        )
    assert_valid(root)


def test_staged_file_is_linked_in_with_its_known_digest(root: StorageRoot, tmp_path: Path) -> None:
    from heritage.store.ocfl.hooks import StagedFile

    staged = tmp_path / "upload.part"
    staged.write_bytes(b"large scan")
    given = StagedFile(staged, {"sha512": sha512(b"large scan")})
    root.create_or_update(RECORD, Changes.of({"scan.tif": given}), "upload", ALICE)
    assert root.read(RECORD, "scan.tif").read() == b"large scan"
    assert staged.read_bytes() == b"large scan"  # the caller's file is untouched
    assert root.state(RECORD) == {"scan.tif": sha512(b"large scan")}
    # without a digest the store hashes the file itself
    other = tmp_path / "other.part"
    other.write_bytes(b"second")
    root.create_or_update(RECORD, Changes.of({"b.txt": StagedFile(other)}), "more", ALICE)
    assert root.state(RECORD)["b.txt"] == sha512(b"second")
    assert_valid(root)


def test_default_root_passes_the_stock_ocfl_validate_script(root: StorageRoot) -> None:
    import shutil
    import subprocess
    import sys

    script = shutil.which("ocfl-validate.py", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("ocfl-validate.py (ocfl-py) is not installed")
    root.create_or_update(RECORD, Changes.of({"a.txt": b"a"}), "first", ALICE)
    root.create_or_update(RECORD, Changes.of({"b.txt": b"b"}), "second", ALICE)
    root.wait_for_cleanup()
    done = subprocess.run([script, str(root.path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_intent_cut_short_while_written_is_dropped(root: StorageRoot) -> None:
    """Killed while writing its intent file, a writer had not touched the object yet."""
    root.create_or_update(RECORD, Changes.of({"m.json": b"1"}), "v1", ALICE)
    dead = root.path / "extensions/heritage-staging/work-killed-while-writing-intent"
    (dead / "stage" / "v2").mkdir(parents=True)
    (dead / "publish.json").write_bytes(b"")  # created, never written
    StorageRoot(root.path).open()
    assert not dead.exists()
    assert [v.name for v in root.versions(RECORD)] == ["v1"]
    root.create_or_update(RECORD, Changes.of({"m.json": b"2"}), "v2", ALICE)
    assert_valid(root)
