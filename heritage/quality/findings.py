"""What a tier criterion found: its level, why, and how to reach the next level.

Messages and hints are templates marked for translation (``N_``) and filled in
with ``params`` where they are shown, like validation's rules
(:mod:`heritage.records.validation`): the page translates the template first,
the API answers the English text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def N_(message: str) -> str:  # the name gettext looks for
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Finding:
    """One criterion's verdict. ``level`` is a content tier ("0"-"4") or a metadata
    tier ("0", "A", "B", "C"); ``hint`` is empty when the level is the highest."""

    code: str  # stable: "content.media", "content.licence", "metadata.language", ...
    level: str
    message: str
    hint: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def text(self) -> str:
        return self.message.format_map(self.params)

    @property
    def hint_text(self) -> str:
        return self.hint.format_map(self.params) if self.hint else ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "level": self.level, "message": self.text}
        if self.hint:
            data["hint"] = self.hint_text
        return data


def finding(code: str, level: str | int, message: str, hint: str = "", **params: Any) -> Finding:
    return Finding(
        code, str(level), message, hint, MappingProxyType({k: str(v) for k, v in params.items()})
    )
