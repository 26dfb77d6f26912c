"""URL helpers: registrable domains (offline), host matching, and unwrapping link wrappers.

Pure functions. tldextract is used with its bundled Public Suffix List snapshot only: the
default would fetch the list over the network on first use (dependencies.md §7).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import ada_url

# Scrapy builds its own TLDExtract at import time; this stops that one fetching too.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

import tldextract
from w3lib.url import safe_url_string

from audit.model import Platform, TargetLocation, UrlMatch, Wrapper

_EXTRACT = tldextract.TLDExtract(
    suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
)

# What a browser strips from both ends of a URL (C0 controls and the space; str.strip() also
# strips U+3000 and U+00A0, which a browser keeps, percent-encoded, in a relative URL on the
# page's own site).
URL_SPACE = "".join(chr(code) for code in range(0x21))

# How a URL without a scheme names a host (`//host/`), backslashes read as slashes, as a browser
# reads them: such a URL is taken as http.
SCHEME_RELATIVE = ("//", "\\\\", "/\\", "\\/")

# Unwrapping stops after this many nested wrappers (a wrapper pointing at a wrapper ...).
MAX_UNWRAP_DEPTH = 5


@lru_cache(maxsize=1 << 16)
def host_of(url: str) -> str | None:
    """Host of an absolute http(s) URL (or of `//host/...`) as a browser reads it, or None if
    it has none / is malformed. Read by Ada, the WHATWG URL parser browsers follow, not by
    urlsplit: the two disagree on exactly what a hostile link uses to hide where it leads
    (`https://target.example\\@platform.example/` goes to target.example, and the fetcher's
    own URL handling reads it so too; `https:////x`, `%`-escaped and numeric hosts). IDN hosts
    come out in their ASCII (punycode) form, IPv6 ones without brackets. Cached: a crawl asks
    for the host of the same URL many times (planning, unwrapping, classification, the
    guard)."""
    text = url.strip(URL_SPACE)
    if text.startswith(SCHEME_RELATIVE):
        text = "http:" + text
    try:
        parts = ada_url.parse_url(text, ("protocol", "hostname"))
    except ValueError:
        return None
    if parts.get("protocol") not in ("http:", "https:"):
        return None
    return parts.get("hostname", "").strip("[]").rstrip(".") or None


@lru_cache(maxsize=65536)
def _registrable(host: str) -> str | None:
    if re.fullmatch(r"[0-9.]+|\[?[0-9a-f:]+\]?", host):
        return host  # an IP address stands for itself
    result = _EXTRACT(host)
    if not result.suffix or not result.domain:
        # A name under a suffix the PSL does not know (the lab's `.lab`, intranet names):
        # treat the last label as the suffix, as browsers do for cookies.
        labels = host.split(".")
        return ".".join(labels[-2:]) if len(labels) >= 2 and all(labels[-2:]) else None
    return f"{result.domain}.{result.suffix}".lower()


@lru_cache(maxsize=65536)
def has_public_suffix(host: str) -> bool:
    """True if the host ends in a suffix of the Public Suffix List (`github.com` yes,
    `helper.js` no): text such as `helper.js/x` is a file name, not a URL."""
    result = _EXTRACT(host)
    return bool(result.suffix and result.domain)


def registrable_domain(url_or_host: str) -> str | None:
    """eTLD+1 of a URL or host (`item.taobao.com` -> `taobao.com`), private PSL section
    included (`user.github.io` stays itself). None when there is none."""
    value = url_or_host.strip()
    host = host_of(value) if "/" in value or ":" in value else value.lower().rstrip(".")
    return _registrable(host) if host else None


def host_matches(host: str, suffixes: list[str]) -> bool:
    """True if `host` equals one of `suffixes` or is a subdomain of one (look-alike safe:
    `evilzhihu.com` does not match `zhihu.com`)."""
    host = host.lower().rstrip(".")
    for suffix in suffixes:
        bare = suffix.lstrip(".")
        if host == bare or host.endswith("." + bare):
            return True
    return False


def url_matches(url: str, match: UrlMatch) -> bool:
    host = host_of(url)
    if host is None:
        return False
    hit = any(
        (host == h.lstrip(".") or host.endswith(h)) if h.startswith(".") else host == h
        for h in match.hosts
    )
    if not hit:
        return False
    if match.path is None:
        return True
    path = _path_of(url)
    return path is not None and re.search(match.path, path) is not None


@lru_cache(maxsize=1 << 14)
def _path_of(url: str) -> str | None:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


def wrapper_label(url: str) -> str:
    """How a wrapper is named in output: host plus path, without a trailing slash
    (`link.zhihu.com`, `www.baidu.com/link`)."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}{parts.path.rstrip('/')}"


def _decode_target(value: str) -> str:
    """A query value holding a URL: percent-decoding is done once by parse_qs; some
    wrappers encode twice (`https%253A%252F%252F`), so decode while it still looks encoded."""
    for _ in range(3):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*%3A", value) or value.lower().startswith("http%3a"):
            value = unquote(value)
        else:
            break
    return value.strip()


def _b64(value: str) -> str | None:
    cleaned = value.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        decoded = base64.b64decode(cleaned, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded if decoded.startswith(("http://", "https://")) else None


_URL_START = re.compile(r"https?://[^\s/]+", re.IGNORECASE)


def looks_like_url(value: str) -> bool:
    return _URL_START.match(value) is not None


class Unwrapped(NamedTuple):
    target: str | None  # the URL the link finally points at; None when the wrapper hides it
    via: str | None  # label of the outermost wrapper, None for a direct link
    wrapper: Wrapper | None
    platform: Platform | None  # whose wrapper it is


def target_from_wrapper(url: str, wrapper: Wrapper) -> str | None:
    """Read the target out of one wrapper URL; None when it is not in the URL (opaque, page)
    or is missing / not a URL (a malformed or truncated wrapper)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if wrapper.target is TargetLocation.WHOLE_QUERY:
        candidate = _decode_target(unquote(parts.query)) if parts.query else ""
        return candidate if looks_like_url(candidate) else None
    if wrapper.target not in (TargetLocation.QUERY, TargetLocation.BASE64):
        return None
    query = parse_qs(parts.query, keep_blank_values=False)
    for param in wrapper.params:
        for value in query.get(param, []):
            if wrapper.target is TargetLocation.BASE64:
                decoded = _b64(value)
                if decoded:
                    return decoded
                continue
            candidate = _decode_target(value)
            if looks_like_url(candidate):
                return candidate
            # Some wrappers drop the scheme (`target=www.example.com/x`).
            if re.match(r"^[\w-]+(\.[\w-]+)+(/|$)", candidate):
                return "http://" + candidate
    return None


def find_wrapper(url: str, platforms: list[Platform]) -> tuple[Wrapper, Platform] | None:
    for platform in platforms:
        for wrapper in platform.wrappers:
            if url_matches(url, wrapper.match):
                return wrapper, platform
    return None


def unwrap(url: str, platforms: list[Platform]) -> Unwrapped:
    """Follow nested wrappers in the URL itself (no network). An opaque or page-only wrapper
    gives target None; a wrapper whose target parameter is missing or broken also gives None."""
    found = find_wrapper(url, platforms)
    if found is None:
        return Unwrapped(url, None, None, None)
    outer_wrapper, outer_platform = found
    via = wrapper_label(url)
    current = url
    wrapper = outer_wrapper
    for _ in range(MAX_UNWRAP_DEPTH):
        target = target_from_wrapper(current, wrapper)
        if target is None:
            return Unwrapped(None, via, outer_wrapper, outer_platform)
        inner = find_wrapper(target, platforms)
        if inner is None:
            return Unwrapped(target, via, outer_wrapper, outer_platform)
        current, wrapper = target, inner[0]
    return Unwrapped(None, via, outer_wrapper, outer_platform)


# Where Ada's join (below) is known to give the href itself, or the base's origin before it,
# resolve() skips it (a join costs more than the rest of a link's handling together). Ada
# serializes what it parsed, which changes a URL through an upper-case, non-ASCII, numeric
# or punycode host, a default port, dot segments (also `%2e`), a missing path, an empty `?`,
# and characters it escapes (spaces, quotes, `<>`, `{}`, backticks, non-ASCII): hrefs with any
# of those take the general path (tests/test_urls.py holds the two to the same answers).
_SAFE_REST = r"[A-Za-z0-9\-._~/?#=&:+,;@!$*()%\[\]]*"
_PLAIN_HOST = r"(?:(?!xn--)[a-z0-9_-]+\.)*(?!xn--)[a-z_][a-z0-9_-]*"
# A dotted quad as Ada writes it (no leading zeros, each part at most 255), and a port other
# than a default one (which Ada drops), without leading zeros, at most 65535.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_PLAIN_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_PLAIN_PORT = (r"(?::(?!80(?![0-9])|443(?![0-9]))(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}"
               r"|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?")
_PLAIN_ABSOLUTE = re.compile(rf"https?://(?:{_PLAIN_HOST}|{_PLAIN_IPV4}){_PLAIN_PORT}/{_SAFE_REST}")
_PLAIN_ROOTED = re.compile(rf"/(?![/\\]){_SAFE_REST}")
_PATH_PART = re.compile(r"[^?#]*")


def _plain(href: str) -> bool:
    path = _PATH_PART.match(href).group(0)  # type: ignore[union-attr]  # always matches
    return not (href.endswith("?") or "?#" in href or "/./" in path
                or "/../" in path or path.endswith(("/.", "/..")) or "%2e" in path.lower())


@lru_cache(maxsize=4096)
def _origin_of(base: str) -> str | None:
    """`scheme://host[:port]` of an http(s) base URL as Ada serializes it (None for any other,
    or for a base with credentials, which a join keeps), once per page."""
    try:
        url = ada_url.URL(base)
    except ValueError:
        return None
    if url.protocol not in ("http:", "https:") or url.username or url.password:
        return None
    return f"{url.protocol}//{url.host}" if url.host else None


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of an http(s) URL as a browser reads it (Ada: the host
    lowercased, a default port dropped, credentials left out), for robots.txt's origin:
    Python's `urlsplit` kept `HTTPS://Example.COM:443` and a `user@` as written (review 169).
    Anything else as written up to its path."""
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.protocol in ("http:", "https:") and parsed.host:
        return f"{parsed.protocol}//{parsed.host}"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(first: str, second: str) -> bool:
    """Whether two http(s) URLs are of one origin (scheme, host and port, as a browser
    compares them)."""
    try:
        one, other = ada_url.URL(first), ada_url.URL(second)
    except ValueError:
        return False
    return (one.protocol in ("http:", "https:") and bool(one.host)
            and one.origin == other.origin)


# The statuses a browser follows a Location of (Fetch's redirect statuses; Chromium's too).
# A 300, 305 or 306 with a Location is a page to a browser: followed, a block page served
# with 300 and the target in its Location read as the link opened (an adversarial review).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirects(status: int | None, location: str | None) -> bool:
    """Whether a browser follows this answer's Location: not where it has two different
    ones (audit.web.fields keeps them on lines of their own), which Chromium refuses."""
    return status in REDIRECT_STATUSES and bool(location) and "\n" not in (location or "")


# hulian's own mark on a link it plants for a capture (audit/measure/capture/chains.py): it
# survives wrapping and re-encoding, and is no part of what the target is asked for.
PROBE_TOKEN_PARAM = "hulian_probe"


def without_probe_token(url: str) -> str:
    """The URL without a `hulian_probe` parameter."""
    if PROBE_TOKEN_PARAM not in url:
        return url
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k != PROBE_TOKEN_PARAM])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def as_requested(url: str) -> str:
    """The URL as a browser requests it: written as a browser writes it, without its
    fragment (which is never sent) and without hulian's probe token (a captured link's), and
    on HTTPS where it names HTTP on its default port: browsers upgrade such a navigation
    (Chrome's HTTPS-Upgrades, HSTS), so a captured browser's one flow for an `http://` link
    is to its `https://` twin, which read as another URL of the target's host (a review)."""
    requested = without_probe_token((resolve(None, url) or url).partition("#")[0])
    if requested.startswith("http://") and _DEFAULT_HTTP_AUTHORITY.match(requested, 7):
        return "https://" + requested[7:]
    return requested


# An authority without a port (Ada writes none for HTTP's default): up to the path.
_DEFAULT_HTTP_AUTHORITY = re.compile(r"[^/:?#@]+(?=[/?#]|$)")


def header_url(value: str) -> str:
    """A URL in a response header (Location, Refresh) as a browser reads it. The engines keep
    each byte of a header as one character (latin-1: the record keeps the bytes as received);
    a browser reads a URL's bytes as UTF-8. Read as latin-1, a redirect to `/目标` sent raw was
    followed to a URL no browser requests (its characters encoded twice: an adversarial
    review). A value that is not UTF-8, or that already holds wider characters (a capture's
    headers, decoded as UTF-8), is read as it is."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def _cleaned(href: str) -> str:
    """An href as a URL parser reads it: C0 controls and spaces stripped from its ends, tabs
    and line breaks dropped anywhere in it."""
    return href.strip(URL_SPACE).replace("\n", "").replace("\t", "").replace("\r", "")


_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")
_WEB_SCHEMES = frozenset({"http", "https"})


def off_the_web(href: str) -> bool:
    """Whether an href names a scheme other than the web's (`about:`, `data:`,
    `javascript:`, `file:`, `ftp:`, an app's), as a URL parser reads it (`java\tscript:`,
    `\x01about:blank`: reviews 138, 139); a relative one names none."""
    scheme = _SCHEME.match(_cleaned(href))
    return scheme is not None and scheme.group(1).lower() not in _WEB_SCHEMES


def resolve(base: str | None, href: str) -> str | None:
    """Absolute URL of an href as a browser resolves it (the WHATWG URL standard, read by
    Ada), or None for non-links (javascript:, mailto:, #frag, empty)."""
    href = _cleaned(href)
    if not href or href.startswith("#"):
        return None
    if _plain(href):
        if _PLAIN_ABSOLUTE.fullmatch(href):
            return href
        if base and _PLAIN_ROOTED.fullmatch(href):
            origin = _origin_of(base)
            if origin is not None:
                return origin + href
    return _resolve_general(base, href)


def _resolve_general(base: str | None, href: str) -> str | None:
    """resolve() through Ada's join, for any cleaned, non-empty href (the tests hold the fast
    paths above to it)."""
    if off_the_web(href):
        return None
    if base and not ada_url.check_url(base):
        base = None  # a page whose own URL is unreadable: only absolute hrefs lead anywhere
    if not base and href.startswith(SCHEME_RELATIVE):
        href = "http:" + href
    try:
        absolute = ada_url.join_url(base, href) if base else ada_url.normalize_url(href)
    except ValueError:
        return None
    return absolute if host_of(absolute) else None


# URLs that safe_url_string returns unchanged, recognised without running it (it costs more
# than the rest of a hop's bookkeeping): a lower-case ASCII host whose last label starts with
# a letter, a port without leading zeros, a path without dot segments, and only characters it
# leaves alone. w3lib 2.6 reads URLs as the URL standard does (and so as Scrapy then sends
# them): a host ending in a number is an IPv4 address ("0" is 0.0.0.0, "127.1" 127.0.0.1),
# "/a/../b" is "/b"; those go through it. tests/test_http1.py holds the two to the same
# answers on generated URLs.
_WIRE_READY = re.compile(
    r"https?://(?:[a-z0-9-]*\.)*[a-z][a-z0-9-]*\.?(?::[1-9][0-9]{0,4})?"
    r"/[A-Za-z0-9\-._~/?=&:+,;@!$*()%]*")
_DOT_SEGMENT = re.compile(r"/(?:\.|%2e){1,2}(?=[/?]|$)", re.IGNORECASE)
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


@functools.lru_cache(maxsize=16384)  # each hop's URL is turned into wire form twice
def wire_url(url: str) -> str:
    """The URL as it goes out: only what cannot travel percent-encoded (non-ASCII, spaces;
    IDN hosts as punycode), as Scrapy does. Hops are recorded under this form."""
    if (_WIRE_READY.fullmatch(url) and not url.endswith("?")
            and ("%" not in url or _LONE_PERCENT.search(url) is None)
            and (("/." not in url and "/%" not in url)
                 or _DOT_SEGMENT.search(url.partition("?")[0]) is None)):
        return url
    try:
        return safe_url_string(url)
    except ValueError:  # e.g. an IDN label too long to encode: sent (and failing) as is
        return url


def referer_for(source: str | None, target: str) -> str | None:
    """The Referer Scrapy's default policy sends: the previous page without fragment and
    credentials, none from https to http."""
    if not source or (source.startswith("https:") and target.startswith("http:")):
        return None
    source = source.split("#", 1)[0]
    scheme, sep, rest = source.partition("://")
    netloc, slash, path = rest.partition("/")
    return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}"
