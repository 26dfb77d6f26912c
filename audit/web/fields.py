"""A response's header fields as the drivers read them: one dict, names lower-cased, the
same way for both engines (the asyncio engine's pairs, Scrapy's lists)."""

from __future__ import annotations

from collections.abc import Iterable

# Fields whose repeats are joined with a line break, not a comma: their values hold commas of
# their own, and joined with ", " the second header's words were read as the first's. Two
# X-Robots-Tag headers, `googlebot: nofollow` and `noindex` (Google's documented form), read
# as one `googlebot: nofollow, noindex`: a page that tells every engine noindex read as
# telling only Google (a review of search barriers). A header value holds no line break.
_JOINED_BY_LINE = frozenset({"x-robots-tag"})


def header_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Field names lower-cased; repeated fields joined as HTTP joins them (", "), those in
    _JOINED_BY_LINE with "\\n" (field_values splits them again)."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in fields:
            fields[key] += ("\n" if key in _JOINED_BY_LINE else ", ") + value
        else:
            fields[key] = value
    return fields


def field_values(joined: str) -> list[str]:
    """The values of a field header_fields joined by line (one per header received)."""
    return [value for value in joined.split("\n") if value.strip()]
