"""Classification, as pure functions of parsed facts and the catalog (no I/O):
what kind of page this is, which outbound links it carries, and which outcome an
observation's hops and final page amount to.
"""

from __future__ import annotations

import html
import re
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from audit.judge import jstree
from audit.judge.compare import looks_alike
from audit.judge.forwards import (
    PARSE_SECONDS,
    PARSE_SECONDS_PER_MB,
    Forward,
    OwnScript,
    page_forward,
    script_leads,
    script_targets,
    tap_intercepted,
)
from audit.judge.interception import (
    endpoint_at,
    has_word,
    label_role,
    may_lead_out,
    off_platform,
    read_structure,
    tap_destinations,
)
from audit.model import (
    BlockReason,
    ControlComparison,
    Endpoint,
    GenericMarkers,
    Hop,
    MarkerSet,
    Outcome,
    PageFacts,
    PageKind,
    PageSignature,
    Platform,
    RenderedAs,
    TargetSource,
    followed,
)
from audit.policy.catalog import Catalog
from audit.web import stylesheet
from audit.web.page import Anchor, Page, find_text_urls, text_of
from audit.web.urls import (
    Unwrapped,
    as_requested,
    host_matches,
    host_of,
    looks_like_url,
    registrable_domain,
    resolve,
    unwrap,
    url_matches,
)

EXCERPT_CHARS = 280
REVIEW_EXCERPT_CHARS = 800  # unrecognized pages: what a reviewer reads first

# ---------------------------------------------------------------------------------------
# Platforms
# ---------------------------------------------------------------------------------------


def platform_for_url(url: str | None, catalog: Catalog) -> Platform | None:
    """The platform owning a URL's host (see Catalog.platform_for_url)."""
    host = host_of(url) if url else None
    if host is None or url is None:
        return None
    return _platform_for_host(host, url, catalog)


# Answers that depend only on the catalog and a URL or host, asked thousands of times in a
# crawl (the same hosts, the same navigation links on every page): cached per catalog
# object and purpose, and per its platform dict, so a catalog whose platforms are replaced
# or added to is answered afresh. Each cache is emptied when it reaches CACHE_ENTRIES.
CACHE_ENTRIES = 65536
_CACHES: dict[tuple[int, str], tuple[weakref.ref[Catalog], int, int, dict[Any, Any]]] = {}


def _catalog_cache(catalog: Catalog, purpose: str) -> dict[Any, Any]:
    key = (id(catalog), purpose)
    entry = _CACHES.get(key)
    platforms = catalog.platforms
    if (entry is None or entry[0]() is not catalog or entry[1] != id(platforms)
            or entry[2] != len(platforms)):
        if len(_CACHES) > 64:
            _CACHES.clear()
        entry = (weakref.ref(catalog), id(platforms), len(platforms), {})
        _CACHES[key] = entry
    cache = entry[3]
    if len(cache) > CACHE_ENTRIES:
        cache.clear()
    return cache


def own_scripts(catalog: Catalog, platform: Platform | None) -> OwnScript | None:
    """Which scripts' URLs are `platform`'s own: on a declared domain of any platform of its
    company (forwards.page_forward)."""
    if platform is None:
        return None
    cache = _catalog_cache(catalog, "company domains")
    domains = cache.get(platform.company)
    if domains is None:
        domains = cache[platform.company] = [
            domain for other in catalog.platforms.values() if other.company == platform.company
            for domain in other.domains]

    def own(url: str) -> bool:
        host = host_of(url)
        return host is not None and host_matches(host, domains)

    return own


def _platform_for_host(host: str, url: str, catalog: Catalog) -> Platform | None:
    """Catalog.platform_for_url(url), where `host` is host_of(url): it depends on nothing else."""
    cache = _catalog_cache(catalog, "host")
    if host not in cache:
        cache[host] = catalog.platform_for_url(url)
    platform: Platform | None = cache[host]
    return platform


# ---------------------------------------------------------------------------------------
# Page kind
# ---------------------------------------------------------------------------------------


def _script_value(page: Page, name: str) -> str | None:
    """The first string the page's scripts give `name`, read from the syntax tree (a regex
    read it in comments and other strings too, with an unescaping of its own: review 169),
    its JavaScript escapes read by jstree and its HTML entities too (pages write both). The
    page's named strings are read once, within one deadline for all its scripts (review 174:
    read for each name asked, each script with a deadline of its own, a page of scripts that
    tree-sitter cannot finish held the reading 2.5 s a script)."""
    if page.named_strings is None:
        page.named_strings = _named_strings(page.scripts)
    return page.named_strings.get(name)


def _named_strings(scripts: Iterable[str]) -> dict[str, str]:
    texts = [script for script in scripts if "=" in script or ":" in script]
    size = sum(len(text) for text in texts)
    deadline = time.monotonic() + PARSE_SECONDS + PARSE_SECONDS_PER_MB * size / 1e6
    named: dict[str, str] = {}
    for script in texts:
        source = script.encode("utf-8", "replace")
        tree = jstree.parse(source, deadline)
        if tree is None:
            break  # past the deadline: nothing more is read
        for written, value in jstree.named_strings(tree.root_node, source):
            if written not in named:
                named[written] = html.unescape(value).strip()
    return named


def _read_source(page: Page, source: TargetSource) -> str | None:
    value: str | None = None
    if source.kind in ("selector", "attr") and source.selector:
        for el in page.select(source.selector):
            raw = el.get(source.attribute) if source.attribute else text_of(el)
            if raw and raw.strip():
                value = html.unescape(raw.strip())
                break
    elif source.kind == "query" and source.param and page.url:
        values = parse_qs(urlsplit(page.url).query).get(source.param, [])
        value = values[0] if values else None
    elif source.kind == "script_var" and source.name:
        value = _script_value(page, source.name)
    elif source.kind == "meta_refresh":
        value = page.meta_refresh
    return value.strip() if value else None


def _read_url(page: Page, sources: list[TargetSource]) -> str | None:
    """The first source that yields a URL. A value counts only when it is one: absolute,
    relative to the page (starting with '/', '?' or '.'), or a URL inside a longer text
    (pages shorten or decorate what they show; scheme-less hosts such as www.x.com count)."""
    for source in sources:
        value = _read_source(page, source)
        if not value:
            continue
        absolute: str | None = None
        if looks_like_url(value) or value.startswith(("/", "?", "./", "../")):
            absolute = resolve(page.url, value)
        if absolute is None:
            found = find_text_urls(value)
            absolute = found[0] if found else None
        if absolute:
            return absolute
    return None


def stated_reason(text: str, markers: GenericMarkers) -> BlockReason | None:
    for entry in markers.reasons:
        if any(re.search(p, text) for p in entry.patterns):
            return entry.reason
    return None


def _host_hit(host: str, hosts: list[str]) -> bool:
    """The host part of urls.url_matches: a URL whose host misses cannot match."""
    return any((host == h.lstrip(".") or host.endswith(h)) if h.startswith(".") else host == h
               for h in hosts)


class _PageView:
    """What every signature asks of one page, computed once per page rather than once per
    signature: the page's host, and the text the markers are searched in."""

    def __init__(self, page: Page):
        self.page = page
        self.host = host_of(page.url) if page.url else None
        self._haystack: str | None = None

    @property
    def haystack(self) -> str:
        if self._haystack is None:
            page = self.page
            self._haystack = "\n".join([page.title, page.text, *page.scripts])
        return self._haystack


def _markers_score(haystack: str, markers: MarkerSet) -> int | None:
    """None if the set does not match; otherwise the length of the marker text that did."""
    if markers.all and not all(m in haystack for m in markers.all):
        return None
    hits = [m for m in markers.any if m in haystack]
    if markers.any and not hits:
        return None
    if any(m in haystack for m in markers.none):
        return None
    return sum(len(m) for m in (*markers.all, *hits))


def _signature_score(page: Page, platform: Platform, signature: PageSignature, short: bool,
                     view: _PageView | None = None) -> int | None:
    """None if the signature does not match; otherwise how specific the match is (the
    length of the marker text that matched, in whichever language matched best), so that
    among text-only matches the most specific signature wins."""
    view = view or _PageView(page)
    url_known = view.host is not None
    anchored = False
    match = platform.signature_match(signature)
    if match is not None and url_known:
        if not _host_hit(view.host or "", match.hosts) or not url_matches(page.url or "", match):
            return None
        anchored = True
    elif signature.url_only or not short:
        # Without a URL to anchor on, a phrase only counts on an interstitial-sized page.
        return None
    sets = signature.marker_sets
    score = 0
    if sets:
        haystack = view.haystack
        scores = [s for s in (_markers_score(haystack, m) for m in sets) if s is not None]
        if not scores:
            return None
        score = max(scores)
    selected = [s for s in signature.selectors_any if page.select(s)]
    if signature.selectors_any and not selected:
        return None
    score += 5 * len(selected)
    return score + (10_000 if anchored else 0)


def _target_from_own_url(page: Page) -> str | None:
    """Interstitials usually carry the target in their own query string (target=, url= ...)."""
    if not page.url:
        return None
    for values in parse_qs(urlsplit(page.url).query).values():
        for value in values:
            if looks_like_url(value):
                return value
    return None


_HEADINGS = "h1, h2, h3, .title, .weui-msg__title"


def headline(page: Page) -> str | None:
    """The page's visible heading: its first heading element with text, else its first line
    of text, else its title."""
    for element in page.select(_HEADINGS):
        text = " ".join(text_of(element).split())
        if text:
            return text[:200]
    first = page.text.split("\n", 1)[0].strip() or page.title
    return first[:200] if first else None


def stated_sentence(page: Page, head: str | None, selector: str | None = None) -> str | None:
    """The sentence in which a block page states its reason, verbatim: the reason element's
    text where the signature names one, else the longest line of the page's text that is
    neither its headline, its title nor a control's label."""
    if selector:
        text = " ".join(" ".join(text_of(e).split()) for e in page.select(selector)).strip()
        if text:
            return text[:500]
    labels = {a.text for a in page.anchors} | {head or "", page.title}
    lines = [line for line in page.text.split("\n") if line not in labels and len(line) >= 6
             and not _mostly_url(line)]
    return max(lines, key=len)[:500] if lines else None


def _mostly_url(line: str) -> bool:
    """A line that is a URL (the target an interstitial shows), not a sentence."""
    return sum(len(u) for u in find_text_urls(line)) * 2 > len(line)


def _continue_link(page: Page, markers: GenericMarkers, platform: Platform | None,
                   target: str | None) -> tuple[str | None, bool]:
    """A control labelled like 继续访问 / 繼續訪問 / Continue that may lead on: the URL of the
    first such link, and whether any such control is present (true for javascript: buttons
    too, whose URL cannot be read). A link back into the page's site or platform is no way
    on, whatever its label: "继续浏览其他内容" to the platform's home under "已停止访问该网页"
    made a block page a warning (a review)."""
    present = False
    for anchor, url in tap_destinations(page):
        if label_role(anchor.text, markers) == "continue":
            # A link a tap may not follow (a handler, greyed out until a countdown ends, or
            # hidden until a script shows it) leads where the script takes the reader, as a
            # javascript: button's does (interception.tap_destinations).
            if url is None:
                present = True
            elif leads_on(url, page, platform, target):
                return url, True
    for el in page.select("button, [role=button]"):
        if label_role(text_of(el), markers) == "continue":
            present = True
    return None, present


def leads_on(url: str, page: Page, platform: Platform | None, target: str | None) -> bool:
    """Whether a control's link may lead past the page: off its site and platform, through
    the platform's wrapper to a target off it, or to a page of the platform that carries the
    target's address (interception.may_lead_out)."""
    if not _stays(url, page, platform):
        return True
    return platform is not None and may_lead_out(
        url, page.url, platform, target or _target_from_own_url(page))


def _signatures_for_host(catalog: Catalog, host: str | None
                         ) -> tuple[tuple[int, Platform, PageSignature], ...]:
    """The catalog's signatures that can match a page on `host`, with their platform's rank
    in catalog order: those anchored to hosts that `host` is among, and those anchored to
    none. A page of unknown address can match any (see _signature_score). Cached per host:
    most pages of a crawl come from a few hosts, and testing every signature's hosts was
    half the time of classifying a small page."""
    cache = _catalog_cache(catalog, "signatures")
    found: tuple[tuple[int, Platform, PageSignature], ...] | None = cache.get(host)
    if found is None:
        found = tuple(
            (rank, candidate, signature)
            for rank, candidate in enumerate(catalog.platforms.values())
            for signature in candidate.signatures
            if host is None or (match := candidate.signature_match(signature)) is None
            or _host_hit(host, match.hosts))
        cache[host] = found
    return found


def _endpoint_at(page: Page, catalog: Catalog) -> tuple[Platform, Endpoint] | None:
    """interception.endpoint_at, cached per (host, path): the same endpoints answer all
    the probes of a crawl."""
    if not page.url or host_of(page.url) is None:
        return _endpoint_by_page(page, catalog)
    try:
        parts = urlsplit(page.url)
    except ValueError:
        return None
    key = (parts.hostname, parts.path)
    cache = _catalog_cache(catalog, "endpoints")
    if key not in cache:
        cache[key] = endpoint_at(page.url, catalog)
    found: tuple[Platform, Endpoint] | None = cache[key]
    return found


def _endpoint_by_page(page: Page, catalog: Catalog) -> tuple[Platform, Endpoint] | None:
    """A page saved without its address is on an endpoint when its scripts carry one of the
    endpoint's own strings (`page_markers`)."""
    if not page.scripts:
        return None
    scripts = "\n".join(page.scripts)
    for platform in catalog.platforms.values():
        for endpoint in platform.endpoints:
            if any(m in scripts for m in endpoint.page_markers):
                return platform, endpoint
    return None


def endpoint_of(url: str, catalog: Catalog) -> str | None:
    """'<platform>/<endpoint id>' of the interception endpoint a URL is on, or None."""
    found = _endpoint_at(Page(url=url), catalog)
    return f"{found[0].id}/{found[1].id}" if found is not None else None


class _Reader:
    """Builds the PageFacts of one page: the parts every kind shares."""

    def __init__(self, page: Page, markers: GenericMarkers,
                 endpoint: tuple[Platform, Endpoint] | None):
        self.page = page
        self.markers = markers
        self.endpoint = endpoint

    def facts(self, kind: PageKind, signature: str | None, *, target: str | None = None,
              continue_url: str | None = None, reason_selector: str | None = None,
              reason_from_scripts: bool = False, failure: str | None = None) -> PageFacts:
        page = self.page
        head = headline(page) if kind is not PageKind.CONTENT else None
        reason: BlockReason | None = None
        reason_text: str | None = None
        if kind is PageKind.BLOCKED:
            sentence = stated_sentence(page, head, reason_selector)
            reason = stated_reason(sentence or page.text, self.markers) or stated_reason(
                page.text, self.markers)
            if reason is None and reason_from_scripts:
                # Client-rendered block pages (WeChat's Vue page) keep the reason in cgiData;
                # the signature matched this very page, so its scripts are its own words.
                reason = stated_reason("\n".join(page.scripts), self.markers)
            if reason is None:
                reason_text = sentence
        if target is None and self.endpoint is not None and kind in (
                PageKind.WARNED, PageKind.COPY_ONLY, PageKind.UNRECOGNIZED):
            # Where the endpoint shows its target (a script variable it fills in, say).
            target = _read_url(page, self.endpoint[1].target)
        excerpt_chars = REVIEW_EXCERPT_CHARS if kind is PageKind.UNRECOGNIZED else EXCERPT_CHARS
        endpoint = (f"{self.endpoint[0].id}/{self.endpoint[1].id}"
                    if self.endpoint is not None else None)
        return PageFacts.model_construct(
            kind=kind, signature=signature, endpoint=endpoint, target=target, reason=reason,
            reason_text=reason_text, continue_url=continue_url, title=page.title or None,
            headline=head, excerpt=page.text[:excerpt_chars] if kind is not PageKind.CONTENT
            else None, failure=failure,
            parse_issue=page.parse_issue)


def classify_page(page: Page, catalog: Catalog, platform: Platform | None = None,
                  *, target: str | None = None) -> PageFacts:
    """What one page is. In this order: the catalog's signatures (URL-anchored first, the
    page's own platform before the others among equals, then the most specific markers in
    any language); an anti-bot answer; then, on an interception endpoint, the endpoint's
    reading (never `content`: see _classify_endpoint); elsewhere the generic markers of
    short pages, else content. `target` is the target the link was for, when known."""
    markers = catalog.require_markers()
    short = len(page.text) <= markers.max_text_chars
    endpoint = _endpoint_at(page, catalog)
    reader = _Reader(page, markers, endpoint)
    best: tuple[int, int, Platform, PageSignature] | None = None
    view = _PageView(page)
    for rank, candidate, signature in _signatures_for_host(catalog, view.host):
        order = -1 if platform is not None and candidate.id == platform.id else rank
        score = _signature_score(page, candidate, signature, short, view)
        if score is not None and (best is None or (score, -order) > (best[0], -best[1])):
            best = (score, order, candidate, signature)
    if best is not None:
        _, _, candidate, signature = best
        kind = PageKind(signature.kind)
        sources = list(signature.target)
        if endpoint is not None:
            sources += endpoint[1].target
        return reader.facts(
            kind, f"{candidate.id}/{signature.id}",
            target=_read_url(page, sources) if kind is not PageKind.BLOCKED else None,
            continue_url=_read_url(page, signature.continue_link) if signature.continue_link
            else None,
            reason_selector=signature.reason_selector, reason_from_scripts=True)
    if short or endpoint is not None:
        marker = anti_bot_marker(page, markers)
        visible = f"{page.title}\n{page.text}"
        if marker is not None and _shown(page, [marker]) is None:
            if target and on_target_site(page.url or "", target):
                # The target's own page: a captcha row its sheet hides is no captcha (it
                # read as an `error`, the target's page lost: a review).
                marker = None
            else:
                # Words of a security check the page's style sheets hide, or may hide: as
                # an anti-bot answer a block page fell out of the findings; read as no
                # words, a check whose script shows them was judged by its structure.
                return reader.facts(PageKind.UNRECOGNIZED, "generic/anti_bot_unseen")
        if marker is not None and (_any_phrase(visible, markers.blocked)
                                   or _any_phrase(visible, markers.copy_only)):
            # A security check that also says the link is blocked (or to be copied out):
            # as an anti-bot answer it fell out of the findings into the errors (an
            # adversarial review); which it is, a person must say.
            return reader.facts(PageKind.UNRECOGNIZED, "generic/anti_bot_and_blocked")
        if (marker is not None and marker in markers.anti_bot and not _can_act(page)
                and not (target and on_target_site(page.url or "", target))):
            # Words of a security check on a page that asks nothing of its reader (no field,
            # button, frame or script to solve it with): a block page saying the link "failed
            # a security check" fell out of the findings as a captcha (a review). Not words
            # of too many requests, which ask nothing (a wait), nor the target's own answer.
            return reader.facts(PageKind.UNRECOGNIZED, "generic/anti_bot_words_only")
        if marker is not None:
            return reader.facts(PageKind.ERROR, "generic/anti_bot", failure="anti_bot:captcha")
    if endpoint is not None:
        return _classify_endpoint(page, markers, endpoint, reader, target,
                                  own_scripts(catalog, endpoint[0]))
    forward = page_forward(page, own_scripts(catalog, platform)) if short else None
    generic = _classify_generic(page, markers, short, reader, forward, platform, target)
    if generic is not None:
        return generic
    back = _pointing_back(page, markers, platform, target) if short else None
    if back is not None:
        facts = reader.facts(PageKind.CONTENT, "structure/points_to_target", target=back)
    else:
        facts = reader.facts(PageKind.CONTENT, None)
        if platform is None or not target or _stays(target, page, platform):
            return facts
    # A platform's own page where a link to another company's target may end: `diverted`, or
    # for review (pointing back at the target, only like the target's page, a control that
    # only redirected). What the page says is what the finding or the reviewer is shown.
    return facts.model_copy(update={"headline": headline(page),
                                    "excerpt": page.text[:REVIEW_EXCERPT_CHARS]})


# What a reader can act on, or a script may build: a captcha or a login wall has one.
_ACTABLE = "form, input, button, textarea, select, iframe, object, embed, script[src]"


def _can_act(page: Page, markers: GenericMarkers | None = None) -> bool:
    """Whether the page gives its reader something to do (a form, a field, a button, a frame),
    or may once its scripts run; with `markers` (for a login wall), also a link whose label or
    URL has a `login_controls` word (a "登录" link), or a picture where the page speaks of
    scanning one (`login_pictures`: a QR code to scan with the app). A captcha or login wall
    without any of these asks nothing the reader could do: its words are about something
    else (an appeal, a check that failed). Any picture counted, and a block page's logo made
    its appeal line ("请先登录后提交申诉") a login wall again (a review)."""
    if page.runnable_scripts or page.select(_ACTABLE):
        return True
    if markers is None:
        return False
    if any(_any_phrase(f"{anchor.text}\n{anchor.href}", markers.login_controls)
           for anchor in page.anchors):
        return True
    return bool(_any_phrase(f"{page.title}\n{page.text}", markers.login_pictures)
                and page.select("img, svg, canvas, picture"))


def anti_bot_marker(page: Page, markers: GenericMarkers) -> str | None:
    """The captcha (`anti_bot`) or 'too many requests' (`rate_limit`) phrase of a page, if
    it has one."""
    visible = f"{page.title}\n{page.text}"
    return next((m for m in [*markers.anti_bot, *markers.rate_limit] if m in visible), None)


def _shown(page: Page, phrases: list[str], *, title: bool = True) -> bool | None:
    """Whether the page shows its reader one of `phrases` (its title, or its text once its
    style sheets are applied: Page.displayed): True; False where its text has none of them;
    None where its text has one but its sheets hide it, or may (a rule hulian could not
    read). Words that would excuse a page (a login wall, an error, a security check) count
    only where True: hidden, they excused a block page (a review); read as no words, a real
    login page whose script shows what its sheet hides at first was judged a block by its
    structure (the next review). Between the two, a person must say."""
    head = page.title if title else ""
    if not _any_phrase(f"{head}\n{page.text}", phrases):
        return False
    if title and _any_phrase(head, phrases):
        return True
    displayed = page.displayed
    return True if page.displayed_complete and _any_phrase(displayed, phrases) else None


def _any_phrase(text: str, phrases: list[str]) -> bool:
    folded = text.casefold()
    return any(p.casefold() in folded for p in phrases)


def _classify_endpoint(page: Page, markers: GenericMarkers,
                       endpoint: tuple[Platform, Endpoint], reader: _Reader,
                       target: str | None, own_script: OwnScript | None = None) -> PageFacts:
    """An interception endpoint's page that no signature recognised. Never `content`:
    a login wall, an error page or an empty page cannot be judged (`error`); then the
    generic markers (every language they cover), which a page's forward cannot overrule
    (see _classify_generic); a page that only forwards at once is a `redirect`, one that is
    shown for seconds before it forwards a person must read (`unrecognized`); then the
    page's structure (audit.judge.interception); what none of these explains is
    `unrecognized`."""
    visible = f"{page.title}\n{page.text}"
    # Words of a block or of copy-to-browser beside a login wall's or an error page's: which
    # it is, a person must say. An `error` drops out of the findings, and a footer saying
    # "Invalid request" or a hidden password field would have taken a block page with it
    # (a review).
    interception = (_any_phrase(visible, markers.blocked)
                    or _any_phrase(visible, markers.copy_only))
    login = _shown(page, markers.login_wall)
    if login is None:
        return reader.facts(PageKind.UNRECOGNIZED, "generic/login_wall_unseen")
    if login:
        if interception:
            return reader.facts(PageKind.UNRECOGNIZED, "generic/login_wall_and_blocked")
        if not _can_act(page, markers):
            # Login words on a page with no way to log in (no form, field, button, frame,
            # script, or link labelled to log in): a block page's appeal line "如有异议，请先
            # 登录后提交申诉" made it a login wall, an `error` (a review).
            return reader.facts(PageKind.UNRECOGNIZED, "generic/login_words_only")
        return reader.facts(PageKind.ERROR, "generic/login_wall", failure="login_wall")
    # Error words in the page's text, not its title alone: a block page titled "Page not
    # found" read as an error (a review); and shown (_shown).
    error = (_shown(page, markers.error_page, title=False)
             if len(page.text) <= markers.max_text_chars else False)
    if error is None:
        return reader.facts(PageKind.UNRECOGNIZED, "generic/error_page_unseen")
    if error:
        if interception:
            return reader.facts(PageKind.UNRECOGNIZED, "generic/error_page_and_blocked")
        return reader.facts(PageKind.ERROR, "generic/error_page", failure="endpoint_error_page")
    forward = page_forward(page, own_script)
    if forward is None and shows_nothing(page):
        return reader.facts(PageKind.ERROR, "generic/empty", failure="endpoint_empty")
    generic = _classify_generic(page, markers, True, reader, forward, endpoint[0])
    if generic is not None:
        return generic
    if forward is not None and not forward.delayed:
        return reader.facts(PageKind.REDIRECT, "structure/forwards", target=forward.url)
    if forward is not None and not _stays(forward.url, page, endpoint[0]):
        # Shown, then forwarded: in a wording the markers do not know, it may be a warning
        # with a countdown (the target is where it forwards). One that returns to the
        # platform's own pages after a while is no way on: the structure decides.
        return reader.facts(PageKind.UNRECOGNIZED, "structure/delayed_forward",
                            target=forward.url)
    if not page.text.strip():
        # Built by scripts (a client-rendered page), or shown as pictures, frames or styles'
        # text: there is no structure to read.
        built = page.runnable_scripts or page.select("script[src]")
        return reader.facts(PageKind.UNRECOGNIZED,
                            "structure/script_rendered" if built else "structure/no_text")
    platform, spot = endpoint
    if not any(declared is spot for declared in platform.endpoints):
        # A wrapper's own page (interception.wrapper_endpoint) in words no marker knows: the
        # catalog never said the platform shows interstitials there, so their structure is
        # not read; a person must. Read by its structure, a login page was a block; as the
        # platform's own page, a leave page in Japanese was `diverted`; compared with the
        # control, a block page carrying the target's text hidden by a style sheet was the
        # target reached (three reviews).
        return reader.facts(PageKind.UNRECOGNIZED, "structure/wrapper_page")
    if target is not None and url_matches(target, spot.match):
        # The link is this endpoint's own URL (an opaque short link planned as its target):
        # where it leads is not known, so a lone way off the platform is the way on. Read as
        # the target, a leave page in Japanese linking to the shop was `blocked` (a review).
        target = None
    known = (target or _read_url(page, spot.target) or _target_from_own_url(page))
    reading = read_structure(page, markers, platform, known_target=known,
                             script_targets=script_targets(page))
    if reading.kind is PageKind.BLOCKED and _any_phrase(visible, markers.warned):
        # Words of a warning ("you are leaving ...") with no way on to be seen: its control
        # may be drawn where the page cannot be read; a person must look.
        return reader.facts(PageKind.UNRECOGNIZED, "structure/warning_without_way_on")
    if reading.kind is PageKind.BLOCKED and page.parse_issue is not None:
        # "No way on" of a page read in part (cut at the size limit, nested past what could
        # be parsed): the way on may be in the part not read.
        return reader.facts(PageKind.UNRECOGNIZED, "structure/page_cut")
    target_out = reading.target if reading.kind is not PageKind.BLOCKED else None
    continue_url = reading.continue_url or (
        _read_url(page, spot.continue_link) if reading.kind is PageKind.WARNED
        and spot.continue_link else None)
    return reader.facts(reading.kind, f"structure/{reading.how}", target=target_out,
                        continue_url=continue_url)


# What a page can show without any text of its own: pictures, frames, drawings, controls,
# scripts loaded from elsewhere that build it.
# `image` is how a browser's parser writes <img> (libxml2 keeps the name); a declarative
# shadow root's template is shown. A style sheet it loads: `rel` is read without case below.
_SHOWING = ("img, image, picture, svg, canvas, video, object, embed, iframe, frame, input, "
            "button, textarea, select, script[src], [background], template[shadowrootmode], "
            "template[shadowroot]")


def shows_nothing(page: Page) -> bool:
    """A blank page: no text (not even a title), no script of its own, nothing that shows
    without text (pictures, frames, fields, a style sheet it loads, a background), no style
    that writes text (`content:`) or draws a picture (`url(`, `@import`). A countdown whose
    words were a background picture, a frame or an outside style sheet's read as blank, and
    its forward was followed as a slow redirect (a review)."""
    if page.text.strip() or page.title.strip() or page.scripts or page.select(_SHOWING):
        return False
    if any({"stylesheet", "preload"} & set((link.get("rel") or "").lower().split())
           for link in page.select("link[rel]")):
        return False
    if page.root is not None and any(
            name.lower().startswith("on") for element in page.root.iter()
            if isinstance(element.tag, str) for name in element.attrib):
        return False  # an event handler is a script (`onload` writing the words)
    return not (any(stylesheet.shows_content(style.text or "") for style in page.select("style"))
                or any(stylesheet.shows_content(element.get("style") or "", inline=True)
                       for element in page.select("[style]")))


def _shown_target(page: Page, continue_url: str | None) -> str | None:
    if continue_url and not _same_site(continue_url, page.url):
        return continue_url
    shown = [u for u in page.text_urls if not _same_site(u, page.url)]
    if len(set(shown)) == 1:
        return shown[0]
    return None


def _same_site(url: str, other: str | None) -> bool:
    if not other:
        return False
    a, b = registrable_domain(url), registrable_domain(other)
    return a is not None and a == b


def _stays(url: str, page: Page, platform: Platform | None) -> bool:
    """Whether `url` is where the page already is: its site, or its platform's domains (t.cn's
    page returning to weibo.com). Not a link through the platform's own wrapper to a target off
    it: a countdown to `link.zhihu.com/?target=…` is a way to the target (a review: a leave page
    in Japanese that forwarded there after 10 s read as the link open)."""
    if off_platform(url, page.url, platform):
        return False
    if platform is None or not platform.wrappers:
        return True
    unwrapped = unwrap(url, [platform])
    return unwrapped.via is None or unwrapped.target is None or not off_platform(
        unwrapped.target, page.url, platform)


def _classify_generic(page: Page, markers: GenericMarkers, short: bool,
                      reader: _Reader, forward: Forward | None = None,
                      platform: Platform | None = None,
                      target: str | None = None) -> PageFacts | None:
    """The generic markers (policies/markers.yaml) of an interstitial the catalog does not
    know; None when none applies. `forward`: where the page sends its reader by itself
    (page_forward); `platform`: the page's own, whose domains are no way off it. A page whose
    words say blocked or copy-to-browser but that forwards at once, or forwards off its site
    and platform after a delay, says one thing and does another: a person must look. A page
    that forwards at once is not read as a warning (it is passed through); one shown before
    it forwards off its site and platform is, with the forward as its way on."""
    if not short:
        return None
    visible = f"{page.title}\n{page.text}"
    continue_url, continue_present = _continue_link(page, markers, platform, target)
    at_once = forward is not None and not forward.delayed
    leads_off = forward is not None and (at_once or not _stays(forward.url, page, platform))
    if _any_phrase(visible, markers.copy_only):
        if leads_off:
            return reader.facts(PageKind.UNRECOGNIZED, "generic/copy_only_but_forwards",
                                target=forward.url if forward else None)
        return reader.facts(PageKind.COPY_ONLY, "generic/copy_only",
                            target=_shown_target(page, continue_url))
    if _any_phrase(visible, markers.blocked) and not continue_present:
        if page.parse_issue is not None:
            # Block words, and no continue link in the part that was read: it may be in the
            # part that was not.
            return reader.facts(PageKind.UNRECOGNIZED, "generic/blocked_page_cut")
        if leads_off:
            return reader.facts(PageKind.UNRECOGNIZED, "generic/blocked_but_forwards",
                                target=forward.url if forward else None)
        return reader.facts(PageKind.BLOCKED, "generic/blocked")
    if at_once:
        return None
    # A delayed forward is a warning's way on only where it leads off the page's site: one
    # that returns to the platform's home, or a target's own splash page moving within its
    # site, is no way on to anything.
    way_on = continue_url or (forward.url if forward is not None
                              and not _stays(forward.url, page, platform) else None)
    shown = _shown_target(page, continue_url)
    if _any_phrase(visible, markers.warned) and (continue_present or shown or way_on):
        if not continue_present and forward is None and has_word(visible, markers.copy_words):
            # The target shown with an instruction to copy it, and no way on: whatever the
            # page says of leaving, the user must copy the link out.
            return reader.facts(PageKind.COPY_ONLY, "generic/warned_copy_only", target=shown)
        if not continue_present and way_on is None:
            # Warning words and the target written out, and nothing to tap nor a forward: no
            # "one extra click" to make. A block page in words the markers do not know
            # ("该第三方网页…已被禁止访问", "This external link has been disabled") read as a
            # warning (a review); as the structure reading's warning without a way on, a
            # person looks.
            return reader.facts(PageKind.UNRECOGNIZED, "generic/warning_without_way_on",
                                target=shown)
        target = shown or _target_from_own_url(page) or (way_on if forward is not None
                                                          else None)
        return reader.facts(PageKind.WARNED, "generic/warned", target=target,
                            continue_url=way_on)
    outbound_continue = continue_url is not None and not _same_site(continue_url, page.url)
    if outbound_continue and len(page.anchors) <= 5:
        # One outbound "continue" link on a tiny page is an interstitial in any language.
        return reader.facts(PageKind.WARNED, "generic/continue_link", target=continue_url,
                            continue_url=continue_url)
    if (forward is not None and not shows_nothing(page)  # delayed (at_once returned above)
            and not _stays(forward.url, page, platform)
            and not (page.url is not None and _same_site(page.url, target))):
        # Shown for seconds, then sent off its site and platform, in words the markers do
        # not know: as on an endpoint, a person must read it. Followed at once as it was,
        # "该网页可能存在风险 … 3秒后跳转" on a platform's page read as an open link (an
        # adversarial review). Not the target's own page moving elsewhere (its content), nor
        # a blank page while it waits; a page without text is not blank: its words may be in
        # a picture's alt, an <svg>, a field, a style sheet's `content` or a frame (a review:
        # each read as open).
        return reader.facts(PageKind.UNRECOGNIZED, "structure/delayed_forward",
                            target=forward.url)
    return None


def _pointing_back(page: Page, markers: GenericMarkers, platform: Platform | None,
                   target: str | None) -> str | None:
    """On a short page of a known platform, read as content: the first link (or URL written
    out) to the target the reader was sent to, when the target is not the platform's own
    and the page is no login wall. A chain that ends on such a page is `unrecognized`, not
    `diverted` (classify_observation): in words the markers do not know it may be a leave
    or copy-to-browser page (in Japanese, reached by a redirect off the wrapper), where the
    platform's own pages the link is diverted to (an app download, its search) do not point
    back at the target. Decided for the chain, not the page: a page the target itself
    redirects to may link back to it (a brand's store on a marketplace) and is reached."""
    if platform is None or not target or _stays(target, page, platform) or login_wall(
            page, markers):
        return None
    # Or whose script leads there, at once or after a timer (a countdown in words no marker
    # knows read as a diversion: review 168).
    return _link_to(page, target) or next(
        (url for url in script_leads(page) if on_target_site(url, target)), None)


def login_wall(page: Page, markers: GenericMarkers) -> bool:
    """A page asking the reader to log in, in the words of `markers.login_wall`. Not by a
    password field: a page can hide one from the reader in ways hulian cannot see (a style
    sheet's class), and a block page carrying a hidden one read as a login wall, an `error`
    out of the findings (a review). Nor by words its style sheets hide (Page.displayed), for
    the same reason."""
    return _shown(page, markers.login_wall) is True


def _link_to(page: Page, target: str) -> str | None:
    """The first link (or URL written out) on `page` that leads to `target`'s site."""
    for anchor in page.anchors:
        url = resolve(page.url, anchor.href)
        if url is not None and on_target_site(url, target):
            return url
    return next((u for u in page.text_urls if on_target_site(u, target)), None)


# ---------------------------------------------------------------------------------------
# Link inventory
# ---------------------------------------------------------------------------------------


@dataclass
class Link:
    href: str  # the URL as the page links it (a wrapper URL when wrapped)
    target: str | None  # where it finally points; None when a wrapper hides it
    target_domain: str | None
    target_platform: str | None
    via: str | None  # wrapper label, None for a direct link
    rendered_as: RenderedAs  # "anchor" | "handled" | "text" (tapped_as)
    count: int = 1

    def as_dict(self) -> dict[str, object]:
        return {"href": self.href, "target": self.target, "target_domain": self.target_domain,
                "target_platform": self.target_platform, "via": self.via,
                "rendered_as": self.rendered_as, "count": self.count}


LinkDecision = tuple[str | None, str | None, str | None, str | None]


def _link_decider(catalog: Catalog, platform: Platform | None,
                  own_site: str | None) -> Callable[[str], LinkDecision | None]:
    """Whether an absolute URL on a page of `platform` (of site `own_site` when the platform
    is unknown) is an outbound link: None when it is not, otherwise (target, via,
    target_domain, target_platform). Links are unwrapped through the page platform's own
    wrappers (every known wrapper when the platform is unknown). A pure function of its
    arguments, so decisions are cached per catalog: pages repeat navigation and links."""
    wrappers_of = [platform] if platform is not None else list(catalog.platforms.values())
    # Hosts of the wrappers in play: a link on any other host is not wrapped, and is decided
    # without parsing it again for every wrapper (unwrap would find none).
    wrapper_hosts = [h for p in wrappers_of for w in p.wrappers for h in w.match.hosts]
    cache = _catalog_cache(catalog, "links")
    context = platform.id if platform is not None else f"site:{own_site}"

    def is_own(url: str, host: str | None) -> bool:  # host: host_of(url)
        if host is None:
            return True
        if platform is not None:
            return host_matches(host, platform.domains)
        return own_site is not None and registrable_domain(url) == own_site

    def decide(url: str) -> LinkDecision | None:
        key = (context, url)
        if key in cache:
            cached: LinkDecision | None = cache[key]
            return cached
        host = host_of(url)
        if host is not None and _host_hit(host, wrapper_hosts):
            unwrapped = unwrap(url, wrappers_of)
        else:
            unwrapped = Unwrapped(url, None, None, None)
        decision: LinkDecision | None = None
        if unwrapped.via is None:
            outbound = not is_own(url, host)
        else:
            outbound = unwrapped.target is None or not is_own(unwrapped.target,
                                                              host_of(unwrapped.target))
        if outbound:
            target = unwrapped.target
            target_platform = platform_for_url(target, catalog) if target else None
            decision = (target, unwrapped.via,
                        registrable_domain(target) if target else None,
                        target_platform.id if target_platform else None)
        cache[key] = decision
        return decision

    return decide


def tapped_as(anchor: Anchor, *, seen: bool = True) -> RenderedAs:
    """How a reader meets a link (a probe's `rendered_as`): `handled` where a tap may not
    follow it (forwards.tap_intercepted: a handler, or no tap reaching it as the page is
    read, which a style sheet or script may undo) or nobody may see it (not `seen`:
    Page.unseen_anchors, a link `display:none`, `hidden`, in a closed dialog or a popover,
    and Page.unsure_anchors, one clipped or placed off the page; review 141 found each on a
    seed post read `direct`), whose address is measured
    but no open link concluded from it; `anchor` otherwise. Never `text` (`stripped`): a
    link greyed out by `pointer-events: none` and taken back by a style sheet's class (a
    toast, a modal) or a script read as stripped, an accusation (a review); a link hidden
    by a template's quirk would be one too."""
    return "handled" if not seen or tap_intercepted(anchor) else "anchor"


def outbound_links(page: Page, catalog: Catalog, platform: Platform | None) -> list[Link]:
    """Every outbound link, one entry per distinct (target, via, rendered_as), in page order.
    Links are unwrapped through the page platform's own wrappers (through every known
    wrapper when the platform is unknown); a link is outbound when its target is not on the
    platform's domains (not on the page's own registrable domain if the platform is unknown)."""
    base = page.base_url
    own_site = registrable_domain(page.url) if platform is None and page.url else None
    decide = _link_decider(catalog, platform, own_site)
    found: dict[tuple[str, str | None, str], Link] = {}

    def add(url: str, rendered_as: RenderedAs) -> None:
        decision = decide(url)
        if decision is None:  # not outbound
            return
        target, via, target_domain, target_platform = decision
        key = (target or url, via, rendered_as)
        if key in found:  # the same link again (or another href to the same target)
            found[key].count += 1
            return
        found[key] = Link(href=url, target=target, target_domain=target_domain,
                          target_platform=target_platform, via=via, rendered_as=rendered_as)

    resolved: dict[str, str | None] = {}
    unseen = page.unseen_anchors | page.unsure_anchors
    for index, anchor in enumerate(page.tapped_anchors):
        if anchor.href not in resolved:
            resolved[anchor.href] = resolve(base, anchor.href)
        url = resolved[anchor.href]
        if url is not None:
            add(url, tapped_as(anchor, seen=index not in unseen))
    for text_url in page.text_urls:
        add(text_url, "text")
    return list(found.values())


# ---------------------------------------------------------------------------------------
# Observation -> outcome
# ---------------------------------------------------------------------------------------

def points_back(page: PageFacts) -> bool:
    """A page read as content that links or writes out the target the reader was sent to
    (`structure/points_to_target`): a notice in words no marker knows, maybe."""
    return page.kind is PageKind.CONTENT and page.target is not None


def on_target_site(url: str | None, target_url: str) -> bool:
    """Whether a URL is on the target's site: its host, or its registrable domain."""
    if not url:
        return False
    host, target_host = host_of(url), host_of(target_url)
    if host is None or target_host is None:
        return False
    if host == target_host:
        return True
    site = registrable_domain(url)
    # Two hosts without a registrable domain (`localhost`, `intranet`) are not one site.
    return site is not None and site == registrable_domain(target_url)


def through_target(hops: list[Hop], target_url: str, *,
                   fragments_seen: bool = True) -> bool:
    """Whether the chain reached the target itself: it asked for the target's own URL and got
    an answer, from which on every page is where the target leads (its redirects, refreshes
    and scripts), not the platform. The test of "reached" for a chain, with the control
    comparison. Not the target's registrable domain: a company's platform serves its
    interstitials on other hosts of the domain its services share (a Baidu notice at
    www.baidu.com for a baike.baidu.com link read as the target reached: a known limit until
    2026-12-06). Nor any URL on the target's host: the platform chooses that URL, and an open
    redirect there (`/out?url=` to the platform's own notice), the target's home page for its
    deep link, a `?from=` the target refuses, a path mangled into its 404 or its "open in the
    app" page all read as the target reached (two reviews). A chain that ends elsewhere on the
    target's host is compared with the control fetch like any other. A target that is a
    single-page app's hash route (hash_route) is reached only with that route shown, where
    it is known (`fragments_seen`: the hops' URLs are as navigated, fragments included, as a
    crawl records them; a capture's requests carry none, only its Locations do)."""
    if not hops:
        return False
    wanted = as_requested(target_url)
    route = hash_route(target_url)
    return any(hop.status is not None and as_requested(hop.url) == wanted
               and (route is None or shown is None or shown == route)
               for hop, shown in zip(hops, _shown_fragments(hops, target_url, fragments_seen),
                                     strict=True))


def hash_route(url: str) -> str | None:
    """The fragment of a URL where it is a single-page app's route (`#/item/1`, `#!/item/1`):
    the page a user sees, which the server never hears of. Any other fragment is a place on
    the page."""
    fragment = url.partition("#")[2]
    return fragment if fragment.startswith(("/", "!")) else None


def _shown_fragments(hops: list[Hop], target_url: str,
                     fragments_seen: bool) -> list[str | None]:
    """The fragment each hop's page is shown with (None: not known): its own; after a
    redirect, the Location's, else the one the redirected request had (RFC 9110 §10.2.2, as
    browsers do). A wrapper sending `shop.test/#/item/1` to `shop.test/#/`, the shop's home
    route, read as the target reached: the server's answer is the same page for every route
    (a review)."""
    shown: list[str | None] = []
    for index, hop in enumerate(hops):
        own: str | None = hop.url.partition("#")[2] if fragments_seen else None
        if own is None and index == 0:
            # A capture's first page view: the link itself, shown with its own fragment, or
            # a wrapper's URL, which carries the target inside it and has none of its own
            # (a wrapper dropping the route read as unknown, then as reached: a review).
            own = (target_url.partition("#")[2]
                   if as_requested(hop.url) == as_requested(target_url) else "")
        if not own and hop.via == "http" and index:
            sent = hops[index - 1].location or ""
            own = sent.partition("#")[2] if "#" in sent else shown[-1]
        shown.append(own)
    return shown


def lost_route(hops: list[Hop], target_url: str, *, fragments_seen: bool = True) -> bool:
    """Whether the target is a hash route that the chain's last page is known not to be shown
    with (its page, the same for every route, cannot tell the control's apart)."""
    route = hash_route(target_url)
    own = [hop for hop in hops if hop.via != "control"]
    if route is None or not own:
        return False
    last = _shown_fragments(own, target_url, fragments_seen)[-1]
    return last is not None and last != route


# The page kinds that decide an outcome by themselves, whatever happened after them.
_PAGE_OUTCOMES = {PageKind.BLOCKED: Outcome.BLOCKED, PageKind.COPY_ONLY: Outcome.COPY_ONLY,
                  PageKind.UNRECOGNIZED: Outcome.UNRECOGNIZED}


def classify_observation(
    *,
    target_url: str,
    rendered_as: str,
    hops: list[Hop],
    page: PageFacts | None,
    failure: str | None,
    control_ok: bool | None,
    comparison: ControlComparison | None = None,
    ended_on_known_platform: bool = False,
    uncompared: bool = False,
    fragments_seen: bool = True,
) -> tuple[Outcome, BlockReason | None]:
    """The outcome of one link-follow, from facts alone (DESIGN.md taxonomy).

    Order of precedence: a link that is not clickable is `stripped` whatever its target does;
    a block, copy-to-browser or unreadable interception page decides next; a failed chain is
    `target_down` when the control fetch failed too, otherwise `error`; a warning page is
    `warned`. A chain is `direct` or `wrapped` only when it demonstrably reached the target:
    it asked for the target's own URL (through_target), or its last page matches the page
    the control fetch of the target ends on (`comparison`: the same URL, or the same host
    and alike). A chain that ended elsewhere on the target's registrable domain without
    either is `unrecognized`: the platform may serve a block page there (the same company's
    services), or have sent the link somewhere else on the target's site. Otherwise it is
    `diverted` when it ended on
    a page of a platform the catalog knows and that page could be compared with the control's
    (not `uncompared`: the control answered without a page, a capture's redirect), `target_down`
    when the control failed, and `unrecognized` when it ended somewhere nobody can vouch for.
    """
    if not followed(rendered_as):
        return Outcome.STRIPPED, None
    outcome, reason = _followed_outcome(
        target_url=target_url, hops=hops, page=page, failure=failure, control_ok=control_ok,
        comparison=comparison, ended_on_known_platform=ended_on_known_platform,
        uncompared=uncompared, fragments_seen=fragments_seen)
    if rendered_as == "handled" and outcome in _OPEN_BY_ITS_ADDRESS:
        # The address leads on, but a tap runs the page's handler first, which may ask, cancel
        # or send the reader elsewhere: a person looks.
        return Outcome.UNRECOGNIZED, None
    return outcome, reason


# What a link's address alone may show open, and a tap's handler may still hold back.
_OPEN_BY_ITS_ADDRESS = frozenset({Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED})


def _followed_outcome(
    *,
    target_url: str,
    hops: list[Hop],
    page: PageFacts | None,
    failure: str | None,
    control_ok: bool | None,
    comparison: ControlComparison | None,
    ended_on_known_platform: bool,
    uncompared: bool,
    fragments_seen: bool,
) -> tuple[Outcome, BlockReason | None]:
    """classify_observation's outcome of a followed link, from where its address led."""
    if page is not None and page.kind is PageKind.ERROR:
        # A captcha, login wall, or an endpoint's empty or error page: nothing was seen of
        # how the platform treats the link, whatever the control says.
        return Outcome.ERROR, None
    if page is not None and page.kind in _PAGE_OUTCOMES:
        return _PAGE_OUTCOMES[page.kind], page.reason if page.kind is PageKind.BLOCKED else None
    if failure:
        return (Outcome.TARGET_DOWN if control_ok is False else Outcome.ERROR), None
    if page is not None and page.kind is PageKind.WARNED:
        # One extra action (the continue link) stands between the user and the target.
        return Outcome.WARNED, None
    final = hops[-1] if hops else None
    if final is None:
        return Outcome.ERROR, None
    status = final.status
    if status is None or status >= 400:
        return (Outcome.TARGET_DOWN if control_ok is False else Outcome.ERROR), None
    matched = (comparison is not None and comparison.matched
               and not lost_route(hops, target_url, fragments_seen=fragments_seen))
    if through_target(hops, target_url, fragments_seen=fragments_seen) or matched:
        # Direct: the link itself went to the target's host; a wrapper of the target's own
        # company (www.baidu.com/link for a baike.baidu.com target) still wraps it.
        direct = host_of(hops[0].url) == host_of(target_url)
        return (Outcome.DIRECT if direct else Outcome.WRAPPED), None
    if comparison is not None and not uncompared and looks_alike(comparison):
        # Like the target's page, but not where the target's page is: a platform's copy of
        # the target (transcoded under a warning bar, a proxy, a reader view) or a block page
        # carrying its text, which hulian cannot tell from a mirror. A person must look.
        return Outcome.UNRECOGNIZED, None
    if on_target_site(final.url, target_url):
        # Another host of the target's site that neither the target led to nor answers like
        # the target: a page of the target's company, which may be the platform's own (its
        # notice, in words no marker knows). Neither open nor an accusation: a person looks.
        return Outcome.UNRECOGNIZED, None
    if control_ok is False:
        return Outcome.TARGET_DOWN, None
    if page is not None and page.parse_issue == "encoding_unsure":
        # Its forwards were not followed because browsers may read its scripts otherwise:
        # where it leads is not known, so no diversion is concluded (a review: a wrapper page
        # forwarding at once read `diverted`).
        return Outcome.UNRECOGNIZED, None
    if ended_on_known_platform:
        if page is not None and points_back(page):
            # A platform's page that points back at the target (_pointing_back): an
            # interstitial in words hulian does not know may, a person must say.
            return Outcome.UNRECOGNIZED, None
        if uncompared:
            # The target answered, but with no page to compare the chain's with (a capture's
            # control flow is one redirect): a short link onto that very platform reads the
            # same. Read as `diverted`, it accused the source (the final review).
            return Outcome.UNRECOGNIZED, None
        return Outcome.DIVERTED, None
    return Outcome.UNRECOGNIZED, None
