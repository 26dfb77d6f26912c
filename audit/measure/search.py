"""Search barriers, measured: a host's /robots.txt and the sitemaps it lists, and a seed
page's indexing directives, as sans-I/O decisions both crawl engines carry out (like
audit/measure/driver.py: each engine only downloads what it is told to).

A SearchDriver is told what each fetch gave and answers the next fetch, or SearchDone with
the record for search.jsonl. Its decisions, and why:
- robots.txt redirects are followed, five at most (RFC 9309 §2.3.1.2); a URL seen again is
  `redirect_loop`, a sixth redirect `hop_limit:5`, a Location that is no URL `bad_location`
  (the failure vocabulary's words for a link's chain); `status` is then None (no final
  answer), the hops keep each redirect's status. The hop list is kept (WARC ids).
- transient failures and retry statuses are retried as any fetch is (driver._Attempts, the
  same rule and count); what is left is recorded as measured: a status, or a failure word.
  What a status or failure means for indexing (4xx: no restrictions; 5xx or unreachable:
  complete disallow) is the judge's (audit/judge/search.py), never decided here.
- the body is kept up to RFC 9309's 500 KiB (`size` says what arrived); the WARC has all.
- each sitemap robots.txt lists is fetched once, without redirects or retries, for its
  status and size only (a GET bounded by the crawl's size limit: both engines' clients speak
  GET); at most MAX_SITEMAPS per host, and none after one that timed out (the rest are
  recorded as SITEMAP_NOT_CHECKED): a hostile robots.txt costs one fetch's timeout, not
  twenty.
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

from audit.judge.search import judge_robots_text
from audit.measure.driver import DriverPolicy, Fetch, _Attempts
from audit.measure.robots import MAX_ROBOTS_BYTES, RobotsBook
from audit.model import PageDirective, RobotsTxtFetch, SearchHop, SearchRecord, SitemapCheck
from audit.policy.catalog import Catalog
from audit.web.fields import field_values
from audit.web.urls import host_of, resolve, wire_url

MAX_REDIRECTS = 5  # RFC 9309 §2.3.1.2: "at least five consecutive redirects"
MAX_SITEMAPS = 20  # per host: existence and size, not a crawl of the sitemap tree
# The failure word of a listed sitemap left unchecked because an earlier one of the host's
# timed out.
SITEMAP_NOT_CHECKED = "not_checked:earlier_sitemap_failed"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_DIRECTIVES = 32  # per page: a page cannot flood the record
MAX_DIRECTIVE_CHARS = 300


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


def record_id(kind: str, key: str) -> str:
    return f"{kind}:{key}"


class SearchDriver:
    """The robots.txt of one host, then its sitemaps. Call `start`, then `on_answer` with
    each Fetch's Answer until SearchDone."""

    def __init__(self, target: SearchTarget, *, policy: DriverPolicy, run_id: str | None,
                 started_at: datetime):
        self.target = target
        self.run_id = run_id
        self.started_at = started_at
        # robots.txt is never itself subject to robots.txt (the book is never asked).
        self._attempts = _Attempts(replace(policy, obey_robots=False, screenshots=False),
                                   RobotsBook(), "")
        self._robots = RobotsTxtFetch(url=f"{target.origin}/robots.txt")
        self._seen: set[str] = set()
        self._sitemaps: list[str] = []
        self._checked: list[SitemapCheck] = []
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
        return self._fetch(Fetch(wire_url(self._robots.url), "robots", "start"))

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
                self._checked += [SitemapCheck(url=url, failure=SITEMAP_NOT_CHECKED)
                                  for url in dict.fromkeys(self._sitemaps)
                                  if url not in {c.url for c in self._checked}]
                self._sitemaps = []
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
            return self._fetch(Fetch(follow, "robots", "http"))
        robots.status = answer.status
        robots.final_url = answer.url
        robots.content_type = headers.get("content-type")
        body = answer.body
        robots.size = len(body)
        robots.truncated = len(body) > MAX_ROBOTS_BYTES
        robots.sha256 = hashlib.sha256(body).hexdigest()
        kept = body[:MAX_ROBOTS_BYTES]
        robots.body_base64 = base64.b64encode(kept).decode("ascii")
        self._settled = Politeness(self.target.origin, kept)
        if answer.status is not None and 200 <= answer.status < 300:
            listed = judge_robots_text(self.target.host, kept, ()).sitemaps
            self._sitemaps = [wire_url(u) for u in listed if host_of(u) is not None
                              ][:MAX_SITEMAPS]
        return self._next_sitemap(now)

    # -- sitemaps ------------------------------------------------------------------------

    def _next_sitemap(self, now: datetime) -> Fetch | SearchDone:
        while self._sitemaps:
            url = self._sitemaps.pop(0)
            if url in {c.url for c in self._checked}:
                continue
            return self._fetch(Fetch(url, "sitemap", "start"))
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
    return SitemapCheck(url=url, status=answer.status, size=len(answer.body),
                        warc_record_id=answer.warc_record_id)


# ---------------------------------------------------------------------------------------
# Seed pages
# ---------------------------------------------------------------------------------------


def page_record(url: str, status: int, headers: dict[str, str],
                metas: list[tuple[str, str]], *, names: frozenset[str],
                platform: str | None, run_id: str | None, now: datetime) -> SearchRecord:
    """The search.jsonl line of a seed page: its `<meta>` tags named `robots` or after a
    crawler (`names`: lower-case product tokens) and its X-Robots-Tag, as found; what they
    say is read by the judge (audit.judge.search.meta_directive, header_directives)."""
    found = [PageDirective(source="meta", name=name.strip()[:80],
                           content=" ".join(content.split())[:MAX_DIRECTIVE_CHARS])
             for name, content in metas
             if name.strip().lower() == "robots" or name.strip().lower() in names]
    found += [PageDirective(source="header", name="X-Robots-Tag",
                            content=value[:MAX_DIRECTIVE_CHARS])
              for value in field_values(headers.get("x-robots-tag", ""))]
    return SearchRecord(
        id=record_id("page", url), kind="page", run_id=run_id, host=host_of(url) or "",
        platform=platform, measured_at=now, page_url=url, page_status=status,
        directives=found[:MAX_DIRECTIVES])


def crawler_names(catalog: Catalog) -> frozenset[str]:
    """Lower-case product tokens of every catalog engine (its web crawler's and others'):
    the meta names that speak to a crawler."""
    return frozenset(t.lower() for e in catalog.search_engines.values()
                     for t in (e.token, *e.other_tokens))
