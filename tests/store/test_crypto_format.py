"""The chunked encrypted file format: round trips, random access, and every kind of damage."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import os
import struct
import tracemalloc
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heritage.store.crypto import (
    Corrupted,
    DecryptingReader,
    DecryptionError,
    EncryptingWriter,
    MissingKey,
    NotEncrypted,
    TamperedChunk,
    TamperedHeader,
    Truncated,
    UnknownFormatVersion,
    WrongKey,
    decrypt_stream,
    encrypt_stream,
    read_header,
)
from heritage.store.crypto.format import TAG_SIZE, TRAILER_SIZE

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
KEY_ID = "ws-1"
CHUNK = 16
HEADER_SIZE = 112 + len(KEY_ID)
STORED_CHUNK = CHUNK + TAG_SIZE

examples = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encrypt(data: bytes, *, chunk_size: int = CHUNK, key: bytes = KEY) -> bytes:
    sink = io.BytesIO()
    with EncryptingWriter(sink, key, KEY_ID, chunk_size=chunk_size) as writer:
        writer.write(data)
    return sink.getvalue()


def decrypt(blob: bytes, key: bytes = KEY) -> bytes:
    return b"".join(DecryptingReader(io.BytesIO(blob), key).read_all())


def chunk_offset(index: int) -> int:
    return HEADER_SIZE + index * STORED_CHUNK


def flip(blob: bytes, offset: int) -> bytes:
    return blob[:offset] + bytes([blob[offset] ^ 0x01]) + blob[offset + 1 :]


class CountingSource(io.BytesIO):
    """Records which byte spans a reader reads, to tell which chunks it touched."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.spans: list[tuple[int, int]] = []

    def read(self, size: int | None = -1, /) -> bytes:
        start = self.tell()
        data = super().read(size)
        self.spans.append((start, start + len(data)))
        return data

    def readinto(self, buffer, /) -> int:  # type: ignore[no-untyped-def]
        start = self.tell()
        count = super().readinto(buffer)
        self.spans.append((start, start + count))
        return count

    def chunks_touched(self, body_end: int) -> set[int]:
        touched: set[int] = set()
        for start, stop in self.spans:
            low, high = max(start, HEADER_SIZE), min(stop, body_end)
            if low < high:
                touched.update(
                    range(
                        (low - HEADER_SIZE) // STORED_CHUNK,
                        1 + (high - 1 - HEADER_SIZE) // STORED_CHUNK,
                    )
                )
        return touched


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 5 * CHUNK + 7])
def test_round_trip_at_chunk_boundaries(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data)
    chunks = max(1, -(-size // CHUNK))
    assert len(blob) == HEADER_SIZE + size + chunks * TAG_SIZE + TRAILER_SIZE
    reader = DecryptingReader(io.BytesIO(blob), KEY)
    assert reader.plaintext_size() == size
    assert b"".join(reader.read_all()) == data
    assert reader.as_file().read() == data


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 4 * CHUNK, 4 * CHUNK + 3])
def test_encrypt_stream_matches_writer_layout(size: int) -> None:
    data = os.urandom(size)
    sink = io.BytesIO()
    result = encrypt_stream(io.BytesIO(data), sink, KEY, KEY_ID, CHUNK)
    assert result.plaintext_size == size
    assert result.stored_size == len(sink.getvalue()) == len(encrypt(data))
    assert decrypt(sink.getvalue()) == data
    back = io.BytesIO()
    assert decrypt_stream(io.BytesIO(sink.getvalue()), back, KEY) == size
    assert back.getvalue() == data


@examples
@given(
    data=st.binary(max_size=400),
    chunk_size=st.integers(min_value=1, max_value=48),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_writes_of_any_sizes_round_trip(data: bytes, chunk_size: int, cuts: list[int]) -> None:
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, KEY, KEY_ID, chunk_size=chunk_size)
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut <= len(data))})
    for start, stop in itertools.pairwise(bounds):
        writer.write(memoryview(data)[start:stop])
    writer.write(b"")
    result = writer.close()
    assert result.plaintext_size == len(data)
    assert decrypt(sink.getvalue()) == data


def test_digests_cover_plaintext_and_stored_bytes() -> None:
    data = os.urandom(5 * CHUNK + 3)
    sink = io.BytesIO()
    writer = EncryptingWriter(
        sink, KEY, KEY_ID, chunk_size=CHUNK, plaintext_digests=["sha512"], stored_digests=["sha512"]
    )
    writer.write(data)
    result = writer.close()
    assert result.plaintext_digests == {"sha512": hashlib.sha512(data).hexdigest()}
    assert result.stored_digests == {"sha512": hashlib.sha512(sink.getvalue()).hexdigest()}
    assert writer.close() is result


def test_sink_with_short_writes_gets_everything() -> None:
    class Dribble(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b, /) -> int:  # type: ignore[no-untyped-def]
            piece = bytes(b[:7])
            self.data += piece
            return len(piece)

    data = os.urandom(4 * CHUNK + 1)
    sink = Dribble()
    encrypt_stream(io.BytesIO(data), sink, KEY, KEY_ID, CHUNK)
    assert decrypt(bytes(sink.data)) == data


def test_header_names_the_key_without_needing_it() -> None:
    header = read_header(io.BytesIO(encrypt(b"x")))
    assert (header.key_id, header.chunk_size, header.size) == (KEY_ID, CHUNK, HEADER_SIZE)


def test_failed_write_leaves_a_truncated_file() -> None:
    sink = io.BytesIO()
    with (
        pytest.raises(RuntimeError),
        EncryptingWriter(sink, KEY, KEY_ID, chunk_size=CHUNK) as writer,
    ):
        writer.write(os.urandom(3 * CHUNK))
        raise RuntimeError("upload interrupted")
    assert writer.closed
    with pytest.raises(ValueError):
        writer.write(b"more")
    with pytest.raises(Truncated):
        decrypt(sink.getvalue())


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        EncryptingWriter(io.BytesIO(), KEY[:16], KEY_ID)
    with pytest.raises(ValueError, match="chunk size"):
        EncryptingWriter(io.BytesIO(), KEY, KEY_ID, chunk_size=0)
    with pytest.raises(ValueError, match="key id"):
        EncryptingWriter(io.BytesIO(), KEY, "")
    reader = DecryptingReader(io.BytesIO(encrypt(b"abc")), KEY)
    with pytest.raises(ValueError):
        reader.read_range(-1, 2)


def test_documented_layout_decrypts_independently() -> None:
    """Decode by the byte layout in the package docstring alone, not with our reader."""
    data = os.urandom(2 * CHUNK + 5)
    blob = encrypt(data)
    assert blob[:6] == b"HCENC\x00" and blob[6] == 1
    (chunk_size,) = struct.unpack(">I", blob[7:11])
    salt, prefix, n = blob[11:43], blob[43:47], blob[47]
    assert (chunk_size, blob[48 : 48 + n]) == (CHUNK, KEY_ID.encode())
    header = blob[: 112 + n]
    material = HKDF(
        algorithm=hashes.SHA256(), length=96, salt=salt, info=b"heritage-cloud HCENC v1 file keys"
    ).derive(KEY)
    assert header[48 + n : 80 + n] == material[64:]
    assert header[80 + n :] == hmac.digest(material[32:64], header[: 80 + n], "sha256")
    assert blob[-14:] == b"HCEND\x00" + struct.pack(">Q", len(data))
    aead, plaintext, offset = AESGCM(material[:32]), b"", len(header)
    for index, length in enumerate([CHUNK, CHUNK, 5]):
        final = b"\x01" if index == 2 else b"\x00"
        aad = hashlib.sha256(header).digest() + struct.pack(">Q", index) + final
        nonce = prefix + struct.pack(">Q", index)
        plaintext += aead.decrypt(nonce, blob[offset : offset + length + 16], aad)
        offset += length + 16
    assert plaintext == data and offset == len(blob) - 14


# --- random access ---------------------------------------------------------------------------


@examples
@given(
    data=st.binary(max_size=300),
    chunk_size=st.integers(min_value=1, max_value=40),
    ranges=st.lists(
        st.tuples(st.integers(min_value=0, max_value=330), st.integers(min_value=0, max_value=330)),
        min_size=1,
        max_size=20,
    ),
)
def test_read_range_equals_the_plaintext_slice(
    data: bytes, chunk_size: int, ranges: list[tuple[int, int]]
) -> None:
    reader = DecryptingReader(io.BytesIO(encrypt(data, chunk_size=chunk_size)), KEY)
    view = reader.as_file()
    for start, stop in ranges:
        assert reader.read_range(start, stop) == data[start:stop]
        pieces = list(reader.iter_range(start, stop))
        assert all(0 < len(piece) <= chunk_size for piece in pieces)
        view.seek(start)
        assert view.read(max(stop - start, 0)) == data[start:stop]
    assert reader.read_range(ranges[0][0]) == data[ranges[0][0] :]


@examples
@given(
    start=st.integers(min_value=0, max_value=10 * CHUNK - 1),
    length=st.integers(min_value=1, max_value=4 * CHUNK),
)
def test_range_reads_decrypt_only_the_chunks_they_cover(start: int, length: int) -> None:
    data = os.urandom(10 * CHUNK - 5)
    blob = encrypt(data)
    body_end = len(blob) - TRAILER_SIZE
    stop = min(start + length, len(data))
    source = CountingSource(blob)
    reader = DecryptingReader(source, KEY)
    source.spans.clear()
    assert reader.read_range(start, stop) == data[start:stop]
    assert source.chunks_touched(body_end) == set(range(start // CHUNK, (stop - 1) // CHUNK + 1))


def test_plaintext_size_decrypts_only_the_last_chunk() -> None:
    blob = encrypt(os.urandom(10 * CHUNK - 5))
    source = CountingSource(blob)
    reader = DecryptingReader(source, KEY)
    assert source.chunks_touched(len(blob) - TRAILER_SIZE) == set()
    assert reader.plaintext_size() == 10 * CHUNK - 5
    assert source.chunks_touched(len(blob) - TRAILER_SIZE) == {9}


# --- keys ------------------------------------------------------------------------------------


def test_wrong_key_is_named() -> None:
    with pytest.raises(WrongKey, match="'ws-1'"):
        decrypt(encrypt(b"secret letters"), key=OTHER_KEY)


def test_key_is_looked_up_by_the_id_in_the_header() -> None:
    blob = encrypt(b"secret letters")
    assert decrypt(blob, key={KEY_ID: KEY}.get) == b"secret letters"  # type: ignore[arg-type]
    with pytest.raises(MissingKey, match="'ws-1'"):
        decrypt(blob, key={}.get)  # type: ignore[arg-type]


# --- damage ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [4 * CHUNK - 4, 4 * CHUNK, 0])
def test_flipping_any_chunk_byte_names_that_chunk(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt(data)
    for offset in range(HEADER_SIZE, len(blob) - TRAILER_SIZE):
        with pytest.raises(TamperedChunk) as caught:
            decrypt(flip(blob, offset))
        assert caught.value.index == (offset - HEADER_SIZE) // STORED_CHUNK
        assert f"chunk {caught.value.index}" in str(caught.value)


def test_plaintext_size_never_trusts_a_damaged_end() -> None:
    data = os.urandom(3 * CHUNK + 2)
    reader = DecryptingReader(io.BytesIO(flip(encrypt(data), chunk_offset(3))), KEY)
    assert reader.read_range(0, CHUNK) == data[:CHUNK]  # chunks before the damage are fine
    with pytest.raises(TamperedChunk):
        reader.plaintext_size()
    with pytest.raises(TamperedChunk):
        reader.read_range(3 * CHUNK + 5, 3 * CHUNK + 9)  # past the end: the end is proven


def test_cutting_the_file_anywhere_is_truncation() -> None:
    blob = encrypt(os.urandom(3 * CHUNK + 5))
    for length in range(6, len(blob)):
        with pytest.raises(Truncated):
            decrypt(blob[:length])


def test_dropping_the_final_chunk_is_truncation() -> None:
    data = os.urandom(3 * CHUNK + 5)
    blob = encrypt(data)
    body = blob[: chunk_offset(3)]
    trailer = blob[-TRAILER_SIZE:]
    with pytest.raises(Truncated):
        decrypt(body)
    with pytest.raises(Truncated, match="chunks are missing"):
        decrypt(body + trailer)
    # Even with the end marker rewritten to match, the last chunk left is no final chunk.
    rewritten = trailer[:6] + struct.pack(">Q", 3 * CHUNK)
    with pytest.raises(Truncated, match="final chunk is missing"):
        decrypt(body + rewritten)


def test_extra_bytes_before_the_end_marker_are_corruption() -> None:
    blob = encrypt(os.urandom(CHUNK))
    with pytest.raises(Corrupted):
        decrypt(blob[:-TRAILER_SIZE] + b"\x00" + blob[-TRAILER_SIZE:])


def test_swapping_two_chunks_is_detected() -> None:
    blob = encrypt(os.urandom(4 * CHUNK + 1))
    first, third = (blob[chunk_offset(i) : chunk_offset(i + 1)] for i in (1, 3))
    swapped = blob[: chunk_offset(1)] + third + blob[chunk_offset(2) : chunk_offset(3)]
    swapped += first + blob[chunk_offset(4) :]
    assert len(swapped) == len(blob)
    with pytest.raises(TamperedChunk) as caught:
        decrypt(swapped)
    assert caught.value.index == 1


def test_chunk_from_another_file_with_the_same_key_is_detected() -> None:
    ours, theirs = encrypt(os.urandom(3 * CHUNK)), encrypt(os.urandom(3 * CHUNK))
    spliced = ours[: chunk_offset(1)] + theirs[chunk_offset(1) : chunk_offset(2)]
    spliced += ours[chunk_offset(2) :]
    with pytest.raises(TamperedChunk) as caught:
        decrypt(spliced)
    assert caught.value.index == 1


def test_every_header_byte_is_protected() -> None:
    blob = encrypt(os.urandom(2 * CHUNK))
    for offset in range(HEADER_SIZE):
        with pytest.raises(DecryptionError):
            decrypt(flip(blob, offset))


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        (0, NotEncrypted),  # magic
        (6, UnknownFormatVersion),  # version
        (10, TamperedHeader),  # chunk size
        (20, WrongKey),  # salt: the key check no longer matches
        (44, TamperedHeader),  # nonce prefix
        (49, TamperedHeader),  # key id
        (HEADER_SIZE - 1, TamperedHeader),  # MAC
    ],
)
def test_header_damage_is_named(offset: int, error: type[DecryptionError]) -> None:
    with pytest.raises(error):
        decrypt(flip(encrypt(b"some bytes"), offset))


@pytest.mark.parametrize("content", [b"", b"%PDF-1.7\n", b"HCEN", os.urandom(500)])
def test_plain_files_are_not_encrypted(content: bytes) -> None:
    with pytest.raises(NotEncrypted):
        DecryptingReader(io.BytesIO(content), KEY)


def test_unknown_version_is_named() -> None:
    blob = encrypt(b"x")
    with pytest.raises(UnknownFormatVersion, match="version 2") as caught:
        decrypt(blob[:6] + b"\x02" + blob[7:])
    assert caught.value.version == 2


# --- memory ----------------------------------------------------------------------------------


class Discard(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b, /) -> int:  # type: ignore[no-untyped-def]
        return len(b)


class Generated(io.RawIOBase):
    """``total`` bytes made on the fly from one random block; never holds more."""

    def __init__(self, total: int, block: bytes) -> None:
        self.left = total
        self.block = memoryview(block)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer, /) -> int:  # type: ignore[no-untyped-def]
        count = min(len(buffer), self.left, len(self.block))
        buffer[:count] = self.block[:count]
        self.left -= count
        return count


def odd_pieces(total: int, block: bytes) -> Iterator[memoryview]:
    view, sent = memoryview(block), 0
    for size in itertools.cycle([1, 4093, 65537, 250_000, 7, 262_145]):
        if sent >= total:
            return
        size = min(size, total - sent)
        yield view[:size]
        sent += size


STREAM_SIZE = 200_000_000
STREAM_CHUNK = 256 * 1024


def test_writer_memory_stays_flat() -> None:
    block = os.urandom(300_000)
    tracemalloc.start()
    try:
        writer = EncryptingWriter(Discard(), KEY, KEY_ID, chunk_size=STREAM_CHUNK)
        for piece in odd_pieces(STREAM_SIZE, block):
            writer.write(piece)
        result = writer.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.plaintext_size == STREAM_SIZE
    assert peak < 3 * STREAM_CHUNK, f"peak {peak} bytes"  # pending + ciphertext buffer


def test_encrypt_stream_memory_stays_flat() -> None:
    block = os.urandom(STREAM_CHUNK)
    tracemalloc.start()
    try:
        result = encrypt_stream(Generated(STREAM_SIZE, block), Discard(), KEY, KEY_ID, STREAM_CHUNK)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.plaintext_size == STREAM_SIZE
    assert peak < 4 * STREAM_CHUNK, f"peak {peak} bytes"  # read-ahead pair + ciphertext buffer
