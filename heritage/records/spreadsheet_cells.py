"""Cells of exported spreadsheets that a spreadsheet program will not run as formulas.

Excel, LibreOffice and Google Sheets evaluate a CSV cell that starts with ``=``,
``+``, ``-`` or ``@`` (and, in some versions, a tab or carriage return) as a
formula, so a record value such as ``=HYPERLINK("http://…")`` written verbatim
would run on the machine of whoever opens the export (CSV injection, CWE-1236).
As OWASP recommends, such cells are written with a leading apostrophe, which
spreadsheet programs take as "this is text". The spreadsheet importer removes
that apostrophe again, so an exported file re-imports to the same values.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def escape_formula(value: str) -> str:
    """``value`` as a cell that cannot start a formula."""
    return TEXT_MARK + value if value.startswith(FORMULA_STARTS) else value


def unescape_formula(cell: str) -> str:
    """The value an exported cell holds: the apostrophe of :func:`escape_formula` removed."""
    if cell.startswith(TEXT_MARK) and cell[1:2] and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell
