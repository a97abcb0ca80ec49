"""Digests: content addressing (sha512, or sha256 for imported objects) and fixity.

Files are hashed while they are copied, in one pass of 1 MiB blocks, so a
large upload is read once and never held in memory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

BLOCK_SIZE = 1024 * 1024

# OCFL 1.1 allows only these two for content addressing (E025).
CONTENT_ALGORITHMS = ("sha512", "sha256")
# Fixity blocks may also use these (OCFL 1.1 section 3.4).
FIXITY_ALGORITHMS = ("md5", "sha1", "sha256", "sha512", "blake2b-512")

_HASHLIB_NAMES = {"blake2b-512": "blake2b"}


def new_hash(algorithm: str) -> hashlib._Hash:
    if algorithm not in FIXITY_ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(_HASHLIB_NAMES.get(algorithm, algorithm))


def digest_bytes(data: bytes, algorithm: str) -> str:
    hasher = new_hash(algorithm)
    hasher.update(data)
    return hasher.hexdigest()


def digest_file(path: Path, algorithm: str) -> str:
    hasher = new_hash(algorithm)
    with path.open("rb") as stream:
        while block := stream.read(BLOCK_SIZE):
            hasher.update(block)
    return hasher.hexdigest()


def copy_and_hash(
    source: BinaryIO, target: Path, algorithms: tuple[str, ...], *, fsync: bool = False
) -> tuple[dict[str, str], int]:
    """Copy ``source`` into the new file ``target``; digests by algorithm, and the size.

    Not fsynced unless asked: the commit makes everything durable in one step.
    """
    hashers = {name: new_hash(name) for name in algorithms}
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        while block := source.read(BLOCK_SIZE):
            for hasher in hashers.values():
                hasher.update(block)
            view = memoryview(block)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            size += len(block)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}, size
