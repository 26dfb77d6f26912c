"""Classification, as pure functions of parsed facts and the catalog (no I/O):
what kind of page this is, which outbound links it carries, and which outcome an
observation's hops and final page amount to.
"""

from __future__ import annotations

import html
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from audit.catalog import Catalog
from audit.model import (
    BlockReason,
    GenericMarkers,
    Hop,
    Outcome,
    PageFacts,
    PageKind,
    PageSignature,
    Platform,
    TargetSource,
)
from audit.page import Page, find_text_urls, text_of
from audit.urls import (
    Unwrapped,
    host_matches,
    host_of,
    looks_like_url,
    registrable_domain,
    resolve,
    unwrap,
    url_matches,
)

EXCERPT_CHARS = 280

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


def _unescape_js(value: str) -> str:
    """JS string escapes (\\x2f, \\u002f, \\/) and HTML entities (&#x2f;) as pages use them."""
    value = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)
    value = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), value)
    value = value.replace("\\/", "/").replace('\\"', '"').replace("\\'", "'")
    return html.unescape(value).strip()


def _script_value(scripts: Iterable[str], name: str) -> str | None:
    pattern = re.compile(
        r"""(?:\bvar\s+|\blet\s+|\bconst\s+|[{,\s]["']?)""" + re.escape(name)
        + r"""["']?\s*[:=]\s*(["'])((?:\\.|(?!\1).)*)\1"""
    )
    for script in scripts:
        match = pattern.search(script)
        if match:
            return _unescape_js(match.group(2))
    return None


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
        value = _script_value(page.scripts, source.name)
    elif source.kind == "meta_refresh":
        value = page.meta_refresh
    return value.strip() if value else None


def _read_url(page: Page, sources: list[TargetSource]) -> str | None:
    for source in sources:
        value = _read_source(page, source)
        if not value:
            continue
        # Pages shorten or decorate the URL they show; accept scheme-less hosts too.
        absolute = resolve(page.url, value) if looks_like_url(value) or page.url else None
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


def _signature_score(page: Page, signature: PageSignature, short: bool,
                     view: _PageView | None = None) -> int | None:
    """None if the signature does not match; otherwise how specific the match is (the
    length of the marker text that matched), so that among text-only matches the most
    specific signature wins."""
    view = view or _PageView(page)
    url_known = view.host is not None
    anchored = False
    if signature.match is not None and url_known:
        if not _host_hit(view.host or "", signature.match.hosts) or not url_matches(
                page.url or "", signature.match):
            return None
        anchored = True
    elif signature.url_only or not short:
        # Without a URL to anchor on, a phrase only counts on an interstitial-sized page.
        return None
    haystack = view.haystack
    if signature.markers_all and not all(m in haystack for m in signature.markers_all):
        return None
    hits = [m for m in signature.markers_any if m in haystack]
    if signature.markers_any and not hits:
        return None
    if any(m in haystack for m in signature.markers_none):
        return None
    selected = [s for s in signature.selectors_any if page.select(s)]
    if signature.selectors_any and not selected:
        return None
    score = sum(len(m) for m in (*signature.markers_all, *hits)) + 5 * len(selected)
    return score + (10_000 if anchored else 0)


@dataclass(frozen=True)
class _Continue:
    url: str | None
    present: bool


def _continue_link(page: Page, markers: GenericMarkers) -> _Continue:
    """A link labelled like 继续访问 / Continue. `present` is true even for javascript:
    buttons (the 2016 WeChat warning), whose URL we cannot read."""
    present = False
    for anchor in page.anchors:
        label = anchor.text.strip()
        if label and any(label == t or label.startswith(t) for t in markers.continue_texts):
            present = True
            url = resolve(page.url, anchor.href)
            if url:
                return _Continue(url, True)
    for el in page.select("button, [role=button]"):
        label = " ".join(text_of(el).split())
        if label and any(label.startswith(t) for t in markers.continue_texts):
            present = True
    return _Continue(None, present)


def _target_from_own_url(page: Page) -> str | None:
    """Interstitials usually carry the target in their own query string (target=, url= ...)."""
    if not page.url:
        return None
    for values in parse_qs(urlsplit(page.url).query).values():
        for value in values:
            if looks_like_url(value):
                return value
    return None


def _facts(page: Page, kind: PageKind, signature: str | None, target: str | None,
           reason: BlockReason | None, continue_url: str | None) -> PageFacts:
    excerpt = page.text[:EXCERPT_CHARS] if kind is not PageKind.CONTENT else None
    return PageFacts(kind=kind, signature=signature, target=target, reason=reason,
                     continue_url=continue_url, title=page.title or None, excerpt=excerpt)


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
            if host is None or signature.match is None
            or _host_hit(host, signature.match.hosts))
        cache[host] = found
    return found


def classify_page(page: Page, catalog: Catalog, platform: Platform | None = None) -> PageFacts:
    """Page kind (content | warned | copy_only | blocked), the target the page names, the
    stated reason and the signature that decided. Catalog signatures first (the page's own
    platform before the others), then the generic markers."""
    markers = catalog.require_markers()
    short = len(page.text) <= markers.max_text_chars
    best: tuple[int, int, Platform, PageSignature] | None = None
    view = _PageView(page)
    for rank, candidate, signature in _signatures_for_host(catalog, view.host):
        # The page's own platform first among equals; otherwise catalog order.
        order = -1 if platform is not None and candidate.id == platform.id else rank
        score = _signature_score(page, signature, short, view)
        if score is not None and (best is None or (score, -order) > (best[0], -best[1])):
            best = (score, order, candidate, signature)
    if best is not None:
        _, _, candidate, signature = best
        kind = PageKind(signature.kind)
        target = _read_url(page, signature.target)
        cont = _read_url(page, signature.continue_link) if signature.continue_link else None
        reason = None
        if kind is PageKind.BLOCKED:
            reason_text = page.text
            if signature.reason_selector:
                reason_text = " ".join(text_of(e) for e in page.select(
                    signature.reason_selector)) or page.text
            # Client-rendered block pages (WeChat's Vue page) keep the reason in cgiData;
            # the signature matched this very page, so its scripts are its own words.
            reason = stated_reason(reason_text, markers) or stated_reason(
                "\n".join(page.scripts), markers)
        return _facts(page, kind, f"{candidate.id}/{signature.id}", target, reason, cont)
    return _classify_generic(page, markers, short)


def _shown_target(page: Page, cont: _Continue) -> str | None:
    if cont.url and not _same_site(cont.url, page.url):
        return cont.url
    shown = [u for u in page.text_urls if not _same_site(u, page.url)]
    if len(set(shown)) == 1:
        return shown[0]
    return None


def _same_site(url: str, other: str | None) -> bool:
    if not other:
        return False
    a, b = registrable_domain(url), registrable_domain(other)
    return a is not None and a == b


def _classify_generic(page: Page, markers: GenericMarkers, short: bool) -> PageFacts:
    if not short:
        return _facts(page, PageKind.CONTENT, None, None, None, None)
    visible = f"{page.title}\n{page.text}"
    cont = _continue_link(page, markers)

    lowered = visible.lower()

    def hit(phrases: list[str]) -> bool:
        return any(p.lower() in lowered for p in phrases)

    if hit(markers.copy_only):
        target = _shown_target(page, cont)
        return _facts(page, PageKind.COPY_ONLY, "generic/copy_only", target, None, None)
    if hit(markers.blocked) and not cont.present:
        reason = stated_reason(visible, markers)
        return _facts(page, PageKind.BLOCKED, "generic/blocked", None, reason, None)
    if hit(markers.warned) and (cont.present or _shown_target(page, cont)):
        target = _shown_target(page, cont) or _target_from_own_url(page)
        return _facts(page, PageKind.WARNED, "generic/warned", target, None, cont.url)
    outbound_continue = cont.url is not None and not _same_site(cont.url, page.url)
    if outbound_continue and len(page.anchors) <= 5:
        # One outbound "continue" link on a tiny page is an interstitial in any language.
        return _facts(page, PageKind.WARNED, "generic/continue_link", cont.url, None, cont.url)
    return _facts(page, PageKind.CONTENT, None, None, None, None)


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
    rendered_as: str  # "anchor" | "text"
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


def outbound_links(page: Page, catalog: Catalog, platform: Platform | None) -> list[Link]:
    """Every outbound link, one entry per distinct (target, via, rendered_as), in page order.
    Links are unwrapped through the page platform's own wrappers (through every known
    wrapper when the platform is unknown); a link is outbound when its target is not on the
    platform's domains (not on the page's own registrable domain if the platform is unknown)."""
    base = (page.base_href and resolve(page.url, page.base_href)) or page.url
    own_site = registrable_domain(page.url) if platform is None and page.url else None
    decide = _link_decider(catalog, platform, own_site)
    found: dict[tuple[str, str | None, str], Link] = {}

    def add(url: str, rendered_as: str) -> None:
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
    for anchor in page.anchors:
        if anchor.href not in resolved:
            resolved[anchor.href] = resolve(base, anchor.href)
        url = resolved[anchor.href]
        if url is not None:
            add(url, "anchor")
    for text_url in page.text_urls:
        add(text_url, "text")
    return list(found.values())


# ---------------------------------------------------------------------------------------
# Observation -> outcome
# ---------------------------------------------------------------------------------------

# Failures that mean the auditor was refused, not the user: never evidence of blocking.
ANTI_BOT_STATUSES = {403, 429, 566}


def _reaches(url: str | None, target_url: str) -> bool:
    if not url:
        return False
    host, target_host = host_of(url), host_of(target_url)
    if host is None or target_host is None:
        return False
    return host == target_host or registrable_domain(url) == registrable_domain(target_url)


def classify_observation(
    *,
    target_url: str,
    rendered_as: str,
    hops: list[Hop],
    page: PageFacts | None,
    failure: str | None,
    control_ok: bool | None,
) -> tuple[Outcome, BlockReason | None]:
    """The outcome of one link-follow, from facts alone (DESIGN.md taxonomy).

    Order of precedence: a link that is not clickable is `stripped` whatever its target does;
    an interstitial/block page decides next; then where the chain ended; a failed chain is
    `target_down` when the control fetch failed too, otherwise `error`.
    """
    if rendered_as in ("text", "absent"):
        return Outcome.STRIPPED, None
    if page is not None and page.kind is PageKind.BLOCKED:
        return Outcome.BLOCKED, page.reason
    if page is not None and page.kind is PageKind.COPY_ONLY:
        return Outcome.COPY_ONLY, None
    if failure:
        return (Outcome.TARGET_DOWN if control_ok is False else Outcome.ERROR), None
    final = hops[-1] if hops else None
    status = final.status if final else None
    landed = next((h for h in hops if _reaches(h.url, target_url) and h.via != "control"), None)
    if page is not None and page.kind is PageKind.WARNED:
        # One extra action (the continue link) stands between the user and the target.
        return Outcome.WARNED, None
    if status is not None and status >= 400:
        if control_ok is False:
            return Outcome.TARGET_DOWN, None
        return Outcome.ERROR, None
    if final is not None and _reaches(final.url, target_url):
        first = hops[0]
        return (Outcome.DIRECT if _reaches(first.url, target_url) else Outcome.WRAPPED), None
    if landed is not None:
        # Reached the target and then moved on (the target's own redirect): still reached.
        return (Outcome.DIRECT if landed is hops[0] else Outcome.WRAPPED), None
    if control_ok is False:
        return Outcome.TARGET_DOWN, None
    return Outcome.DIVERTED, None

