"""Following one link hop by hop, as pure decisions: given the hops so far and the latest
response, say what to do next (follow a redirect, a meta refresh, a JS location, a warning's
continue link once; stop; or fail with a reason) and, at the end, build the Observation.

The crawler (spiders/) and the capture analyser feed responses in; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from audit.judge.classify import (
    classify_observation,
    classify_page,
    endpoint_of,
    on_target_site,
    outbound_links,
    own_scripts,
    platform_for_url,
    shows_nothing,
    through_target,
)
from audit.judge.compare import Fingerprint, comparable, compare, fingerprint
from audit.judge.forwards import page_forward
from audit.judge.search import (
    MAX_DIRECTIVES,
    crawler_names,
    kept_directives,
    speaks_to_crawlers,
)
from audit.measure import failures
from audit.model import (
    ControlComparison,
    Hop,
    Observation,
    PageDirective,
    PageFacts,
    PageKind,
    Probe,
    SurfaceKind,
    followed,
)
from audit.policy.catalog import Catalog
from audit.web.decode import (
    content_codings,
    decode_html,
    may_be_page,
    shown_as_html,
    xml_type,
)
from audit.web.page import Page, parse_page
from audit.web.urls import (
    REDIRECT_STATUSES,
    as_requested,
    header_url,
    off_the_web,
    redirects,
    resolve,
)

logger = logging.getLogger(__name__)

MAX_HOPS = 10
MAX_CONTROL_HOPS = 5  # the control fetch follows the target's own redirects this far
MAX_RATE_LIMIT_RETRIES = 2  # a 429 is retried this often, after its Retry-After
MAX_RETRY_AFTER_S = 10.0
# Indexing-directive metas a seed page's plan carries: one more than its search record keeps,
# so that page_record sees a page had more and says so (chosen as it chooses,
# kept_directives: a noindex first). Only metas named `robots` or after a crawler count: the
# first 200 metas of any name were kept, and a noindex after 200 others was lost (a review).
MAX_METAS = MAX_DIRECTIVES + 1
# A seed page yields at most this many probes: a platform's page of a million links (29 MB,
# cut at 20 MB) planned 1.4 million probes and 5.5 GB, and each link to a hanging endpoint
# costs up to ~80 s. Past it, the seed is warned about (`parse_issue:too_many_links`).
MAX_PROBES_PER_SEED = 10_000
# A link whose URL is longer is not planned (`parse_issue:long_links`): ten 1 MB links, each
# kept in the probe, its observation and verdicts, ran judging out of DuckDB's memory. Far
# above what links to a service carry (servers commonly refuse 8 KB); Chrome's own cap is 2 MB.
MAX_TARGET_URL_CHARS = 16_384
# A hop's URL longer than MAX_TARGET_URL_CHARS (a Location, a refresh's, a script's) is not
# followed: the chain stops there, for a person.
URL_TOO_LONG = "structure/url_too_long"

# Statuses with which servers refuse automated clients (Zhihu answers 566, domain-facts
# §2.5b): the measurement failed; it is not evidence that the platform blocks the link.
# Not 999 (LinkedIn's refusal): a status line of 999 is outside 100-599, which is not HTTP
# before it is anything else; both engines' parsers and the capture analysis record it as
# `download_error:bad_response` (audit/measure/failures.py valid_status), so no response with it
# ever gets here, and a control fetch answered with it counts as not answered.
ANTI_BOT_STATUSES = frozenset({403, 566})
RATE_LIMIT_STATUSES = frozenset({429})
UNAVAILABLE_FOR_LEGAL_REASONS = 451  # RFC 7725

Via = Literal["start", "http", "meta_refresh", "js", "continue", "control"]


@dataclass(frozen=True)
class Seed:
    """A page whose outbound links are audited, filed under its platform and surface."""

    platform: str
    surface: SurfaceKind
    url: str


@dataclass(frozen=True)
class Response:
    """What the downloader got for one hop."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    elapsed_ms: float | None = None
    warc_record_id: str | None = None
    # A capture that does not hold the body (capture.formats.FlowRecord.body_unknown).
    body_unknown: bool = False
    # The answer did not end within the download's time: its head and the body so far.
    cut_off: bool = False


@dataclass(frozen=True)
class Step:
    action: Literal["follow", "stop", "fail"]
    url: str | None = None
    via: Via = "http"
    failure: str | None = None


@dataclass
class Chain:
    """The state of one probe's link-follow."""

    probe: Probe
    hops: list[Hop] = field(default_factory=list)
    page: PageFacts | None = None
    continued: bool = False
    failure: str | None = None
    control_ok: bool | None = None
    evidence: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    screenshot: str | None = None  # evidence/ path of the rendered interstitial, if taken
    page_url: str | None = None  # where `page` was read (the interstitial, for a screenshot)
    # For the comparison with the control (audit.judge.compare): the chain's last page, whether it
    # is a page of a platform the catalog knows, and the control's last page.
    last_page: Fingerprint | None = None
    ended_on_platform: bool = False
    control_page: Fingerprint | None = None
    control_done: bool = False
    # The hops' URLs are as navigated, fragments included (a crawl's); a capture's requests
    # never carry a fragment, only its redirects' Locations may (classify.through_target).
    fragments_seen: bool = True
    # Once the target answered, the chain has been shown a page of another company the
    # catalog knows (on_response: what the source's own pages say is the source's only
    # before), or has passed a hop whose doing it was no one can tell from here (a host the
    # catalog gives to no company, another company's redirect).
    left_source_company: bool = False
    through_unclear_hop: bool = False

    @property
    def next_via(self) -> Via:
        return "start" if not self.hops else "http"

    @property
    def own_hops(self) -> list[Hop]:
        """The chain's hops without the control fetch's."""
        return [h for h in self.hops if h.via != "control"]

    @property
    def came_through_target(self) -> bool:
        """through_target of the chain so far: its answers are the target's own from here on."""
        return through_target(self.own_hops, self.probe.target_url,
                              fragments_seen=self.fragments_seen)

    def visited(self, url: str) -> bool:
        return any(h.url == url for h in self.own_hops)


def probe_id(source: str, surface: str, target_url: str) -> str:
    """Stable id of a probe: the same link planned twice (or on resume) is the same probe."""
    return hashlib.sha256(f"{source}\n{surface}\n{target_url}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Plan:
    """What a seed page yields: its probes, and what was cut (`parse_issue`, issues joined by
    "+": what the parser had to cut, `too_many_links` past MAX_PROBES_PER_SEED, `long_links`
    past MAX_TARGET_URL_CHARS; the crawl records it as a warning on the seed)."""

    probes: list[Probe]
    parse_issue: str | None = None
    # The page's <meta name content> pairs that are indexing directives (named `robots` or
    # after a crawler), at most MAX_METAS: audit.measure.search.page_record records them.
    metas: list[tuple[str, str]] = field(default_factory=list)


def plan_probes(body: bytes, content_type: str | None, url: str, *, source: str,
                surface: SurfaceKind, catalog: Catalog) -> Plan:
    """The probes a seed page yields: one per distinct outbound link (anchor or plain text).
    A body of no usable type that does not start as HTML is shown as text, XML that is not
    XHTML as a tree: none."""
    if not shown_as_html({"content-type": content_type or ""}, body):
        return Plan([])
    decoded = decode_html(body, content_type)
    page = parse_page(decoded.text, url, truncated=decoded.truncated,
                      xml=xml_type(content_type))
    platform = catalog.platforms.get(source)
    probes: dict[str, Probe] = {}
    issues = [page.parse_issue] if page.parse_issue else []
    for link in outbound_links(page, catalog, platform):
        target = link.target or link.href
        if len(target) > MAX_TARGET_URL_CHARS or len(link.href) > MAX_TARGET_URL_CHARS:
            if "long_links" not in issues:
                issues.append("long_links")
            continue
        pid = probe_id(source, surface.value, target)
        if pid not in probes:
            if len(probes) >= MAX_PROBES_PER_SEED:
                issues.append("too_many_links")
                break
            probes[pid] = Probe(
                id=pid, source=source, surface=surface, target_url=target,
                target_platform=link.target_platform, seed_url=url, link_url=link.href,
                rendered_as=link.rendered_as,
            )
    names = crawler_names(catalog)
    found = [] if page.root is None else [
        PageDirective(source="meta", name=str(name), content=str(content))
        for m in page.root.iter("meta")
        if (name := m.get("name")) and (content := m.get("content"))
        and speaks_to_crawlers(str(name), names)]
    metas = [(d.name, d.content) for d in kept_directives(found, names, MAX_METAS)[0]]
    return Plan(list(probes.values()), "+".join(issues) or None, metas)


def with_served_taps(rendered: Plan, served: Plan) -> Plan:
    """A rendered seed page's plan (--render: the DOM once its scripts ran) with what the
    page as served says of a tap: a link whose tap the served page hands to a handler is
    `handled` also where a script then moved the handler into a listener, which the rendered
    DOM does not show (review 136: a copy-the-link `onclick` a hydration script took off the
    attribute read `direct` with --render, `handled` without). What the served page plans
    and the rendered one does not (a link a script took away) is not added."""
    handled = {probe.id for probe in served.probes if probe.rendered_as == "handled"}
    if not handled:
        return rendered
    return replace(rendered, probes=[
        probe.model_copy(update={"rendered_as": "handled"})
        if probe.id in handled and probe.rendered_as == "anchor" else probe
        for probe in rendered.probes])


def seed_warnings(url: str, plan: Plan) -> list[dict[str, str]]:
    """The seed-error entries of a seed page that was planned: links of it not measured
    (seed_warning), or none at all (`no_links`: not HTML, empty, a page that only forwards by
    refresh or script, or one without an outbound link). A seed of no links gave a run of no
    observations and no error, a platform unmeasured in silence (a review)."""
    warnings = [seed_warning(url, plan.parse_issue)] if plan.parse_issue is not None else []
    if not plan.probes:
        logger.warning("seed %s gave no link to measure", url)
        warnings.append({"url": url, "error": failures.NO_LINKS})
    return warnings


def seed_warning(url: str, parse_issue: str) -> dict[str, str]:
    """The seed-error entry of a seed page some of whose links are not measured (the parser
    had to cut it, too many links, links too long): its other probes are planned, and the
    run must say what is missing."""
    logger.warning("seed %s: links of it are not measured (%s: the parser had to cut the page, "
                   "it has more than %d links, or links longer than %d characters)", url,
                   parse_issue, MAX_PROBES_PER_SEED, MAX_TARGET_URL_CHARS)
    return {"url": url, "error": f"parse_issue:{parse_issue}"}


def retry_after_s(value: str | None) -> float:
    """Seconds to wait before retrying a 429, from its Retry-After header (capped). Anything
    but a number of seconds (an HTTP date, `nan`, garbage) waits one second: a platform's
    header must not decide how long, or whether, the crawl goes on."""
    try:
        seconds = float(value or 1)
    except ValueError:
        return 1.0
    if math.isnan(seconds):
        return 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def wants_control(chain: Chain) -> bool:
    """Whether the finished chain still needs a control fetch of the target. Not for text
    links (never clicked), nor where the auditor's own guard or robots policy stopped it."""
    guarded = chain.failure is not None and chain.failure.startswith(
        ("private_address", "robots_disallowed"))
    return (followed(chain.probe.rendered_as) and not guarded and not chain.control_done
            and needs_control(chain))


def target_answered(status: int | None) -> bool:
    """Whether a control answer shows the target is up: a 2xx or 3xx, or a rate limit or an
    anti-bot answer (the target answered the auditor, so it is not down; the comparison uses
    the status as received). None: no answer at all."""
    return status is not None and (200 <= status < 400 or status in RATE_LIMIT_STATUSES
                                   or status in ANTI_BOT_STATUSES)


def _is_short(page: Page, catalog: Catalog) -> bool:
    return len(page.text) <= catalog.require_markers().max_text_chars


def record(chain: Chain, response: Response, via: Via) -> Hop:
    # Built without validation (model_construct): every field is typed by this code, and
    # validating hops and observations was ~5 % of the crawl process's CPU.
    location = response.headers.get("location")
    hop = Hop.model_construct(
        url=response.url, status=response.status, via=via,
        location=location if location is None else _kept(location),
        elapsed_ms=response.elapsed_ms,
        body_sha256=hashlib.sha256(response.body).hexdigest(),
        warc_record_id=response.warc_record_id,
    )
    chain.hops.append(hop)
    if response.warc_record_id:
        chain.evidence.append(response.warc_record_id)
    return hop


OFF_THE_WEB = "structure/forward_off_the_web"


def _kept(url: str) -> str:
    """A URL as an observation keeps it: cut at MAX_TARGET_URL_CHARS (the WARC has it whole),
    its cut marked."""
    return url if len(url) <= MAX_TARGET_URL_CHARS else url[:MAX_TARGET_URL_CHARS] + "…"


def _kept_urls(page: PageFacts | None) -> PageFacts | None:
    """The page's facts with the URLs it names kept as an observation keeps URLs (_kept)."""
    if page is None or all(len(url or "") <= MAX_TARGET_URL_CHARS
                           for url in (page.target, page.continue_url)):
        return page
    return page.model_copy(update={
        name: _kept(url) for name, url in (("target", page.target),
                                           ("continue_url", page.continue_url)) if url})


def _follow(chain: Chain, url: str | None, via: Via) -> Step:
    if url is None:
        return Step("stop")
    if len(url) > MAX_TARGET_URL_CHARS:
        # Not followed: nine hops of 250 KB Locations made 4 MB observation lines and 800 MB
        # of observations from 200 links (review 135). A browser would go on (Chrome's cap is
        # 2 MB): where it leads is not read, for a person (a failure let a platform turn its
        # own block page, reached through a padded URL, into an `error`: review 138).
        if chain.page is None or chain.page.kind in (PageKind.CONTENT, PageKind.REDIRECT):
            chain.page = PageFacts(kind=PageKind.UNRECOGNIZED, signature=URL_TOO_LONG,
                                   target=_kept(url))
        return Step("stop")
    if len(chain.own_hops) >= MAX_HOPS:
        return Step("fail", failure=f"hop_limit:{MAX_HOPS}")
    if chain.visited(url):
        return Step("fail", failure="redirect_loop")
    return Step("follow", url=url, via=via)


@dataclass(frozen=True)
class PageAnalysis:
    """What the chain needs to know about one hop's page: the classifier's facts, the
    redirects a short page (or an endpoint's forwarding page) carries, and, where a
    comparison with the control may be needed, the page's fingerprint. Pure and picklable:
    both engines compute it in a worker process (audit/measure/parsepool.py)."""

    parsed: bool = False  # an HTML body was there to parse
    facts: PageFacts = field(default_factory=PageFacts)
    short: bool = False
    meta_refresh: str | None = None
    # The forward waits (a refresh of over a second, a script's after a dialog) on a page that
    # shows something meanwhile.
    forward_waits: bool = False
    js_target: str | None = None
    # A refresh's or script's URL of a scheme no web page is at (urls.off_the_web), as written.
    off_web: str | None = None
    fingerprint: Fingerprint | None = None
    # Short as a reader sees it (text a style sheet hides left out): asked only of a known
    # platform's page after the target answered (on_response's rule behind an opaque wrapper).
    shown_short: bool = False


def needs_analysis(status: int, headers: dict[str, str], body: bytes) -> bool:
    """Whether on_response will look at the page (not for redirects and refusals)."""
    if redirects(status, headers.get("location")) or refused_by_browser(status, headers):
        return False
    if status in RATE_LIMIT_STATUSES:
        return False
    if content_codings(headers.get("content-encoding")):
        # Bytes in an encoding the engine could not decode (Brotli, zstd, a broken gzip):
        # what they say cannot be read, so nothing is concluded from their "text" (a block
        # read off garbage, a block reason of binary). On an endpoint: `unrecognized`.
        return False
    return bool(body) and shown_as_html(headers, body)


def analyze_page(body: bytes, content_type: str, url: str, catalog: Catalog, *,
                 target: str | None = None, status: int | None = None,
                 control: bool = False, refresh: str | None = None,
                 csp: str | None = None, reached: bool = False) -> PageAnalysis:
    """`target` is the probe's target: a page off its site may have to be compared with the
    control fetch, so its fingerprint is kept (and always for a control page). `refresh`:
    the response's Refresh header. `reached`: the chain came through the target before this
    page (it is the target's own: nothing to compare)."""
    decoded = decode_html(body, content_type)
    page = parse_page(decoded.text, url, truncated=decoded.truncated, refresh=refresh, csp=csp,
                      xml=xml_type(content_type), encoding_unsure=decoded.unsure,
                      undeclared=decoded.undeclared)
    if page.root is None:
        return PageAnalysis()  # nothing to parse (see _unparsed for endpoints)
    facts = classify_page(page, catalog, platform_for_url(url, catalog), target=target)
    short = _is_short(page, catalog)
    forward = (page_forward(page, own_scripts(catalog, platform_for_url(url, catalog)))
               if short or facts.kind is PageKind.REDIRECT else None)
    # Any page but the target's own URL may end a chain that never came through the target
    # (another page of its host, another host of its site, may be where the platform sent
    # the link instead), so it may need comparing.
    keep = control or (target is not None and not reached
                       and as_requested(url) != as_requested(target))
    refreshes = forward if forward is not None and forward.via == "meta_refresh" else None
    # Padding a notice with text a style sheet hides made it long, the destination reached
    # (a review): its shown text decides, read only where that rule may ask.
    shown_short = short or (reached and platform_for_url(url, catalog) is not None
                            and len(page.displayed) <= catalog.require_markers().max_text_chars)
    return PageAnalysis(parsed=True, facts=facts, short=short, shown_short=shown_short,
                        meta_refresh=refreshes.url if refreshes is not None else None,
                        forward_waits=(forward is not None and forward.delayed
                                       and not shows_nothing(page)),
                        js_target=forward.url if forward and forward.via == "js" else None,
                        off_web=next((url for url in (page.meta_refresh, forward and forward.url)
                                      if url and off_the_web(url)), None)
                        if short or facts.kind is PageKind.REDIRECT else None,
                        fingerprint=fingerprint(page, url, status, body) if keep else None)


def on_response(chain: Chain, response: Response, via: Via, catalog: Catalog,
                analysis: PageAnalysis | None = None) -> Step:
    """Record the hop and decide the next step of the chain. `analysis` is the page's
    analysis when the caller computed it already (analyze_page of the same response)."""
    hop = record(chain, response, via)
    status = response.status
    chain.ended_on_platform = platform_for_url(response.url, catalog) is not None
    redirect = redirects(status, response.headers.get("location"))
    off_company = (chain.came_through_target
                   and not _source_companys(response.url, chain.probe, catalog))
    if off_company and redirect:
        chain.through_unclear_hop = True  # see below: a redirect is no page shown
    chain.last_page = None
    refused = refused_by_browser(status, response.headers)
    if refused is not None:
        return _stop_unread(chain, response, catalog, refused)
    if redirect:
        target = resolve(response.url, header_url(response.headers["location"]))
        if target is None:
            if off_the_web(response.headers["location"]):
                return _stop_unread(chain, response, catalog, OFF_THE_WEB)
            return Step("fail", failure="bad_location")
        hop.location = _kept(target)
        return _follow(chain, target, "http")
    if response.body_unknown and not (
            200 <= status < 300
            and as_requested(response.url) == as_requested(chain.probe.target_url)):
        # What the page said is unknown: neither an empty page nor one passed through, which
        # read a notice a capture kept no body of as the way to the target (review 134). Not
        # the target's own URL answering with success: the link went through, whatever the
        # page said (Chrome drops a page's body once the tab leaves it: every arrival but the
        # last of a session went to review, review 137).
        return _stop_unread(chain, response, catalog, "structure/body_not_recorded")
    if status in RATE_LIMIT_STATUSES:
        return Step("fail", failure=f"rate_limited:{status}")
    if analysis is None:
        analysis = analyze(response, catalog, chain.probe.target_url,
                           reached=chain.came_through_target)
    if off_company:
        # A page another company the catalog knows shows is that company's doing. Not its
        # redirect, nor its page that forwards at once, which a reader never sees (an open
        # redirect, Baidu's or Zhihu's wrapper, bounced Weibo's block off it: two reviews),
        # nor a host the catalog does not list, which may be the destination's (a shop
        # behind t.cn) or the source's own (a sign-in bounce, an IP).
        at_once = ((analysis.meta_refresh is not None or analysis.js_target is not None)
                   and not analysis.forward_waits)
        if platform_for_url(response.url, catalog) is not None and not at_once:
            chain.left_source_company = True
        else:
            chain.through_unclear_hop = True
    if status in ANTI_BOT_STATUSES and not _known_interstitial(analysis.facts):
        return Step("fail", failure=f"anti_bot:{status}")
    facts = analysis.facts
    if not analysis.parsed and status < 400:
        facts = _unparsed(response, catalog) or facts
    chain.last_page = analysis.fingerprint or (
        None if chain.came_through_target
        else Fingerprint(url=response.url, status=status, body_length=len(response.body)))
    read_by_markers = facts.signature is not None and not facts.signature.startswith(
        "structure/")
    if status >= 400 and not read_by_markers and facts.kind is not PageKind.ERROR:
        endpoint = endpoint_of(response.url, catalog)
        if endpoint is not None and status == UNAVAILABLE_FOR_LEGAL_REASONS:
            # The one error status that states a refusal of what was asked for: the
            # platform's interception endpoint says the link is not to be shown.
            facts = PageFacts(kind=PageKind.BLOCKED, endpoint=endpoint,
                              signature="structure/status_451", title=facts.title,
                              headline=facts.headline, reason_text=facts.headline,
                              excerpt=facts.excerpt)
        elif endpoint is not None:
            # The platform's own interception endpoint failed: what it does with the link
            # was not seen (never a block read off an error page's structure).
            facts = PageFacts(kind=PageKind.ERROR, endpoint=endpoint,
                              failure=f"endpoint_error:{status}", title=facts.title,
                              excerpt=facts.excerpt)
        elif status == UNAVAILABLE_FOR_LEGAL_REASONS and not chain.came_through_target:
            # A refusal stated off any endpoint, before the target answered: a platform's page
            # says the link is not to be shown; elsewhere (a third party the link was sent
            # to, another host of the target's domain) a person says whose refusal it is.
            # Read as a failed hop, a block page in words no marker knows was an `error`
            # (a review).
            ours = (platform_for_url(response.url, catalog) is not None
                    and not on_target_site(response.url, chain.probe.target_url))
            facts = PageFacts(kind=PageKind.BLOCKED if ours else PageKind.UNRECOGNIZED,
                              signature="structure/status_451", title=facts.title,
                              headline=facts.headline,
                              reason_text=facts.headline if ours else None,
                              excerpt=facts.excerpt)
    companys_page = (_source_companys(response.url, chain.probe, catalog)
                     and _source_companys(chain.probe.target_url, chain.probe, catalog)
                     and not chain.left_source_company)
    if chain.came_through_target and facts.kind in _INTERCEPTIONS and companys_page \
            and chain.through_unclear_hop:
        # The source's own interstitial behind its own wrapper, reached through a hop whose
        # doing it was no one can tell (a host the catalog gives to no one, another company's
        # redirect): the platform's bounce (the interception, as a review found
        # when such a hop made a Weibo block `direct`) or the destination's redirect to the
        # platform (not the platform's doing, the review before). A person looks.
        facts = PageFacts(kind=PageKind.UNRECOGNIZED,
                          signature="structure/source_page_after_unclear_hop",
                          endpoint=facts.endpoint, title=facts.title, headline=facts.headline,
                          excerpt=facts.excerpt, parse_issue=facts.parse_issue)
    elif (chain.came_through_target and companys_page and not chain.through_unclear_hop
          and facts.kind is PageKind.CONTENT and analysis.shown_short and status < 300
          and (analysis.forward_waits
               or (analysis.meta_refresh is None and analysis.js_target is None))
          and as_requested(response.url) != as_requested(chain.probe.target_url)
          and endpoint_of(chain.probe.target_url, catalog) is not None):
        # Behind the source's own opaque wrapper (t.cn, Baidu's `link?url=`), a short page of
        # its company that goes nowhere, or only after it has been shown a while ("back to
        # the home page in 3 seconds", a review), may be the link's destination or the
        # platform's notice in words no marker knows: read as the target reached, a Korean
        # block page behind t.cn was `direct` (a review), where after any other link it is a
        # diversion.
        # A person looks; a long page (an encyclopedia entry behind Baidu's wrapper) is the
        # destination.
        facts = PageFacts(kind=PageKind.UNRECOGNIZED,
                          signature="structure/short_company_page_after_wrapper",
                          title=facts.title, headline=facts.headline, excerpt=facts.excerpt,
                          parse_issue=facts.parse_issue)
    elif chain.came_through_target and facts.kind in _INTERCEPTIONS and not companys_page:
        # The target's own URL has answered: from there every page is the target's (its
        # firewall's notice, its own "open in a browser" page, a short link's platform page),
        # not the audited platform's. Read by the catalog's markers, a Weibo short link's
        # copy-to-browser page failed the forum that linked to it, and a shop's WAF notice
        # read as the forum blocking the shop (a review). Its anti-bot answers stay errors.
        # Not a page of the source's own company: a link through an opaque wrapper (t.cn in
        # a Weibo post, Baidu's `link?url=`) is planned with the wrapper's URL as its target,
        # and its interstitial there is the platform's (the next review); where the wrapper
        # sends the reader, off the company's hosts, pages are the destination's again (a
        # shop's firewall notice behind t.cn accused Weibo: the review after); and a page of
        # the company that a target of another's sends the reader to is the target's doing
        # (a shop forwarding to a Weibo page accused Weibo: the review after that), also
        # behind the company's own wrapper (t.cn, then the shop, then Weibo: the next one).
        facts = PageFacts(kind=PageKind.CONTENT, title=facts.title, headline=facts.headline,
                          excerpt=facts.excerpt, parse_issue=facts.parse_issue)
    forward = analysis.off_web
    if forward and facts.kind in (PageKind.CONTENT, PageKind.REDIRECT, PageKind.ERROR):
        # Sent on to a URL no web page is at (`about:blank`, `data:`, `javascript:`, `file:`,
        # `ftp:`): the reader stays or meets the browser's own page, never the target. An
        # empty endpoint page or a bad Location before (review 135): for a person.
        facts = PageFacts(kind=PageKind.UNRECOGNIZED, signature=OFF_THE_WEB,
                          endpoint=facts.endpoint, target=_kept(forward), title=facts.title,
                          headline=facts.headline, excerpt=facts.excerpt,
                          parse_issue=facts.parse_issue)
    if response.cut_off:
        # A page the server never finished, which a browser draws as it comes: an
        # interstitial in what came is one a reader saw (a block notice sent without its end
        # read as a bare `timeout`, out of the findings: review 135), read in part, for a
        # person; anything else is the download's failure, as before (shows_interstitial).
        if facts.kind not in _READ_INTERSTITIALS:
            return Step("fail", failure=failures.TIMEOUT)
        facts = facts.model_copy(update={"kind": PageKind.UNRECOGNIZED,
                                         "signature": "structure/answer_cut_off",
                                         "continue_url": None})
    if chain.page is None or chain.page.kind in (PageKind.CONTENT, PageKind.REDIRECT):
        # The interstitial decides the outcome: the target page reached through a warning's
        # continue link must not overwrite it.
        chain.page = facts
        chain.page_url = response.url
    if facts.kind is PageKind.ERROR:
        return Step("fail", failure=facts.failure or "unjudgeable_page")
    if facts.kind in (PageKind.BLOCKED, PageKind.COPY_ONLY, PageKind.UNRECOGNIZED):
        return Step("stop")
    if facts.kind is PageKind.WARNED:
        if chain.continued or not facts.continue_url:
            return Step("stop")
        chain.continued = True
        return _follow(chain, facts.continue_url, "continue")
    if status >= 400:
        return Step("stop")
    if analysis.parsed and (analysis.short or facts.kind is PageKind.REDIRECT):
        forward = analysis.meta_refresh or analysis.js_target
        if (forward and analysis.forward_waits and chain.page is facts
                and not chain.came_through_target):
            # Shown for seconds before it forwards (or until a dialog is answered), before
            # the target was reached, in words no marker knows: a countdown, whose wait the
            # reader sees. Followed, a leave page in Japanese counting down to the platform's
            # own URL (an opaque wrapper, a `&go=1`) that sends the reader on read as the
            # target reached (a review). Off the platform, classify_page already says so; a
            # person reads it.
            chain.page = facts.model_copy(update={
                "kind": PageKind.UNRECOGNIZED, "signature": "structure/delayed_forward",
                "target": resolve(response.url, forward)})
            return Step("stop")
        if analysis.meta_refresh:
            return _follow(chain, resolve(response.url, analysis.meta_refresh), "meta_refresh")
        if analysis.js_target:
            return _follow(chain, resolve(response.url, analysis.js_target), "js")
    return Step("stop")


# The interstitials a reading recognises (by the catalog's or the generic markers, or by
# structure), not a page it cannot read.
_READ_INTERSTITIALS = frozenset({PageKind.BLOCKED, PageKind.COPY_ONLY, PageKind.WARNED})


def shows_interstitial(analysis: PageAnalysis | None) -> bool:
    """Whether a page's analysis reads it as a block, copy-only or warning page: what of an
    answer cut off by the time limit is read (a page no reading knows, cut off, stays the
    download's `timeout`: half an unknown page says less than a whole one)."""
    return analysis is not None and analysis.facts.kind in _READ_INTERSTITIALS


def _source_companys(url: str, probe: Probe, catalog: Catalog) -> bool:
    """Whether `url` is a page of a platform of the probe's source's own company."""
    source = catalog.platforms.get(probe.source)
    serving = platform_for_url(url, catalog)
    return source is not None and serving is not None and serving.company == source.company


# The page kinds that say the platform stood between the user and the link.
_INTERCEPTIONS = frozenset({PageKind.BLOCKED, PageKind.COPY_ONLY, PageKind.WARNED,
                            PageKind.UNRECOGNIZED})


def _known_interstitial(facts: PageFacts) -> bool:
    """A page one of the catalog's own signatures recognises as a platform's interstitial:
    served with a refusal's status (an interception endpoint answering 403), it is what the
    platform showed, not an anti-bot answer. Generic markers do not count here: a CDN's
    "you have been blocked" page says nothing of the link."""
    signature = facts.signature or ""
    return (facts.kind in (PageKind.BLOCKED, PageKind.COPY_ONLY, PageKind.WARNED)
            and "/" in signature and not signature.startswith(("generic/", "structure/")))


# Answers after which a browser stays where it was (no page, no navigation).
NO_CONTENT_STATUSES = frozenset({204, 205})


def refused_by_browser(status: int, headers: dict[str, str]) -> str | None:
    """The signature of an answer a browser shows no page for, whatever its body says: a
    204 or 205 (it stays on the page the link was on: the tap does nothing) and a redirect
    with two different Locations (audit.web.fields keeps them apart; Chromium shows an error
    page of its own). Read as `error` (`endpoint_empty`), or joined into one URL and
    followed, or by a body's forward no reader sees, each was an open link or out of the
    findings (reviews 129 and 131); a person looks."""
    if status in NO_CONTENT_STATUSES:
        return "structure/no_content"
    if "\n" in headers.get("location", ""):  # on any status (review 132: a 200's body forwarded)
        return "structure/multiple_location"
    return None


def _stop_unread(chain: Chain, response: Response, catalog: Catalog, signature: str) -> Step:
    """The chain stops on a page no reading can judge: `unrecognized`, for a person, unless
    an earlier page of the chain decided more."""
    if chain.page is None or chain.page.kind in (PageKind.CONTENT, PageKind.REDIRECT):
        chain.page = PageFacts(kind=PageKind.UNRECOGNIZED, signature=signature,
                               endpoint=endpoint_of(response.url, catalog))
        chain.page_url = response.url
    return Step("stop")


def _unparsed(response: Response, catalog: Catalog) -> PageFacts | None:
    """An answer with no HTML to read, on an interception endpoint: never `content`. An
    empty page cannot be judged; anything else (JSON, an image ..., whatever its length) a
    person must look at. By its type first: a capture keeps no body of a type that is no
    page, and read as empty, JSON with the copy-only notice was `error`, out of the findings,
    where the crawler said `unrecognized` (review 122)."""
    endpoint = endpoint_of(response.url, catalog)
    if endpoint is None:
        return None
    if may_be_page(response.headers.get("content-type")) and not response.body.strip():
        return PageFacts(kind=PageKind.ERROR, endpoint=endpoint, signature="generic/empty",
                         failure="endpoint_empty")
    undecoded = content_codings(response.headers.get("content-encoding"))
    return PageFacts(kind=PageKind.UNRECOGNIZED, endpoint=endpoint,
                     signature="structure/undecodable" if undecoded else "structure/not_html")


def refresh_header(headers: dict[str, str]) -> str | None:
    """The response's Refresh header, its URL read as a browser reads it (header_url)."""
    value = headers.get("refresh")
    return header_url(value) if value is not None else None


def analyze(response: Response, catalog: Catalog, target: str, *,
            control: bool = False, reached: bool = False) -> PageAnalysis:
    """analyze_page of a response, where there is a page to analyze."""
    if not needs_analysis(response.status, response.headers, response.body):
        return PageAnalysis()
    return analyze_page(response.body, response.headers.get("content-type", ""), response.url,
                        catalog, target=target, status=response.status, control=control,
                        refresh=refresh_header(response.headers),
                        csp=response.headers.get("content-security-policy"), reached=reached)


def on_failure(chain: Chain, url: str, failure: str, via: Via,
               warc_record_id: str | None = None) -> None:
    """A hop could not be fetched (timeout, reset, refused ...): record it and end the chain.
    `warc_record_id`: the record of what came back, where something did (an unreadable
    answer's bytes)."""
    _failed_hop(chain, Hop(url=url, status=None, via=via, warc_record_id=warc_record_id))
    chain.failure = failure
    chain.last_page = None


def reached_target(chain: Chain) -> bool:
    """Whether the chain asked for the target's own URL (through_target) and its last hop
    answered with a page, not an error. Anything else needs the control fetch: to tell a dead
    target from a block, and to compare where the chain ended with where the target ends (on
    another host of the target's site too: it may be the platform's own notice)."""
    hops = chain.own_hops
    if not hops:
        return False
    last = hops[-1]
    return last.status is not None and 200 <= last.status < 400 and chain.came_through_target


def needs_control(chain: Chain) -> bool:
    """A control fetch of the target is needed unless the chain itself loaded it."""
    return not reached_target(chain)


def on_control(chain: Chain, status: int | None, warc_record_id: str | None = None,
               page: Fingerprint | None = None) -> None:
    """The control fetch's answer, all at once (the capture analysis sees one flow): `status`
    None when it failed; `page` the fingerprint of its page, when there is one."""
    chain.hops.append(Hop(url=chain.probe.target_url, status=status, via="control",
                          warc_record_id=warc_record_id))
    if warc_record_id:
        chain.evidence.append(warc_record_id)
    _control_done(chain, status, page)


def _control_done(chain: Chain, status: int | None, page: Fingerprint | None) -> None:
    chain.control_ok = target_answered(status)
    chain.control_page = page
    chain.control_done = True


def on_control_response(chain: Chain, response: Response, catalog: Catalog,
                        analysis: PageAnalysis | None = None) -> Step:
    """One response of the control fetch, which follows the target's own redirects (HTTP,
    meta refresh, script location) as a browser would, MAX_CONTROL_HOPS at most: the page it
    ends on is what the chain's last page is compared with."""
    hop = Hop.model_construct(
        url=response.url, status=response.status, via="control",
        location=response.headers.get("location"), elapsed_ms=response.elapsed_ms,
        body_sha256=hashlib.sha256(response.body).hexdigest(),
        warc_record_id=response.warc_record_id)
    chain.hops.append(hop)
    if response.warc_record_id:
        chain.evidence.append(response.warc_record_id)
    visited = [h.url for h in chain.hops if h.via == "control"]
    status = response.status
    next_url: str | None = None
    if redirects(status, response.headers.get("location")):
        next_url = resolve(response.url, header_url(response.headers["location"]))
        hop.location = next_url
    elif 200 <= status < 300:
        if analysis is None:
            analysis = analyze(response, catalog, chain.probe.target_url, control=True)
        if analysis.parsed and analysis.short:
            forward = analysis.meta_refresh or analysis.js_target
            next_url = resolve(response.url, forward) if forward else None
        if next_url is None:
            _control_done(chain, status, analysis.fingerprint or Fingerprint(
                url=response.url, status=status, body_length=len(response.body)))
            return Step("stop")
    if next_url is not None and len(visited) < MAX_CONTROL_HOPS and next_url not in visited:
        return Step("follow", url=next_url, via="control")
    _control_done(chain, status, Fingerprint(url=response.url, status=status,
                                             body_length=len(response.body)))
    return Step("stop")


def on_control_failure(chain: Chain, url: str, warc_record_id: str | None = None) -> None:
    """A control hop could not be fetched: the target did not answer."""
    _failed_hop(chain, Hop(url=url, status=None, via="control", warc_record_id=warc_record_id))
    _control_done(chain, None, None)


def _failed_hop(chain: Chain, hop: Hop) -> None:
    chain.hops.append(hop)
    if hop.warc_record_id:
        chain.evidence.append(hop.warc_record_id)


def comparison(chain: Chain) -> ControlComparison | None:
    """The chain's last page against the control's, where the chain ended off the target's
    site on a page that no interstitial explains; None where there is nothing to compare."""
    if chain.last_page is None or chain.control_page is None or chain.failure:
        return None
    if chain.page is not None and chain.page.kind not in (PageKind.CONTENT, PageKind.REDIRECT):
        return None
    return compare(chain.last_page, chain.control_page)


def worth_a_picture(chain: Chain, catalog: Catalog) -> bool:
    """Whether the page the chain stopped on is evidence a screenshot should keep (`--render`):
    an interstitial, or a platform's own page off the target's site, where a link ends that
    was diverted or is for review (a finding that had no picture: the final review)."""
    page, url = chain.page, chain.page_url
    if page is None or url is None or page.kind is PageKind.REDIRECT:
        return False
    if page.kind is not PageKind.CONTENT:
        return True
    return platform_for_url(url, catalog) is not None and not reached_target(chain)


def _uncompared(chain: Chain) -> bool:
    """The chain ended off the target's site on a page, and the target answered, but the two
    cannot be compared: where the target leads is not known (its control's last answer is a
    redirect: a capture's control is one flow, the crawler's follows five at most), or their
    texts cannot say whether they are alike (compare.comparable)."""
    if not chain.control_ok or chain.last_page is None:
        return False
    if chain.control_page is not None:
        return not comparable(chain.last_page, chain.control_page)
    controls = [h for h in chain.hops if h.via == "control"]
    return bool(controls) and controls[-1].status in REDIRECT_STATUSES


def observation(chain: Chain, *, run_id: str | None, method: Literal["crawl", "capture"],
                finished_at: datetime | None = None) -> Observation:
    probe = chain.probe
    chain_hops = chain.own_hops
    compared = comparison(chain)
    page = chain.page
    outcome, reason = classify_observation(
        target_url=probe.target_url, rendered_as=probe.rendered_as, hops=chain_hops,
        page=page, failure=chain.failure, control_ok=chain.control_ok,
        comparison=compared, ended_on_known_platform=chain.ended_on_platform,
        uncompared=_uncompared(chain), fragments_seen=chain.fragments_seen,
    )
    runtime = None
    if chain.started_at and finished_at:
        runtime = round((finished_at - chain.started_at).total_seconds(), 3)
    return Observation.model_construct(  # typed by this code: see record()
        id=hashlib.sha256(f"{run_id}\n{probe.id}".encode()).hexdigest()[:20],
        probe_id=probe.id, run_id=run_id, source=probe.source, surface=probe.surface,
        target_url=probe.target_url, target_platform=probe.target_platform, method=method,
        started_at=chain.started_at, runtime_s=runtime, rendered_as=probe.rendered_as,
        hops=chain.hops, final_url=chain_hops[-1].url if chain_hops else None,
        page=_kept_urls(page), control_ok=chain.control_ok, comparison=compared,
        failure=chain.failure,
        outcome=outcome, reason=reason, evidence=chain.evidence,
    )
