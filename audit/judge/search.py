"""Search barriers: which search engines a host lets index it (issue 15). Pure, no I/O.

A host's robots.txt (parsed by Protego, Scrapy's RFC 9309 parser) and its pages' robots
directives give each search engine's crawler a `SearchClass`, defined exactly as
../shared/corpus/robots/README.md does:

- `closed`: the engine may not fetch `/`;
- `open`: it may fetch `/` and every path the file names (the path set P: every `Allow` and
  `Disallow` value anywhere in the file, `*` read as `x1`, a trailing `$` dropped);
- `partial`: otherwise;
- `unreachable`: robots.txt answered 5xx (or 429) or could not be fetched at all — RFC 9309
  says assume a complete disallow; kept apart from `closed`, which someone published;
- `noindex`: robots.txt lets the engine in, but a page tells it not to index (meta robots,
  a meta named after the engine, X-Robots-Tag).

A crawler obeys the groups whose User-agent equals its product token (whole value,
case-insensitive; Protego merges groups of the same name), else the combined `*` groups, else
nothing. Protego alone would also apply a group named `baidu` to `Baiduspider` (it looks for
the name inside a User-Agent header); RFC 9309 and the corpus README match whole tokens, so the
group is chosen here and only its rules are asked (`_group_for`).

API (stable; part 2 of issue 15 builds the crawl, graph, reports and diff on it):

    RobotsFetch(status, body, failure, url, content_type, truncated, size)
        what fetching /robots.txt gave
    RawDirective: any object with .source ("meta"/"header"), .name, .content (the shape of
        audit.model.PageDirective); read_directive(raw) -> [Directive]
    judge_robots(host, fetch, tokens, directives=()) -> SearchBarriers
    judge_robots_text(host, body, tokens) -> SearchBarriers   (a saved file: status 200)
    SearchBarriers: host, classes {token: SearchClass}, groups {token: [User-agent as
        written]}, sitemaps, status, reasons, noindex {token: [directive]},
        .discriminates, .to_json()
    combine_hosts([SearchBarriers...], tokens) -> {token: SearchClass}   one platform's hosts
    self_preference(classes, company, engine_company) -> SelfPreference | None
    evaluate_search_rules(platform_id, hosts, catalog, evidence) -> [Verdict]
    engine_tokens(catalog) -> [token]    in catalog order
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from protego import Protego
from protego._protego import (  # the line reader Protego itself uses (see _rule_paths)
    _ALLOW_DIRECTIVE,
    _DISALLOW_DIRECTIVE,
    _SITE_WIDE_DIRECTIVES,
    _USER_AGENT_DIRECTIVE,
    _extract_directive,
)
from protego._utils import _quote_path

from audit.model import Rule, SearchClass, Status, Text, Verdict
from audit.policy.catalog import Catalog
from audit.web.decode import content_type as parse_content_type

# RFC 9309 §2.5: crawlers must parse at least 500 KiB; hulian parses exactly that much.
MAX_ROBOTS_BYTES = 500 * 1024

# The base URL rules are matched against; only the path and query matter.
_BASE = "https://robots.invalid"

# Why a robots.txt was read as it was (SearchBarriers.reasons); part 2 shows them.
REASONS: dict[str, tuple[str, str]] = {
    "unavailable": ("robots.txt 返回 4xx：视为无限制（RFC 9309）",
                    "robots.txt answered 4xx: no restrictions (RFC 9309)"),
    "unreachable": ("robots.txt 返回 5xx、无法获取或无法解码：视为全部禁止（RFC 9309），"
                    "并非网站发布的规则",
                    "robots.txt answered 5xx, could not be fetched or could not be decoded: "
                    "complete disallow (RFC 9309), not a rule the site published"),
    "redirects": ("robots.txt 重定向过多或循环：视为不可用，无限制（RFC 9309）",
                  "robots.txt redirected too often or in a loop: unavailable, no restrictions "
                  "(RFC 9309)"),
    "html": ("robots.txt 返回的是 HTML 页面：按文本解析，通常没有规则",
             "robots.txt is an HTML page: parsed as text, usually without rules"),
    "binary": ("robots.txt 是二进制内容：没有可读的规则",
               "robots.txt is binary: no readable rules"),
    "invalid_utf8": ("robots.txt 不是合法的 UTF-8：无效字节已替换后解析",
                     "robots.txt is not valid UTF-8: parsed with invalid bytes replaced"),
    "paths_unchecked": ("规则过多：只检查了部分列出的路径（已检查数/总数），"
                        "未能确定完全开放，记为部分开放",
                        "too many rules: only some of the named paths were checked (checked/"
                        "all); not shown open, read as partial"),
    "truncated": ("robots.txt 超过 500 KiB：只解析前 500 KiB（至最后一个完整行）",
                  "robots.txt is over 500 KiB: only the first 500 KiB are parsed (to the last "
                  "complete line)"),
}


@dataclass(frozen=True)
class RobotsFetch:
    """What fetching https://HOST/robots.txt gave, after redirects (at most five, RFC 9309).

    `status` is the final HTTP status, None when there was no answer; `failure` is the
    failure word then (audit/measure/failures.py: timeout, dns_error, connection_refused,
    redirect_loop, hop_limit:N ...). `body` is the body as received (the judge cuts it)."""

    status: int | None = 200
    body: bytes = b""
    failure: str | None = None
    url: str | None = None
    content_type: str | None = None
    # The fetcher stopped reading (`body` is the start of the file): the last line may be cut.
    truncated: bool = False
    size: int | None = None  # bytes the file had, where known and more than `body`


class RawDirective(Protocol):
    """A page's indexing directive as measured (audit.model.PageDirective has this shape):
    `source` "meta" (a `<meta name=NAME content=CONTENT>`) or "header" (an X-Robots-Tag
    value in `content`; `name` unused)."""

    @property
    def source(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def content(self) -> str: ...


@dataclass(frozen=True)
class Directive:
    """One directive as read: `agent` None for every crawler (meta name="robots", an
    X-Robots-Tag without a crawler name), else the crawler named (lowercase)."""

    agent: str | None
    values: tuple[str, ...]  # lowercase: noindex, nofollow, none, ...
    source: str  # "meta" or "header"

    def __str__(self) -> str:
        where = "meta" if self.source == "meta" else "X-Robots-Tag"
        return f"{where} {self.agent or 'robots'}: {', '.join(self.values)}"

    @property
    def noindex(self) -> bool:
        return "noindex" in self.values or "none" in self.values


def read_directive(raw: RawDirective) -> list[Directive]:
    """What a measured directive says: a meta named "robots" speaks to every crawler, a meta
    named after a token (e.g. "Baiduspider") to that crawler; an X-Robots-Tag value (one
    header's) is "noindex, nofollow" for every crawler, and a crawler's name before a colon
    speaks to that crawler from there on: "googlebot: noindex" and, in one value,
    "bingbot: noarchive, googlebot: noindex" (Google's syntax, which Baidu and Bing read
    too). The whole of such a value was credited to the first crawler named (a review)."""
    if raw.source == "meta":
        agent = raw.name.strip().lower()
        values = _values(raw.content)
        if not agent or not values:
            return []
        return [Directive(None if agent == "robots" else agent, values, "meta")]
    said: dict[str | None, list[str]] = {}
    scope: str | None = None
    for item in raw.content.split(","):
        name, sep, rest = item.partition(":")
        name = name.strip().lower()
        if sep and name and " " not in name and name not in _DIRECTIVE_WORDS:
            scope, item = name, rest
        if word := item.strip().lower():
            said.setdefault(scope, []).append(word)
    return [Directive(crawler, tuple(words), "header") for crawler, words in said.items()]


_DIRECTIVE_WORDS = {"all", "noindex", "nofollow", "none", "noarchive", "nosnippet",
                    "notranslate", "noimageindex", "unavailable_after", "max-snippet",
                    "max-image-preview", "max-video-preview", "indexifembedded"}


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip().lower() for v in text.split(",") if v.strip())


# What a seed page's search record keeps of its directives (audit.measure.search.page_record,
# and the page's plan before it, audit.measure.chain.plan_probes): a page cannot flood the
# record, and no cap may drop what the judge reads as noindex. A review found a `noindex`
# after 200 other metas, after 32 `<meta name=robots content=all>` (beside an `X-Robots-Tag:
# noindex`) or after the first 300 characters of one meta read `open` by every engine.
MAX_DIRECTIVES = 32  # per page
MAX_DIRECTIVE_CHARS = 300  # per directive: past it, only its recognised words are kept

D = TypeVar("D", bound=RawDirective)


def crawler_names(catalog: Catalog) -> frozenset[str]:
    """Lower-case product tokens of every catalog engine (its web crawler's and others'):
    the meta names that speak to a crawler."""
    return frozenset(t.lower() for e in catalog.search_engines.values()
                     for t in (e.token, *e.other_tokens))


def speaks_to_crawlers(name: str, names: frozenset[str]) -> bool:
    """Whether a `<meta name=NAME>` is an indexing directive: `robots`, or a crawler's token
    (`names`, lower-case)."""
    key = name.strip().lower()
    return key == "robots" or key in names


def kept_directives(found: Sequence[D], names: frozenset[str],
                    limit: int = MAX_DIRECTIVES) -> tuple[list[D], bool]:
    """At most `limit` of a page's directives, in page order, and whether any was dropped.
    Where there are more, they are kept by rank: first each directive that is the first to
    say noindex/none to a crawler (every crawler, or one of `names`), then the other
    noindex/none ones, then the rest. The catalog names fewer crawlers than `limit`, so no
    cap drops the noindex the judge reads for any of them."""
    if len(found) <= limit:
        return list(found), False
    told: set[str | None] = set()
    ranks: list[int] = []
    for raw in found:
        agents = {d.agent for d in read_directive(raw) if d.noindex}
        first = {a for a in agents if a is None or a in names} - told
        told |= first
        ranks.append(0 if first else 1 if agents else 2)
    chosen = sorted(sorted(range(len(found)), key=ranks.__getitem__)[:limit])
    return [found[i] for i in chosen], True


def recognised_content(raw: RawDirective, names: frozenset[str]) -> str:
    """A directive too long to keep whole (past MAX_DIRECTIVE_CHARS), as its recognised
    directive words (_DIRECTIVE_WORDS, with their values), each once, noindex/none first,
    within MAX_DIRECTIVE_CHARS: read again (read_directive), it says to each crawler the
    noindex it said. A header's crawlers keep their scope (`googlebot: noindex`): the
    words for every crawler first (they can only come before a crawler is named), then the
    crawlers of `names` told noindex, the others told noindex, the rest. A blind cut at 300
    characters dropped a `noindex` after 14 `max-image-preview:large` (a review)."""
    blocks: list[tuple[str | None, list[str]]] = []
    for directive in read_directive(raw):
        words = [w for w in dict.fromkeys(directive.values)
                 if w.split(":", 1)[0].strip() in _DIRECTIVE_WORDS]
        words.sort(key=lambda w: w not in ("noindex", "none"))  # stable: page order else
        if words:
            agent = None if raw.source == "meta" else directive.agent
            blocks.append((agent, words))

    def rank(block: tuple[str | None, list[str]]) -> int:
        agent, words = block
        noindex = "noindex" in words or "none" in words
        return 0 if agent is None else 1 if noindex and agent in names else 2 if noindex else 3

    items: list[str] = []
    size = -2  # no ", " before the first item
    for agent, words in sorted(blocks, key=rank):
        for i, word in enumerate(words):
            item = f"{agent}: {word}" if agent is not None and i == 0 else word
            if size + 2 + len(item) > MAX_DIRECTIVE_CHARS:
                if i == 0:  # the crawler's name does not fit: none of its words may follow
                    break
                continue  # a word of the scope left out; the scope itself is unchanged
            items.append(item)
            size += 2 + len(item)
    return ", ".join(items)


@dataclass(frozen=True)
class SearchBarriers:
    """One host's judgement. `classes`, `groups` and `noindex` are keyed by the tokens
    judged, in the order given; `groups` lists the User-agent values (as written) whose
    rules the engine obeys: `["*"]` for the combined `*` groups, `[]` when none applies."""

    host: str
    classes: dict[str, SearchClass]
    groups: dict[str, list[str]]
    sitemaps: list[str] = field(default_factory=list)
    status: int | None = 200
    reasons: list[str] = field(default_factory=list)  # keys of REASONS, some with ":detail"
    noindex: dict[str, list[str]] = field(default_factory=dict)
    # Tokens whose class (`partial`) is open or partial: the budget of the check ran out
    # before every named path was checked (reason `paths_unchecked`, _judge_group).
    unsettled: list[str] = field(default_factory=list)

    @property
    def discriminates(self) -> bool:
        """The engines do not all get the same class."""
        return len(set(self.classes.values())) > 1

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host,
                "engines": {token: cls.value for token, cls in self.classes.items()},
                "discriminates": self.discriminates,
                "sitemaps": list(self.sitemaps),
                "groups": {token: list(g) for token, g in self.groups.items()},
                "status": self.status,
                "reasons": list(self.reasons),
                "noindex": {t: list(d) for t, d in self.noindex.items() if d},
                "unsettled": list(self.unsettled)}


def parse_robots(text: str) -> Protego:
    """A robots.txt parsed by Protego: the one parser of robots.txt in hulian, for judging
    search barriers here and for the crawler's own politeness (audit/measure/robots.py,
    which asks the result `can_fetch(url, user_agent)`), so that both read a file alike.
    The text is read as RFC 9309 reads it first (rfc9309_text), and Protego's one reading
    beyond the RFC, `Allow: /index.html` allowing `/` too, is taken out again."""
    parser = Protego.parse(rfc9309_text(text))
    _drop_index_shortcut(parser)
    return parser


# What Python reads as a line break or white space and RFC 9309 does not (it knows CR, LF,
# space and tab). Protego splits lines with str.splitlines() and trims with str.strip(): a
# U+2028 in a comment made the rest of the comment a rule, and a full-width space (U+3000,
# what Chinese input methods type) after `Disallow:` made `\u3000/` the rule `/`: hosts read
# as closed that Google's parser reads as open (a review). Each is given Protego
# percent-encoded, as a path holding it is matched. \x0b and \x0c are white space to
# Google's parser (C's isspace: trimmed at a line's ends and around its key and value), so
# they are read as a space (the review of that fix: `Disallow: /\x0c` read as partial).
_NOT_RFC_SPACE = re.compile(
    "[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")
_ASCII_SPACES = str.maketrans({"\x0b": " ", "\x0c": " "})
_RFC_LINE_END = re.compile(r"\r\n|\r|\n")
# Records that shape groups (RFC 9309 §2.2: a group is user-agent lines then rules) or that
# Protego keeps apart from groups. Any other record (Crawl-delay, Request-rate, Clean-param,
# one hulian has no name for) "MUST NOT interfere with the parsing of explicitly defined
# records" (§2.2.4), and Protego ended a group at it: `User-agent: Baiduspider`,
# `Crawl-delay: 5`, `User-agent: *`, `Disallow: /` let Baiduspider in (a review).
_GROUP_RECORDS = (_USER_AGENT_DIRECTIVE | _ALLOW_DIRECTIVE | _DISALLOW_DIRECTIVE
                  | _SITE_WIDE_DIRECTIVES)


def rfc9309_text(text: str) -> str:
    """A robots.txt's text as RFC 9309 reads its lines, for Protego to parse: lines split at
    CR, LF and CRLF only; other line breaks and white space percent-encoded; records that
    are not part of a group's grammar made comments."""
    lines = []
    for raw in _RFC_LINE_END.split(text):
        code, sharp, comment = raw.translate(_ASCII_SPACES).partition("#")
        said = _extract_directive(code.strip()) if code.strip() else None
        if said is not None and said[0] in _USER_AGENT_DIRECTIVE:
            # A product token is letters, `-` and `_` (RFC 9309 §2.2.1): white space after it
            # is no part of it, whatever its kind (Google's parser reads the letters alone).
            code = code.rstrip()
        line = _NOT_RFC_SPACE.sub(_percent_encoded, code + sharp + comment)
        code = line.split("#", 1)[0].strip()
        parsed = _extract_directive(code) if code else None
        lines.append(line if parsed is None or parsed[0] in _GROUP_RECORDS else "#" + line)
    return "\n".join(lines)


def _percent_encoded(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


_INDEX_PAGE = "index.html"


def _drop_index_shortcut(parser: Protego) -> None:
    """Take out the rule Protego adds for each `Allow: …/index.html`: an Allow of the
    directory itself (`…/$`). RFC 9309 matches paths, and only Google's parser reads an
    index page so; Protego applied it to every engine (`Disallow: /`, `Allow: /index.html`
    read as open, a review). A directory Allow the file itself states stays: as many are
    taken out as Protego added."""
    for rules in parser._user_agents.values():
        added = Counter(rule.value._pattern.removesuffix(_INDEX_PAGE) + "$"
                        for rule in rules._rules if rule.field == "allow"
                        and rule.value._pattern.endswith("/" + _INDEX_PAGE))
        if not added:
            continue
        kept = []
        for rule in rules._rules:
            if rule.field == "allow" and added[rule.value._pattern] > 0:
                added[rule.value._pattern] -= 1
                continue
            kept.append(rule)
        rules._rules = kept


def engine_tokens(catalog: Catalog) -> list[str]:
    """The product tokens judged: each catalog engine's `token`, in catalog order."""
    return [engine.token for engine in catalog.search_engines.values()]


def judge_robots_text(host: str, body: bytes, tokens: Sequence[str]) -> SearchBarriers:
    """A saved robots.txt, as if served with status 200."""
    return judge_robots(host, RobotsFetch(200, body), tokens)


def judge_robots(host: str, fetch: RobotsFetch, tokens: Sequence[str],
                 directives: Iterable[RawDirective] = (), *,
                 pages: Iterable[tuple[str, Iterable[RawDirective]]] = ()) -> SearchBarriers:
    """Each engine's class on `host`, from its robots.txt fetch and its pages' directives:
    `directives` of no known page (a saved file's), `pages` (URL, directives) measured. A
    page's noindex speaks only to the engines robots.txt lets fetch that page: one it keeps
    out never reads it (Google: noindex works only where robots.txt does not block the
    page). A noindex on a disallowed page made the host `noindex` for every engine where
    robots.txt made it `partial` (a review)."""
    barriers, parser = _judge_fetch(host, fetch, tokens)
    classes = dict(barriers.classes)
    located: list[tuple[str | None, RawDirective]] = [(None, raw) for raw in directives]
    located += [(url, raw) for url, page in pages for raw in page]
    noindex = _noindex(tokens, located, parser)
    for token, said in noindex.items():
        if said and classes[token].openness > 0:  # the engine can read the page to see it
            classes[token] = SearchClass.NOINDEX
    return SearchBarriers(host, classes, barriers.groups, barriers.sitemaps, barriers.status,
                          barriers.reasons, {t: d for t, d in noindex.items() if d},
                          [t for t in barriers.unsettled if classes[t] is SearchClass.PARTIAL])


def _judge_fetch(host: str, fetch: RobotsFetch,
                 tokens: Sequence[str]) -> tuple[SearchBarriers, Protego | None]:
    """The classes robots.txt gives, and the file as parsed (None where no file was read)."""
    status = fetch.status
    # A failure word with a status: an answer whose file could not be read (undecodable).
    if status is None or status >= 500 or status == 429 or status < 200 or fetch.failure:
        # 429: a rate limit says nothing about the file; like Google, read it as 5xx rather
        # than as "no restrictions" (which is what RFC 9309 says of other 4xx).
        if fetch.failure and _is_redirect_failure(fetch.failure):
            # RFC 9309 §2.3.1.2: after too many redirects the file may be taken as unavailable
            return _everyone(host, tokens, SearchClass.OPEN, status,
                             [f"redirects:{fetch.failure}"]), None
        return _everyone(host, tokens, SearchClass.UNREACHABLE, status,
                         [f"unreachable:{fetch.failure or status}"]), None
    if 300 <= status < 400:
        # A redirect not followed to its end (more than five hops): unavailable, as above.
        return _everyone(host, tokens, SearchClass.OPEN, status,
                         [f"redirects:{status}"]), None
    if 400 <= status < 500:
        return _everyone(host, tokens, SearchClass.OPEN, status,
                         [f"unavailable:{status}"]), None
    text, reasons = decode_robots(fetch.body, fetch.content_type, fetch.truncated, fetch.size)
    barriers, parser = _judge_text(host, text, tokens)
    return SearchBarriers(host, barriers.classes, barriers.groups, barriers.sitemaps, status,
                          reasons + barriers.reasons, unsettled=barriers.unsettled), parser


def decode_robots(body: bytes, content_type: str | None = None, truncated: bool = False,
                  size: int | None = None) -> tuple[str, list[str]]:
    """The text Protego parses, and the reasons it is not the file as served: at most
    500 KiB (cut after the last complete line, so a half rule is not read as a shorter one),
    a UTF-8 BOM dropped, invalid UTF-8 replaced, HTML and binary bodies noted. `truncated`:
    the caller read only the start of the file (`size` bytes in all, if known)."""
    reasons: list[str] = []
    if truncated or len(body) > MAX_ROBOTS_BYTES:
        reasons.append(f"truncated:{size or len(body)}" if size or not truncated
                       else "truncated")
        cut = body[:MAX_ROBOTS_BYTES]
        last = max(cut.rfind(b"\n"), cut.rfind(b"\r"))
        body = cut[:last + 1] if last >= 0 else cut
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"\x00" in body[:8192] or _mostly_binary(body[:8192]):
        reasons.append("binary")
    elif (head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml"))
          or parse_content_type(content_type).essence in ("text/html",
                                                          "application/xhtml+xml")):
        reasons.append("html")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        reasons.append("invalid_utf8")
        text = body.decode("utf-8-sig", errors="replace")
    return text, reasons


def _mostly_binary(sample: bytes) -> bool:
    """Control bytes other than whitespace in more than 1 of 10 bytes: not a text file."""
    if not sample:
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    return controls * 10 > len(sample)


def _judge_text(host: str, text: str, tokens: Sequence[str]) -> tuple[SearchBarriers, Protego]:
    text = rfc9309_text(text)
    parser = parse_robots(text)
    spellings = _group_spellings(text)
    paths = _rule_paths(text)
    classes: dict[str, SearchClass] = {}
    groups: dict[str, list[str]] = {}
    reasons: list[str] = []
    unsettled: list[str] = []
    # Each group (Protego rule set) is judged once for every token that obeys it: the eight
    # engines usually share `*`, and judging is redone by the report, diff, history and site.
    # Keyed by the rules, not the name the token matched (Protego keeps a rule set per name):
    # one group naming all eight engines was judged eight times (review 132).
    judged: dict[object, tuple[SearchClass, int | None]] = {}
    for token in tokens:
        name, rules = _group_for(parser, token)
        groups[token] = [] if name is None else spellings.get(name, [name])
        key = None if rules is None else tuple(
            (rule.field, rule.value._pattern) for rule in rules._rules)
        if key not in judged:
            judged[key] = (SearchClass.OPEN, None) if rules is None else \
                _judge_group(rules, paths)
            if judged[key][1] is not None:
                reasons.append(f"paths_unchecked:{name}:{judged[key][1]}/{len(paths)}")
        classes[token], cut = judged[key]
        if cut is not None:
            unsettled.append(token)
    return SearchBarriers(host, classes, groups, list(parser.sitemaps), reasons=reasons,
                          unsettled=unsettled), parser


# Rule matches one group's check of the named paths may cost: a path costs one match per
# Disallow rule of the group, and, if one matches, at most one per rule (Protego scans the
# rules until one matches); ~0.2 µs each, so a group costs at most ~2 s. Without a bound the
# check is paths × rules, quadratic in the file: 36,000 wildcard rules in 500 KiB took ~38 min
# (a review). The worst shape a real file could take, each Disallow overridden by an Allow of
# its own path, is checked whole up to 1,000 pairs (32 KiB, 0.6 s; 2,000,000 matches cut it at
# two thirds); real files are far smaller.
MAX_RULE_MATCHES = 10_000_000


def _judge_group(rules: Any, paths: Sequence[str]) -> tuple[SearchClass, int | None]:
    """One group's class, and None, or the number of named paths checked when the budget
    (MAX_RULE_MATCHES) ran out before every path was. `paths` has the Disallow values first,
    so a group that keeps out a path it names is usually found partial at once.

    A cut check gives `partial`, with the reason `paths_unchecked` and the tokens listed in
    SearchBarriers.unsettled: a cut needs Disallow rules that match named paths (the
    budget is spent only on those), so calling the group `open` would claim that none of
    them keeps its path out, which was not checked; the verdicts that turn on open against
    partial are inconclusive for it (_settled)."""
    if not rules.can_fetch(_BASE + "/"):
        return SearchClass.CLOSED, None
    # Protego refuses a URL only where a Disallow pattern matches it: a path no Disallow
    # matches is allowed without asking the whole rule set (exact, and cheap where a group
    # is mostly Allow rules, as the files of the review were).
    refusing = [rule.value for rule in rules._rules if rule.field == "disallow"]
    cost = 0
    for checked, path in enumerate(paths):
        if cost >= MAX_RULE_MATCHES:
            return SearchClass.PARTIAL, checked
        url = _quote_path(_BASE + path)  # as Protego's can_fetch quotes it
        cost += len(refusing)
        if not any(pattern.match(url) for pattern in refusing):
            continue
        cost += len(rules._rules)
        if not rules.can_fetch(_BASE + path):
            return SearchClass.PARTIAL, None
    return SearchClass.OPEN, None


def _group_for(parser: Protego, token: str) -> tuple[str | None, Any]:
    """The group `token` obeys (its lowercase User-agent value) and its rules: the groups
    named exactly `token`, else the `*` groups, else none. Protego keeps the merged groups
    by lowercase name (`_user_agents`); its own choice (`can_fetch(url, agent)`) would also
    take a group whose name only starts the token."""
    table = parser._user_agents
    name = token.strip().lower()
    if name in table:
        return name, table[name]
    if "*" in table:
        return "*", table["*"]
    return None, None


def directive_kind(line: str) -> tuple[str, str]:
    """What a robots.txt line is as Protego reads it: ("agent", value) for a User-agent line
    in any of its spellings, ("rule", value) for Allow/Disallow in any of theirs (the value
    may be empty), ("other", value) for another directive (Crawl-delay, Sitemap …), ("none",
    "") for a blank or comment line or one Protego does not read."""
    text = line.split("#", 1)[0].strip()
    parsed = _extract_directive(text) if text else None
    if parsed is None:
        return "none", ""
    name, value = parsed
    # Of no value, an agent or rule line still shapes groups as Protego reads them (an empty
    # `Disallow:` ends a group: read as nothing, `_first_rules` counted the next group's rules
    # against the one before it, a review).
    if name in _USER_AGENT_DIRECTIVE:
        return "agent", value
    if name in _ALLOW_DIRECTIVE or name in _DISALLOW_DIRECTIVE:
        return "rule", value
    return ("other", value) if value else ("none", "")


def _lines(text: str) -> Iterable[tuple[str, str]]:
    """(field, value) of every directive line, read the way Protego reads them (comment cut,
    whitespace stripped, its generous field spellings)."""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parsed = _extract_directive(line)
        if parsed is not None and parsed[1]:
            yield parsed


def _rule_paths(text: str) -> list[str]:
    """The path set P of the corpus README, less `/`: each Allow/Disallow value anywhere in
    the file, `*` as `x1`, a trailing `$` dropped, a leading `/` added; the Disallow values
    first (those a group most likely refuses: see _judge_group), each in file order."""
    disallowed: dict[str, None] = {}
    allowed: dict[str, None] = {}
    for name, value in _lines(text):
        if name in _ALLOW_DIRECTIVE or name in _DISALLOW_DIRECTIVE:
            path = value.removesuffix("$").replace("*", "x1")
            path = "/" + path.lstrip("/") if not path.startswith("/") else path
            (disallowed if name in _DISALLOW_DIRECTIVE else allowed)[path] = None
    return [*disallowed, *(p for p in allowed if p not in disallowed)]


def _group_spellings(text: str) -> dict[str, list[str]]:
    """Lowercase group name -> its User-agent values as written, each spelling once."""
    spellings: dict[str, list[str]] = {}
    for name, value in _lines(text):
        if name in _USER_AGENT_DIRECTIVE:
            lowered = value.strip().lower()
            # Protego also files "Foo*" under "foo" (it drops the wildcard).
            keys = {lowered, lowered.replace("*", "")} if lowered != "*" else {"*"}
            for key in keys - {""}:
                seen = spellings.setdefault(key, [])
                if value.strip() not in seen:
                    seen.append(value.strip())
    return spellings


def _is_redirect_failure(failure: str) -> bool:
    return failure in ("redirect_loop", "bad_location") or failure.startswith("hop_limit")


def _everyone(host: str, tokens: Sequence[str], cls: SearchClass, status: int | None,
              reasons: list[str]) -> SearchBarriers:
    """A class for every engine that no rule of the file decided (status, failure)."""
    return SearchBarriers(host, dict.fromkeys(tokens, cls), {t: [] for t in tokens}, [],
                          status, reasons)


def _noindex(tokens: Sequence[str], located: Iterable[tuple[str | None, RawDirective]],
             parser: Protego | None) -> dict[str, list[str]]:
    """Per engine, the noindex directives it reads: those naming it or every crawler, on a
    page robots.txt lets it fetch (a directive of no known page counts)."""
    said: dict[str, list[str]] = {t: [] for t in tokens}
    for url, raw in located:
        for directive in read_directive(raw):
            if not directive.noindex:
                continue
            for token in tokens:
                if directive.agent not in (None, token.lower()):
                    continue
                if url is not None and not _may_fetch(parser, token, url):
                    continue
                said[token].append(str(directive))
    return said


def _may_fetch(parser: Protego | None, token: str, url: str) -> bool:
    """Whether robots.txt lets the engine fetch the page at `url` (no file read: it may)."""
    if parser is None:
        return True
    rules = _group_for(parser, token)[1]
    if rules is None:
        return True
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return bool(rules.can_fetch(_BASE + path))


def reason_text(reason: str) -> tuple[str, str]:
    """A `SearchBarriers.reasons` entry in Chinese and English."""
    key, _, detail = reason.partition(":")
    zh, en = REASONS.get(key, (reason, reason))
    return (f"{zh}（{detail}）", f"{en} ({detail})") if detail else (zh, en)


# ---------------------------------------------------------------------------------------
# Platforms: their hosts together, self-preference, rules
# ---------------------------------------------------------------------------------------

def combine_hosts(hosts: Sequence[SearchBarriers], tokens: Sequence[str]) -> dict[str,
                                                                                 SearchClass]:
    """One class per engine for a platform's hosts: their common class when they agree;
    otherwise `partial` if some host lets the engine in, else the most definite of what kept
    it out (closed before noindex before unreachable)."""
    combined: dict[str, SearchClass] = {}
    for token in tokens:
        seen = {h.classes[token] for h in hosts if token in h.classes}
        if not seen:
            continue
        if len(seen) == 1:
            combined[token] = seen.pop()
        elif any(c.openness > 0 for c in seen):
            combined[token] = SearchClass.PARTIAL
        else:
            combined[token] = next(c for c in (SearchClass.CLOSED, SearchClass.NOINDEX,
                                               SearchClass.UNREACHABLE) if c in seen)
    return combined


@dataclass(frozen=True)
class SelfPreference:
    """How a platform treats its own company's engines against the others'. `worse`: the
    rival engines whose class is less open than the best own engine's."""

    company: str
    own: dict[str, SearchClass]
    worse: dict[str, SearchClass]

    @property
    def prefers(self) -> bool:
        return bool(self.worse)


def self_preference(classes: Mapping[str, SearchClass], company: str | None,
                    engine_company: Mapping[str, str]) -> SelfPreference | None:
    """None when the platform's company owns none of the engines judged (nothing to prefer).
    `engine_company`: token -> company id (catalog.search_engines)."""
    own = {t: c for t, c in classes.items() if engine_company.get(t) == company}
    if company is None or not own:
        return None
    best = max(c.openness for c in own.values())
    worse = {t: c for t, c in classes.items()
             if t not in own and c.openness < best}
    return SelfPreference(company, own, worse)


def token_companies(catalog: Catalog) -> dict[str, str]:
    return {e.token: e.company for e in catalog.search_engines.values()}


# The rule checks (policies/rules with `scope: search`); each gives findings for one platform.
@dataclass(frozen=True)
class SearchFinding:
    status: Status
    host: str | None  # None: the platform's hosts together
    detail: Text  # fills {reason} in the rule's templates


def _check_same_class(hosts: Sequence[SearchBarriers], tokens: Sequence[str],
                      company: str | None, engine_company: Mapping[str, str],
                      names: Mapping[str, Text]) -> list[SearchFinding]:
    """Per host: every engine gets the same class. A host whose robots.txt could not be
    read (unreachable for every engine) decides nothing."""
    findings = []
    for host in hosts:
        classes = {t: host.classes[t] for t in tokens if t in host.classes}
        if not classes or set(classes.values()) == {SearchClass.UNREACHABLE}:
            findings.append(SearchFinding(Status.INCONCLUSIVE, host.host, Text(
                zh=f"{host.host} 的 robots.txt 无法获取", en=f"{host.host}'s robots.txt could "
                "not be fetched")))
            continue
        findings.append(SearchFinding(
            Status.FAIL if len(set(classes.values())) > 1 else Status.PASS, host.host,
            _classes_text(host.host, classes, names)))
    return findings


def _check_self_preference(hosts: Sequence[SearchBarriers], tokens: Sequence[str],
                           company: str | None, engine_company: Mapping[str, str],
                           names: Mapping[str, Text]) -> list[SearchFinding]:
    """The platform's hosts together: the own company's engine is not more open than a
    rival's. No finding when the company owns no engine."""
    classes = combine_hosts(hosts, tokens)
    found = self_preference(classes, company, engine_company)
    if found is None:
        return []
    if all(c is SearchClass.UNREACHABLE for c in found.own.values()):
        return [SearchFinding(Status.INCONCLUSIVE, None, Text(
            zh="robots.txt 无法获取", en="robots.txt could not be fetched"))]
    where = ", ".join(h.host for h in hosts)
    own = _classes_text(where, found.own, names)
    if not found.prefers:
        return [SearchFinding(Status.PASS, None, own)]
    rivals = _classes_text(where, found.worse, names)
    return [SearchFinding(Status.FAIL, None, Text(zh=f"{own.zh}；而{rivals.zh}",
                                                  en=f"{own.en}; whereas {rivals.en}"))]


def _check_not_closed(hosts: Sequence[SearchBarriers], tokens: Sequence[str],
                      company: str | None, engine_company: Mapping[str, str],
                      names: Mapping[str, Text]) -> list[SearchFinding]:
    """The platform's hosts together: no engine is shut out by a published rule
    (closed or noindex); `unreachable` decides nothing."""
    classes = combine_hosts(hosts, tokens)
    shut = {t: c for t, c in classes.items() if c in (SearchClass.CLOSED, SearchClass.NOINDEX)}
    where = ", ".join(h.host for h in hosts)
    if shut:
        return [SearchFinding(Status.FAIL, None, _classes_text(where, shut, names))]
    if not classes or all(c is SearchClass.UNREACHABLE for c in classes.values()):
        return [SearchFinding(Status.INCONCLUSIVE, None, Text(
            zh="robots.txt 无法获取", en="robots.txt could not be fetched"))]
    return [SearchFinding(Status.PASS, None, _classes_text(where, classes, names))]


SEARCH_CHECKS = {
    "search_same_class": _check_same_class,
    "search_no_self_preferencing": _check_self_preference,
    "search_not_closed": _check_not_closed,
}

CLASS_LABELS: dict[SearchClass, tuple[str, str]] = {
    SearchClass.OPEN: ("开放", "open"),
    SearchClass.PARTIAL: ("部分开放", "partial"),
    SearchClass.CLOSED: ("禁止", "closed"),
    SearchClass.UNREACHABLE: ("无法获取（视为禁止）", "unreachable (complete disallow)"),
    SearchClass.NOINDEX: ("禁止收录（noindex）", "noindex"),
}


def _classes_text(where: str, classes: Mapping[str, SearchClass],
                  names: Mapping[str, Text]) -> Text:
    def one(token: str, cls: SearchClass, lang: int) -> str:
        name = names.get(token)
        label = (name.zh if lang == 0 else name.en) if name else token
        return f"{label}（{token}）{CLASS_LABELS[cls][0]}" if lang == 0 else \
            f"{label} ({token}) {CLASS_LABELS[cls][1]}"
    return Text(zh=f"{where}：" + "，".join(one(t, c, 0) for t, c in classes.items()),
                en=f"{where}: " + ", ".join(one(t, c, 1) for t, c in classes.items()))


SearchCheck = Callable[[Sequence[SearchBarriers], Sequence[str], str | None, Mapping[str, str],
                        Mapping[str, Text]], list[SearchFinding]]

# Groups whose open-or-partial is unsettled that _settled tries both ways (2^N variants).
_MAX_UNSETTLED = 6


def _settled(check: SearchCheck, hosts: Sequence[SearchBarriers], tokens: Sequence[str],
             company: str | None, engine_company: Mapping[str, str],
             names: Mapping[str, Text]) -> list[SearchFinding]:
    """A check's findings, inconclusive where they turn on a class the judge did not settle
    (SearchBarriers.unsettled: read `partial`, may be `open`): the check is run with each
    such group (one host's tokens obeying one group share its truth) open and partial, and a
    finding whose status differs between them is inconclusive."""
    keys = sorted({(i, tuple(h.groups.get(t, []))) for i, h in enumerate(hosts)
                   for t in h.unsettled})
    if not keys:
        return check(hosts, tokens, company, engine_company, names)
    findings = check(hosts, tokens, company, engine_company, names)
    if len(keys) > _MAX_UNSETTLED:
        statuses = [{Status.PASS, Status.FAIL}] * len(findings)  # too many: none settled
    else:
        statuses = [{f.status} for f in findings]
        for choice in itertools.product((SearchClass.OPEN, SearchClass.PARTIAL),
                                        repeat=len(keys)):
            chosen = dict(zip(keys, choice, strict=True))
            variant = [replace(h, classes={t: chosen.get((i, tuple(h.groups.get(t, []))), c)
                                           if t in h.unsettled else c
                                           for t, c in h.classes.items()})
                       for i, h in enumerate(hosts)]
            for seen, f in zip(statuses, check(variant, tokens, company, engine_company,
                                               names), strict=True):
                seen.add(f.status)
    return [f if len(seen) == 1 else SearchFinding(Status.INCONCLUSIVE, f.host, Text(
                zh=f"{f.detail.zh}（规则过多，未能确定是否完全开放）",
                en=f"{f.detail.en} (too many rules to settle open or partial)"))
            for f, seen in zip(findings, statuses, strict=True)]


def evaluate_search_rules(platform_id: str, hosts: Sequence[SearchBarriers], catalog: Catalog,
                          evidence: Mapping[str, list[str]] | None = None) -> list[Verdict]:
    """Verdicts of every `scope: search` rule for one platform's hosts. `evidence`: host ->
    WARC record ids of its robots.txt (and pages), copied into the verdicts."""
    platform = catalog.platforms.get(platform_id)
    company = platform.company if platform else None
    tokens = engine_tokens(catalog)
    engine_company = token_companies(catalog)
    names = {e.token: e.name for e in catalog.search_engines.values()}
    index: dict[str, list[str]] = {}
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            for rule_id in requirement.rules:
                index.setdefault(rule_id, []).append(f"{framework.id}/{requirement.id}")
    evidence = evidence or {}
    verdicts = []
    for rule in sorted(catalog.rules.values(), key=lambda r: r.id):
        if rule.scope != "search" or rule.check not in SEARCH_CHECKS:
            continue
        check = SEARCH_CHECKS[rule.check]
        for finding in _settled(check, hosts, tokens, company, engine_company, names):
            on = [finding.host] if finding.host else [h.host for h in hosts]
            verdicts.append(Verdict(
                id=search_verdict_id(rule.id, platform_id, finding.host),
                rule_id=rule.id, source=platform_id, target_url=None,
                status=finding.status, severity=rule.severity,
                reason=_fill(rule, finding, platform.name if platform else None, platform_id),
                requirements=list(index.get(rule.id, [])),
                evidence=[r for h in on for r in evidence.get(h, [])]))
    return verdicts


def search_verdict_id(rule_id: str, platform_id: str, host: str | None) -> str:
    """Stable across runs, as verdict_id is for observation verdicts."""
    key = f"{rule_id}\0search\0{platform_id}\0{host or ''}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _fill(rule: Rule, finding: SearchFinding, name: Text | None, platform_id: str) -> Text:
    templates = rule.reason
    template = {Status.PASS: templates.pass_, Status.FAIL: templates.fail,
                Status.INCONCLUSIVE: templates.inconclusive or templates.fail}.get(
                    finding.status, templates.fail)
    values = [{"source": name.zh if name else platform_id, "reason": finding.detail.zh},
              {"source": name.en if name else platform_id, "reason": finding.detail.en}]
    return Text(zh=_format(template.zh, values[0]), en=_format(template.en, values[1]))


def _format(template: str, values: Mapping[str, str]) -> str:
    class Missing(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"
    return template.format_map(Missing(values))


