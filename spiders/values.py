"""What the Scrapy adapters hand to hulian's drivers, taken from Scrapy's objects the one
way: the time as a value, a response's header fields."""

from __future__ import annotations

from datetime import UTC, datetime

from scrapy.http import Response


def now() -> datetime:
    return datetime.now(UTC)


def response_headers(response: Response) -> dict[str, str]:
    """Field names lower-cased, repeated fields joined as HTTP joins them."""
    return {k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
            for k, v in response.headers.items()}
