"""Validation by ocfl-py (the independent judge), and import of foreign OCFL objects.

ocfl-py 2.1 knows the storage layouts 0002 and 0003 but not 0004, and calls a
root declaring any layout it lacks invalid (E071), although 0004 is a
registered OCFL extension. ``validate_storage_root`` therefore registers a
small adapter for our layouts in ocfl-py's layout registry first; it only lets
ocfl-py read the declared layout, every check stays ocfl-py's own. ocfl-py does
not check that objects sit where the layout puts them, so that check (E083) is
added here.

ocfl-py is imported lazily: it is needed only to validate and import.
Run ``python -m heritage.store.ocfl.validate PATH...`` to validate from a shell.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from heritage.store.ocfl.errors import ImportRefused, LayoutError, ValidatorUnavailable
from heritage.store.ocfl.inventory import INVENTORY_NAME, parse_inventory
from heritage.store.ocfl.layouts import HashedNTuple, StorageLayout, get_layout
from heritage.store.ocfl.store import LAYOUT_FILE, StorageRoot
from heritage.store.ocfl.structure import check_object

_MESSAGE = re.compile(r"^\[([EW]\d{3})([a-z]?)\]\s*(.*)$", re.DOTALL)
# ocfl-py's wording for codes missing from its message table, e.g. "Unknown error: E011 - ..."
_UNKNOWN = re.compile(r"^Unknown (?:error|warning): ([EW]\d{3})([a-z]?)\b(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Issue:
    code: str  # the specification's code, e.g. "E040" or "W004"
    detail_code: str  # ocfl-py's finer code, e.g. "E040a"
    message: str
    path: str = ""  # object directory relative to the storage root; "" for the root itself
    source: str = "ocfl-py"  # or "heritage" for the structural second opinion (structure.py)

    @property
    def is_error(self) -> bool:
        return self.code.startswith("E")


@dataclass
class ValidationReport:
    issues: list[Issue] = field(default_factory=list)
    objects: int = 0

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if not issue.is_error]

    @property
    def valid(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {issue.code for issue in self.issues}

    def summary(self) -> str:
        lines = [f"{'VALID' if self.valid else 'INVALID'} ({self.objects} objects)"]
        lines += [f"  {i.path or '.'}: [{i.detail_code}] {i.message}" for i in self.issues]
        return "\n".join(lines)


@dataclass(frozen=True)
class ImportResult:
    object_id: str
    head: str
    warnings: tuple[Issue, ...]


def _ocfl() -> ModuleType:
    try:
        import ocfl  # optional dependency, needed only here
        import ocfl.validator
    except ImportError:
        raise ValidatorUnavailable(
            "validating OCFL needs ocfl-py (pip install ocfl-py, or the test extra)"
        ) from None
    return ocfl


def _issues(messages: list[str], path: str) -> list[Issue]:
    issues = []
    for text in messages:
        match = _MESSAGE.match(text) or _UNKNOWN.match(text)
        if match:
            code, suffix, message = match.groups()
            issues.append(Issue(code, code + suffix, message.strip(" -"), path))
        else:  # a message in no known shape: keep it as an error, never drop it
            issues.append(Issue("E000", "E000", text, path))
    return issues


def _register_layouts_with_ocfl_py() -> None:
    """Teach ocfl-py's registry the layouts it lacks (0004), through its public add_layout."""
    from ocfl.layout import Layout, LayoutException
    from ocfl.layout_registry import add_layout, layout_is_supported

    ours: type[StorageLayout] = HashedNTuple
    if layout_is_supported(ours.name):
        return

    class Adapter(Layout):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.NAME = ours.name
            self.DESCRIPTION = ours.description
            self.PARAMS: dict[str, Any] = {}
            self.layout: StorageLayout = ours.from_config(None)

        def read_layout_params(self, root_fs: Any = None, params_required: bool = False) -> None:
            config = None
            if root_fs is not None and root_fs.exists(self.config_file):
                with root_fs.open(self.config_file) as stream:
                    config = json.load(stream)
            try:
                self.layout = ours.from_config(config)
            except LayoutError as exc:
                raise LayoutException(str(exc)) from None

        def identifier_to_path(self, identifier: str) -> str:
            return self.layout.object_path(identifier)

    add_layout(ours.name, Adapter)


def validate_object(path: str | Path, *, check_digests: bool = True) -> ValidationReport:
    """ocfl-py's verdict on one object directory: errors and warnings with their codes."""
    ocfl = _ocfl()
    validator = ocfl.validator.Validator(log_warnings=True, check_digests=check_digests)
    validator.validate_object(str(path))
    return ValidationReport(_issues(list(validator.log.messages), ""), objects=1)


def _layout_of(root: Path) -> StorageLayout | None:
    try:
        name = json.loads((root / LAYOUT_FILE).read_text("utf-8"))["extension"]
        config_path = root / "extensions" / name / "config.json"
        config = json.loads(config_path.read_text("utf-8")) if config_path.exists() else None
        return get_layout(name, config)
    except (OSError, ValueError, KeyError, LayoutError):
        return None  # ocfl-py reports a missing or bad layout itself


def validate_storage_root(path: str | Path, *, check_digests: bool = True) -> ValidationReport:
    """ocfl-py's verdict on a storage root and every object in it."""
    ocfl = _ocfl()
    from ocfl.layout import LayoutException
    from ocfl.validation_logger import ValidationLogger

    _register_layouts_with_ocfl_py()
    root = ocfl.StorageRoot(root=str(path))
    root.log = ValidationLogger(log_warnings=True)
    report = ValidationReport()
    root.open_root_fs()
    try:
        root.check_root_structure()
    except ocfl.StorageRootException as exc:
        root.log.error(exc.code, **exc.kwargs)
        report.issues = _issues(list(root.log.messages), "")
        return report
    except LayoutException as exc:  # a layout's config.json that ocfl-py cannot use
        report.issues = [Issue("E000", "E000", f"storage layout configuration: {exc}")]
        return report
    layout = _layout_of(Path(path))
    for relative in root.object_paths():  # traversal errors go to root.log
        report.objects += 1
        object_dir = Path(path) / relative
        object_report = validate_object(object_dir, check_digests=check_digests)
        report.issues += [
            Issue(i.code, i.detail_code, i.message, relative) for i in object_report.issues
        ]
        if layout is not None:
            report.issues += _placement_issues(layout, object_dir, relative)
    report.issues = _issues(list(root.log.messages), "") + report.issues
    return report


def _placement_issues(layout: StorageLayout, object_dir: Path, relative: str) -> list[Issue]:
    try:
        object_id = parse_inventory((object_dir / INVENTORY_NAME).read_bytes()).id
        expected = layout.object_path(object_id)
    except Exception:  # the object validator has already reported why
        return []
    if expected == relative:
        return []
    message = f"object {object_id!r} is at {relative}, but {layout.name} puts it at {expected}"
    return [Issue("E083", "E083", message, relative, source="heritage")]


def import_object(
    source_dir: str | Path, storage_root: StorageRoot, *, check_digests: bool = True
) -> ImportResult:
    """Validate a foreign OCFL object, then copy it unchanged into the storage root.

    Refused with :class:`ImportRefused` (carrying every OCFL error code) when
    ocfl-py, or the structural second opinion of ``structure.py``, finds any
    error; warnings are accepted and returned. The object
    keeps its id, inventory and digests, and lands where the layout puts its id.
    """
    source = Path(source_dir)
    report = validate_object(source, check_digests=check_digests)
    if source.is_dir():
        report.issues += [
            Issue(f.code, f.code, f.message, source="heritage") for f in check_object(source)
        ]
    if not report.valid:
        codes = tuple(sorted({issue.code for issue in report.errors}))
        details = tuple(f"[{i.detail_code}] {i.message} ({i.source})" for i in report.errors)
        raise ImportRefused(str(source), codes, details)
    inventory = parse_inventory((source / INVENTORY_NAME).read_bytes())
    storage_root.import_tree(inventory.id, source)
    return ImportResult(inventory.id, inventory.head, tuple(report.warnings))


def main(argv: list[str]) -> int:
    """Validate each path (storage root or object); exit status 1 if any is invalid."""
    status = 0
    for argument in argv:
        path = Path(argument)
        is_root = any(path.glob("0=ocfl_1.*"))
        report = validate_storage_root(path) if is_root else validate_object(path)
        print(f"{path}: {report.summary()}")
        status |= 0 if report.valid else 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
