"""--render's download handler: scrapy-playwright's, with a bound on each page.

scrapy-playwright waits for the page's content after `load` with no timeout. A page whose
script holds Chromium's main thread after `load` (`onload=()=>setTimeout(()=>{for(;;){}})`)
never gives it, and the crawl waited forever: a platform could blind the auditor with one line
of script. Here the render (navigation and content, from the moment its page exists) has
the request's download timeout, as every other fetch has; past it the page is closed
(Chromium closes a tab whose renderer is busy; a CDP `Runtime.terminateExecution` on it got no
answer either) and the request fails with `RenderTimeout` (`render_timeout` in the failure
vocabulary). The probe is then recorded without a screenshot, a seed page as a seed error.

The wait for a page (PLAYWRIGHT_MAX_PAGES_PER_CONTEXT at a time) is not part of the bound:
counted in, four spinning interstitials used up the time of every render queued behind them
(an adversarial review), and a deadline that fell while scrapy-playwright was creating a page
would leak the page's slot (it releases it on an exception, not on a cancellation). Each
render ahead in the queue is bounded, so the wait is too.

The only module that imports scrapy-playwright and Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from scrapy import Request
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from spiders.failures import RenderedDownload, RenderTimeout, RenderTooLarge
from spiders.settings import CLOSE_TIMEOUT_S, LOAD_WAIT_S, download_timeout
from spiders.values import SERVED_BODY

logger = logging.getLogger(__name__)

# The characters of the page's document (its text, comments and attributes), counted in the
# page up to a limit: scrapy-playwright then asks for the whole document as one string, which
# Playwright's driver (Node) sends across; a page that grew a 300 MB DOM took the driver down
# with it, and every later render of the run failed (review 144). Past DOWNLOAD_MAXSIZE, the
# bound a fetched page has, the page is never asked for.
_DOCUMENT_SIZE = """(limit) => {
  let size = 0;
  const walker = document.createTreeWalker(document, NodeFilter.SHOW_ELEMENT
    | NodeFilter.SHOW_TEXT | NodeFilter.SHOW_COMMENT | NodeFilter.SHOW_CDATA_SECTION);
  for (let node = walker.currentNode; node; node = walker.nextNode()) {
    if (node.nodeType === Node.ELEMENT_NODE) {
      size += node.localName.length * 2 + 5;
      for (const attribute of node.attributes) size += attribute.name.length
        + attribute.value.length + 4;
    } else if (node.length !== undefined) {
      size += node.length;
    }
    if (size > limit) return size;
  }
  return size;
}"""

# Where the page of a render in progress is kept, so that it can be closed after a timeout
# even when the request did not ask for its page (seed pages).
_PAGE = "hulian_render_page"
# The render's deadline and bound: started by remember_page once the page exists.
_DEADLINE = "hulian_render_deadline"


async def remember_page(page: Page, request: Request) -> None:
    """scrapy-playwright's page init callback (named by its path in the request's meta, so
    that the request stays serialisable): keeps the page for `BoundedPlaywrightHandler` and
    starts the render's deadline."""
    request.meta[_PAGE] = page
    deadline, bound = request.meta[_DEADLINE]
    deadline.reschedule(asyncio.get_running_loop().time() + bound)


class BoundedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):  # type: ignore[misc]
    async def _get_response_and_download(self, request: Request, page: Page,
                                         spider: object) -> object:
        """scrapy-playwright's navigation, waiting for the document rather than for every
        subresource (`load`), then for `load` at most LOAD_WAIT_S: what a user sees then is
        what is read (spiders/settings.py, LOAD_WAIT_S). The one place scrapy-playwright
        offers no setting for: its page methods are each followed by a wait for `load` that
        fails the request."""
        request.meta["playwright_page_goto_kwargs"] = {
            **(request.meta.get("playwright_page_goto_kwargs") or {}),
            "wait_until": "domcontentloaded"}
        found = await super()._get_response_and_download(request, page, spider)
        served, download = found
        if served is not None and request.meta.get(SERVED_BODY) is not None:
            # The page as served, besides the DOM it became: a tap's handler a script moves
            # off its attribute is read from it (chain.with_served_taps).
            with contextlib.suppress(PlaywrightError):
                request.meta[SERVED_BODY] = await served.body()
        if download is not None:
            # A download the browser refused (a seed answered with a file): scrapy-playwright
            # reports a transport failure, `download_error:unknown` (a review).
            raise RenderedDownload(f"{request.url} is a download, not a page")
        with contextlib.suppress(PlaywrightError):  # not loaded in time, or gone: read as is
            await page.wait_for_load_state("load", timeout=LOAD_WAIT_S * 1000)
        limit = self._crawler.settings.getint("DOWNLOAD_MAXSIZE")
        size = 0
        with contextlib.suppress(PlaywrightError):  # a page gone: scrapy-playwright says so
            size = await page.evaluate(_DOCUMENT_SIZE, limit)
        if limit and size > limit:
            raise RenderTooLarge(f"{request.url}'s document passed {limit} characters")
        return found

    async def download_request(self, request: Request) -> Response:
        if not request.meta.get("playwright"):
            plain: Response = await super().download_request(request)
            return plain
        bound = download_timeout(request.meta, self._crawler.settings)
        request.meta["playwright_page_init_callback"] = f"{__name__}.remember_page"
        deadline = asyncio.timeout(None)
        request.meta[_DEADLINE] = (deadline, bound)
        try:
            async with deadline:
                rendered: Response = await super().download_request(request)
                return rendered
        except TimeoutError:
            if not deadline.expired():
                raise
            page = request.meta.get(_PAGE)
            if isinstance(page, Page) and not page.is_closed():
                with contextlib.suppress(Exception):  # whatever the browser answers
                    await asyncio.wait_for(page.close(), CLOSE_TIMEOUT_S)
            logger.warning("Chromium gave no page for %s within %.0f s", request.url, bound)
            raise RenderTimeout(f"no page within {bound:.0f} s") from None
        finally:
            request.meta.pop(_PAGE, None)
            request.meta.pop(_DEADLINE, None)
