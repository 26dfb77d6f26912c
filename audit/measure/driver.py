"""One probe, as a sans-I/O state machine: it is told what happened (a response, with the
page's analysis; a failure word; the time) and answers what to do next (fetch this URL, after
this time; fetch an origin's robots.txt first; take a screenshot; or: done, here is the
observation). It never touches a socket, a clock or a file, the way h11 keeps HTTP apart from
I/O: each crawl engine is an adapter that does the I/O the driver asks for, and the capture
analysis feeds it the flows it finds.

Everything a probe decides lives here or in audit.measure.chain (the per-hop readings): hop
following
(HTTP, meta refresh, script location), interstitials and their continue link, robots.txt
decisions, retries of transient failures and retry statuses, 429 with Retry-After, the
control fetch and its own redirects, hop limits and loops, and the failure vocabulary's use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from audit.measure import chain as chains
from audit.measure import failures
from audit.measure.robots import RobotsBook
from audit.model import Observation, Probe, followed
from audit.policy.catalog import Catalog
from audit.web.decode import content_codings, html_by_headers
from audit.web.urls import origin_of, redirects, referer_for, wire_url


@dataclass(frozen=True)
class DriverPolicy:
    """The crawl settings a probe's decisions depend on (both engines read them from the
    same settings; see audit.measure.crawl.effective_settings)."""

    retries: int = 1  # more attempts after a transient failure or a retry status
    retry_statuses: frozenset[int] = frozenset({500, 502, 504, 522, 524, 408})
    obey_robots: bool = True
    screenshots: bool = False  # --render: a screenshot of every interstitial
    timeout_s: float = 20.0  # DOWNLOAD_TIMEOUT: any one request
    seed_timeout_s: float | None = None  # HULIAN_SEED_TIMEOUT: a seed page, when longer

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> DriverPolicy:
        retry_codes = settings.get("RETRY_HTTP_CODES") or ()
        assert isinstance(retry_codes, list | tuple | frozenset | set)
        seed_timeout = settings.get("HULIAN_SEED_TIMEOUT")
        return cls(
            retries=int(str(settings["RETRY_TIMES"])) if settings.get("RETRY_ENABLED") else 0,
            retry_statuses=frozenset(int(c) for c in retry_codes),
            obey_robots=bool(settings.get("ROBOTSTXT_OBEY")),
            screenshots=bool(settings.get("HULIAN_RENDER")),
            timeout_s=float(str(settings.get("DOWNLOAD_TIMEOUT") or cls.timeout_s)),
            seed_timeout_s=float(str(seed_timeout)) if seed_timeout else None)

    def timeout_for(self, purpose: Purpose) -> float:
        """The download timeout of a fetch. A seed page may be given longer than any other
        request (never shorter): it is the base of the plan, and losing it to a slow answer
        loses every probe planned from it, where a slow hop is one observation."""
        if purpose == "seed" and self.seed_timeout_s is not None:
            return max(self.timeout_s, self.seed_timeout_s)
        return self.timeout_s


# Failures that repeating the request cannot change: the auditor's own refusals, a body over
# the size limit, a URL that cannot be requested (as Scrapy's RetryMiddleware leaves them), a
# render that crashed the browser on both tries the render handler gave it (spiders/browser.py:
# each try of a page that kills the browser fails the renders beside it).
NOT_RETRIED = ("private_address", "robots_disallowed", "too_large", "bad_url", "render_crashed")

# `robots` also names a robots.txt fetch of the search measurement (audit.measure.search),
# `sitemap` a sitemap it checks.
Purpose = Literal["hop", "control", "seed", "robots", "sitemap"]


@dataclass(frozen=True)
class Fetch:
    """Fetch `url` (its wire form: exactly what goes on the request line), GET, no
    redirects, sending `referer`; not before `not_before` (a Retry-After)."""

    url: str
    purpose: Purpose
    via: chains.Via
    referer: str | None = None
    not_before: datetime | None = None
    # Read at most this many bytes of the body (after content decoding) and keep them, the
    # answer marked truncated, where the crawl's size limit would fail the fetch (`too_large`):
    # robots.txt, of which RFC 9309 asks the first 500 KiB (a 33 MB file or a gzip bomb read
    # `unreachable` and hid a published Disallow, a review).
    keep_start: int | None = None


@dataclass(frozen=True)
class FetchRobots:
    """The origin's robots.txt is not known yet: fetch it, tell the RobotsBook, then call
    `resume`."""

    origin: str


@dataclass(frozen=True)
class Screenshot:
    """Render `url` in the browser and store a screenshot, then call `on_screenshot`."""

    url: str


@dataclass(frozen=True)
class Done:
    observation: Observation


Command = Fetch | FetchRobots | Screenshot | Done


@dataclass(frozen=True)
class Analysis:
    """What the adapter must pass analyze_page for a response (target, status, control, and
    its Refresh and Content-Security-Policy headers, which a browser obeys as it does the
    page's own meta elements; whether the chain came through the target before it)."""

    target: str
    status: int
    control: bool
    refresh: str | None = None
    csp: str | None = None
    reached: bool = False


class Attempts:
    """One fetch at a time: whether robots.txt admits it, and whether an answer or a failure
    calls for the same fetch again (transient failures and retry statuses, `retries` more
    times at most — Scrapy's RetryMiddleware rule, for both engines alike)."""

    def __init__(self, policy: DriverPolicy, robots: RobotsBook, user_agent: str):
        self.policy = policy
        self.robots = robots
        self.user_agent = user_agent
        self.current: Fetch | None = None
        self.pending: Fetch | None = None  # waiting for robots.txt
        self._count = 0

    def admit(self, fetch: Fetch) -> Fetch | FetchRobots | None:
        """The fetch, FetchRobots when its origin's robots.txt is not known yet, or None when
        robots.txt disallows it."""
        self._count = 0
        self.current = fetch
        if not self.policy.obey_robots:
            return fetch
        allowed = self.robots.allowed(fetch.url, self.user_agent)
        if allowed is None:
            self.pending = fetch
            return FetchRobots(origin_of(fetch.url))
        return fetch if allowed else None

    def __getstate__(self) -> dict[str, object]:
        # The robots book is the process's: see ProbeDriver.bind.
        return {**self.__dict__, "robots": None}

    def resumed(self) -> Fetch:
        pending, self.pending = self.pending, None
        assert pending is not None, "resume() without a FetchRobots"
        return pending

    def again_for_status(self, status: int) -> bool:
        return self._again(status in self.policy.retry_statuses)

    def again_for_failure(self, failure: str) -> bool:
        return self._again(not failure.startswith(NOT_RETRIED))

    def _again(self, retryable: bool) -> bool:
        if retryable and self._count < self.policy.retries:
            self._count += 1
            return True
        return False


@dataclass(frozen=True)
class SeedDone:
    """A seed page's fetch is over: `error` is its seed error (a failure word, http_STATUS,
    robots_disallowed), or None when the last response is the page to plan from."""

    error: str | None


class SeedDriver:
    """The fetch of one seed page, with the same robots.txt and retry decisions as a probe's
    fetches. Call `start`; after a Fetch, `on_response(status)` or `on_failure`; after
    FetchRobots, `resume`; until SeedDone."""

    def __init__(self, url: str, *, policy: DriverPolicy, robots: RobotsBook, user_agent: str):
        self.url = wire_url(url)
        self._attempts = Attempts(policy, robots, user_agent)

    def bind(self, robots: RobotsBook) -> SeedDriver:
        """Attach this process's robots book (see ProbeDriver.bind)."""
        self._attempts.robots = robots
        return self

    def start(self) -> Fetch | FetchRobots | SeedDone:
        return self._admitted(Fetch(self.url, "seed", "start"))

    def resume(self) -> Fetch | FetchRobots | SeedDone:
        return self._admitted(self._attempts.resumed())

    def on_response(self, status: int, headers: dict[str, str]) -> Fetch | SeedDone:
        """A seed page answered: its page, or why there is none to plan from. A redirect or
        a body in a coding nothing decoded gave a seed of no links and no error, and a whole
        platform went unmeasured in silence (a review)."""
        current = self._attempts.current
        assert current is not None
        if self._attempts.again_for_status(status):
            return current
        if status >= 400:
            return SeedDone(f"http_{status}")
        if redirects(status, headers.get("location")):
            return SeedDone(f"redirect:{status}")
        if content_codings(headers.get("content-encoding")):
            return SeedDone(failures.UNDECODABLE)
        # A seed served as text or as a download was planned as a page, its links measured as
        # links a person could follow: in a browser they are characters (a review). A body of
        # no usable type is sniffed where it is planned (chain.plan_probes).
        if html_by_headers(headers) is False:
            return SeedDone(failures.NOT_A_PAGE)
        return SeedDone(None)

    def on_failure(self, failure: str) -> Fetch | SeedDone:
        current = self._attempts.current
        assert current is not None
        return current if self._attempts.again_for_failure(failure) else SeedDone(failure)

    def _admitted(self, fetch: Fetch) -> Fetch | FetchRobots | SeedDone:
        admitted = self._attempts.admit(fetch)
        return SeedDone("robots_disallowed") if admitted is None else admitted


class RobotsDriver:
    """The fetch of an origin's robots.txt: never itself subject to robots.txt, retried as
    any fetch is; what it gives is told to the RobotsBook whatever the status (an error page
    allows everything) and nothing when it could not be fetched. Call `start`, then
    `on_response` or `on_failure` until they return None (the book knows the origin)."""

    def __init__(self, origin: str, *, policy: DriverPolicy, robots: RobotsBook):
        self.origin = origin
        self.robots = robots
        self._attempts = Attempts(replace(policy, obey_robots=False), robots, "")

    def start(self) -> Fetch:
        fetch = self._attempts.admit(Fetch(f"{self.origin}/robots.txt", "robots", "start"))
        assert isinstance(fetch, Fetch)
        return fetch

    def on_response(self, status: int, body: bytes) -> Fetch | None:
        if self._attempts.again_for_status(status):
            return self._attempts.current
        self.robots.learn(self.origin, body)
        return None

    def on_failure(self, failure: str) -> Fetch | None:
        if self._attempts.again_for_failure(failure):
            return self._attempts.current
        self.robots.learn(self.origin, None)
        return None


class ProbeDriver:
    """The link-follow of one probe. Call `start`, then for each command it returns: after a
    Fetch, `on_response` or `on_failure`; after FetchRobots, `resume`; after Screenshot,
    `on_screenshot`; until Done."""

    def __init__(self, probe: Probe, catalog: Catalog, *, run_id: str | None,
                 started_at: datetime, policy: DriverPolicy, robots: RobotsBook,
                 user_agent: str, method: Literal["crawl", "capture"] = "crawl"):
        self.catalog = catalog
        self.policy = policy
        self.run_id = run_id
        self.method = method
        self.chain = chains.Chain(probe=probe, started_at=started_at)
        self._attempts = Attempts(policy, robots, user_agent)
        # 429s retried for this link, all its hops together: counted per hop, a wrapper's nine
        # hops answering two 429s each (Retry-After: 10) held a worker three minutes a link
        # (review 135).
        self._rate_limited = 0

    @property
    def probe(self) -> Probe:
        return self.chain.probe

    def __getstate__(self) -> dict[str, object]:
        # scrapy-redis pickles a request, the driver in its meta with it, into the shared
        # queue: the catalog and the robots book stay behind, and the worker that continues
        # the probe binds its own (the run's catalog is the same in every worker).
        return {**self.__dict__, "catalog": None}

    def bind(self, catalog: Catalog, robots: RobotsBook) -> ProbeDriver:
        """Attach this process's catalog and robots book (after crossing processes)."""
        self.catalog = catalog
        self._attempts.robots = robots
        return self

    # -- commands ---------------------------------------------------------------------

    def start(self) -> Command:
        probe = self.probe
        if not followed(probe.rendered_as):
            # Not clickable: the outcome is `stripped` whatever the target does.
            return self._finish(self.chain.started_at)
        url = wire_url(probe.link_url or probe.target_url)
        return self._fetch(Fetch(url, "hop", "start", referer_for(probe.seed_url, url)), None)

    def analysis_for(self, status: int, headers: dict[str, str], body: bytes) -> Analysis | None:
        """Whether the response to the current fetch needs analyze_page (a parse the adapter
        may run elsewhere), and with what."""
        current = self._attempts.current
        if current is None or not chains.needs_analysis(status, headers, body):
            return None
        if current.purpose == "control" and not 200 <= status < 300:
            return None
        return Analysis(self.probe.target_url, status, current.purpose == "control",
                        chains.refresh_header(headers), headers.get("content-security-policy"),
                        self.chain.came_through_target)

    def on_response(self, response: chains.Response, analysis: chains.PageAnalysis | None,
                    now: datetime) -> Command:
        """The answer to the current Fetch (`analysis`: analyze_page's, where analysis_for
        asked for one; None otherwise)."""
        current = self._require()
        if response.cut_off and (current.purpose != "hop" or not (
                chains.shows_interstitial(analysis)
                or redirects(response.status, response.headers.get("location")))):
            # (A redirect's body is never read: a browser follows its Location once the head
            # has come, so a 302 whose body never ends still leads on: review 138.)
            # What came of an answer cut off by the time limit is read only for an
            # interstitial (chain.on_response); otherwise the download timed out, as before.
            return self.on_failure(failures.TIMEOUT, now, evidence=response.warc_record_id)
        status = response.status
        if self._attempts.again_for_status(status):
            self._cite(response)
            return current
        if (current.purpose == "hop" and status in chains.RATE_LIMIT_STATUSES
                and self._rate_limited < chains.MAX_RATE_LIMIT_RETRIES):
            self._rate_limited += 1
            self._cite(response)
            wait = chains.retry_after_s(response.headers.get("retry-after"))
            again = Fetch(current.url, current.purpose, current.via, current.referer,
                          now + timedelta(seconds=wait))
            self._attempts.current = again
            return again
        if current.purpose == "control":
            step = chains.on_control_response(self.chain, response, self.catalog, analysis)
            if step.action == "follow" and step.url:
                url = wire_url(step.url)
                return self._fetch(Fetch(url, "control", "control",
                                         referer_for(response.url, url)), now)
            return self._finish(now)
        step = chains.on_response(self.chain, response, current.via, self.catalog, analysis)
        if step.action == "follow" and step.url:
            url = wire_url(step.url)
            return self._fetch(Fetch(url, "hop", step.via, referer_for(response.url, url)),
                               now)
        if step.action == "fail":
            self.chain.failure = step.failure
        return self._after_hops(now)

    def _cite(self, response: chains.Response) -> None:
        """An answer retried is evidence of the observation all the same: a platform that
        answers its rivals' links with 429s and 500s before letting them through leaves its
        trace in the observation, not only in the WARC (review 135)."""
        if response.warc_record_id:
            self.chain.evidence.append(response.warc_record_id)

    def on_parse_crash(self, response: chains.Response, now: datetime,
                       failure: str = "parse_crash") -> Command:
        """The page of the current fetch crashed the parser, or held it past its budget
        (`failure` parse_timeout): it is evidence; what it is cannot be told without the
        parser it stops."""
        current = self._require()
        if current.purpose == "control":
            return self.on_response(response, chains.PageAnalysis(), now)
        chains.record(self.chain, response, current.via)
        self.chain.failure = failure
        return self._after_hops(now)

    def on_failure(self, failure: str, now: datetime, *, evidence: str | None = None
                   ) -> Command:
        """The current Fetch produced no HTTP response; `failure` is the transport's word from
        the failure vocabulary (audit.measure.failures). Transient ones are retried at once.
        `evidence`: the WARC record of what came back, where something did (the bytes of an
        unreadable answer)."""
        current = self._require()
        if self._attempts.again_for_failure(failure):
            if evidence:  # the attempt's answer is evidence of the observation all the same
                self.chain.evidence.append(evidence)
            return current
        return self._failed(current, failure, now, evidence)

    def resume(self, now: datetime) -> Command:
        """robots.txt of the pending fetch's origin is known now."""
        return self._fetch(self._attempts.resumed(), now)

    def on_screenshot(self, path: str | None, now: datetime) -> Command:
        """The screenshot was stored at evidence/`path` (None: it could not be taken)."""
        chain = self.chain
        chain.screenshot = path or "failed"
        if path:
            chain.evidence.append(f"screenshot:{path}")
        return self._after_hops(now)

    # -- the machine ------------------------------------------------------------------

    def _require(self) -> Fetch:
        current = self._attempts.current
        assert current is not None, "no fetch is outstanding"
        return current

    def _fetch(self, fetch: Fetch, now: datetime | None) -> Command:
        """The next fetch, after the auditor's own robots.txt decision."""
        admitted = self._attempts.admit(fetch)
        if admitted is None:
            # Decided here, not retried: the failure of the fetch that was not made.
            return self._failed(fetch, "robots_disallowed", now)
        return admitted

    def _failed(self, fetch: Fetch, failure: str, now: datetime | None,
                evidence: str | None = None) -> Command:
        if fetch.purpose == "control":
            chains.on_control_failure(self.chain, fetch.url, evidence)
            return self._finish(now)
        chains.on_failure(self.chain, fetch.url, failure, fetch.via, evidence)
        return self._after_hops(now)

    def _after_hops(self, now: datetime | None) -> Command:
        chain = self.chain
        if (self.policy.screenshots and not chain.screenshot and chain.page_url
                and chains.worth_a_picture(chain, self.catalog)):
            self._attempts.current = None
            return Screenshot(chain.page_url)
        if chains.wants_control(chain):
            last = chain.hops[-1] if chain.hops else None
            source = last.url if last is not None and last.status else None
            url = wire_url(self.probe.target_url)
            return self._fetch(Fetch(url, "control", "control", referer_for(source, url)), now)
        return self._finish(now)

    def _finish(self, now: datetime | None) -> Done:
        self._attempts.current = None
        return Done(chains.observation(self.chain, run_id=self.run_id, method=self.method,
                                       finished_at=now))
