"""CSV cells that a spreadsheet shows as text and does not run (CSV injection, also called
formula injection): the one rule every CSV hulian writes follows (findings.csv, review.csv,
`hulian export --format csv`, the site's api/v1 CSVs, `hulian query --csv`).

Their cells quote hostile pages: titles, headlines, excerpts, the reasons' sentences, URLs
and host names (a URL's host may start with `=`, `+`, `-` or `@`: `http://=1+1.test/`).
Excel, LibreOffice and Google Sheets read a cell that starts with `=`, `+`, `-` or `@` as
a formula (`=HYPERLINK(...)` a link that leaks or opens anything, DDE `cmd|...` a program),
and a tab or carriage return before it can make one too; some of them also drop the spaces
before a cell's first character on import. Such a cell gets a leading apostrophe (OWASP's
advice): the spreadsheet shows the text as it is, and a script reading the CSV sees the
apostrophe. A formula start after leading whitespace (as the spreadsheet may strip it, and
the invisible characters a page may put before it) counts the same.

Only text is changed: numbers (an int or float, a DuckDB number column of `hulian query
--csv`, the site's counts) are numbers, written as they are, and a negative one stays a
number; a number that is text (`"-2+3"` from a page) is text, and defused.

One pattern (`FORMULA_PATTERN`, RE2's syntax and Python's alike) says which cells are
defused, wherever they are made: by Python (`defused`), by DuckDB (`DEFUSE_MACRO`, the
report's findings) and by Arrow (audit/evidence/columnar.py's CSV export). Standard library
only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# The characters that start a formula, as findings.csv has always defused them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# What a spreadsheet may strip before a cell's first character: Python's whitespace
# (str.isspace: the ASCII spaces and controls \t \n \v \f \r \x1c-\x1f, NEL, NBSP and the
# Unicode spaces), and the invisible characters a page may use the same way (zero-width
# space, joiners, word joiner, byte order mark).
LEADING = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004"
           "\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
           "\u200b\u200c\u200d\u2060\ufeff")

# A cell to defuse: one that starts with a tab or carriage return, or whose first character
# after any LEADING ones starts a formula. The characters are in the pattern as they are (no
# escapes, which RE2 and Python write differently), but for the `-` of the class.
FORMULA_PATTERN = ("^(?:[\t\r]|[" + LEADING + "]*[=+@\\-])")
_FORMULA = re.compile(FORMULA_PATTERN)

# Control characters (C0 but tab, line feed and carriage return, which CSV quoting holds;
# DEL and C1) and the noncharacters U+FFFE and U+FFFF: a page's title carrying ESC sequences
# ran them in the terminal of whoever `cat`s findings.csv (review 140: a screen cleared; an
# OSC 8 link or an OSC 52 clipboard write the same way). They are dropped from every text
# cell, before the formula test (`\x01=HYPERLINK(…)` is a formula once it is gone). Written
# in the escapes RE2 and Python share.
CONTROLS_PATTERN = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\ufffe\uffff]"
_CONTROLS = re.compile(CONTROLS_PATTERN)

# The same for DuckDB's SQL (the report's findings): `defuse(c)`, NULL for NULL.
DEFUSE_MACRO = (
    "CREATE OR REPLACE MACRO defuse(c) AS CASE WHEN regexp_matches(regexp_replace(c, '"
    + CONTROLS_PATTERN + "', '', 'g'), '" + FORMULA_PATTERN.replace("'", "''")
    + "') THEN '''' || regexp_replace(c, '" + CONTROLS_PATTERN
    + "', '', 'g') ELSE regexp_replace(c, '" + CONTROLS_PATTERN + "', '', 'g') END")


def defused(text: str) -> str:
    """The cell as a spreadsheet shows it as text: without control characters (CONTROLS_PATTERN),
    and with a leading apostrophe if it would be a formula."""
    text = _CONTROLS.sub("", text)
    return "'" + text if _FORMULA.match(text) is not None else text


def defused_cell(value: Any) -> Any:
    """A cell for Python's csv writer: text defused, anything else (numbers, None) as is."""
    return defused(value) if isinstance(value, str) else value


def defused_row(row: Iterable[Any]) -> list[Any]:
    """Every text cell of a row defused."""
    return [defused(v) if isinstance(v, str) else v for v in row]
