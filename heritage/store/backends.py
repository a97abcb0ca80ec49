"""Registry of storage root backends: the embedded local directory first, S3 second.

``open_storage_root(settings)`` gives the instance's OCFL storage root, opened
(and initialised on first use), with the instance's version signer attached when
one is given. Backends register themselves with ``@storage_backend(name)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heritage.config import Settings
from heritage.store.ocfl.hooks import VersionSigner

StorageFactory = Callable[[Settings, str | None, VersionSigner | None], Any]
STORAGE_BACKENDS: dict[str, StorageFactory] = {}


class UnknownStorageBackend(ValueError):
    pass


def storage_backend(name: str) -> Callable[[StorageFactory], StorageFactory]:
    def register(factory: StorageFactory) -> StorageFactory:
        STORAGE_BACKENDS[name] = factory
        return factory

    return register


@storage_backend("local")
def _local(settings: Settings, location: str | None, signer: VersionSigner | None) -> Any:
    from pathlib import Path

    from heritage.store.ocfl import StorageRoot

    path = Path(location) if location else settings.resolved_storage_root
    root = StorageRoot(path, signer=signer) if signer is not None else StorageRoot(path)
    if not (path / "0=ocfl_1.1").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        return root.initialize()
    return root.open()


def open_storage_root(
    settings: Settings,
    *,
    backend: str | None = None,
    location: str | None = None,
    signer: VersionSigner | None = None,
) -> Any:
    """The storage root of ``backend`` (the configured one by default) at ``location``
    (the configured one by default): a local path, or ``s3://bucket/prefix``."""
    name = backend or settings.store_backend
    factory = STORAGE_BACKENDS.get(name)
    if factory is None:
        _load_optional_backends()
        factory = STORAGE_BACKENDS.get(name)
    if factory is None:
        known = ", ".join(sorted(STORAGE_BACKENDS))
        raise UnknownStorageBackend(f"unknown storage backend {name!r} (known: {known})")
    return factory(settings, location, signer)


def open_replica_root(settings: Settings, signer: VersionSigner | None = None) -> Any | None:
    """The replica storage root, or None when no replica is configured."""
    if not settings.replica_root:
        return None
    if settings.replica_root.startswith("s3://"):
        return open_storage_root(settings, backend="s3", location=settings.replica_root)
    return open_storage_root(settings, backend="local", location=settings.replica_root)


def _load_optional_backends() -> None:
    # The S3 backend pulls in boto3: imported only by instances that use it.
    import heritage.store.ocfl.s3  # noqa: F401
