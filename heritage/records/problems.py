"""Problems found in a record: by validation, by an importer's mapping, or by parsing.

A problem says where (the field, and for imports the file's line or XPath), what
is wrong in plain language, and how to fix it. Errors keep a record a draft;
warnings are advice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    severity: Severity
    code: str  # stable, for filtering and docs, e.g. "edm.title-or-description"
    message: str  # what is wrong, in plain language
    hint: str = ""  # how to fix it
    field: str | None = None  # the record field (see heritage.records.fields), if any
    location: str | None = None  # where in the source: "line 12", an XPath, a column

    @classmethod
    def error(cls, code: str, message: str, hint: str = "", **where: Any) -> Problem:
        return cls(Severity.ERROR, code, message, hint, **where)

    @classmethod
    def warning(cls, code: str, message: str, hint: str = "", **where: Any) -> Problem:
        return cls(Severity.WARNING, code, message, hint, **where)

    def at(self, location: str | None) -> Problem:
        """The same problem, placed at ``location`` in the source (kept if already placed)."""
        if self.location or not location:
            return self
        return Problem(self.severity, self.code, self.message, self.hint, self.field, location)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
        }
        for key in ("hint", "field", "location"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Problem:
        return cls(
            Severity(data["severity"]),
            data["code"],
            data["message"],
            data.get("hint", ""),
            data.get("field"),
            data.get("location"),
        )


def has_errors(problems: list[Problem]) -> bool:
    return any(problem.severity is Severity.ERROR for problem in problems)
