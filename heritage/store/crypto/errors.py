"""What can go wrong when reading encrypted files or handling keys, each by name.

Every failure is an exception, never plaintext that is quietly wrong: callers
serving files catch :class:`CryptoError` and report the class name and message.
Messages name keys by id and never include key material.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base class for everything this package raises on purpose."""


# --- reading encrypted files -------------------------------------------------------------


class DecryptionError(CryptoError):
    """An encrypted file could not be turned back into its plaintext."""


class NotEncrypted(DecryptionError):
    """The file does not start with the format's magic bytes."""


class UnknownFormatVersion(DecryptionError):
    """The file is in this format, but in a version this code cannot read."""

    def __init__(self, version: int) -> None:
        super().__init__(f"encrypted file format version {version} is not supported")
        self.version = version


class MissingKey(DecryptionError):
    """No data key is available for the key id the file names."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no data key with id {key_id!r} is available to decrypt this file")
        self.key_id = key_id


class WrongKey(DecryptionError):
    """The data key given is not the one the file was encrypted with."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"the data key given for key id {key_id!r} is not the key this file was "
            "encrypted with (or the header's salt or key check was damaged)"
        )
        self.key_id = key_id


class Corrupted(DecryptionError):
    """The stored bytes are not the bytes that were written."""


class TamperedHeader(Corrupted):
    """The header fails its authentication code: some header field was changed."""


class TamperedChunk(Corrupted):
    """A chunk fails authentication: changed, moved, or taken from another file."""

    def __init__(self, index: int) -> None:
        super().__init__(f"chunk {index} fails authentication: it was changed, moved or replaced")
        self.index = index


class Truncated(Corrupted):
    """The file ends early: the final chunk or end marker is missing, or a chunk is cut."""


# --- key management ------------------------------------------------------------------------


class KeyManagementError(CryptoError):
    """A master key or wrapped data key could not be used."""


class MasterKeyUnavailable(KeyManagementError):
    """The master key cannot be loaded: missing, unreadable, wrong size or unsafe file mode."""


class UnknownKeyManager(KeyManagementError):
    """No key manager is registered under the configured name."""


class MalformedWrappedKey(KeyManagementError):
    """A stored wrapped key is not valid JSON of the expected shape."""


class WrongMasterKey(KeyManagementError):
    """The wrapped key was made by a different master key than the one asked to unwrap it."""

    def __init__(self, wrapped_by: str, offered: str) -> None:
        super().__init__(
            f"data key was wrapped by master key {wrapped_by!r}, not by master key {offered!r}"
        )
        self.wrapped_by = wrapped_by
        self.offered = offered


class UnwrapFailed(KeyManagementError):
    """The right master key does not open the wrapped key: wrong context or damaged."""
