"""--render's download handler: scrapy-playwright's, with a bound on each page.

scrapy-playwright waits for the page's content after `load` with no timeout. A page whose
script holds Chromium's main thread after `load` (`onload=()=>setTimeout(()=>{for(;;){}})`)
never gives it, and the crawl waited forever: a platform could blind the auditor with one line
of script. Here the render (navigation, content and a screenshot, from the moment its page
exists) has the request's download timeout, as every other fetch has; past it the page is
closed (Chromium closes a tab whose renderer is busy; a CDP `Runtime.terminateExecution` on it
got no answer either) and the request fails with `RenderTimeout` (`render_timeout` in the failure
vocabulary). The probe is then recorded without a screenshot, a seed page as a seed error.

The wait for a page (PLAYWRIGHT_MAX_PAGES_PER_CONTEXT at a time) is not part of the bound:
counted in, four spinning interstitials used up the time of every render queued behind them
(an adversarial review), and a deadline that fell while scrapy-playwright was creating a page
would leak the page's slot (it releases it on an exception, not on a cancellation). Each
render ahead in the queue is bounded, so the wait is too.

A platform's page can also take Playwright's driver (the Node process between hulian and
Chromium) down, or Chromium itself. scrapy-playwright relaunches a browser whose process
ended, but not a driver: its connection stays closed, and every later render of the run
failed at once (review 144). Here a render that fails with the driver gone gets a new driver
and browser (RelaunchingBrowserProvider) and is tried once more; failing so again, it is
`render_crashed`, as is a render whose page crashed Chromium's renderer (or Chromium) on each
of scrapy-playwright's own tries. The page that kills the driver kills it twice at most; the
renders in flight beside it are tried once more too, one at a time. A screenshot is taken
within its render for the same reason (and within its deadline).

The only module that imports scrapy-playwright and Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

from playwright._impl._errors import TargetClosedError  # not exported; scrapy-playwright's too
from playwright.async_api import Browser, Page
from playwright.async_api import Error as PlaywrightError
from scrapy import Request
from scrapy.http import Response
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.provider import PlaywrightBrowserProvider

from spiders.failures import RenderCrashed, RenderedDownload, RenderTimeout, RenderTooLarge
from spiders.settings import CLOSE_TIMEOUT_S, LOAD_WAIT_S, download_timeout
from spiders.values import SCREENSHOT_TAKEN, SCREENSHOT_TO, SERVED_BODY

logger = logging.getLogger(__name__)

# The page's document as Playwright's `page.content()` writes it (its doctype and its root's
# outerHTML), made in a world of hulian's own (a CDP isolated world: the page's scripts cannot
# replace what it calls) in one task (the page cannot grow between a measure and a read), and
# only where its nodes' characters (template contents, the doctype's ids and processing
# instructions with them) stay within the limit, which the written document is held to again.
# scrapy-playwright's own `page.content()` sent a 300 MB document across Playwright's Node
# driver, which ran out of memory, and every later render of the run failed (review 144);
# measured in the page's own world, a page replaced the measure, grew a `<template>` it did not
# count or grew just after (review 146).
_CONTENT = """(limit) => {
  let size = 0;
  const fits = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ALL);
    for (let node = walker.currentNode; node; node = walker.nextNode()) {
      if (node.nodeType === Node.ELEMENT_NODE) {
        size += node.localName.length * 2 + 5;
        for (const attribute of node.attributes) {
          size += attribute.name.length + attribute.value.length + 4;
        }
        if (node.content instanceof DocumentFragment && !fits(node.content)) return false;
      } else if (node.nodeType === Node.DOCUMENT_TYPE_NODE) {
        size += node.name.length + node.publicId.length + node.systemId.length + 32;
      } else if (typeof node.length === "number") {
        size += node.length;
      }
      if (size > limit) return false;
    }
    return true;
  };
  if (!fits(document)) return null;
  let written = document.doctype ? new XMLSerializer().serializeToString(document.doctype) : "";
  if (document.documentElement) written += document.documentElement.outerHTML;
  return written.length > limit ? null : written;
}"""
# The document's characters a render may hand on: a quarter of DOWNLOAD_MAXSIZE, since a
# character crosses the driver as up to six bytes of JSON (`\u0001`).
CHARS_PER_BYTE_BOUND = 4


async def _bounded_content(page: Page, limit: int) -> str | None:
    """The page's document as `page.content()` would give it, or None past `limit`
    characters (or where the page cannot be read so: it crashed, it is gone)."""
    session = await page.context.new_cdp_session(page)
    try:
        frames = await session.send("Page.getFrameTree")
        world = await session.send("Page.createIsolatedWorld", {
            "frameId": frames["frameTree"]["frame"]["id"], "worldName": "hulian-content"})
        answer = await session.send("Runtime.evaluate", {
            "expression": f"({_CONTENT})({limit})",
            "contextId": world["executionContextId"], "returnByValue": True})
    finally:
        # A renderer that spins answers nothing, a detach included: the render's deadline
        # must not wait on it (CLOSE_TIMEOUT_S, as for closing its page).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.detach(), CLOSE_TIMEOUT_S)
    value = answer.get("result", {}).get("value")
    return value if isinstance(value, str) and "exceptionDetails" not in answer else None


def _driver_gone(api_object: object) -> bool:
    """Whether the Playwright connection `api_object` (a Browser, the Playwright object) was
    made on has ended: its driver process died. Playwright has no public word for it (a
    Browser still says `is_connected()`: only the dead driver could have told it otherwise);
    every call on such a connection raises the error kept here. tests/test_render.py kills
    the driver, so a Playwright that renames it fails there."""
    connection = getattr(getattr(api_object, "_impl_obj", None), "_connection", None)
    return getattr(connection, "_closed_error", None) is not None


@contextlib.contextmanager
def _temporary_directory_for_children(directory: str) -> Iterator[None]:
    """TMPDIR for the processes started within (Playwright's driver makes its browsers'
    profiles and artifacts there)."""
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = directory
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before


class RelaunchingBrowserProvider(PlaywrightBrowserProvider):  # type: ignore[misc]
    """scrapy-playwright's provider, starting a new driver when the one it had is gone before
    launching a browser (scrapy-playwright launches one when it has none). Each driver keeps
    its browsers' profiles in a directory of its own, removed with it: a driver that is
    killed cleans up nothing, and each left a profile in /tmp (review 157)."""

    _directory: str | None = None

    async def start(self) -> None:
        base = tempfile.gettempdir()
        if len(base) > _LONGEST_TMPDIR - 24 and os.access("/tmp", os.W_OK):
            base = "/tmp"  # a short one: Chromium's socket must fit (review 164)
        self._directory = tempfile.mkdtemp(prefix="hulian-browser-", dir=base)
        self._directories = [*getattr(self, "_directories", []), self._directory]
        if len(self._directory) < _LONGEST_TMPDIR:
            # Chromium's own temporary files too (review 160: a Chromium killed left its
            # singleton's directory in the user's); not where its socket's path would not fit
            self.config.launch_options["env"] = {  # a copy: the handlers share the settings'
                **(self.config.launch_options.get("env") or os.environ),
                "TMPDIR": self._directory}
        # one start at a time: the environment is the process's, and the http and https
        # handlers start theirs together (review 164)
        async with _STARTING.setdefault(asyncio.get_running_loop(), asyncio.Lock()):
            with _temporary_directory_for_children(self._directory):
                await super().start()

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            # every driver's: a Chromium that outlived its killed driver wrote into its
            # directory after it was removed (review 160)
            for directory in getattr(self, "_directories", []):
                shutil.rmtree(directory, ignore_errors=True)

    # The failure of a start or launch after a driver died: the renders after it are not made
    # to wait for another (review 164: each waited 60 s for a start that hung, in turn).
    _broken: str | None = None

    async def launch_browser(self) -> Browser:
        if self._broken is not None:
            raise RenderCrashed(self._broken)
        try:
            if self.playwright is not None and _driver_gone(self.playwright):
                logger.warning("Playwright's driver died: starting a new one")
                with contextlib.suppress(Exception):  # what is left of the old one
                    await asyncio.wait_for(super().close(), CLOSE_TIMEOUT_S)
                if self._directory is not None:
                    shutil.rmtree(self._directory, ignore_errors=True)
                await asyncio.wait_for(self.start(), _START_TIMEOUT_S)
            browser: Browser = await asyncio.wait_for(super().launch_browser(),
                                                      _START_TIMEOUT_S)
        except (Exception, TimeoutError) as failure:
            # each render that needs a browser says so (review 160: `download_error:unknown`)
            self._broken = f"no browser could be launched: {failure!r}"
            logger.error("%s: the rest of the run renders nothing", self._broken)
            raise RenderCrashed(self._broken) from failure
        return browser


async def _picture(page: Page, request: Request) -> None:
    """The page as Chromium shows it, whole, stored where the request asks; a page Chromium
    cannot picture (3,000,000 px tall: "Unable to capture screenshot", an adversarial review)
    is left without one. Taken within the render, so that a driver that dies meanwhile (a
    page rendering beside this one killed it) makes the render fail and be tried again,
    rather than leaving the probe without a picture; with a download timeout of its own, as
    before (review 157: what the page's load had left of the render's lost slow pictures)."""
    deadline, bound = request.meta[_DEADLINE]
    deadline.reschedule(asyncio.get_running_loop().time() + bound)
    try:
        await page.screenshot(path=request.meta[SCREENSHOT_TO], full_page=True)
    except PlaywrightError as failure:
        if _driver_gone(page):
            raise
        logger.warning("screenshot of %s failed: %s", request.url, failure)
    else:
        request.meta[SCREENSHOT_TAKEN] = True


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


class _Turns:
    """First tries of renders run side by side; a second try (after the browser died or a
    page crashed) runs alone: it waits for the tries in flight to end and keeps new ones
    waiting until it ends."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._in_flight = 0
        self._alone = False

    @contextlib.asynccontextmanager
    async def first_try(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._alone)
            self._in_flight += 1
        try:
            yield
        finally:
            async with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def alone(self) -> AsyncIterator[None]:
        async with self._changed:
            await self._changed.wait_for(lambda: not self._alone)
            self._alone = True
            await self._changed.wait_for(lambda: self._in_flight == 0)
        try:
            yield
        finally:
            async with self._changed:
                self._alone = False
                self._changed.notify_all()


# One lock a loop (a process may run crawls one after another, each on its own loop).
_STARTING: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
# A driver's start or a browser's launch that takes longer has failed (a start that hung held
# the launch lock, and every render behind it, for good).
_START_TIMEOUT_S = 60.0
# Chromium's singleton socket lives in its TMPDIR, and a socket's path is at most ~108 bytes:
# past this TMPDIR's length Chromium does not start (review 160).
_LONGEST_TMPDIR = 56

# How many renders waiting for a dead driver's page slots are woken (more than Scrapy ever
# has in flight): they then fail at once, and are tried again on the new driver.
_WAKE = 1024


class BoundedPlaywrightHandler(ScrapyPlaywrightDownloadHandler):  # type: ignore[misc]
    def __init__(self, crawler: object) -> None:
        super().__init__(crawler)
        # scrapy-playwright renders a page again, up to three times, when its target closed:
        # a page that kills the driver was rendered up to four times, and its tries waited
        # on the dead driver's page slots (review 157). This handler tries once more itself.
        self.config.target_closed_max_retries = 0
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
        limit = (self._crawler.settings.getint("DOWNLOAD_MAXSIZE") or 1 << 30
                 ) // CHARS_PER_BYTE_BOUND
        content = await _bounded_content(page, limit)
        if content is None:
            raise RenderTooLarge(f"{request.url}'s document passed {limit} characters")

        async def read_once(**_: object) -> str:
            return content

        # scrapy-playwright asks the page for its content next: it gets the document read
        # above, not a second, unbounded read.
        page.content = read_once  # type: ignore[method-assign]
        if request.meta.get(SCREENSHOT_TO):
            await _picture(page, request)
        return found

    async def download_request(self, request: Request) -> Response:
        if not request.meta.get("playwright"):
            plain: Response = await super().download_request(request)
            return plain
        async with self._turns.first_try():
            generation = self._driver_generation
            try:
                return await self._bounded_render(request)
            except Exception as failure:
                # The driver died (under this render or one beside it), or the page's
                # renderer crashed (its heap bound passed, say) or Chromium died: one try
                # more, on a new page (and driver).
                driver_died = await self._forget_a_dead_driver(since=generation)
                if not (driver_died or isinstance(failure, TargetClosedError)):
                    raise
                first_failure = failure
        # After a driver's death the try more runs alone: the page that killed it, tried
        # again, kills it again, and a render beside it, first try or second, would fail too
        # (review 160: benign seeds lost beside several killers). A page that crashed its own
        # renderer harms no other: its try more runs beside the rest (review 164: alone, each
        # crash made the run wait for its slowest page).
        turn = self._turns.alone() if driver_died else self._turns.first_try()
        async with turn:
            generation = self._driver_generation
            try:
                return await self._bounded_render(request)
            except Exception as failure:
                if await self._forget_a_dead_driver(since=generation) or isinstance(
                        failure, TargetClosedError):
                    raise RenderCrashed(f"{request.url}: {failure}; first: {first_failure}"
                                        ) from failure
                raise

    @functools.cached_property
    def _turns(self) -> _Turns:
        return _Turns()

    # Counts the drivers forgotten: a render that failed while the driver it started on was
    # forgotten (by a render that failed beside it) failed for the driver too.
    _driver_generation = 0

    async def _forget_a_dead_driver(self, since: int) -> bool:
        """Whether a render that started at driver generation `since` and failed may have
        failed for its driver rather than its page. A browser on a dead driver is forgotten
        with its contexts, so that the next page gets a new one (RelaunchingBrowserProvider)."""
        async with self.browser_launch_lock:
            browser = getattr(self, "browser", None)
            if browser is not None and _driver_gone(browser):
                del self.browser
                for wrapper in self.context_wrappers.values():
                    # renders waiting for its page slots: those the dead pages hold are never
                    # given back (no `close` comes), and they waited forever (review 157)
                    for _ in range(_WAKE):
                        wrapper.semaphore.release()
                self.context_wrappers.clear()
                self._driver_generation += 1
            return self._driver_generation != since

    async def _bounded_render(self, request: Request) -> Response:
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
