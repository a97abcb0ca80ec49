"""SizedEncryptor: chunks sealed as they fill when the length is known, continued later."""

from __future__ import annotations

import io
import os

import pytest

from heritage.store.crypto import (
    DecryptingReader,
    SizedEncryptor,
    TamperedChunk,
    encrypt_bytes,
    encrypt_stream,
    read_header,
)
from heritage.store.crypto.format import TAG_SIZE

KEY = bytes(range(32))
CHUNK = 64


def seal_all(encryptor: SizedEncryptor, data: bytes, start: int = 0) -> bytes:
    out = memoryview(bytearray(CHUNK + TAG_SIZE))
    pieces = []
    for index in range(start, encryptor.geometry.chunk_count):
        plain = data[index * CHUNK : (index + 1) * CHUNK]
        pieces.append(bytes(encryptor.seal(index, plain, out)))
    return b"".join(pieces)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 5 * CHUNK + 7])
def test_output_is_the_standard_format(size: int) -> None:
    data = os.urandom(size)
    encryptor = SizedEncryptor.create(KEY, "key-1", size, CHUNK)
    blob = encryptor.header.raw + seal_all(encryptor, data) + encryptor.trailer()
    assert len(blob) == encryptor.geometry.stored_size
    assert b"".join(DecryptingReader(io.BytesIO(blob), KEY).read_all()) == data


def test_another_encryptor_continues_from_the_header() -> None:
    data = os.urandom(4 * CHUNK + 10)
    first = SizedEncryptor.create(KEY, "key-1", len(data), CHUNK)
    out = memoryview(bytearray(CHUNK + TAG_SIZE))
    head = first.header.raw + b"".join(
        bytes(first.seal(i, data[i * CHUNK : (i + 1) * CHUNK], out)) for i in range(2)
    )
    # A torn write after two chunks: the whole ones are counted, the final never.
    assert first.sealed_prefix(len(head) + 5) == 2
    assert first.sealed_prefix(10**9) == first.geometry.last_index

    header = read_header(io.BytesIO(head))
    second = SizedEncryptor.resume(KEY, header, len(data))
    assert second.open(1, head[header.size + CHUNK + TAG_SIZE :]) == data[CHUNK : 2 * CHUNK]
    blob = head + seal_all(second, data, start=2) + second.trailer()
    assert b"".join(DecryptingReader(io.BytesIO(blob), KEY).read_all()) == data


def test_chunks_must_have_their_length_and_authenticate() -> None:
    encryptor = SizedEncryptor.create(KEY, "key-1", 2 * CHUNK + 1, CHUNK)
    out = memoryview(bytearray(CHUNK + TAG_SIZE))
    with pytest.raises(ValueError, match="must hold"):
        encryptor.seal(0, b"short", out)
    with pytest.raises(ValueError, match="past the end"):
        encryptor.seal(3, b"x", out)
    sealed = bytearray(encryptor.seal(0, bytes(CHUNK), out))
    sealed[3] ^= 1
    with pytest.raises(TamperedChunk):
        encryptor.open(0, sealed)


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7])
def test_encrypt_bytes_writes_what_encrypt_stream_writes(size: int) -> None:
    data = os.urandom(size)
    blob = encrypt_bytes(data, KEY, "key-1", CHUNK)
    streamed = io.BytesIO()
    encrypt_stream(io.BytesIO(data), streamed, KEY, "key-1", CHUNK)
    # random file keys and nonces differ; the layout and the plaintext do not
    assert len(blob) == len(streamed.getvalue())
    assert read_header(io.BytesIO(blob)).chunk_size == CHUNK
    assert b"".join(DecryptingReader(io.BytesIO(blob), KEY).read_all()) == data
    tampered = bytearray(blob)
    tampered[-TAG_SIZE - 12] ^= 1
    with pytest.raises(TamperedChunk):
        b"".join(DecryptingReader(io.BytesIO(bytes(tampered)), KEY).read_all())
