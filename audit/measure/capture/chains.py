"""Captured flows grouped into link-follow chains, each judged by audit.measure.chain exactly as the
crawler judges the hops it fetches itself. Pure: flow records in, marks and Observations out.

The crawl engines' probe driver (audit/measure/driver.py) is not used here, only the per-hop
decisions it is made of: a capture decides no fetch. It joins the requests an app made, in the
order it made them, to chains: a continue link may be clicked after the chain looked
finished, a control fetch may come before its chain, and nothing is retried or asked of
robots.txt.

Only a page view (is_navigation: a GET that is a document) starts, extends or decides a
chain; a HEAD, preflight, prefetch, XHR, image or link-preview fetch carrying a probe token is
marked and left out. A browser's own redirect in a HAR (FlowRecord.internal_redirect) is
followed but is no hop. A page view joins a chain, in this order of trust:
1. it carries a probe token (`hulian_probe=hp…`, also percent-encoded or base64'd inside a
   wrapper URL, or in the body of a link-check API call); `hc…` tokens are control fetches;
2. it is the URL the chain expects next (a Location, meta refresh, JS location or a warning's
   continue link, as audit.measure.chain decided);
3. its Referer is the chain's last page and it is a document navigation;
4. it is the planned link or target itself (platforms that strip query parameters: targets
   are unique within a plan);
5. without a plan: a link wrapper of a known platform, or a navigation from a known
   platform's page to another site, starts a chain of its own.
When several open chains expect the same URL, the most recently active one gets it (the time
window). A chain closes when it is decided, when nothing joined it for `window_s` seconds of
capture time (ChainBuilder._tick: one flow with a skewed clock does not move it), or at the
end of the input; memory holds open chains, never the whole capture.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from audit.evidence.review import ENDPOINT_ANSWER_NOTE
from audit.judge.classify import points_back
from audit.judge.compare import Fingerprint
from audit.judge.interception import declared_endpoint_at, endpoint_at
from audit.judge.outcomes import OPEN
from audit.measure import chain as chains
from audit.measure import failures
from audit.measure.capture.formats import FlowRecord, plausible_time
from audit.model import Observation, Outcome, PageKind, Probe, SurfaceKind, followed
from audit.policy.catalog import Catalog
from audit.web.decode import content_type, html_type, sniffs_as_html
from audit.web.urls import (
    PROBE_TOKEN_PARAM,
    REDIRECT_STATUSES,
    find_wrapper,
    header_url,
    host_of,
    redirects,
    registrable_domain,
    resolve,
    unwrap,
    without_probe_token,
)

TOKEN_PARAM = PROBE_TOKEN_PARAM
# A probe token: 'hp' (the link) or 'hc' (its control) + 10 base32 characters. Lower case
# and alphanumeric so that no platform's re-encoding (percent, base64, lower-casing) breaks it.
TOKEN_RE = re.compile(r"(?<![a-z0-9])h([pc])([a-z2-7]{10})(?![a-z0-9])")

# ByteDance's in-app link verification SDK (com.bytedance.webx.seclink) asks these hosts
# about a URL before opening it (domain-facts §2.4). link.wtturl.cn is also the wrapper
# itself (`/?target=`); only its other paths are API calls.
SECLINK_HOSTS = frozenset({"seclink.bytedance.com", "api.xseclink.cn", "api.xseclink.com"})

DEFAULT_WINDOW_S = 30.0
MAX_OPEN_CHAINS = 2000  # beyond this the oldest open chain is closed (bounded memory)
# Pages that decide a chain whatever follows.
_DECIDING_PAGES = frozenset({PageKind.BLOCKED, PageKind.COPY_ONLY})
# How soon after a page the browser's next page view, without a Referer, is taken as where
# that page forwarded (_takes_more): a script's forward is made as the page loads, a reader
# opening the link by hand takes longer.
FORWARD_S = 5.0
# How long an interstitial kept as a lead waits for the click past it: a person reads a
# warning for longer than the window of quiet (a continue after 31 s read `direct`, a review).
LEAD_HORIZON_S = 600.0
# What of a page's body is searched for its target (an interstitial shows it near the top).
MAX_SHOWN_BYTES = 256 * 1024
# Leads (_Lead) kept at once, and the page bodies they hold: the oldest goes first.
MAX_LEADS = 256
MAX_LEAD_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class FlowMark:
    """What the analysis says about one flow (the addon shows it in mitmweb)."""

    kind: str  # wrapper | interstitial | block_page | link_check | arrival | hop | control | other
    probe_id: str | None = None
    outcome: str | None = None  # set on the flow that decided the chain
    note: str = ""


@dataclass
class FeedResult:
    mark: FlowMark
    observations: list[Observation] = field(default_factory=list)
    new_probes: list[Probe] = field(default_factory=list)


def is_link_check(url: str) -> bool:
    if "seclink" not in url and "wtturl" not in url and "zijieapi" not in url:
        return False  # cheap test first: this runs for every flow
    host = host_of(url) or ""
    if host in SECLINK_HOSTS:
        return True
    path = urlsplit(url).path
    if host == "rc.zijieapi.com":
        return path.startswith("/seclink")
    return host == "link.wtturl.cn" and path not in ("", "/")


def add_token(url: str, token: str) -> str:
    """The link with `hulian_probe=<token>` appended to its query (before any fragment)."""
    parts = urlsplit(url)
    query = f"{parts.query}&{TOKEN_PARAM}={token}" if parts.query else f"{TOKEN_PARAM}={token}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def strip_token(url: str) -> str:
    """The URL without a `hulian_probe` parameter (a discovered link's target)."""
    return without_probe_token(url)


def normalize(url: str) -> str:
    """A URL as a matching key: no probe token, no fragment, lower-case scheme and host,
    no default port."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    netloc = host if port in (None, {"http": 80, "https": 443}.get(scheme)) else f"{host}:{port}"
    query = parts.query
    if TOKEN_PARAM in query:
        query = urlencode([(k, v) for k, v in parse_qsl(query, keep_blank_values=True)
                           if k != TOKEN_PARAM])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def find_tokens(flow: FlowRecord) -> list[tuple[str, str]]:
    """(kind 'p'|'c', token) pairs in the URL (as sent, percent-decoded, base64 parameter
    values) and, for non-GET requests, in the body."""
    url = flow.url
    texts = [url.lower()]
    if "%" in url:
        once = unquote(url)
        texts += [once.lower(), unquote(once).lower()]
    if "?" in url:
        for _name, value in parse_qsl(urlsplit(url).query):
            if len(value) >= 16:
                decoded = _b64(value)
                if decoded:
                    texts.append(decoded.lower())
    if flow.request_body and flow.method not in ("GET", "HEAD"):
        body = flow.request_body.decode("utf-8", "replace")
        texts += [body.lower(), unquote(body).lower()]
    found: list[tuple[str, str]] = []
    for text in texts:
        if "h" not in text:
            continue
        for match in TOKEN_RE.finditer(text):
            pair = (match.group(1), match.group(2))
            if pair not in found:
                found.append(pair)
    return found


# A token in a page's body may follow a letter or digit: `%3Dhp…` percent-encoded, `\u003dhp…`
# JSON-escaped (a warning showing the link only so read as naming no probe, a review). What
# is found is looked up among the plan's tokens, 50 bits each: a stray match names nothing.
_TOKEN_PARAMETER = re.compile(TOKEN_PARAM + r"=h[pc][a-z2-7]{10}(?![a-z0-9])")


def _foreign_token(flow: FlowRecord) -> bool:
    """Whether a flow carries a probe token parameter (of no probe of this plan, where it is
    asked): a token-shaped word in the target's own path is none, nor is the parameter
    without a whole token (two reviews)."""
    return _TOKEN_PARAMETER.search(unquote(unquote(flow.url)).lower()) is not None


def _shows_target(lead: _Lead, probe: Probe) -> bool:
    """Whether a page shows the probe's target (its host and path, without the token), in
    its URL or its first MAX_SHOWN_BYTES: a platform that drops the token still names the
    link it holds. The host must start where a host can (`taobao.com` is not shown by
    `nottaobao.com`), and the path end where a path can."""
    parts = urlsplit(strip_token(probe.target_url))
    shown = unquote((parts.netloc.rpartition("@")[2] + parts.path.rstrip("/")).lower())
    if not shown:
        return False
    views = [view for view in _shown_views(lead) if shown in view]  # most pages: none
    if not views:
        return False
    pattern = re.compile(r"(?<![a-z0-9.\-])" + re.escape(shown) + r"(?![a-z0-9\-_.~%])")
    return any(pattern.search(view) for view in views)


def _shown_views(lead: _Lead) -> tuple[str, ...]:
    """A page's URL and text as _shows_target reads them, made once a lead: HTML character
    references, JSON's escaped slashes and percent-encoding undone (the repo's own WeChat
    fixtures write `&#x2f;`: a review), lower-cased. Made for every check, a 256 KiB page of
    entities cost 27 ms each, times every kept page and every page view (the next review)."""
    if lead.views is None:
        text = lead.flow.response_body[:MAX_SHOWN_BYTES].decode("utf-8", "replace")
        text = html.unescape(text).replace("\\/", "/").replace("\\u002f", "/").replace(
            "\\u002F", "/")
        lead.views = tuple(unquote(unquote(view)).lower() for view in (lead.flow.url, text))
    return lead.views


_BODY_TOKEN = re.compile(rb"h([pc])([a-z2-7]{10})(?![a-z0-9])")


def _body_tokens(body: bytes) -> list[tuple[str, str]]:
    """The probe tokens a page's body shows (TOKEN_RE's, in bytes, after any character)."""
    return [(m.group(1).decode(), m.group(2).decode())
            for m in _BODY_TOKEN.finditer(body.lower())]


def _b64(value: str) -> str | None:
    cleaned = value.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


# What a document request's Sec-Fetch-Mode says: a navigation (`nested-navigate`: iframes in
# older Chromium). Any other mode (cors, no-cors, same-origin, websocket) is a subresource.
_NAVIGATE_MODES = frozenset({"navigate", "nested-navigate"})
_DOCUMENT_DESTS = frozenset({"document", "iframe", "frame"})
# The types a browser's navigation request asks for first (HTML's and Fetch's Accept for a
# document: `text/html,application/xhtml+xml,...`); an XHR, fetch(), image or a non-browser
# client asks for `*/*` or its own type.
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _asks_for_page(accept: str) -> bool:
    """Whether an Accept header names an HTML type (a browser's navigation always does)."""
    for item in accept.split(","):
        kind, _, params = item.partition(";")
        if kind.strip().lower() in _PAGE_TYPES and not re.search(
                r"(?:^|;)\s*q\s*=\s*0(?:\.0*)?\s*(?:;|$)", params):
            return True
    return False


def is_document(flow: FlowRecord) -> bool:
    """A top-level (or frame) navigation, not an image, script, prefetch or XHR of a page.
    The request says it where it can: a prefetch's `Sec-Purpose`/`Purpose` (Chromium's
    speculative loads carry a navigation's Sec-Fetch headers), Sec-Fetch-Dest and
    Sec-Fetch-Mode (browsers since 2020), then `X-Requested-With: XMLHttpRequest`, an `Origin`
    on a GET (browsers send none on a navigation; a cross-origin XHR from an old WebView
    without Sec-Fetch does) and an Accept that names no HTML type (browsers ask for
    `text/html` first for every navigation; a lone `*/*` is a script's or a link-preview
    fetcher's). Only without any of these does the answer decide: a redirect or a failed
    request (a browser follows a redirect whatever its body's type), or a page a browser
    shows as HTML (audit.web.decode's one reading of Content-Type: `text/htmlx` or
    `text/x-html-fragment` is no HTML). A chain extended by a subresource read a prefetch,
    preflight or XHR to the target as the user arriving there (two adversarial reviews)."""
    headers = flow.request_headers
    if "prefetch" in (headers.get("sec-purpose", "") + headers.get("purpose", "")).lower():
        return False
    dest = headers.get("sec-fetch-dest")
    mode = headers.get("sec-fetch-mode")
    if dest is not None or mode is not None:
        return ((dest is None or dest.strip().lower() in _DOCUMENT_DESTS)
                and (mode is None or mode.strip().lower() in _NAVIGATE_MODES))
    if headers.get("x-requested-with", "").strip().lower() == "xmlhttprequest":
        return False  # Android WebViews send the app's package name here on navigations
    if flow.method == "GET" and headers.get("origin"):
        return False
    accept = headers.get("accept")
    if accept is not None and accept.strip():
        return _asks_for_page(accept)
    if flow.status is None or flow.status in REDIRECT_STATUSES:
        return True
    declared = html_type(flow.response_headers.get("content-type"))
    if declared is None:
        return sniffs_as_html(flow.response_body)
    essence = content_type(flow.response_headers.get("content-type")).essence
    return declared or essence in _PAGE_TYPES


def is_navigation(flow: FlowRecord) -> bool:
    """A page view: a GET that is a document (is_document). Only these extend a chain or
    count as arriving; a HEAD, an OPTIONS preflight or a POST carrying the probe token is
    not the user on a page."""
    return flow.method == "GET" and is_document(flow)


@dataclass
class _Lead:
    """A flow that joined no chain but may turn out to be a chain's first hop, once a page
    view shows which: a redirect with a probe token the app fetched itself (its own HTTP
    client resolving a wrapper before its WebView loads where it leads), or a page view on a
    platform's host that carries no token (a real WeChat interstitial's URL holds only
    `click`, `bankey` and `midpagecode`; the continue click after it carries the token and
    names it as Referer). Without them the chain began after the interstitial and read
    `direct` or `wrapped` for a warning (two adversarial reviews)."""

    flow: FlowRecord
    at: float
    probe_id: str | None = None  # a redirect's probe
    location: str | None = None  # a redirect's Location, normalised
    platform: str | None = None  # the company whose endpoint a page is on
    names: frozenset[str] = frozenset()  # the probes whose tokens a page's body shows
    views: tuple[str, ...] | None = None  # its URL and text as _shows_target reads them


@dataclass
class _Open:
    chain: chains.Chain
    last_url: str
    last_seen: float
    seq: int
    # The last flow's own time, where it had one (plausible_time): the forward test
    # (_takes_more) compares two flows' own times, never the capture clock's.
    last_time: float | None = None
    expect: dict[str, chains.Via] = field(default_factory=dict)
    stopped: bool = False
    # Decided as reached with no interception seen, and held open for the window: it may have
    # begun with a fetch before the tap (a link preview sent as a page view), whose tap then
    # shows the platform's interstitial (_restart).
    held: bool = False
    # The held chain a later page view began again (_restart): its reading stands unless
    # this one meets a page of the platform's that holds the reader back (_close).
    before: _Open | None = None


def _unhindered(chain: chains.Chain) -> bool:
    """A chain that met no page holding the reader back (a block, copy-only, warning, unread
    or unjudgeable page) and did not fail."""
    page = chain.page
    return chain.failure is None and (page is None or page.kind in (PageKind.CONTENT,
                                                                    PageKind.REDIRECT))


def _reached_unhindered(opened: _Open) -> bool:
    """A decided chain, _unhindered, that asked for the target's own URL: the kind a fetch
    before the tap makes. Not one that ended on a page of the platform (a diversion): held
    and begun again at a later visit through the wrapper, the diversion read `wrapped` (a
    review)."""
    return _unhindered(opened.chain) and opened.chain.came_through_target


def _takes_more(opened: _Open, flow: FlowRecord) -> bool:
    """Whether a stopped chain takes a later page view with the probe's token as its next
    hop, up to the crawler's MAX_HOPS: past a warning (its continue click, which the crawler
    takes too); past another page (one that forwards in a way hulian could not read: the
    capture shows where the browser went) only where the page led there: the view names the
    page's origin as its Referer (a browser sends the origin alone across sites), or, with
    no Referer (a `no-referrer` policy, a HAR without one), it came within FORWARD_S; and
    never past a page that points back at the target (a notice in words no marker knows:
    the link opened after it is one more action). The link opened by hand, seconds later and
    with no Referer, after a notice hulian could not read, read `wrapped` (two reviews);
    requiring the page's whole URL as Referer ended forwards on the platform's page
    (`diverted`, the review between them)."""
    chain = opened.chain
    if len(chain.own_hops) >= chains.MAX_HOPS:
        return False
    page = chain.page
    if page is not None and page.kind is PageKind.WARNED:
        return True
    if page is not None and points_back(page):
        return False
    referer = flow.request_headers.get("referer")
    if referer:
        return _origin(referer) == _origin(opened.last_url)
    # Both flows' own times, in order: a flow of no time (a HAR without `startedDateTime`)
    # or a clock behind (a second device's capture) made every later view a forward, and
    # a notice opened by hand read `wrapped` (a review).
    started = plausible_time(flow.started)
    return (started is not None and opened.last_time is not None
            and 0 <= started - opened.last_time <= FORWARD_S)


def _origin(url: str) -> tuple[str, str | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), host_of(url)


def _last_word_the_targets(opened: _Open) -> bool:
    """Whether a chain, with no page of the platform's holding the reader back, ended by
    being sent to the target's own URL (a redirect whose page view never came) or at it (its
    answer cut short, or seen). Not elsewhere on the target's site: the target's home page
    for its deep link, or a mangled copy of the link, is the platform's choice (a review:
    read from the preview, each was `direct`)."""
    chain = opened.chain
    if not _unhindered(chain) and not _cut_short_at(chain, chain.probe.target_url):
        return False
    target = normalize(chain.probe.target_url)
    hops = chain.own_hops
    return (bool(hops) and normalize(hops[-1].url) == target) or target in opened.expect


def _cut_short_at(chain: chains.Chain, target: str) -> bool:
    """A chain whose only trouble is its last hop, at the target's own URL, failing (a load
    the reader left before it came)."""
    hops = chain.own_hops
    return (chain.failure is not None and bool(hops) and hops[-1].status is None
            and normalize(hops[-1].url) == normalize(target)
            and (chain.page is None or chain.page.kind in (PageKind.CONTENT,
                                                           PageKind.REDIRECT)))


class ChainBuilder:
    """Feeds flows, in capture order, into one Chain per probe."""

    def __init__(self, catalog: Catalog, probes: Iterable[Probe] = (), *,
                 run_id: str | None = None, window_s: float = DEFAULT_WINDOW_S,
                 surface: SurfaceKind | None = None, planless: bool | None = None) -> None:
        if not math.isfinite(window_s) or window_s <= 0:
            # 0, a negative window or NaN judged every chain at once and dropped every lead
            raise ValueError(f"the window must be a positive number of seconds, not {window_s}")
        self.catalog = catalog
        self.run_id = run_id
        self.window_s = window_s
        self.surface = surface
        self.probes: dict[str, Probe] = {}
        self.by_token: dict[str, Probe] = {}
        self.by_key: dict[str, Probe] = {}  # planned link / target URL (normalised) -> probe
        for probe in probes:
            self._plan(probe)
        self.planless = (not self.probes) if planless is None else planless
        self.open: dict[str, _Open] = {}
        self.expecting: dict[str, set[str]] = {}  # normalised URL -> probe ids expecting it
        self.done: set[str] = set()
        self.discovered: dict[str, Probe] = {}  # unplanned links with an open chain
        self.planned_discovered = 0
        # Control fetches seen before their chain: status and page fingerprint.
        self.controls: dict[str, tuple[int | None, Fingerprint | None]] = {}
        self.link_checks: dict[str, list[str]] = {}  # notes for chains not begun yet
        self.endpoint_answered: set[str] = set()  # probes an endpoint answered (_endpoint_answer)
        # Hosts of every known wrapper: most flows are not at one, and find_wrapper walks
        # the whole catalog.
        hosts = {h for p in catalog.platforms.values() for w in p.wrappers
                 for h in w.match.hosts}
        self._wrapper_hosts = {h for h in hosts if not h.startswith(".")}
        self._wrapper_suffixes = tuple(h for h in hosts if h.startswith("."))
        self._platform_list = list(catalog.platforms.values())
        self._wrapper_cache: dict[tuple[str, str], bool] = {}
        self.kinds: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.flows = 0
        self.clock = 0.0  # capture time "now": see _tick
        self._last_time: float | None = None  # the last flow's own known time
        self.seq = 0
        self._pending_close: list[Observation] = []
        self._redirect_leads: deque[_Lead] = deque()  # in capture order
        self._page_leads: OrderedDict[str, _Lead] = OrderedDict()  # normalised URL -> lead
        self._page_lead_bytes = 0

    def _plan(self, probe: Probe) -> None:
        self.probes[probe.id] = probe
        if probe.token:
            self.by_token[probe.token.lower()] = probe
        for url in (probe.link_url, probe.target_url):
            if url:
                self.by_key.setdefault(normalize(url), probe)

    # -- feeding --------------------------------------------------------------------------

    def feed(self, flow: FlowRecord) -> FeedResult:
        self.flows += 1
        self.seq += 1
        at, now = self._tick(plausible_time(flow.started))
        closed = self._expire(now)
        result = self._feed(flow, at)
        result.observations[:0] = closed
        self.kinds[result.mark.kind] += 1
        return result

    def _tick(self, started: float | None) -> tuple[float, float]:
        """(the flow's time, capture time "now" for expiry). Now never goes back, and moves
        to the smaller of this flow's and the previous flow's time: one flow with a clock an
        hour ahead (or a stray timestamp) cannot move it, two in a row can (a real pause in
        the capture is confirmed by the next flow). Each flow's own time is what the flow
        stamps on its chain (not earlier than now), so the chain a flow after a pause
        starts is not expired when the next flow confirms the pause. Before, one flow an hour
        ahead expired every open chain, and their next hops were dropped (a review). A flow
        of unknown time is at now."""
        if started is None:
            return self.clock, self.clock
        previous = self._last_time if self._last_time is not None else started
        self._last_time = started
        self.clock = max(self.clock, min(started, previous))
        return max(self.clock, started), self.clock

    def _feed(self, flow: FlowRecord, now: float) -> FeedResult:
        if flow.method == "CONNECT" or not flow.url.lower().startswith(("http://", "https://")):
            return FeedResult(FlowMark("other"))
        tokens = find_tokens(flow) if self.by_token else []
        if is_link_check(flow.url):
            probe = self._token_probe(tokens, "p") or self._token_probe(tokens, "c")
            pid = probe.id if probe else None
            if probe is not None:
                note = f"link_check:{host_of(flow.url)}{urlsplit(flow.url).path} " \
                       f"status={flow.status}"
                checked = self.open.get(probe.id)
                if checked is not None:
                    checked.chain.evidence.append(note)
                else:
                    self.link_checks.setdefault(probe.id, []).append(note)
            return FeedResult(FlowMark("link_check", pid, note="link-check API call"))
        control = self._token_probe(tokens, "c")
        if control is not None and self._token_probe(tokens, "p") is None:
            return self._control(control, flow, now)
        probe = self._token_probe(tokens, "p")
        result = FeedResult(FlowMark("other"))
        key = normalize(flow.url)
        opened: _Open | None = None
        via: chains.Via = "http"
        if probe is not None:
            if probe.id in self.done:
                return FeedResult(FlowMark("hop", probe.id, note="repeat of a decided probe"))
            if not is_navigation(flow):
                # A HEAD, preflight, prefetch, XHR or image with the token is the page (or the
                # app) fetching the link, not the user on it: it neither starts, extends nor
                # decides the chain. This includes a chat client's link-preview fetch before
                # the tap: had it started the chain, its 200 from the target decided it as
                # reached, and the copy-only page the tap then showed was dropped as a repeat.
                # A redirect the app fetched is kept as a lead: a page view at its Location
                # starts the chain with it.
                if self._lead_redirect(probe, flow, now):
                    return FeedResult(FlowMark("hop", probe.id, note="redirect fetched by the "
                                               "app: a hop once a page view follows"))
                if self._endpoint_answer(probe, flow):
                    return FeedResult(FlowMark("interstitial", probe.id,
                                               note="the interception endpoint's answer to "
                                               "the app: the link is not read as open"))
                return FeedResult(FlowMark("other", probe.id,
                                           note="not a page view: does not decide the probe"))
            opened = self.open.get(probe.id)
            if opened is None:
                opened, via = self._begin(probe, flow, key, now)
            elif opened.held and endpoint_at(flow.url, self.catalog) is not None:
                opened, via = self._restart(opened, flow, key, now)
            else:
                via = opened.expect.get(key, "http")
        else:
            opened, via = self._expected(key, flow)
            if opened is None:
                led = self._led_to(key, flow, now)
                if led is not None:
                    opened, via = self._begin(led, flow, key, now)
            if opened is None and not _foreign_token(flow):
                # A flow with a token of no probe of this plan (another run's click on the
                # same link) is not this plan's probe: taken for it, it decided the probe at
                # once and the run's own warning was dropped as a repeat (a review).
                planned = self.by_key.get(key)
                if planned is not None and planned.id not in self.done and (
                        planned.id not in self.open) and is_navigation(flow):
                    opened, via = self._begin(planned, flow, key, now)
            if opened is None and self.planless:
                synthetic = self._discover(flow)
                if synthetic is not None:
                    if synthetic.id in self.done or synthetic.id in self.open:
                        return FeedResult(FlowMark("other", synthetic.id,
                                                   note="repeat of a seen link"))
                    self.discovered[synthetic.id] = synthetic
                    self.planned_discovered += 1
                    result.new_probes.append(synthetic)
                    opened, via = self._start(synthetic, now), "start"
        if opened is None:
            self._lead_page(key, flow, now)
            return result
        page = opened.chain.page
        if opened.stopped and page is not None and page.kind in _DECIDING_PAGES:
            # Its interstitial (a lead) decided the chain: the user got past a block or a
            # copy-only page some other way, and this page view does not undo it.
            observation = self._close(opened)
            return FeedResult(FlowMark("hop", opened.chain.probe.id, observation.outcome.value,
                                       "after the page that decided it"), [observation])
        if opened.stopped and not _takes_more(opened, flow):
            # Past a notice pointing back at the target, a later page view with the link's
            # token is the user opening it another way, not the platform's next hop: taken
            # as one, a notice hulian sends to review read `wrapped` once the link was opened
            # by hand; and a capture of thousands of such views grew one chain without bound,
            # each rescanned at every flow (review 122: 4,000 flows took 9 minutes).
            return FeedResult(FlowMark("hop", opened.chain.probe.id,
                                       note="after the page its chain stopped on: not a hop"))
        result.mark = self._step(opened, flow, via, now)
        if opened.stopped and self._decided(opened):
            if _reached_unhindered(opened):
                opened.held = True  # closed when the window passes (_expire) or at the end
                return result
            result.observations.append(self._close(opened))
            result.mark = FlowMark(result.mark.kind, result.mark.probe_id,
                                   result.observations[-1].outcome.value, result.mark.note)
        return result

    def _endpoint_answer(self, probe: Probe, flow: FlowRecord) -> bool:
        """A platform's declared interception endpoint answering the app (an XHR, its own
        HTTP client) about this link with something to show (a 2xx but 204/205; the body of
        an answer that is no page is not kept, formats.keep_response_body): the app may draw
        the notice itself (a JSON verdict) and the user copy the link into a browser. A
        chain of the probe is then not read as open (_close). Before a review, that answer
        was no page view and the link opened by hand read `direct`."""
        status = flow.status or 0
        if (not (200 <= status < 300) or status in chains.NO_CONTENT_STATUSES
                or declared_endpoint_at(flow.url, self.catalog) is None):
            return False
        note = f"{ENDPOINT_ANSWER_NOTE}{host_of(flow.url)}{urlsplit(flow.url).path} " \
               f"status={status}"
        self.endpoint_answered.add(probe.id)
        opened = self.open.get(probe.id)
        if opened is not None:
            opened.chain.evidence.append(note)
        else:
            self.link_checks.setdefault(probe.id, []).append(note)
        return True

    def _restart(self, opened: _Open, flow: FlowRecord, key: str,
                 now: float) -> tuple[_Open, chains.Via]:
        """A chain that reached the target with no interception seen (held), then a page
        view of the link at the platform's interception endpoint or wrapper: the first
        fetch came before the tap (a chat client's link preview sent with a browser's
        Accept, a review), and the tap met the platform's page. The chain begins again at
        that page view; the earlier fetch stays in its evidence."""
        probe = opened.chain.probe
        earlier = [e for e in opened.chain.evidence if e.startswith("capture:")]
        self.open.pop(probe.id, None)
        self._unexpect(opened)
        restarted, via = self._begin(probe, flow, key, now)
        restarted.chain.evidence.insert(0, "before_the_tap:" + " ".join(earlier))
        restarted.before = opened
        return restarted, via

    def _token_probe(self, tokens: list[tuple[str, str]], kind: str) -> Probe | None:
        for found_kind, token in tokens:
            if found_kind == kind:
                probe = self.by_token.get("hp" + token)
                if probe is not None:
                    return probe
        return None

    def _expected(self, key: str, flow: FlowRecord) -> tuple[_Open | None, chains.Via]:
        if not is_navigation(flow):
            return None, "http"  # a chain's next page is a page view, not a fetch of its URL
        waiting = [self.open[p] for p in self.expecting.get(key, ()) if p in self.open]
        if waiting:
            best = max(waiting, key=lambda o: o.seq)
            return best, best.expect.get(key, "http")
        referer = flow.request_headers.get("referer")
        if referer:
            ref = normalize(referer)
            candidates = [o for o in self.open.values()
                          if o.expect and normalize(o.last_url) == ref]
            if candidates:
                best = max(candidates, key=lambda o: o.seq)
                continuing = best.chain.page is not None and (
                    best.chain.page.kind is PageKind.WARNED)
                return best, "continue" if continuing else next(iter(best.expect.values()))
        return None, "http"

    def _discover(self, flow: FlowRecord) -> Probe | None:
        """Without a plan: a chain starts at a known wrapper, or at a navigation from a known
        platform's page to another site (an outbound click)."""
        if not is_navigation(flow) and not (flow.method == "GET" and self._at_wrapper(flow.url)):
            return None
        platforms = self._platform_list
        unwrapped = unwrap(flow.url, platforms)
        source = unwrapped.platform
        target = strip_token(unwrapped.target or flow.url)
        if source is None:
            referer = flow.request_headers.get("referer")
            source = self.catalog.platform_for_url(referer) if referer else None
            if source is None or self.catalog.platform_for_url(flow.url) is source:
                return None
            if registrable_domain(referer or "") == registrable_domain(flow.url):
                return None
        surface = self.surface or (source.surfaces[0].kind if source.surfaces
                                   else SurfaceKind.POST)
        target_platform = self.catalog.platform_for_url(target)
        return Probe(id=chains.probe_id(source.id, surface.value, target), source=source.id,
                     surface=surface, target_url=target,
                     target_platform=target_platform.id if target_platform else None,
                     link_url=flow.url, seed_url=flow.request_headers.get("referer"))

    def _at_wrapper(self, url: str) -> bool:
        host = host_of(url)
        if host is None or not (host in self._wrapper_hosts
                                or host.endswith(self._wrapper_suffixes)):
            return False
        key = (host, urlsplit(url).path)  # wrappers match on host and path only
        known = self._wrapper_cache.get(key)
        if known is None:
            known = find_wrapper(url, self._platform_list) is not None
            if len(self._wrapper_cache) < 10_000:
                self._wrapper_cache[key] = known
        return known

    # -- leads ----------------------------------------------------------------------------

    def _lead_redirect(self, probe: Probe, flow: FlowRecord, now: float) -> bool:
        """Keep a redirect with `probe`'s token that is no page view (its body left out:
        a lead holds none but a page's)."""
        location = flow.response_headers.get("location")
        if (flow.method != "GET" or location is None or not redirects(flow.status, location)
                or probe.id in self.open):
            return False
        target = resolve(flow.url, header_url(location))
        if target is None:
            return False
        self._redirect_leads.append(_Lead(replace(flow, response_body=b""), now,
                                          probe_id=probe.id, location=normalize(target)))
        while len(self._redirect_leads) > MAX_LEADS:
            self._redirect_leads.popleft()
        return True

    def _lead_page(self, key: str, flow: FlowRecord, now: float) -> None:
        """Keep a page view on a declared interception endpoint (its platform's policy's
        `endpoints`, or a wrapper's URL) that joined no chain, with the probes whose tokens
        its body shows (an interstitial shows the link it holds back). A page elsewhere on a
        platform is no lead: the page the link was posted on shows it too, and one read
        `warned` from its words (`外部链接` beside the link) accused its platform of a click
        that went straight through (two reviews)."""
        if not self.by_token or not is_navigation(flow) or find_tokens(flow):
            return
        at_endpoint = endpoint_at(flow.url, self.catalog)
        if at_endpoint is None:
            return
        platform = at_endpoint[0]
        named = frozenset(probe.id for kind, token in _body_tokens(flow.response_body)
                          if kind == "p" and (probe := self.by_token.get("hp" + token)))
        old = self._page_leads.pop(key, None)
        if old is not None:
            self._page_lead_bytes -= len(old.flow.response_body)
        self._page_leads[key] = _Lead(flow, now, platform=platform.company, names=named)
        self._page_lead_bytes += len(flow.response_body)
        while self._page_leads and (len(self._page_leads) > MAX_LEADS
                                    or self._page_lead_bytes > MAX_LEAD_BYTES):
            _, dropped = self._page_leads.popitem(last=False)
            self._page_lead_bytes -= len(dropped.flow.response_body)

    def _fresh(self, lead: _Lead, now: float, horizon: float | None = None) -> bool:
        """Whether a lead is within the window (or `horizon`) of `now` (a time of 0 is
        unknown: fresh)."""
        limit = self.window_s if horizon is None else max(horizon, self.window_s)
        return not lead.at or not now or now - lead.at <= limit

    def _led_to(self, key: str, flow: FlowRecord, now: float) -> Probe | None:
        """The probe a page view without a token belongs to: the one whose app-fetched
        redirect leads here. Where several probes' redirects lead to this page (link previews
        of a chat, resolved by the app), which the user opened is not known: none, and the
        page waits as a lead for the click that names it."""
        if not is_navigation(flow):
            return None
        probes = {lead.probe_id for lead in self._redirect_leads
                  if lead.location == key and self._fresh(lead, now)}
        if len(probes) != 1:
            return None
        probe = self.probes.get(probes.pop() or "")
        if probe is None or probe.id in self.done or probe.id in self.open:
            return None
        return probe

    def _begin(self, probe: Probe, flow: FlowRecord, key: str,
               now: float) -> tuple[_Open, chains.Via]:
        """A new chain for `probe` at the page view `flow`, beginning with its leads in
        capture order: the probe's app-fetched redirects, and its interstitial (_page_lead_for).
        A page lead counts only as an interstitial (a platform's ordinary post before a click
        made `direct` read `wrapped`), and leads never fail a chain (another client's
        cookie-less redirect loop read `error` for the user's page view): else the chain
        begins again with fewer leads (two reviews). An interstitial may decide the chain
        (a block or copy-only page the user then got past some other way)."""
        redirects = [lead for lead in self._redirect_leads if lead.probe_id == probe.id]
        for lead in redirects:
            self._redirect_leads.remove(lead)
        redirects = [lead for lead in redirects if self._fresh(lead, now)]
        page = self._page_lead_for(probe, flow, now)
        checks = self.link_checks.get(probe.id)
        tries = [[*redirects, page]] if page is not None else []
        for leads in [*tries, redirects, []]:
            leads = sorted(leads, key=lambda lead: lead.at)
            opened = self._start(probe, leads[0].at if leads and leads[0].at else now)
            via = self._replay(opened, leads, key)
            if not leads or self._leads_held(opened, page if page in leads else None):
                return opened, via
            del self.open[probe.id]
            self._unexpect(opened)
            if checks:
                self.link_checks[probe.id] = checks
        raise AssertionError("a chain without leads is always held")  # pragma: no cover

    def _page_lead_for(self, probe: Probe, flow: FlowRecord, now: float) -> _Lead | None:
        """The interstitial a page view of `probe` came from, of the endpoint pages kept of
        the probe's company (its apps share endpoints: Toutiao's links go through Douyin's
        link.wtturl.cn): the one its Referer names by its whole URL; else the latest whose
        body shows the probe's token (no Referer needed: WeChat's continue goes from https to
        http and sends none, and a copy-only page's link is opened by hand); else, where the
        Referer names only an origin (Chromium's default across origins), the one page of
        that origin that names no other probe."""
        company = self.catalog.company_of(probe.source)
        candidates = [(key, lead) for key, lead in self._page_leads.items()
                      if lead.platform == company and self._fresh(lead, now, LEAD_HORIZON_S)]
        referer = flow.request_headers.get("referer")
        wanted = normalize(referer) if referer else None
        found = wanted if any(key == wanted for key, _ in candidates) else None
        if found is None:
            found = next((key for key, lead in reversed(candidates) if probe.id in lead.names),
                         None)
        if found is None and wanted is not None and urlsplit(wanted).path in ("", "/"):
            origin = wanted.rstrip("/") + "/"
            same = [key for key, lead in candidates
                    if key.startswith(origin) and lead.names <= {probe.id}
                    and _shows_target(lead, probe)]
            found = same[-1] if same else None
        if found is None:
            return None
        lead = self._page_leads.pop(found)
        self._page_lead_bytes -= len(lead.flow.response_body)
        return lead

    def _leads_held(self, opened: _Open, page_lead: _Lead | None) -> bool:
        """Whether a chain's leads may stand: none failed it, and a page lead was an
        interstitial (an endpoint's page may decide the chain: a block or copy-only page
        stays the answer)."""
        if opened.chain.failure is not None:
            return False
        if page_lead is None:
            return True
        page = opened.chain.page
        return page is not None and page.kind is not PageKind.CONTENT

    def _replay(self, opened: _Open, leads: list[_Lead], key: str) -> chains.Via:
        """Step a new chain through its leads; the `via` of the page view that follows."""
        if not leads:
            return "start"
        for index, lead in enumerate(leads):
            lead_key = normalize(lead.flow.url)
            self._step(opened, lead.flow, "start" if index == 0 else opened.expect.get(
                lead_key, "http"), lead.at)
            if opened.stopped:
                return "http"
        page = opened.chain.page
        if page is not None and page.kind is PageKind.WARNED:
            return "continue"
        return opened.expect.get(key, "http")

    def _start(self, probe: Probe, now: float) -> _Open:
        started = datetime.fromtimestamp(now, UTC) if now else None
        chain = chains.Chain(probe=probe, started_at=started, fragments_seen=False)
        opened = _Open(chain, last_url="", last_seen=now, seq=self.seq)
        opened.chain.evidence.extend(self.link_checks.pop(probe.id, []))
        self.open[probe.id] = opened
        if len(self.open) > MAX_OPEN_CHAINS:
            # Held chains first: their reading is settled (a capture of thousands of open
            # links evicted a chain still waiting for its next hop: a review).
            oldest = min(self.open.values(), key=lambda o: (not o.held, o.seq))
            self._pending_close.append(self._close(oldest))
        return opened

    def _step(self, opened: _Open, flow: FlowRecord, via: chains.Via, now: float) -> FlowMark:
        chain = opened.chain
        probe = chain.probe
        self._unexpect(opened)
        opened.last_url = flow.url
        opened.last_seen = now
        opened.last_time = plausible_time(flow.started)
        opened.seq = self.seq
        before = chain.page
        if flow.internal_redirect:
            return self._internal_redirect(opened, flow, via)
        if flow.status is None or not failures.valid_status(flow.status):
            chains.on_failure(chain, flow.url, failures.for_capture(flow.error)
                              if flow.status is None else failures.BAD_RESPONSE, via)
            chain.evidence.append(flow.ref)
            opened.stopped = True
            return FlowMark("hop", probe.id, note=f"failed: {chain.failure}")
        step = chains.on_response(chain, chains.Response(
            url=flow.url, status=flow.status, headers=flow.response_headers,
            body=flow.response_body, elapsed_ms=flow.elapsed_ms,
            body_unknown=flow.body_unknown), via, self.catalog)
        chain.evidence.append(flow.ref)
        if step.action == "follow" and step.url:
            key = normalize(step.url)
            opened.expect = {key: step.via}
            self.expecting.setdefault(key, set()).add(probe.id)
        else:
            if step.action == "fail":
                chain.failure = step.failure
            opened.stopped = True
        return FlowMark(self._kind(chain, before, flow), probe.id)

    def _internal_redirect(self, opened: _Open, flow: FlowRecord, via: chains.Via) -> FlowMark:
        """A browser's own redirect (FlowRecord.internal_redirect) is no hop: the server of
        that URL did not answer, so it must not count as the target reached. The chain
        waits for where the browser went, with the `via` this flow came by."""
        opened.chain.evidence.append(f"{flow.ref} browser-internal redirect")
        location = flow.response_headers.get("location")
        target = resolve(flow.url, header_url(location)) if location else None
        if target is not None:
            key = normalize(target)
            opened.expect = {key: via}
            self.expecting.setdefault(key, set()).add(opened.chain.probe.id)
        return FlowMark("hop", opened.chain.probe.id,
                        note="browser-internal redirect (not the server's answer)")

    def _kind(self, chain: chains.Chain, before: object, flow: FlowRecord) -> str:
        page = chain.page
        if page is not None and page is not before and page.kind is not PageKind.CONTENT:
            return "block_page" if page.kind is PageKind.BLOCKED else "interstitial"
        if self._at_wrapper(flow.url):
            return "wrapper"
        status = flow.status or 0
        if 200 <= status < 300 and host_of(flow.url) == host_of(chain.probe.target_url):
            return "arrival"
        return "hop"

    def _control(self, probe: Probe, flow: FlowRecord, now: float) -> FeedResult:
        # A status outside 100-599 is no answer, as the crawler's control fetch reads it.
        answered = flow.status if flow.status is not None and failures.valid_status(
            flow.status) else None
        page: Fingerprint | None = None
        if answered is not None and 200 <= answered < 300 and not flow.body_unknown:
            page = chains.analyze(chains.Response(
                url=flow.url, status=answered, headers=flow.response_headers,
                body=flow.response_body), self.catalog, probe.target_url,
                control=True).fingerprint
        opened = self.open.get(probe.id)
        if opened is None:
            self.controls[probe.id] = (answered, page)
            return FeedResult(FlowMark("control", probe.id, note="control fetch (early)"))
        chains.on_control(opened.chain, answered, page=page)
        opened.chain.evidence.append(flow.ref)
        opened.last_seen = now
        result = FeedResult(FlowMark("control", probe.id, note="control fetch"))
        if opened.stopped:
            result.observations.append(self._close(opened))
        return result

    # -- closing --------------------------------------------------------------------------

    def _unexpect(self, opened: _Open) -> None:
        for url in opened.expect:
            waiting = self.expecting.get(url)
            if waiting is not None:
                waiting.discard(opened.chain.probe.id)
                if not waiting:
                    del self.expecting[url]
        opened.expect = {}

    def _decided(self, opened: _Open) -> bool:
        chain = opened.chain
        if chain.page is not None and chain.page.kind in _DECIDING_PAGES:
            return True
        return chain.control_done or not chains.needs_control(chain) or (
            opened.chain.probe.id in self.controls)

    def _close(self, opened: _Open) -> Observation:
        probe = opened.chain.probe
        self.open.pop(probe.id, None)
        before = opened.before if _last_word_the_targets(opened) else None
        self._unexpect(opened)
        if before is not None:
            # Begun again at the platform's wrapper or endpoint, the link was sent on to the
            # target with no page holding the reader back, and the target's answer was not
            # seen or was cut short (a second tap whose target came from the cache, or was
            # left before it loaded): the first chain, which reached the target, stands.
            # Read from the second, a tap twice read `diverted` or `target_down` (a review);
            # a tap the platform diverted or failed stands (the review after).
            opened = before
        chain = opened.chain
        self.done.add(probe.id)
        if probe.id in self.discovered:
            # A discovered link is forgotten once judged (only its id stays, in `done`), so
            # memory does not grow with the number of links in a capture.
            del self.discovered[probe.id]
        if not chain.control_done and chains.needs_control(chain):
            if probe.id in self.controls:
                status, page = self.controls.pop(probe.id)
                chains.on_control(chain, status, page=page)
            else:
                self._implicit_control(chain)
        finished = datetime.fromtimestamp(opened.last_seen, UTC) if opened.last_seen else None
        observation = chains.observation(chain, run_id=self.run_id, method="capture",
                                         finished_at=finished)
        if probe.id in self.endpoint_answered and observation.outcome in OPEN:
            # The platform's endpoint answered the app about this link (_endpoint_answer):
            # what the user then opened says nothing of what the app showed them.
            observation = observation.model_copy(update={"outcome": Outcome.UNRECOGNIZED,
                                                         "reason": None})
        self.outcomes[observation.outcome.value] += 1
        return observation

    @staticmethod
    def _implicit_control(chain: chains.Chain) -> None:
        """No control fetch was captured: when the chain's own last hop went to the target's
        host, that answer is the target's (a dead target is `target_down`, not a block)."""
        hops = chain.own_hops
        if hops and host_of(hops[-1].url) == host_of(chain.probe.target_url):
            chain.control_ok = chains.target_answered(hops[-1].status)

    def _expire(self, now: float) -> list[Observation]:
        out, self._pending_close = list(self._pending_close), []
        if now and self.open:
            for opened in [o for o in self.open.values()
                           if o.last_seen and now - o.last_seen > self.window_s]:
                out.append(self._close(opened))
        return out

    def close(self) -> list[Observation]:
        """The end of the input: every open chain is decided with what it has; planned
        links shown as text (not clickable) are `stripped` without any flow."""
        out = list(self._pending_close)
        self._pending_close = []
        for opened in sorted(self.open.values(), key=lambda o: o.seq):
            out.append(self._close(opened))
        for probe in self.probes.values():
            if probe.id not in self.done and not followed(probe.rendered_as):
                self.done.add(probe.id)
                chain = chains.Chain(probe=probe, fragments_seen=False)
                observation = chains.observation(chain, run_id=self.run_id, method="capture")
                self.outcomes[observation.outcome.value] += 1
                out.append(observation)
        return out

    def not_observed(self) -> list[Probe]:
        return [p for p in self.probes.values() if p.id not in self.done]
