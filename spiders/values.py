"""What the Scrapy adapters hand to hulian's drivers, taken from Scrapy's objects the one
way: the time as a value, a response's header fields."""

from __future__ import annotations

from datetime import UTC, datetime

from scrapy.http import Response

from audit.web.fields import header_fields


def now() -> datetime:
    return datetime.now(UTC)


def response_headers(response: Response) -> dict[str, str]:
    """Field names lower-cased, repeated fields joined as the asyncio engine joins them."""
    return header_fields((name.decode("latin-1"), value.decode("latin-1"))
                         for name, values in response.headers.items() for value in values)


# Where a seed page's render keeps the page's body as served (a request asks for it by
# setting it to b""), beside the DOM scrapy-playwright answers with (spiders/browser.py).
SERVED_BODY = "hulian_served_body"

# Where a screenshot's render is asked to store its picture (a path), and where it says that
# it did (True): the picture is taken within the render (spiders/browser.py), so that the
# render's deadline and its new try after the browser died hold for it too.
SCREENSHOT_TO = "hulian_screenshot_to"
SCREENSHOT_TAKEN = "hulian_screenshot_taken"
