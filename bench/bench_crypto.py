"""Encryption at rest: the chunked writer against raw AES-256-GCM on the same chunks.

A stream generated in memory (one random chunk, repeated) is encrypted to
/dev/null. Baselines measured in the same run: AES-256-GCM of the same chunks
with no framing, written to the same sink, and SHA-256 of the same data. The
ratio writer / raw AES-GCM is the cost of the format itself.
``HERITAGE_BENCH_SIZE_MB`` sets the stream size (default 1024 MiB).
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from heritage.store.crypto import (
    DEFAULT_CHUNK_SIZE,
    DecryptingReader,
    EncryptingWriter,
    encrypt_stream,
)

ROUNDS = 3
DECRYPT_MAX = 256 * 2**20  # the encrypted copy read back is held in memory


class Generated(io.RawIOBase):
    """``total`` bytes from one block, copied into the reader's buffer as a file would be."""

    def __init__(self, total: int, block: bytes) -> None:
        self.left = total
        self.block = memoryview(block)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left, len(self.block))
        buffer[:count] = self.block[:count]
        self.left -= count
        return count


def best_rate(size: int, run: Callable[[], object]) -> float:
    """MB/s of the fastest of a few runs (the least disturbed by the rest of the machine)."""
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return size / best / 1e6


def main() -> int:
    size = int(os.environ.get("HERITAGE_BENCH_SIZE_MB", "1024")) * 2**20
    chunk = DEFAULT_CHUNK_SIZE
    block = os.urandom(chunk)
    count = size // chunk
    key = AESGCM.generate_key(bit_length=256)
    decrypt_size = min(size, DECRYPT_MAX)
    stored = io.BytesIO()
    encrypt_stream(Generated(decrypt_size, block), stored, key, "bench", chunk)

    with open(os.devnull, "wb", buffering=0) as sink:

        def raw_aesgcm() -> None:
            aead, out, nonce = AESGCM(key), bytearray(chunk + 16), bytes(12)
            for _ in range(count):
                aead.encrypt_into(nonce, block, None, out)
                sink.write(out)

        def sha256() -> None:
            digest = hashlib.sha256()
            for _ in range(count):
                digest.update(block)

        def writer() -> None:
            with EncryptingWriter(sink, key, "bench", chunk_size=chunk) as out:
                for _ in range(count):
                    out.write(block)

        def stream(*digests: str) -> Callable[[], object]:
            def run() -> None:
                source = Generated(size, block)
                encrypt_stream(source, sink, key, "bench", chunk, plaintext_digests=digests)

            return run

        def read_all() -> None:
            for _ in DecryptingReader(stored, key).read_all():
                pass

        raw = best_rate(size, raw_aesgcm)
        rates = {
            "EncryptingWriter.write": best_rate(size, writer),
            "encrypt_stream": best_rate(size, stream()),
            "encrypt_stream + sha256 of plaintext": best_rate(size, stream("sha256")),
            "sha256 alone (hashlib)": best_rate(size, sha256),
            f"DecryptingReader.read_all ({decrypt_size // 2**20} MiB)": best_rate(
                decrypt_size, read_all
            ),
        }
    print(f"{size // 2**20} MiB in {chunk // 2**10} KiB chunks, best of {ROUNDS}, to /dev/null")
    print(f"  {'raw AES-256-GCM, no framing (baseline)':42} {raw:8.0f} MB/s")
    for name, rate in rates.items():
        print(f"  {name:42} {rate:8.0f} MB/s  {rate / raw:5.2f} x raw AES-GCM")
    return 0
