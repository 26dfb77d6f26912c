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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from audit.measure import chain as chains
from audit.measure.robots import RobotsBook, origin_of
from audit.model import Observation, Probe
from audit.policy.catalog import Catalog
from audit.web.urls import referer_for, wire_url


@dataclass(frozen=True)
class DriverPolicy:
    """The crawl settings a probe's decisions depend on (both engines read them from the
    same settings; see audit.measure.crawl.effective_settings)."""

    retries: int = 1  # more attempts after a transient failure or a retry status
    retry_statuses: frozenset[int] = frozenset({500, 502, 504, 522, 524, 408})
    obey_robots: bool = True
    screenshots: bool = False  # --render: a screenshot of every interstitial

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> DriverPolicy:
        retry_codes = settings.get("RETRY_HTTP_CODES") or ()
        assert isinstance(retry_codes, list | tuple | frozenset | set)
        return cls(
            retries=int(str(settings["RETRY_TIMES"])) if settings.get("RETRY_ENABLED") else 0,
            retry_statuses=frozenset(int(c) for c in retry_codes),
            obey_robots=bool(settings.get("ROBOTSTXT_OBEY")),
            screenshots=bool(settings.get("HULIAN_RENDER")))


# Failures that repeating the request cannot change: the auditor's own refusals, a body over
# the size limit, a URL that cannot be requested (as Scrapy's RetryMiddleware leaves them).
NOT_RETRIED = ("private_address", "robots_disallowed", "too_large", "bad_url")

Purpose = Literal["hop", "control"]


@dataclass(frozen=True)
class Fetch:
    """Fetch `url` (its wire form: exactly what goes on the request line), GET, no
    redirects, sending `referer`; not before `not_before` (a Retry-After)."""

    url: str
    purpose: Purpose
    via: chains.Via
    referer: str | None = None
    not_before: datetime | None = None


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
    """What the adapter must pass analyze_page for a response (target, status, control)."""

    target: str
    status: int
    control: bool


class ProbeDriver:
    """The link-follow of one probe. Call `start`, then for each command it returns: after a
    Fetch, `on_response` or `on_failure`; after FetchRobots, `resume`; after Screenshot,
    `on_screenshot`; until Done."""

    def __init__(self, probe: Probe, catalog: Catalog, *, run_id: str | None,
                 started_at: datetime, policy: DriverPolicy, robots: RobotsBook,
                 user_agent: str, method: Literal["crawl", "capture"] = "crawl"):
        self.catalog = catalog
        self.policy = policy
        self.robots = robots
        self.user_agent = user_agent
        self.run_id = run_id
        self.method = method
        self.chain = chains.Chain(probe=probe, started_at=started_at)
        self._current: Fetch | None = None
        self._attempts = 0  # transient failures and retry statuses of the current fetch
        self._rate_limited = 0  # 429s of the current hop
        self._previous: str | None = probe.seed_url  # the page the next hop leaves from
        self._pending: Fetch | None = None  # waiting for robots.txt

    @property
    def probe(self) -> Probe:
        return self.chain.probe

    # -- commands ---------------------------------------------------------------------

    def start(self) -> Command:
        probe = self.probe
        if probe.rendered_as != "anchor":
            # Not clickable: the outcome is `stripped` whatever the target does.
            return self._finish(self.chain.started_at)
        url = wire_url(probe.link_url or probe.target_url)
        return self._fetch(Fetch(url, "hop", "start", referer_for(self._previous, url)))

    def analysis_for(self, status: int, headers: dict[str, str], body: bytes) -> Analysis | None:
        """Whether the response to the current fetch needs analyze_page (a parse the adapter
        may run elsewhere), and with what."""
        current = self._current
        if current is None or not chains.needs_analysis(status, headers, body):
            return None
        if current.purpose == "control" and not 200 <= status < 300:
            return None
        return Analysis(self.probe.target_url, status, current.purpose == "control")

    def on_response(self, response: chains.Response, analysis: chains.PageAnalysis | None,
                    now: datetime) -> Command:
        """The answer to the current Fetch (`analysis`: analyze_page's, where analysis_for
        asked for one; None otherwise)."""
        current = self._require()
        status = response.status
        if status in self.policy.retry_statuses and self._attempts < self.policy.retries:
            self._attempts += 1
            return current
        if (current.purpose == "hop" and status in chains.RATE_LIMIT_STATUSES
                and self._rate_limited < chains.MAX_RATE_LIMIT_RETRIES):
            self._rate_limited += 1
            wait = chains.retry_after_s(response.headers.get("retry-after"))
            return self._again(current, not_before=now + timedelta(seconds=wait))
        if current.purpose == "control":
            step = chains.on_control_response(self.chain, response, self.catalog, analysis)
            if step.action == "follow" and step.url:
                url = wire_url(step.url)
                return self._fetch(Fetch(url, "control", "control",
                                         referer_for(response.url, url)))
            return self._finish(now)
        step = chains.on_response(self.chain, response, current.via, self.catalog, analysis)
        if step.action == "follow" and step.url:
            self._rate_limited = 0
            url = wire_url(step.url)
            return self._fetch(Fetch(url, "hop", step.via, referer_for(response.url, url)))
        if step.action == "fail":
            self.chain.failure = step.failure
        return self._after_hops(now)

    def on_parse_crash(self, response: chains.Response, now: datetime) -> Command:
        """The page of the current fetch crashed the parser (it is evidence; what it is
        cannot be told without the parser it kills)."""
        current = self._require()
        if current.purpose == "control":
            return self.on_response(response, chains.PageAnalysis(), now)
        chains.record(self.chain, response, current.via)
        self.chain.failure = "parse_crash"
        return self._after_hops(now)

    def on_failure(self, failure: str, now: datetime) -> Command:
        """The current Fetch produced no HTTP response; `failure` is the transport's word from
        the failure vocabulary (audit.measure.failures). Transient ones are retried at once."""
        current = self._require()
        if self._attempts < self.policy.retries and not failure.startswith(NOT_RETRIED):
            self._attempts += 1
            return current
        if current.purpose == "control":
            chains.on_control_failure(self.chain, current.url)
            return self._finish(now)
        chains.on_failure(self.chain, current.url, failure, current.via)
        return self._after_hops(now)

    def resume(self, now: datetime) -> Command:
        """robots.txt of the pending fetch's origin is known now."""
        pending, self._pending = self._pending, None
        assert pending is not None, "resume() without a FetchRobots"
        return self._fetch(pending, now)

    def on_screenshot(self, path: str | None, now: datetime) -> Command:
        """The screenshot was stored at evidence/`path` (None: it could not be taken)."""
        chain = self.chain
        chain.screenshot = path or "failed"
        if path:
            chain.evidence.append(f"screenshot:{path}")
        return self._after_hops(now)

    # -- the machine ------------------------------------------------------------------

    def _require(self) -> Fetch:
        assert self._current is not None, "no fetch is outstanding"
        return self._current

    def _again(self, fetch: Fetch, *, not_before: datetime | None) -> Fetch:
        again = Fetch(fetch.url, fetch.purpose, fetch.via, fetch.referer, not_before)
        self._current = again
        return again

    def _fetch(self, fetch: Fetch, now: datetime | None = None) -> Command:
        """The next fetch, after the auditor's own robots.txt decision."""
        self._attempts = 0
        self._current = fetch
        if self.policy.obey_robots:
            allowed = self.robots.allowed(fetch.url, self.user_agent)
            if allowed is None:
                self._pending = fetch
                return FetchRobots(origin_of(fetch.url))
            if not allowed:
                # Decided here, not retried: the failure of the fetch that was not made.
                if fetch.purpose == "control":
                    self._current = None
                    chains.on_control_failure(self.chain, fetch.url)
                    return self._finish(now)
                chains.on_failure(self.chain, fetch.url, "robots_disallowed", fetch.via)
                return self._after_hops(now)
        return fetch

    def _after_hops(self, now: datetime | None) -> Command:
        chain = self.chain
        if (self.policy.screenshots and chain.page is not None and chain.page.kind.value
                not in ("content", "redirect") and not chain.screenshot and chain.page_url):
            self._current = None
            return Screenshot(chain.page_url)
        if chains.wants_control(chain):
            last = chain.hops[-1] if chain.hops else None
            source = last.url if last is not None and last.status else None
            url = wire_url(self.probe.target_url)
            return self._fetch(Fetch(url, "control", "control", referer_for(source, url)), now)
        return self._finish(now)

    def _finish(self, now: datetime | None) -> Done:
        self._current = None
        return Done(chains.observation(self.chain, run_id=self.run_id, method=self.method,
                                       finished_at=now))
