"""The part file of an upload: its bytes in their stored form, appended as they arrive.

For a workspace that encrypts, the part file *is* the future stored file (HCENC):
the header is written when the upload is created and every chunk is sealed as it
fills (:class:`~heritage.store.crypto.SizedEncryptor`; the length is known, so no
chunk waits for the next). Finishing is then a hard link into the OCFL object.

Appending runs a small pipeline per request so hashing and encryption overlap with
receiving and writing (hashlib and AES-GCM release the GIL on large buffers)::

    event loop: request body -> blocks of one chunk (1 MiB)
    stage 1:    SHA-256 of the plaintext (+ the request's Upload-Checksum), seal
    stage 2:    SHA-512 of the stored bytes (OCFL's digest)
    stage 3:    write (and, beside it, fdatasync every 16 MiB)

At most ``QUEUE_DEPTH`` blocks wait between two stages, so an upload holds a few
MiB whatever its size. After each block is written, stage 2 records a *durable
point* (offsets and copies of both hash states); an error or a dropped
connection rolls the file back to the last one, and the end of a request
fsyncs it. For an encrypted upload the plaintext of an incomplete chunk that is
not the last cannot be sealed yet: it is dropped and the offset reported stays
at the last whole chunk (tus lets a server keep less than it was sent).

Hash state cannot be saved with hashlib (its objects do not pickle), and the
one PyPI package that makes OpenSSL's state picklable (``rehash``) relies on
CPython internals and has had no release since 2022. So the states live in this
process between requests (:data:`_STATES`), and a process that continues an
upload it has not seen re-hashes the part file once, decrypting it for the
plaintext digest; that read also authenticates every chunk already stored.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heritage.store.crypto import Header, SizedEncryptor, read_header
from heritage.store.crypto.format import DEFAULT_CHUNK_SIZE, TAG_SIZE

PLAIN_BLOCK = 1 << 20  # unencrypted uploads: block size of the pipeline
QUEUE_DEPTH = 2
READ_BLOCK = 4 << 20
FLUSH_EVERY = 16 << 20  # bytes written between two background fdatasync calls
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_CACHE_SIZE = 256

Hash = Any  # hashlib's objects have no public type


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL


@dataclass(frozen=True)
class Durable:
    """A point the part file can be rolled back to: what it holds and their digests."""

    offset: int  # plaintext bytes
    stored_size: int  # bytes of the part file
    sha256: Hash  # of the plaintext so far (a copy: never updated)
    sha512: Hash  # of the stored bytes so far

    def fork(self) -> tuple[Hash, Hash]:
        return self.sha256.copy(), self.sha512.copy()


# Hash states between requests, per part file: reused only when the file still has
# exactly the size they describe (another process may have continued the upload).
_STATES: OrderedDict[str, Durable] = OrderedDict()
_STATES_LOCK = threading.Lock()


def _remember(path: Path, state: Durable) -> None:
    with _STATES_LOCK:
        _STATES[str(path)] = state
        _STATES.move_to_end(str(path))
        while len(_STATES) > _CACHE_SIZE:
            _STATES.popitem(last=False)


def _recall(path: Path) -> Durable | None:
    with _STATES_LOCK:
        return _STATES.get(str(path))


def forget(path: Path) -> None:
    with _STATES_LOCK:
        _STATES.pop(str(path), None)


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PartFile:
    """One upload's part file, opened for appending (one writer at a time: see ``lock``)."""

    def __init__(
        self,
        path: Path,
        fd: int,
        length: int,
        encryptor: SizedEncryptor | None,
        state: Durable,
    ) -> None:
        self.path = path
        self.fd = fd
        self.length = length
        self.encryptor = encryptor
        self.state = state

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        length: int,
        key: tuple[str, bytes] | None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> PartFile:
        """A new part file (the header written and durable for an encrypted one)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            sha512 = hashlib.sha512()
            encryptor = None
            if key is not None:
                encryptor = SizedEncryptor.create(key[1], key[0], length, chunk_size)
                written = encryptor.header.raw
                if length == 0:
                    # Nothing will be appended: the empty final chunk and the end now.
                    out = memoryview(bytearray(TAG_SIZE))
                    written += bytes(encryptor.seal(0, b"", out)) + encryptor.trailer()
                _write_all(fd, memoryview(written))
                sha512.update(written)
            os.fsync(fd)
            fsync_directory(path.parent)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        size = os.fstat(fd).st_size
        state = Durable(0, size, hashlib.sha256(), sha512)
        part = cls(path, fd, length, encryptor, state)
        _remember(path, state)
        return part

    @classmethod
    def open(
        cls, path: Path, length: int, data_key: bytes | None, lock: Callable[[int], int]
    ) -> PartFile:
        """Open an existing part file. ``lock(fd)`` locks it before anything is read and
        returns the offset last recorded as durable: anything past it (a torn write, or a
        request whose end was never recorded) is cut off, so the file and the record
        agree. Hash states come from this process's memory or are computed again.
        """
        fd = os.open(path, os.O_RDWR)
        try:
            upto = lock(fd)
            encryptor = None
            if data_key is not None:
                with open(fd, "rb", closefd=False) as reader:
                    header: Header = read_header(reader)
                encryptor = SizedEncryptor.resume(data_key, header, length)
            part = cls(path, fd, length, encryptor, Durable(0, 0, None, None))
            part.state = part._recover(upto)
        except BaseException:
            os.close(fd)
            raise
        return part

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def complete(self) -> bool:
        return self.state.offset == self.length

    # -- recovery -----------------------------------------------------------------------

    def _valid_size(self, stored: int, upto: int) -> tuple[int, int]:
        """(plaintext offset, stored size) of the longest valid prefix of ``stored`` bytes
        that holds no more than ``upto`` plaintext bytes."""
        enc = self.encryptor
        if enc is None:
            offset = min(stored, upto, self.length)
            return offset, offset
        geometry = enc.geometry
        if stored >= geometry.stored_size and upto >= self.length:
            return self.length, geometry.stored_size  # complete, trailer and all
        chunks = min(enc.sealed_prefix(stored), upto // enc.chunk_size)
        return chunks * enc.chunk_size, enc.header.size + chunks * (enc.chunk_size + TAG_SIZE)

    def _recover(self, upto: int) -> Durable:
        stored = os.fstat(self.fd).st_size
        offset, valid = self._valid_size(stored, upto)
        if valid != stored:
            os.ftruncate(self.fd, valid)
            os.fsync(self.fd)
        known = _recall(self.path)
        if known is not None and known.stored_size == valid and known.offset == offset:
            return known
        state = self._rehash(offset, valid)
        _remember(self.path, state)
        return state

    def _rehash(self, offset: int, stored_size: int) -> Durable:
        sha256, sha512 = hashlib.sha256(), hashlib.sha512()
        enc = self.encryptor
        with open(self.fd, "rb", buffering=0, closefd=False) as reader:
            reader.seek(0)
            if enc is None:
                left = stored_size
                while left:
                    data = reader.read(min(READ_BLOCK, left))
                    if not data:
                        raise OSError(errno.EIO, "the part file shrank while it was read")
                    sha256.update(data)
                    sha512.update(data)
                    left -= len(data)
            else:
                header = reader.read(enc.header.size)
                sha512.update(header)
                geometry = enc.geometry
                complete = offset == self.length
                for index in range(geometry.chunk_count if complete else offset // enc.chunk_size):
                    stored = reader.read(geometry.stored_length(index))
                    sha512.update(stored)
                    sha256.update(enc.open(index, stored))
                if complete:
                    sha512.update(reader.read())  # the trailer
        return Durable(offset, stored_size, sha256, sha512)

    # -- appending ----------------------------------------------------------------------

    def appender(self, checksum: str | None = None) -> Appender:
        """Start appending at the current offset; ``checksum`` names a hashlib algorithm
        to digest exactly what this request sends (tus' Upload-Checksum)."""
        return Appender(self, checksum)

    def rollback(self, state: Durable) -> None:
        """Cut the file back to ``state`` (always possible, even on a full disk)."""
        os.ftruncate(self.fd, state.stored_size)
        os.fsync(self.fd)
        self.state = state
        _remember(self.path, state)

    def durable(self, state: Durable) -> None:
        os.fsync(self.fd)
        self.state = state
        _remember(self.path, state)


_END = object()


class Appender:
    """One request's worth of appending. ``feed`` from the event loop, then ``finish``
    (or ``abort``) from a worker thread."""

    def __init__(self, part: PartFile, checksum: str | None) -> None:
        self.part = part
        self.start = part.state
        self.received = 0
        enc = part.encryptor
        self._block_size = enc.chunk_size if enc else PLAIN_BLOCK
        self._block = bytearray(self._block_size)
        self._filled = 0
        self._checksum = hashlib.new(checksum) if checksum else None
        self._error: BaseException | None = None
        self._last = self.start  # the last durable point stage 2 reached
        self._loop: asyncio.AbstractEventLoop | None = None
        self._space: asyncio.Event | None = None
        self._plain: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._stored: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._written: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._spare: queue.Queue[memoryview] = queue.Queue()
        if enc is not None:
            for _ in range(2 * QUEUE_DEPTH + 3):
                self._spare.put(memoryview(bytearray(enc.chunk_size + TAG_SIZE)))
        sha256, sha512 = self.start.fork()
        self._threads = [
            threading.Thread(target=self._stage1, args=(sha256,), daemon=True),
            threading.Thread(target=self._stage2, args=(sha512,), daemon=True),
            threading.Thread(target=self._stage3, daemon=True),
        ]
        # Writeback starts while the body still arrives, so the fsync that ends the
        # request has little left to do (the client waits for that answer).
        self._unsynced = 0
        self._flush = threading.Event()
        self._flushing = True
        self._threads.append(threading.Thread(target=self._flusher, daemon=True))
        for thread in self._threads:
            thread.start()
        self._stopped = False

    @property
    def remaining(self) -> int:
        return self.part.length - self.start.offset - self.received

    # -- the event loop's side ------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """Take the next bytes of the body; waits while the pipeline is full."""
        if self._error is not None:
            raise self._error
        if len(data) > self.remaining:
            raise ValueError("more bytes than the upload's length")
        self.received += len(data)
        view = memoryview(data)
        while view:
            take = min(self._block_size - self._filled, len(view))
            self._block[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == self._block_size:
                await self._put(memoryview(self._block))
                self._block = bytearray(self._block_size)
                self._filled = 0

    async def _put(self, item: Any) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._space = asyncio.Event()
        assert self._space is not None
        while True:
            if self._error is not None:
                raise self._error
            self._space.clear()
            try:
                self._plain.put_nowait(item)
                return
            except queue.Full:
                await self._space.wait()

    def _took(self) -> None:
        if self._loop is not None and self._space is not None:
            self._loop.call_soon_threadsafe(self._space.set)

    # -- worker side ----------------------------------------------------------------

    def finish(self) -> Durable:
        """Process what is buffered, wait for the pipeline, check the request's checksum
        and make the file durable. Returns the new durable point."""
        self._stop(memoryview(self._block)[: self._filled] if self._filled else None)
        if self._error is not None:
            raise self._error
        try:
            self.part.durable(self._last)
        except BaseException:
            # An fsync error leaves the pages' fate unknown: back to the last fsync.
            self.part.rollback(self.start)
            raise
        return self._last

    def checksum_matches(self, expected: bytes) -> bool:
        return self._checksum is not None and self._checksum.digest() == expected

    def abort(self) -> Durable:
        """Stop; keep every whole block written (a dropped connection keeps its progress)
        unless the disk failed, and make that durable."""
        self._stop(None)
        try:
            self.part.rollback(self._last)
        except OSError:
            self.part.rollback(self.start)
        return self.part.state

    def rewind(self) -> None:
        """Undo this whole request (its checksum did not match)."""
        self.part.rollback(self.start)

    def _stop(self, tail: memoryview | None) -> None:
        if self._stopped:
            return
        self._stopped = True
        if tail is not None and self._error is None:
            self._plain.put(tail)
        self._plain.put(_END)
        for thread in self._threads[:3]:
            thread.join()
        self._flushing = False
        self._flush.set()
        self._threads[3].join()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error

    def _stage1(self, sha256: Hash) -> None:
        enc = self.part.encryptor
        offset = self.start.offset
        length = self.part.length
        try:
            while (block := self._plain.get()) is not _END:
                self._took()
                if self._error is not None:
                    continue
                try:
                    if self._checksum is not None:
                        self._checksum.update(block)
                    end = offset + len(block)
                    if enc is None:
                        sha256.update(block)
                        self._stored.put((block, end, sha256.copy()))
                    elif len(block) == enc.chunk_size or end == length:
                        sha256.update(block)
                        index = offset // enc.chunk_size
                        out = self._spare.get()
                        sealed = enc.seal(index, block, out)
                        self._stored.put((sealed, end, sha256.copy(), out))
                        if end == length:
                            self._stored.put((memoryview(enc.trailer()), end, sha256.copy()))
                    else:
                        # An incomplete chunk that is not the last: not sealable yet.
                        continue
                    offset = end
                except BaseException as error:
                    self._fail(error)
        finally:
            self._stored.put(_END)

    def _stage2(self, sha512: Hash) -> None:
        # Hashing and writing the same block run in two threads, on two cores.
        try:
            while (item := self._stored.get()) is not _END:
                if self._error is None:
                    try:
                        sha512.update(item[0])
                    except BaseException as error:
                        self._fail(error)
                self._written.put((*item[:3], sha512.copy(), *item[3:]))
        finally:
            self._written.put(_END)

    def _stage3(self) -> None:
        fd = self.part.fd
        stored_size = self.start.stored_size
        while (item := self._written.get()) is not _END:
            view, end, sha256, sha512 = item[0], item[1], item[2], item[3]
            if self._error is None:
                try:
                    # pwrite: the position is ours to track (rollbacks truncate).
                    written = 0
                    while written < len(view):
                        written += os.pwrite(fd, view[written:], stored_size + written)
                    stored_size += len(view)
                    self._last = Durable(end, stored_size, sha256, sha512)
                    self._unsynced += len(view)
                    if self._unsynced >= FLUSH_EVERY:
                        self._unsynced = 0
                        self._flush.set()
                except BaseException as error:
                    self._fail(error)
            if len(item) == 5:
                self._spare.put(item[4])  # the sealing buffer may be used again

    def _flusher(self) -> None:
        while True:
            self._flush.wait()
            self._flush.clear()
            if not self._flushing:
                return
            try:
                os.fdatasync(self.part.fd)
            except BaseException as error:
                self._fail(error)
