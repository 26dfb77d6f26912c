"""Search barriers, measured: a host's /robots.txt and the sitemaps it lists, and a seed
page's indexing directives, as sans-I/O decisions both crawl engines carry out (like
audit/measure/driver.py: each engine only downloads what it is told to).

A SearchDriver is told what each fetch gave and answers the next fetch, or SearchDone with
the record for search.jsonl. Its decisions, and why:
- robots.txt redirects are followed, five at most (RFC 9309 §2.3.1.2); a URL seen again is
  `redirect_loop`, a sixth redirect `hop_limit:5`, a Location that is no URL `bad_location`
  (the failure vocabulary's words for a link's chain); `status` is then None (no final
  answer), the hops keep each redirect's status. The hop list is kept (WARC ids).
- transient failures and retry statuses are retried as any fetch is (driver.Attempts, the
  same rule and count); what is left is recorded as measured: a status, or a failure word.
  What a status or failure means for indexing (4xx: no restrictions; 5xx or unreachable:
  complete disallow) is the judge's (audit/judge/search.py), never decided here.
- the body is kept up to RFC 9309's 500 KiB (`size` says what arrived); the WARC has all.
- each sitemap robots.txt lists is fetched once, without redirects or retries, for its
  status and size only (a GET bounded by the crawl's size limit: both engines' clients speak
  GET); at most MAX_SITEMAPS per host, none after one that timed out (the rest are
  recorded as SITEMAP_NOT_CHECKED), and none begun that could end past
  SITEMAP_BUDGET_TIMEOUTS fetch timeouts after the first was asked for (the rest are
  SITEMAP_OVER_BUDGET): a hostile robots.txt costs at most two timeouts, not twenty.
- the crawler's own politeness (audit/measure/robots.py, when the crawl obeys robots.txt)
  learns the origin's robots.txt from this fetch, not from a second one: `politeness()`
  hands over, once, what the RobotsBook is told (the body as finally served, any status;
  None when no answer came), as soon as robots.txt is settled (before the sitemaps), and the
  engines pass it to their RobotsFetcher (audit/measure/robots_fetch.py). The crawler then
  reads the end of a redirect's chain, as RFC 9309 and Scrapy's robots.txt middleware do.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

from audit.judge.search import (
    MAX_DIRECTIVE_CHARS,
    judge_robots_text,
    kept_directives,
    recognised_content,
    speaks_to_crawlers,
)
from audit.measure import failures
from audit.measure.chain import Via
from audit.measure.driver import Attempts, DriverPolicy, Fetch
from audit.measure.robots import MAX_ROBOTS_BYTES, RobotsBook
from audit.model import PageDirective, RobotsTxtFetch, SearchHop, SearchRecord, SitemapCheck
from audit.web.decode import content_codings
from audit.web.fields import field_values
from audit.web.urls import host_of, resolve, wire_url

MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2: "at least five consecutive redirects"
MAX_SITEMAPS = 20  # per host: existence and size, not a crawl of the sitemap tree
# The failure word of a listed sitemap left unchecked because an earlier one of the host's
# timed out.
SITEMAP_NOT_CHECKED = "not_checked:earlier_sitemap_failed"
# A host's sitemap checks take at most this many fetch timeouts: a check is begun only if
# its timeout ends within them. Twenty sitemaps each answering just before the timeout held
# a host for twenty timeouts (93 s at --timeout 5, a review), where one that times out
# ended the checks. Two: a few slow sitemaps are still checked (each answer shows a file
# exists; they are evidence, not a crawl), and a hostile list costs two timeouts.
SITEMAP_BUDGET_TIMEOUTS = 2
# The failure word of a listed sitemap left unchecked because the budget was spent.
SITEMAP_OVER_BUDGET = "not_checked:time_budget"
# The failure words of a Sitemap line that is no URL to fetch: one without a scheme
# (`/sitemap.xml`, `sitemap.xml`, `//host/x`: the sitemaps protocol asks for a full URL),
# and any other that is not an http(s) URL with a host (`ftp:`, `gopher:`). They were dropped
# without a word; recorded, a reader sees what the file lists.
SITEMAP_RELATIVE = "not_checked:relative_url"
# The bytes of a sitemap's body kept (it is checked for its status and size, never parsed):
# kept whole, twenty of 30 MiB made a 629 MB WARC for one host, and one past the crawl's
# 32 MB limit (the sitemaps protocol allows 50 MB) was `too_large` without its status (a
# review). Past it the download stops; the size is the declared Content-Length, if any.
SITEMAP_KEPT_BYTES = 64 * 1024
SITEMAP_NOT_HTTP = "not_checked:not_http_url"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class SearchTarget:
    """A host whose robots.txt is measured (the platform that owns it, if known)."""

    host: str
    scheme: str = "https"
    platform: str | None = None

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"


@dataclass(frozen=True)
class SearchDone:
    record: SearchRecord


@dataclass(frozen=True)
class Politeness:
    """What the crawler's RobotsBook learns of `origin` from the search measurement's fetch:
    the body (any status), or None when robots.txt could not be fetched."""

    origin: str
    body: bytes | None


@dataclass(frozen=True)
class Answer:
    """An engine's answer to one Fetch: a response (headers lower-case, the body decoded
    of its Content-Encoding), or the failure word in `failure`."""

    url: str
    status: int | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""
    warc_record_id: str | None = None
    failure: str | None = None
    truncated: bool = False  # only the start of the body was kept (Fetch.keep_start)


def record_id(kind: str, key: str) -> str:
    return f"{kind}:{key}"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def search_host(url: str) -> str | None:
    """The host key of `url`'s search records, the one both a host's robots.txt record
    (plan.search_targets) and its pages' records (page_record) are filed under, so that the
    judge joins them: the host, with `:PORT` where the URL names a port that is not its
    scheme's default (robots.txt is per origin, RFC 9309 §2.3). A seed
    `http://forum.test:80/x` was filed under `forum.test:80` for robots.txt and `forum.test`
    for the page, and its noindex was never read (a review). None: no host, or a port out
    of range."""
    host = host_of(url)
    if host is None:
        return None
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None or port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SearchDriver:
    """The robots.txt of one host, then its sitemaps. Call `start`, then `on_answer` with
    each Fetch's Answer until SearchDone."""

    def __init__(self, target: SearchTarget, *, policy: DriverPolicy, run_id: str | None,
                 started_at: datetime):
        self.target = target
        self.run_id = run_id
        self.started_at = started_at
        # robots.txt is never itself subject to robots.txt (the book is never asked).
        self._attempts = Attempts(replace(policy, obey_robots=False, screenshots=False),
                                   RobotsBook(), "")
        self._robots = RobotsTxtFetch(url=f"{target.origin}/robots.txt")
        self._seen: set[str] = set()
        self._sitemaps: list[str] = []
        self._checked: list[SitemapCheck] = []
        self._sitemaps_since: datetime | None = None  # when the first sitemap was asked for
        self._settled: Politeness | None = None  # robots.txt done, not yet handed over
        self._handed = False

    def politeness(self) -> Politeness | None:
        """Once robots.txt is settled, the first call returns what the crawler's own
        robots.txt book should learn of the origin; None before and after."""
        if self._settled is None or self._handed:
            return None
        self._handed = True
        return self._settled

    def start(self) -> Fetch:
        return self._fetch(self._robots_fetch(wire_url(self._robots.url), "start"))

    @staticmethod
    def _robots_fetch(url: str, via: Via) -> Fetch:
        # The first 500 KiB are read and kept, however large the file (RFC 9309 §2.5; a
        # larger one failed `too_large` and read `unreachable`, hiding its rules).
        return Fetch(url, "robots", via, keep_start=MAX_ROBOTS_BYTES)

    def on_answer(self, answer: Answer, now: datetime) -> Fetch | SearchDone:
        current = self._attempts.current
        assert current is not None, "no fetch is outstanding"
        if current.purpose == "sitemap":
            # Existence and size only: not retried, and a sitemap that timed out ends the
            # checks of the others (a robots.txt listing twenty that never answer held one
            # host for twelve minutes: twenty timeouts and their retries). Quick failures (a
            # name that does not resolve, a refusal, a sitemap too large) do not.
            self._checked.append(_sitemap_check(current.url, answer))
            if answer.failure == "timeout":
                self._skip_sitemaps(SITEMAP_NOT_CHECKED)
            return self._next_sitemap(now)
        if answer.failure is not None:
            if self._attempts.again_for_failure(answer.failure):
                return current
        elif answer.status is not None and self._attempts.again_for_status(answer.status):
            return current
        return self._on_robots(answer, now)

    # -- robots.txt ----------------------------------------------------------------------

    def _on_robots(self, answer: Answer, now: datetime) -> Fetch | SearchDone:
        robots = self._robots
        headers = answer.headers or {}
        location = headers.get("location") if answer.status in REDIRECT_STATUSES else None
        robots.hops.append(SearchHop(url=answer.url, status=answer.status, location=location,
                                     warc_record_id=answer.warc_record_id))
        if answer.failure is not None:
            robots.failure = answer.failure
            self._settled = Politeness(self.target.origin, None)
            return self._done(now)
        if location is not None:
            resolved = resolve(answer.url, location)
            follow = wire_url(resolved) if resolved is not None else ""
            if host_of(follow) is None:
                robots.failure = "bad_location"
            elif follow in self._seen:
                robots.failure = "redirect_loop"
            elif len(robots.hops) > MAX_REDIRECTS:
                robots.failure = f"hop_limit:{MAX_REDIRECTS}"
            if robots.failure is not None:
                # No file at the end of the chain: the crawler may fetch anything (as the
                # robots.txt book reads an origin whose robots.txt cannot be fetched).
                self._settled = Politeness(self.target.origin, None)
                return self._done(now)
            return self._fetch(self._robots_fetch(follow, "http"))
        robots.status = answer.status
        robots.final_url = answer.url
        robots.content_type = headers.get("content-type")
        body = answer.body
        # Cut by the download, the file's size is unknown (more than what was kept).
        robots.size = None if answer.truncated else len(body)
        robots.truncated = answer.truncated or len(body) > MAX_ROBOTS_BYTES
        robots.sha256 = hashlib.sha256(body).hexdigest()
        kept = body[:MAX_ROBOTS_BYTES]
        robots.body_base64 = base64.b64encode(kept).decode("ascii")
        success = answer.status is not None and 200 <= answer.status < 300
        if success and content_codings(headers.get("content-encoding")):
            # Still in a content coding the engine could not undo (one hulian did not ask
            # for, Brotli, zstd, a broken gzip): the bytes are no text of the file. Parsed as
            # a binary file of no rules, the host read `open` to every engine (a review);
            # the file could not be read, which the judge reads as unreachable. The bytes
            # are kept as evidence; the crawler is told of no file, as for a failure.
            robots.failure = failures.UNDECODABLE
            self._settled = Politeness(self.target.origin, None)
            return self._done(now)
        self._settled = Politeness(self.target.origin, kept)
        if success:
            self._list_sitemaps(judge_robots_text(self.target.host, kept, ()).sitemaps)
        return self._next_sitemap(now)

    # -- sitemaps ------------------------------------------------------------------------

    def _list_sitemaps(self, listed: list[str]) -> None:
        """The sitemaps to check: each distinct URL once (before the cap: twenty copies of
        one filled it and hid the others, a review), at most MAX_SITEMAPS; lines that are no
        http(s) URL recorded at once as not checked (at most MAX_SITEMAPS of those too)."""
        fetch: list[str] = []
        odd: dict[str, str] = {}
        for line in listed:
            url = wire_url(line)
            scheme = urlsplit(url).scheme.lower()
            if scheme in ("http", "https") and host_of(url) is not None:
                fetch.append(url)
            else:
                odd.setdefault(line, SITEMAP_NOT_HTTP if scheme else SITEMAP_RELATIVE)
        self._sitemaps = list(dict.fromkeys(fetch))[:MAX_SITEMAPS]
        self._checked += [SitemapCheck(url=line, failure=failure)
                          for line, failure in list(odd.items())[:MAX_SITEMAPS]]

    def _skip_sitemaps(self, failure: str) -> None:
        """The listed sitemaps not yet checked, recorded as not checked with `failure`."""
        self._checked += [SitemapCheck(url=url, failure=failure)
                          for url in dict.fromkeys(self._sitemaps)
                          if url not in {c.url for c in self._checked}]
        self._sitemaps = []

    def _next_sitemap(self, now: datetime) -> Fetch | SearchDone:
        if self._sitemaps_since is None:
            self._sitemaps_since = now
        timeout = self._attempts.policy.timeout_for("sitemap")
        spent = (now - self._sitemaps_since).total_seconds()
        if self._sitemaps and spent + timeout > SITEMAP_BUDGET_TIMEOUTS * timeout:
            self._skip_sitemaps(SITEMAP_OVER_BUDGET)
        while self._sitemaps:
            url = self._sitemaps.pop(0)
            if url in {c.url for c in self._checked}:
                continue
            return self._fetch(Fetch(url, "sitemap", "start", keep_start=SITEMAP_KEPT_BYTES))
        return self._done(now)

    def _fetch(self, fetch: Fetch) -> Fetch:
        self._seen.add(fetch.url)
        admitted = self._attempts.admit(fetch)
        assert isinstance(admitted, Fetch)
        return admitted

    def _done(self, now: datetime) -> SearchDone:
        self._attempts.current = None
        target = self.target
        return SearchDone(SearchRecord(
            id=record_id("robots", target.host), kind="robots", run_id=self.run_id,
            host=target.host, platform=target.platform, measured_at=now,
            robots=self._robots, sitemaps=self._checked))


def _sitemap_check(url: str, answer: Answer) -> SitemapCheck:
    if answer.failure is not None:
        return SitemapCheck(url=url, failure=answer.failure,
                            warc_record_id=answer.warc_record_id)
    size = len(answer.body) if not answer.truncated else _declared_length(answer.headers)
    return SitemapCheck(url=url, status=answer.status, size=size,
                        warc_record_id=answer.warc_record_id)


def _declared_length(headers: dict[str, str] | None) -> int | None:
    """A body's Content-Length, where it states one number."""
    value = (headers or {}).get("content-length", "").strip()
    return int(value) if value.isdigit() and len(value) < 16 else None


# ---------------------------------------------------------------------------------------
# Seed pages
# ---------------------------------------------------------------------------------------


def page_record(url: str, status: int, headers: dict[str, str],
                metas: list[tuple[str, str]], *, names: frozenset[str],
                platform: str | None, run_id: str | None, now: datetime) -> SearchRecord:
    """The search.jsonl line of a seed page: its `<meta>` tags named `robots` or after a
    crawler (`names`: lower-case product tokens) and its X-Robots-Tag, as found; what they
    say is read by the judge (audit.judge.search.read_directive). At most MAX_DIRECTIVES,
    those saying noindex kept first, and one longer than MAX_DIRECTIVE_CHARS as its
    recognised words (audit.judge.search.kept_directives, recognised_content); where
    either cut anything, `directives_cut` says so."""
    found = [PageDirective(source="meta", name=name.strip()[:80],
                           content=" ".join(content.split()))
             for name, content in metas if speaks_to_crawlers(name, names)]
    found += [PageDirective(source="header", name="X-Robots-Tag", content=value)
              for value in field_values(headers.get("x-robots-tag", ""))]
    kept, cut = kept_directives(found, names)
    directives = []
    for directive in kept:
        if len(directive.content) > MAX_DIRECTIVE_CHARS:
            directive = directive.model_copy(
                update={"content": recognised_content(directive, names)})
            cut = True
        directives.append(directive)
    return SearchRecord(
        id=record_id("page", url), kind="page", run_id=run_id, host=search_host(url) or "",
        platform=platform, measured_at=now, page_url=url, page_status=status,
        directives=directives, directives_cut=cut)
