"""Everything the OCFL store raises on purpose, each failure by name.

These are storage-layer errors: services catch them and turn them into the
errors of ``heritage/errors.py`` (a missing object becomes ``NotFound``, a
refused import ``InvalidInput``), so this package stays free of HTTP and policy.
"""

from __future__ import annotations


class OcflError(Exception):
    """Base class for everything this package raises on purpose."""


class StoreNotInitialised(OcflError):
    """The path is not an OCFL storage root (no ``0=ocfl_1.1``), or it was never opened."""


class LayoutError(OcflError):
    """A storage layout name, configuration or object id the layout cannot map."""


class InventoryError(OcflError):
    """An inventory breaks the OCFL rules; ``code`` is the OCFL code, e.g. ``E040``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"[{code}] {message}")
        self.code = code
        self.message = message


class CorruptObject(OcflError):
    """An object on disk does not match its own inventory or sidecar."""


class ObjectNotFound(OcflError):
    """No object with this id in the storage root."""


class ObjectExists(OcflError):
    """An object with this id is already in the storage root (imports never merge)."""


class HeadMismatch(OcflError):
    """The object's head is not the one the caller expected: another commit published a
    version meanwhile (or published one its caller never recorded)."""

    def __init__(self, object_id: str, expected: str, found: str | None) -> None:
        super().__init__(
            f"object {object_id!r} is at {found or 'no version'}, not at {expected} as expected"
        )
        self.object_id = object_id
        self.expected = expected
        self.found = found


class VersionNotFound(OcflError):
    """The object has no version of that name."""


class PathNotFound(OcflError):
    """The logical path is not in the requested version's state."""


class InvalidChange(OcflError):
    """A requested change cannot become a valid version (bad path, conflict, unknown removal)."""


class ImportRefused(OcflError):
    """A foreign OCFL object failed validation; ``codes`` lists the OCFL error codes."""

    def __init__(self, source: str, codes: tuple[str, ...], details: tuple[str, ...]) -> None:
        listed = ", ".join(codes) if codes else "no code given"
        super().__init__(f"OCFL object at {source} is not valid ({listed}): " + "; ".join(details))
        self.source = source
        self.codes = codes
        self.details = details


class ValidatorUnavailable(OcflError):
    """ocfl-py, which validates objects before import, is not installed."""
