"""A response's header fields as the drivers read them: one dict, names lower-cased, the
same way for both engines (the asyncio engine's pairs, Scrapy's lists) and every capture
reader (audit/measure/capture/formats.py)."""

from __future__ import annotations

from collections.abc import Iterable

# RFC 9110's token characters (§5.6.2, tchar) and a field value's optional white space
# (§5.6.3, OWS: space and tab only, as Chromium trims it; Python's strip() and Twisted's also
# took \x0b and \x0c, and `text/html\x0b`, text to a browser, read as a page: a review). What
# both engines' parsers and the Content-Type reading mean by them.
TOKEN_CHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
FIELD_WHITESPACE = " \t"

# Fields whose repeats are joined with a line break, not a comma: their values hold commas of
# their own, and joined with ", " the second header's words were read as the first's. Two
# X-Robots-Tag headers, `googlebot: nofollow` and `noindex` (Google's documented form), read
# as one `googlebot: nofollow, noindex`: a page that tells every engine noindex read as
# telling only Google (a review of search barriers). A header value holds no line break.
_JOINED_BY_LINE = frozenset({"x-robots-tag"})


# Fields a browser takes once: a repeat of the same value is dropped, another value is kept
# on a line of its own, and Chromium fails the answer (ERR_RESPONSE_HEADERS_MULTIPLE_LOCATION):
# joined with ", ", two Locations were followed as one URL, `…/item?spm=a,%20b`, which
# matched the target's page, and a redirect no browser follows read as an open link (a
# review). urls.redirects reads the line break.
_TAKEN_ONCE = frozenset({"location"})


def add_field(fields: dict[str, str], name: str, value: str) -> None:
    """One received field into `fields`: the name lower-cased, a repeat joined as HTTP joins
    it (", "), those in _JOINED_BY_LINE with "\\n" (field_values splits them again), those
    in _TAKEN_ONCE kept once or, with another value, on a line of their own."""
    key = name.lower()
    if key not in fields:
        fields[key] = value
    elif key in _TAKEN_ONCE:
        if value not in field_values(fields[key]):
            fields[key] += "\n" + value
    else:
        fields[key] += ("\n" if key in _JOINED_BY_LINE else ", ") + value


def header_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Every received field, as add_field adds one."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        add_field(fields, name, value)
    return fields


def field_values(joined: str) -> list[str]:
    """The values of a field add_field joined by line (one per header received)."""
    return [value for value in joined.split("\n") if value.strip()]
