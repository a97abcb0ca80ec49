"""Finding the files that imported records name, in a folder or a zip archive.

An import brings a spreadsheet (or other source) plus its media: a folder beside it
or a zip. :class:`MediaSource` indexes the files once and answers
:meth:`MediaSource.find` by relative path, by bare file name, or by the record's
identifier as the file's stem (``inv-12`` finds ``images/inv-12.jpg``) when only
one file fits.

Archives come from outside, so they are treated as hostile:

* zip slip: members with absolute names, drive letters, ``..`` parts, backslashes or
  NUL characters, symbolic-link members, and duplicate names (after NFC) refuse the
  whole archive with an error naming the member;
* zip bombs: the member count (read from the end-of-central-directory record
  before :mod:`zipfile` builds its index), the total uncompressed size and the
  compression ratio of each member are checked from the headers when the archive is
  opened; as headers can lie, reading a member counts the bytes and fails once
  they pass the size its header declared, and a CRC mismatch is reported as a
  forged or damaged member;
* folders: symbolic links that lead outside the root are refused by name, and the
  check is repeated when a file is opened (the link may have changed).

All names are compared in Unicode NFC, so names from macOS (NFD) match.
"""

from __future__ import annotations

import os
import re
import stat
import struct
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

_DRIVE = re.compile(r"^[A-Za-z]:")
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


class MediaError(Exception):
    """A media source or one of its members is unsafe, over a limit, or unreadable."""


class AmbiguousMedia(MediaError):
    """A bare file name or identifier fits more than one file."""

    def __init__(self, name: str, candidates: list[str]):
        shown = ", ".join(candidates[:5]) + (" ..." if len(candidates) > 5 else "")
        super().__init__(
            f"'{name}' fits {len(candidates)} files ({shown}); name the file by its path"
        )
        self.candidates = candidates


@dataclass(frozen=True)
class Limits:
    max_members: int = 50_000
    max_total: int = 20 * 1024**3  # uncompressed bytes in all members
    max_ratio: float = 200.0  # uncompressed / compressed, per member
    # members smaller than this are not ratio-checked: tiny files compress oddly well
    ratio_floor: int = 1024 * 1024


@dataclass(frozen=True)
class MediaFile:
    name: str  # relative path, "/"-separated, NFC
    size: int  # bytes (uncompressed)
    _opener: Callable[[], IO[bytes]] = field(repr=False, compare=False)

    def open(self) -> IO[bytes]:
        """A binary stream of the file's content; close it after use."""
        return self._opener()


def _nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def clean_name(name: str, *, what: str = "member") -> str:
    """``name`` as a safe relative POSIX path in NFC, or :class:`MediaError` saying why not."""
    if not name or "\x00" in name:
        raise MediaError(f"{what} '{name!r}' has an empty name or a NUL character; refused")
    if "\\" in name:
        raise MediaError(
            f"{what} '{name}' contains a backslash, which Windows reads as a folder separator "
            "(zip slip); refused"
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise MediaError(f"{what} '{name}' is an absolute path (zip slip); refused")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise MediaError(f"{what} '{name}' has a '..' part leading outside (zip slip); refused")
    if not parts:
        raise MediaError(f"{what} '{name}' names no file; refused")
    return _nfc("/".join(parts))


class MediaSource:
    """An index of the files in a folder or a zip; build it with :meth:`open_folder`
    or :meth:`open_zip`, then :meth:`find` files. Use as a context manager."""

    def __init__(self, origin: str, files: dict[str, MediaFile], refused: dict[str, str]):
        self.origin = origin
        self._files = files
        # names that exist but may not be read, with the reason (escaping symlinks)
        self._refused = refused
        self._by_base: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        self._by_folded: dict[str, list[str]] = {}
        for name in files:
            base = name.rsplit("/", 1)[-1]
            self._by_base.setdefault(base, []).append(name)
            self._by_stem.setdefault(base.rsplit(".", 1)[0], []).append(name)
            self._by_folded.setdefault(name.casefold(), []).append(name)
        self._closers: list[Callable[[], None]] = []

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def open_folder(cls, root: Path | str, limits: Limits | None = None) -> MediaSource:
        limits = limits or Limits()
        base = Path(root).resolve(strict=True)
        if not base.is_dir():
            raise MediaError(f"{root} is not a folder")
        files: dict[str, MediaFile] = {}
        refused: dict[str, str] = {}
        for folder, dirnames, filenames in os.walk(base, followlinks=False):
            here = Path(folder)
            for entry in [*dirnames, *filenames]:
                path = here / entry
                rel = _nfc(path.relative_to(base).as_posix())
                if path.is_symlink():
                    target = path.resolve()
                    if not target.is_relative_to(base):
                        refused[rel] = (
                            f"'{rel}' is a symbolic link leading outside the media folder "
                            f"(to {target}); refused"
                        )
                        continue
                    if target.is_dir():
                        continue  # not followed: its files are reachable by their real path
                if entry in dirnames:
                    continue
                if len(files) >= limits.max_members:
                    raise MediaError(
                        f"{root} holds more than {limits.max_members} files; split the import"
                    )
                files[rel] = MediaFile(rel, path.stat().st_size, _folder_opener(base, path, rel))
        return cls(str(root), files, refused)

    @classmethod
    def open_zip(cls, path: Path | str, limits: Limits | None = None) -> MediaSource:
        limits = limits or Limits()
        path = Path(path)
        declared = _declared_entries(path)
        if declared is not None and declared > limits.max_members:
            raise MediaError(
                f"{path.name} has {declared} members, more than the limit of "
                f"{limits.max_members}; refused"
            )
        try:
            archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise MediaError(f"{path.name} is not a readable zip archive: {error}") from None
        try:
            files = _index_zip(archive, path.name, limits)
        except BaseException:
            archive.close()
            raise
        source = cls(str(path), files, {})
        source._closers.append(archive.close)
        return source

    # -- lookup -------------------------------------------------------------------------------

    def names(self) -> list[str]:
        return sorted(self._files)

    def __iter__(self) -> Iterator[MediaFile]:
        return iter(self._files.values())

    def __len__(self) -> int:
        return len(self._files)

    def find(self, name: str) -> MediaFile | None:
        """The file ``name`` names: a relative path, else a unique bare file name, else a
        unique file whose stem is ``name`` (an identifier), else a unique case-insensitive
        match. None when nothing fits; :class:`AmbiguousMedia` when several do;
        :class:`MediaError` for unsafe names and refused files."""
        # spreadsheets from Windows write folders with backslashes: read them as "/"
        wanted = clean_name(name.strip().replace("\\", "/"), what="file name")
        if wanted in self._refused:
            raise MediaError(self._refused[wanted])
        for refused_name, reason in self._refused.items():
            if wanted.startswith(refused_name + "/"):
                raise MediaError(reason)
        if wanted in self._files:
            return self._files[wanted]
        if "/" not in wanted:
            for index in (self._by_base, self._by_stem):
                found = self._unique(wanted, index.get(wanted, []))
                if found:
                    return found
        return self._unique(wanted, self._by_folded.get(wanted.casefold(), []))

    def _unique(self, wanted: str, candidates: list[str]) -> MediaFile | None:
        if len(candidates) > 1:
            raise AmbiguousMedia(wanted, sorted(candidates))
        return self._files[candidates[0]] if candidates else None

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self._closers.clear()

    def __enter__(self) -> MediaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _folder_opener(base: Path, path: Path, rel: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        # checked again on open: a file may have been swapped for a link since indexing
        if not path.resolve().is_relative_to(base):
            raise MediaError(f"'{rel}' now leads outside the media folder; refused")
        return path.open("rb")

    return opener


def _declared_entries(path: Path) -> int | None:
    """The member count the end-of-central-directory record declares (zip64 aware),
    read without building zipfile's index; None if no record is found."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            tail_size = min(size, 65_536 + 22)
            handle.seek(size - tail_size)
            tail = handle.read(tail_size)
            at = tail.rfind(_EOCD)
            if at < 0 or len(tail) < at + 22:
                return None
            count = struct.unpack_from("<H", tail, at + 10)[0]
            if count != 0xFFFF:
                return int(count)
            locator = at - 20
            if locator < 0 or tail[locator : locator + 4] != _ZIP64_LOCATOR:
                return count
            offset = struct.unpack_from("<Q", tail, locator + 8)[0]
            handle.seek(offset)
            record = handle.read(56)
            if record[:4] != _ZIP64_EOCD or len(record) < 40:
                return count
            return int(struct.unpack_from("<Q", record, 32)[0])
    except OSError as error:
        raise MediaError(f"{path.name} cannot be read: {error}") from None


def _index_zip(archive: zipfile.ZipFile, origin: str, limits: Limits) -> dict[str, MediaFile]:
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise MediaError(
            f"{origin} has {len(infos)} members, more than the limit of {limits.max_members}"
        )
    files: dict[str, MediaFile] = {}
    total = 0
    for info in infos:
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise MediaError(
                f"{origin}: member '{info.filename}' is a symbolic link; links are refused"
            )
        name = clean_name(info.filename, what=f"{origin}: member")
        if info.is_dir():
            continue
        if name in files:
            raise MediaError(f"{origin}: member '{info.filename}' appears twice; refused")
        total += info.file_size
        if total > limits.max_total:
            raise MediaError(
                f"{origin}: members uncompress to more than {limits.max_total} bytes "
                f"(reached at '{info.filename}'); refused as a possible zip bomb"
            )
        if info.file_size >= limits.ratio_floor:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise MediaError(
                    f"{origin}: member '{info.filename}' would expand {ratio:.0f} times "
                    f"(limit {limits.max_ratio:.0f}); refused as a possible zip bomb"
                )
        files[name] = MediaFile(name, info.file_size, _zip_opener(archive, info, origin))
    return files


def _zip_opener(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, origin: str
) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        return _CheckedReader(archive.open(info), info, origin)  # type: ignore[return-value]

    return opener


class _CheckedReader:
    """A member's stream that fails once it yields more than the header declared, and
    turns zipfile's CRC and format errors into :class:`MediaError` naming the member."""

    def __init__(self, raw: IO[bytes], info: zipfile.ZipInfo, origin: str):
        self._raw = raw
        self._info = info
        self._origin = origin
        self._read = 0

    def _fail(self, why: str) -> MediaError:
        return MediaError(
            f"{self._origin}: member '{self._info.filename}' {why}; the archive is damaged "
            "or forged (its header does not describe its data)"
        )

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._raw.read(size)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
            raise self._fail(f"cannot be read ({error})") from None
        self._read += len(data)
        if self._read > self._info.file_size:
            raise self._fail(f"yields more than the {self._info.file_size} bytes it declares")
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> _CheckedReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(65_536):
            yield chunk


__all__ = ["AmbiguousMedia", "Limits", "MediaError", "MediaFile", "MediaSource", "clean_name"]
