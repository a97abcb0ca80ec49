"""Streaming encryption and random-access decryption of the chunked format.

Memory is flat: the writer holds two chunk buffers whatever the file size
(``encrypt_stream`` one more, to read ahead); the reader decrypts only the chunks
a range touches and keeps the last one it decrypted.
Neither is thread-safe: give each thread its own.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heritage.store.crypto.errors import Corrupted, MissingKey, TamperedChunk, Truncated
from heritage.store.crypto.format import (
    DEFAULT_CHUNK_SIZE,
    FIXED_SIZE,
    TAG_SIZE,
    TRAILER_SIZE,
    Geometry,
    Header,
    chunk_aad,
    chunk_nonce,
    decode_trailer,
    encode_trailer,
    header_size,
)

BytesLike = bytes | bytearray | memoryview
KeyLookup = Callable[[str], bytes | None]


class Sink(Protocol):
    """Where ciphertext goes: any blocking binary file-like object."""

    def write(self, data: memoryview, /) -> int | None: ...


class ReadableSource(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class SeekableSource(ReadableSource, Protocol):
    def seek(self, offset: int, whence: int = ..., /) -> int: ...


@dataclass(frozen=True, slots=True)
class EncryptionResult:
    """What was written. Stored digests cover the bytes on disk (OCFL fixity);
    plaintext digests prove the original's fixity to whoever holds the key."""

    key_id: str
    chunk_size: int
    plaintext_size: int
    stored_size: int
    plaintext_digests: dict[str, str] = field(default_factory=dict)
    stored_digests: dict[str, str] = field(default_factory=dict)


class EncryptingWriter:
    """A write-only file object that encrypts into ``sink`` chunk by chunk.

    ``close()`` seals the final chunk and the end marker and returns an
    :class:`EncryptionResult`. Leaving a ``with`` block by an exception calls
    :meth:`abort` instead, so a failed upload never looks complete.
    The sink is not closed: whoever opened it closes it.
    """

    def __init__(
        self,
        sink: Sink,
        key: bytes,
        key_id: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        plaintext_digests: Iterable[str] = (),
        stored_digests: Iterable[str] = (),
    ) -> None:
        self._header, keys = Header.create(key, key_id, chunk_size)
        self._aead = keys.content
        self._header_digest = self._header.digest
        self._sink = sink
        self._chunk_size = chunk_size
        self._plain_hashes = {name: hashlib.new(name) for name in plaintext_digests}
        self._stored_hashes = {name: hashlib.new(name) for name in stored_digests}
        # Two buffers reused for every chunk: the plaintext waiting to become a chunk
        # (made on first need: encrypt_stream lends its own), and the ciphertext.
        self._pending = memoryview(b"")
        self._filled = 0
        self._sealed = memoryview(bytearray(chunk_size + TAG_SIZE))
        self._index = 0
        self._plaintext_size = 0
        self._stored_size = 0
        self._closed = False
        self._result: EncryptionResult | None = None
        self._guarded(self._emit, memoryview(self._header.raw))

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def result(self) -> EncryptionResult | None:
        return self._result

    def writable(self) -> bool:
        return True

    def write(self, data: BytesLike) -> int:
        if self._closed:
            raise ValueError("write to a closed EncryptingWriter")
        view = memoryview(data).cast("B")
        self._guarded(self._write, view)
        return len(view)

    def close(self) -> EncryptionResult:
        """Seal the final chunk and the end marker. Calling it again returns the same result."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise ValueError("the EncryptingWriter was aborted; its output is incomplete")
        self._guarded(self._finish)
        self._closed = True
        self._release()
        self._result = EncryptionResult(
            key_id=self._header.key_id,
            chunk_size=self._chunk_size,
            plaintext_size=self._plaintext_size,
            stored_size=self._stored_size,
            plaintext_digests={n: h.hexdigest() for n, h in self._plain_hashes.items()},
            stored_digests={n: h.hexdigest() for n, h in self._stored_hashes.items()},
        )
        return self._result

    def abort(self) -> None:
        """Stop without a final chunk: readers will report the output as truncated."""
        self._closed = True
        self._release()

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # --- internals ---------------------------------------------------------------------

    def _guarded(self, step: Callable[..., None], *args: memoryview) -> None:
        # After a failed sink write the output is in an unknown state: refuse to go on.
        try:
            step(*args)
        except BaseException:
            self.abort()
            raise

    def _write(self, view: memoryview) -> None:
        self._hash_plaintext(view)
        size = self._chunk_size
        while view:
            if self._filled == size:
                # A full chunk can only be sealed as not-final once more data arrives.
                self._seal(self._pending, final=False)
                self._filled = 0
            if self._filled == 0 and len(view) > size:
                # More follows this chunk, so encrypt straight from the caller's buffer.
                self._seal(view[:size], final=False)
                view = view[size:]
                continue
            if not self._pending:
                self._pending = memoryview(bytearray(size))
            take = min(size - self._filled, len(view))
            self._pending[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]

    def _write_full_chunk(self, view: memoryview) -> None:
        """Seal ``view`` (exactly one chunk) as not final; for :func:`encrypt_stream`."""
        assert self._filled == 0 and len(view) == self._chunk_size
        self._hash_plaintext(view)
        self._seal(view, final=False)

    def _adopt_tail(self, buffer: memoryview, filled: int) -> None:
        """Take ``buffer[:filled]`` as the pending plaintext without copying it, for
        :func:`encrypt_stream`; ``buffer`` must stay untouched until :meth:`close`."""
        assert self._filled == 0
        self._hash_plaintext(buffer[:filled])
        self._pending, self._filled = buffer, filled

    def _hash_plaintext(self, view: memoryview) -> None:
        self._plaintext_size += len(view)
        for digest in self._plain_hashes.values():
            digest.update(view)

    def _finish(self) -> None:
        self._seal(self._pending[: self._filled], final=True)
        self._emit(memoryview(encode_trailer(self._plaintext_size)))

    def _seal(self, plaintext: memoryview, *, final: bool) -> None:
        out = self._sealed[: len(plaintext) + TAG_SIZE]
        nonce = chunk_nonce(self._header, self._index)
        aad = chunk_aad(self._header_digest, self._index, final)
        self._aead.encrypt_into(nonce, plaintext, aad, out)
        self._index += 1
        self._emit(out)

    def _emit(self, view: memoryview) -> None:
        self._stored_size += len(view)
        for digest in self._stored_hashes.values():
            digest.update(view)
        _write_all(self._sink, view)

    def _release(self) -> None:
        self._pending = self._sealed = memoryview(b"")


class SizedEncryptor:
    """Seals the chunks of a file whose plaintext length is known before it is written.

    For resumable uploads: knowing the length, every chunk before the last is sealed as
    not-final as soon as it is full, so what is on disk is valid chunk by chunk and an
    interrupted file can be continued later, even by another process, from its header
    and its number of sealed chunks (:meth:`resume`). The output is the same format as
    :class:`EncryptingWriter`'s. Callers hand in whole chunks; sealing is pure (no I/O),
    so chunks can be sealed in one thread and written in another.
    """

    def __init__(self, header: Header, content: AESGCM, plaintext_size: int) -> None:
        if plaintext_size < 0:
            raise ValueError("the plaintext size cannot be negative")
        self.header = header
        self.geometry = Geometry(header.size, header.chunk_size, plaintext_size)
        self._aead = content
        self._header_digest = header.digest

    @classmethod
    def create(
        cls, key: bytes, key_id: str, plaintext_size: int, chunk_size: int = DEFAULT_CHUNK_SIZE
    ) -> SizedEncryptor:
        """A new file: write ``header.raw`` first, then the sealed chunks, then :meth:`trailer`."""
        header, keys = Header.create(key, key_id, chunk_size)
        return cls(header, keys.content, plaintext_size)

    @classmethod
    def resume(cls, key: bytes, header: Header, plaintext_size: int) -> SizedEncryptor:
        """Continue a file begun with :meth:`create`; checks ``key`` against the header."""
        return cls(header, header.open(key).content, plaintext_size)

    @property
    def chunk_size(self) -> int:
        return self.header.chunk_size

    def sealed_prefix(self, stored_size: int) -> int:
        """How many whole chunks a part file of ``stored_size`` bytes holds, never counting
        the final chunk (written only with the trailer); bytes past them are a torn write."""
        body = max(0, stored_size - self.header.size)
        return min(body // (self.chunk_size + TAG_SIZE), self.geometry.last_index)

    def seal(self, index: int, plaintext: BytesLike, out: memoryview) -> memoryview:
        """Encrypt chunk ``index`` into ``out`` (at least ``len(plaintext) + 16`` bytes);
        final exactly when ``index`` is the last chunk the plaintext size implies."""
        if not 0 <= index <= self.geometry.last_index:
            raise ValueError(f"chunk {index} is past the end of the file")
        if len(plaintext) != self.geometry.plaintext_length(index):
            raise ValueError(
                f"chunk {index} must hold {self.geometry.plaintext_length(index)} bytes, "
                f"not {len(plaintext)}"
            )
        final = index == self.geometry.last_index
        sealed = out[: len(plaintext) + TAG_SIZE]
        aad = chunk_aad(self._header_digest, index, final)
        self._aead.encrypt_into(chunk_nonce(self.header, index), plaintext, aad, sealed)
        return sealed

    def open(self, index: int, stored: BytesLike) -> bytes:
        """Decrypt and authenticate sealed chunk ``index`` (re-hashing a part file)."""
        final = index == self.geometry.last_index
        try:
            return self._aead.decrypt(
                chunk_nonce(self.header, index),
                bytes(stored),
                chunk_aad(self._header_digest, index, final),
            )
        except InvalidTag:
            raise TamperedChunk(index) from None

    def trailer(self) -> bytes:
        return encode_trailer(self.geometry.plaintext_size)


def encrypt_stream(
    src: ReadableSource,
    dst: Sink,
    key: bytes,
    key_id: str,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    plaintext_digests: Iterable[str] = (),
    stored_digests: Iterable[str] = (),
) -> EncryptionResult:
    """Encrypt everything ``src`` yields into ``dst``; neither is closed."""
    writer = EncryptingWriter(
        dst,
        key,
        key_id,
        chunk_size=chunk_size,
        plaintext_digests=plaintext_digests,
        stored_digests=stored_digests,
    )
    # Read one chunk ahead: a full chunk is sealed as not-final only once the next
    # read shows more data. Swapping two buffers spares the copy write() would make.
    current = memoryview(bytearray(chunk_size))
    ahead = memoryview(bytearray(chunk_size))
    try:
        filled = _read_full(src, current)
        while filled == chunk_size:
            ahead_filled = _read_full(src, ahead)
            if ahead_filled == 0:
                break
            writer._write_full_chunk(current)
            current, ahead, filled = ahead, current, ahead_filled
        writer._adopt_tail(current, filled)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def encrypt_bytes(
    data: BytesLike, key: bytes, key_id: str, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> bytes:
    """The encrypted form of ``data``, in memory: the same format :func:`encrypt_stream`
    writes, without its two chunk-sized buffers (small files, such as metadata versions,
    are encrypted by the thousand in bulk imports)."""
    encryptor = SizedEncryptor.create(key, key_id, len(data), chunk_size)
    geometry, header = encryptor.geometry, encryptor.header.raw
    out = bytearray(geometry.stored_size)
    out[: len(header)] = header
    plaintext, stored = memoryview(data), memoryview(out)
    for index in range(geometry.chunk_count):
        start = index * chunk_size
        encryptor.seal(
            index, plaintext[start : start + chunk_size], stored[geometry.stored_offset(index) :]
        )
    stored.release()
    out[geometry.stored_size - TRAILER_SIZE :] = encryptor.trailer()
    return bytes(out)


def _read_full(src: ReadableSource, buffer: memoryview) -> int:
    """Fill ``buffer`` unless the source ends first (raw files may return short reads)."""
    filled = 0
    while filled < len(buffer):
        count = src.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled


def read_header(source: SeekableSource) -> Header:
    """The header of an encrypted file, without any key: tells which data key it needs."""
    source.seek(0)
    prefix = _read_upto(source, FIXED_SIZE)
    size = header_size(prefix)
    rest = _read_upto(source, size - FIXED_SIZE)
    if len(rest) != size - FIXED_SIZE:
        raise Truncated("the file ends inside its header")
    return Header.decode(prefix + rest)


def _read_upto(source: ReadableSource, size: int) -> bytes:
    buffer = bytearray(size)
    return bytes(buffer[: _read_full(source, memoryview(buffer))])


class DecryptingReader:
    """Random access to the plaintext of an encrypted file in a seekable ``source``.

    ``key`` is the data key, or a lookup from the header's key id to the key
    (returning None raises :class:`MissingKey`). Opening checks the key, the header's
    authentication and the file's length; each chunk is authenticated when read.
    Ranges are half-open, like slices: ``[start, stop)``.
    """

    def __init__(self, source: SeekableSource, key: bytes | KeyLookup) -> None:
        self._source = source
        self.header = read_header(source)
        data_key = key if isinstance(key, bytes) else key(self.header.key_id)
        if data_key is None:
            raise MissingKey(self.header.key_id)
        self._aead = self.header.open(data_key).content
        self._header_digest = self.header.digest
        self.geometry = self._measure()
        largest = min(self.header.chunk_size, self.geometry.plaintext_size)
        self._stored = memoryview(bytearray(largest + TAG_SIZE))
        self._cached_index = -1
        self._cached = b""
        self._end_verified = False

    @property
    def key_id(self) -> str:
        return self.header.key_id

    @property
    def chunk_size(self) -> int:
        return self.header.chunk_size

    def plaintext_size(self) -> int:
        """The plaintext length, from the file's length; the last chunk is decrypted
        once to prove that the file really ends there."""
        if not self._end_verified:
            self._chunk(self.geometry.last_index)
        return self.geometry.plaintext_size

    def read_range(self, start: int, stop: int | None = None) -> bytes:
        """Plaintext ``[start, stop)``, clipped to the file like a slice."""
        return b"".join(self.iter_range(start, stop))

    def iter_range(self, start: int, stop: int | None = None) -> Iterator[bytes]:
        """Plaintext ``[start, stop)`` in pieces of at most one chunk (HTTP range bodies).

        Arguments are checked now, not at the first ``next()``, so that a bad range
        fails before a response starts.
        """
        if start < 0 or (stop is not None and stop < 0):
            raise ValueError("range bounds must not be negative")
        geometry = self.geometry
        size = geometry.plaintext_size
        if stop is None or stop >= size:
            stop = size
            if geometry.last_index not in geometry.chunks_for(start, stop):
                # The answer's length rests on where the file ends: prove it.
                self.plaintext_size()
        return self._pieces(start, stop)

    def read_all(self) -> Iterator[bytes]:
        """The whole plaintext, chunk by chunk; the final chunk is always checked."""
        for index in range(self.geometry.chunk_count):
            plaintext = self._chunk(index)
            if plaintext:
                yield plaintext

    def as_file(self) -> PlaintextFile:
        """A read-only seekable file object over the plaintext (for tile readers)."""
        return PlaintextFile(self)

    # --- internals ---------------------------------------------------------------------

    def _pieces(self, start: int, stop: int) -> Iterator[bytes]:
        chunk_size = self.header.chunk_size
        for index in self.geometry.chunks_for(start, stop):
            plaintext = self._chunk(index)
            low = max(start - index * chunk_size, 0)
            high = min(stop - index * chunk_size, len(plaintext))
            yield plaintext if low == 0 and high == len(plaintext) else plaintext[low:high]

    def _measure(self) -> Geometry:
        total = self._source.seek(0, os.SEEK_END)
        header_size = self.header.size
        if total < header_size + TAG_SIZE + TRAILER_SIZE:
            raise Truncated("the file ends before its first chunk and end marker")
        self._source.seek(total - TRAILER_SIZE)
        plaintext_size = decode_trailer(_read_upto(self._source, TRAILER_SIZE))
        if plaintext_size is None:
            raise Truncated("the end marker is missing: the file was cut short or its end damaged")
        geometry = Geometry(header_size, self.header.chunk_size, plaintext_size)
        if geometry.stored_size > total:
            raise Truncated(
                f"the file is {total} bytes but its end marker records {plaintext_size} "
                f"plaintext bytes, which take {geometry.stored_size}: chunks are missing"
            )
        if geometry.stored_size < total:
            raise Corrupted(
                f"the file is {total} bytes, {total - geometry.stored_size} more than its "
                f"end marker ({plaintext_size} plaintext bytes) accounts for"
            )
        return geometry

    def _chunk(self, index: int) -> bytes:
        if index == self._cached_index:
            return self._cached
        geometry = self.geometry
        stored = self._stored[: geometry.stored_length(index)]
        self._source.seek(geometry.stored_offset(index))
        if _read_full(self._source, stored) != len(stored):
            raise Truncated(f"the file ends inside chunk {index}; did it change while read?")
        final = index == geometry.last_index
        nonce = chunk_nonce(self.header, index)
        try:
            plaintext = self._aead.decrypt(
                nonce, stored, chunk_aad(self._header_digest, index, final)
            )
        except InvalidTag:
            raise self._diagnose(index, stored, final) from None
        self._cached_index, self._cached = index, plaintext
        self._end_verified = self._end_verified or final
        return plaintext

    def _diagnose(self, index: int, stored: memoryview, final: bool) -> Exception:
        # A full-size last chunk that opens as a middle chunk means the real final
        # chunk was dropped and the end marker rewritten to match.
        if final and len(stored) == self.header.chunk_size + TAG_SIZE:
            aad = chunk_aad(self._header_digest, index, False)
            try:
                self._aead.decrypt(chunk_nonce(self.header, index), stored, aad)
            except InvalidTag:
                pass
            else:
                return Truncated(f"the file ends after chunk {index}: its final chunk is missing")
        return TamperedChunk(index)


class PlaintextFile(io.RawIOBase):
    """Seekable read-only view of a :class:`DecryptingReader`; decrypts chunks on demand."""

    def __init__(self, reader: DecryptingReader) -> None:
        super().__init__()
        self._reader = reader
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self._reader.plaintext_size() + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        # Fill the whole buffer across chunks, so that read(n) gives n bytes before
        # the end as tile readers expect of a file.
        target = memoryview(buffer).cast("B")
        size = self._reader.plaintext_size()
        count = 0
        while count < len(target) and self._position < size:
            index, offset = divmod(self._position, self._reader.chunk_size)
            plaintext = memoryview(self._reader._chunk(index))[offset:]
            step = min(len(target) - count, len(plaintext))
            target[count : count + step] = plaintext[:step]
            count += step
            self._position += step
        return count


def decrypt_stream(src: SeekableSource, dst: Sink, key: bytes | KeyLookup) -> int:
    """Write the whole plaintext of ``src`` to ``dst``; return its length."""
    written = 0
    for piece in DecryptingReader(src, key).read_all():
        _write_all(dst, memoryview(piece))
        written += len(piece)
    return written


def _write_all(sink: Sink, view: memoryview) -> None:
    while view:
        written = sink.write(view)
        # None: a sink that does not count, taken to have written everything.
        if written is None or written >= len(view):
            return
        view = view[written:]
