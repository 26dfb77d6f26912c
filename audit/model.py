"""The shared types of hulian: policy data, probes, observations, verdicts, run manifests.

Every type is a pydantic v2 model that round-trips through JSON unchanged, because every one
of them crosses a file boundary (YAML policies, JSONL bundles, reports). This module imports
nothing from the rest of the project.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Identifiers used in policy files and bundles: lowercase, digits, '-', '_', '.'.
# Dots are allowed so that wrapper ids can read like hosts ("link.zhihu.com").
Identifier = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=80)]


class Strict(BaseModel):
    """Base for policy data: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Record(BaseModel):
    """Base for measured data: unknown keys are errors too, so a bundle written by a newer
    format is refused instead of half-read."""

    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------


class Outcome(StrEnum):
    """What happened when a user followed a link (DESIGN.md, "Outcome taxonomy"). Their
    order, friction, grade, rank and colours: audit/judge/outcomes.py."""

    DIRECT = "direct"  # the link points straight at the target and the target loads
    WRAPPED = "wrapped"  # a redirector forwards without user action
    WARNED = "warned"  # a warning interstitial; one action reaches the target
    COPY_ONLY = "copy_only"  # the URL is shown, the user must copy it into a browser
    BLOCKED = "blocked"  # a block page; the target cannot be reached
    STRIPPED = "stripped"  # not clickable: plain text, generic label, or removed
    DIVERTED = "diverted"  # ends on a known page of a platform that is not the target
    # Ends on an interception endpoint hulian cannot read, or on a page that is neither the
    # target (its domain or its control fetch) nor any page the catalog knows: a person must
    # look. Never read as open, never a pass.
    UNRECOGNIZED = "unrecognized"
    TARGET_DOWN = "target_down"  # the control fetch fails too: not the platform's doing
    ERROR = "error"  # the measurement failed (timeout, anti-bot, rate limit ...)


class SearchClass(StrEnum):
    """How far a host lets one search engine's crawler read it (the robots corpus README's
    classes, plus what RFC 9309 and page directives add)."""

    OPEN = "open"  # robots.txt lets the crawler fetch every path it names (and /)
    PARTIAL = "partial"  # / may be fetched, some path the file names may not
    CLOSED = "closed"  # / may not be fetched: a published rule shuts the crawler out
    # robots.txt answered 5xx or could not be fetched: RFC 9309 says assume complete
    # disallow. Kept apart from `closed`: nobody published it.
    UNREACHABLE = "unreachable"
    NOINDEX = "noindex"  # readable, but the page tells this crawler not to index it

    @property
    def openness(self) -> int:
        """For comparing engines: open > partial > the three that keep the engine out."""
        return {SearchClass.OPEN: 2, SearchClass.PARTIAL: 1}.get(self, 0)


class PageKind(StrEnum):
    """What one page is, judged from its own content (and where it is served)."""

    CONTENT = "content"
    WARNED = "warned"
    COPY_ONLY = "copy_only"
    BLOCKED = "blocked"
    # An interception endpoint's page that no marker and no structural reading explains.
    UNRECOGNIZED = "unrecognized"
    # An interception endpoint's page that only forwards (meta refresh, script location):
    # not an interstitial, and not content either (the chain follows it).
    REDIRECT = "redirect"
    # A page that cannot be judged: a captcha or "unusual traffic" answer anywhere, or on an
    # interception endpoint an empty page, an error page or a login wall. `failure` says which.
    ERROR = "error"


# The kinds a signature can assign (the others come from structure or the chain).
class Lang(StrEnum):
    """Interface languages a platform ships and its page texts come in."""

    ZH_HANS = "zh-Hans"  # 简体中文
    ZH_HANT = "zh-Hant"  # 繁體中文
    EN = "en"


class BlockReason(StrEnum):
    """The reason a block page states (Citizen Lab's 2016 WeChat taxonomy, domain-facts §2.7)."""

    PHISHING = "phishing"
    REWARD_SHARING = "reward_sharing"  # 诱导分享
    SCAM = "scam"  # 恶意欺诈
    COPYRIGHT = "copyright"  # 侵权
    RUMOR = "rumor"  # 谣言或虚假信息
    ILLEGAL = "illegal"  # 违法或违规
    PORN = "porn"  # 色情低俗
    OBSCENE = "obscene"
    LUCKY_MONEY = "lucky_money"  # 虚假红包
    NONSECURE = "nonsecure"
    MALWARE = "malware"


class Category(StrEnum):
    IM = "im"
    SOCIAL = "social"
    SEARCH = "search"
    ECOMMERCE = "ecommerce"
    VIDEO = "video"
    QA = "qa"
    TRAVEL = "travel"
    LOCAL_SERVICES = "local_services"
    LOGISTICS = "logistics"
    PAYMENT = "payment"
    CONTENT = "content"  # blogs, articles, community writing
    DEV = "dev"  # code hosting, developer communities
    PRODUCTIVITY = "productivity"  # documents, office suites, mail
    TICKETING = "ticketing"
    SECURITY = "security"
    NEWS = "news"


class SurfaceKind(StrEnum):
    """Where a link can be placed or seen on a platform."""

    IM_PRIVATE = "im_private"
    IM_GROUP = "im_group"
    MOMENTS = "moments"
    POST = "post"
    COMMENT = "comment"
    ARTICLE = "article"
    PROFILE = "profile"
    SEARCH = "search"
    MINI_PROGRAM = "mini_program"
    DOCUMENT = "document"
    MAIL = "mail"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Status(StrEnum):
    """A rule's answer for one observation (or one comparison, for cross-target rules)."""

    PASS = "pass"  # the observed outcome is one the rule accepts
    FAIL = "fail"  # the observed outcome is one the rule forbids
    EXEMPT = "exempt"  # would fail, but an exemption with a recorded justification applies
    INCONCLUSIVE = "inconclusive"  # the observation cannot decide (target down, error ...)


class Text(Strict):
    """A text in both report languages."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Citation(Strict):
    """Where a policy fact comes from: a section of notes/domain-facts.md and/or a URL."""

    fact: str = Field(min_length=1, description="e.g. 'domain-facts §2.3'")
    url: str | None = None
    note: str | None = None


# ---------------------------------------------------------------------------------------
# Platforms: companies, wrappers, page signatures, surfaces
# ---------------------------------------------------------------------------------------


class Company(Strict):
    id: Identifier
    name: Text
    cite: Citation | None = None


# A robots.txt product token as search engines publish them: words of letters, digits, '_'
# and '-', single spaces between ("Sogou web spider"); nothing a robots.txt line would read
# differently ('#', ':', '*').
ProductToken = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+( [A-Za-z0-9_-]+)*$",
                                    max_length=80)]


class SearchEngine(Strict):
    """A web search engine and the crawler that indexes for it (policies/search_engines.yaml).
    `token` is the product token its web crawler obeys in robots.txt: the one judged.
    `company` is a company id; an engine's company that owns no audited platform is not in
    companies.yaml and is named here instead (`company_name`)."""

    id: Identifier
    name: Text
    company: Identifier
    company_name: Text | None = None
    token: ProductToken
    # The engine's other crawlers (images, news, ads) and older names of its web crawler:
    # for reference only. RFC 9309 matches whole tokens, so their groups do not bind `token`.
    other_tokens: list[ProductToken] = Field(default_factory=list)
    cite: list[Citation] = Field(min_length=1)

    @model_validator(mode="after")
    def _tokens_distinct(self) -> SearchEngine:
        seen = [self.token.lower(), *(t.lower() for t in self.other_tokens)]
        twice = sorted({t for t in seen if seen.count(t) > 1})
        if twice:
            raise ValueError(f"engine {self.id!r}: token(s) named twice (robots.txt compares "
                             f"them case-insensitively): {', '.join(twice)}")
        return self


class TargetLocation(StrEnum):
    """Where a wrapper URL keeps the real target."""

    QUERY = "query"  # a query parameter, percent-encoded
    BASE64 = "base64"  # a query parameter, base64 of the target
    WHOLE_QUERY = "whole_query"  # the entire query string is the target (51CTO)
    PAGE = "page"  # only in the wrapper's page body; known once the page is fetched
    OPAQUE = "opaque"  # an encrypted/opaque token; only following it reveals the target


class UrlMatch(Strict):
    """Matches a URL by host and path. Hosts match exactly or as a dot-suffix when they
    start with '.' (".bdimg.com" matches "jump2.bdimg.com")."""

    hosts: list[str] = Field(min_length=1)
    path: str | None = Field(default=None, description="regular expression searched in the path")

    @field_validator("hosts")
    @classmethod
    def _lower_hosts(cls, hosts: list[str]) -> list[str]:
        return [h.strip().lower() for h in hosts]


class Wrapper(Strict):
    """A platform's link redirector (e.g. link.zhihu.com/?target=)."""

    id: Identifier
    match: UrlMatch
    target: TargetLocation
    params: list[str] = Field(default_factory=list, description="query parameters, in order")
    # Body-only wrappers: where the page shows the target once fetched.
    page_selector: str | None = None
    # How to build a wrapped link for any target, `{target}` standing for the percent-encoded
    # URL: lets a target list be dial-tested through the platform's redirector.
    link_template: str | None = Field(default=None, pattern=r"^https?://.*\{target\}")
    cite: Citation

    @model_validator(mode="after")
    def _params_needed(self) -> Wrapper:
        if self.target in (TargetLocation.QUERY, TargetLocation.BASE64) and not self.params:
            raise ValueError(f"wrapper {self.id!r}: target '{self.target}' needs 'params'")
        return self


class TargetSource(Strict):
    """One way to read a target URL (or continue link) off a page; tried in order."""

    kind: Literal["selector", "query", "script_var", "attr", "meta_refresh"]
    selector: str | None = None  # CSS selector; text content unless `attribute` is set
    attribute: str | None = None
    param: str | None = None  # for kind=query: parameter of the page's own URL
    name: str | None = None  # for kind=script_var: the JS variable or object key


class MarkerSet(Strict):
    """The phrases that identify a page in one interface language. `seen: false` marks a
    wording that was inferred (translated from another language of the same page) rather
    than seen on a real page; `note` says from what."""

    lang: Lang
    any: list[str] = Field(default_factory=list, description="at least one must occur")
    all: list[str] = Field(default_factory=list, description="all must occur")
    none: list[str] = Field(default_factory=list, description="none may occur")
    seen: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _something(self) -> MarkerSet:
        if not (self.any or self.all):
            raise ValueError(f"marker set {self.lang.value!r} needs 'any' or 'all'")
        return self


class Endpoint(Strict):
    """Where a platform shows its warning, copy-to-browser or block pages (host + path). A
    page served here is an interception page: never `content`. When no signature's markers
    match it, its kind is read from its structure (a way on, the target shown with a copy
    instruction, neither), else it is `unrecognized`."""

    id: Identifier
    match: UrlMatch
    shows: list[Literal["warned", "copy_only", "blocked"]] = Field(
        min_length=1, description="the page kinds it is known to show")
    # Where the endpoint's pages show the target and the continue control, for pages in a
    # wording no signature knows.
    target: list[TargetSource] = Field(default_factory=list)
    continue_link: list[TargetSource] = Field(default_factory=list)
    # Strings only this endpoint's pages carry in their scripts (its own asset paths, the
    # handlers it calls): they place a page saved without its address on the endpoint.
    page_markers: list[str] = Field(default_factory=list)
    note: str | None = None
    cite: Citation


class Example(Strict):
    """A saved page a signature must recognise: `file` is relative to the policy directory
    (e.g. examples/weixin/blocked.html), `url` where it was served (None: the text alone
    must decide)."""

    file: str = Field(min_length=1, pattern=r"^[^/\\].*\.html?$")
    url: str | None = Field(default=None, pattern=r"^https?://")


class PageSignature(Strict):
    """How to recognise one interstitial or block page and what to read from it."""

    id: Identifier
    kind: Literal[PageKind.WARNED, PageKind.COPY_ONLY, PageKind.BLOCKED]
    match: UrlMatch | None = None  # where the page is served; None = recognised by text only
    endpoint: Identifier | None = Field(
        default=None, description="id of the platform's endpoint serving it (instead of match)")
    # Markers per interface language (`markers`); the three legacy lists below are one more
    # set of no stated language, kept so that older policy files still load.
    markers: list[MarkerSet] = Field(default_factory=list)
    markers_any: list[str] = Field(default_factory=list, description="at least one must occur")
    markers_all: list[str] = Field(default_factory=list, description="all must occur")
    markers_none: list[str] = Field(default_factory=list, description="none may occur")
    selectors_any: list[str] = Field(default_factory=list, description="at least one must match")
    target: list[TargetSource] = Field(default_factory=list)
    continue_link: list[TargetSource] = Field(default_factory=list)
    reason_selector: str | None = Field(
        default=None, description="element whose text states the block reason; default: page text"
    )
    # Saved pages this signature must recognise (as itself, of its kind): `hulian policies
    # test` runs them.
    examples: list[Example] = Field(default_factory=list)
    cite: Citation

    @property
    def marker_sets(self) -> list[MarkerSet]:
        """Every set of markers, the legacy lists included (as a set of no language)."""
        sets = list(self.markers)
        if self.markers_any or self.markers_all:
            sets.append(MarkerSet.model_construct(
                lang=Lang.ZH_HANS, any=self.markers_any, all=self.markers_all,
                none=self.markers_none, seen=True, note="legacy"))
        return sets

    @property
    def url_only(self) -> bool:
        """Recognised by where it is served alone (no page text is known for it)."""
        return not (self.markers or self.markers_any or self.markers_all or self.selectors_any)

    @model_validator(mode="after")
    def _something_to_match(self) -> PageSignature:
        if self.match is not None and self.endpoint is not None:
            raise ValueError(f"signature {self.id!r}: give 'match' or 'endpoint', not both")
        if self.url_only and self.match is None and self.endpoint is None:
            raise ValueError(
                f"signature {self.id!r} needs 'match', 'endpoint' or markers/selectors_any"
            )
        return self


class Surface(Strict):
    kind: SurfaceKind
    seeds: list[str] = Field(default_factory=list, description="example page URLs to crawl")
    method: Literal["crawl", "capture"] = "crawl"
    note: str | None = None


class Platform(Strict):
    id: Identifier
    name: Text
    company: Identifier
    category: Category
    # Host suffixes the platform owns: a link there is internal, not outbound. An entry may be
    # a registrable domain (zhihu.com) or narrower (weixin.qq.com) where a group shares one.
    domains: list[str] = Field(min_length=1)
    # Interface languages the platform ships: every signature needs markers in each.
    languages: list[Lang] = Field(default_factory=lambda: [Lang.ZH_HANS], min_length=1)
    wrappers: list[Wrapper] = Field(default_factory=list)
    endpoints: list[Endpoint] = Field(default_factory=list)
    signatures: list[PageSignature] = Field(default_factory=list)
    surfaces: list[Surface] = Field(default_factory=list)
    cite: Citation

    @field_validator("domains")
    @classmethod
    def _lower_domains(cls, domains: list[str]) -> list[str]:
        return [d.strip().lower().lstrip(".") for d in domains]

    @model_validator(mode="after")
    def _endpoints_known(self) -> Platform:
        ids = [e.id for e in self.endpoints]
        if len(ids) != len(set(ids)):
            raise ValueError(f"platform {self.id!r}: duplicate endpoint ids")
        for signature in self.signatures:
            if signature.endpoint is not None and signature.endpoint not in ids:
                raise ValueError(f"signature {signature.id!r}: unknown endpoint "
                                 f"{signature.endpoint!r} (this platform has: "
                                 f"{', '.join(ids) or 'none'})")
        return self

    def endpoint(self, endpoint_id: str) -> Endpoint:
        for endpoint in self.endpoints:
            if endpoint.id == endpoint_id:
                return endpoint
        raise KeyError(endpoint_id)

    def signature_match(self, signature: PageSignature) -> UrlMatch | None:
        """Where a signature's page is served: its own match, or its endpoint's."""
        if signature.endpoint is not None:
            return self.endpoint(signature.endpoint).match
        return signature.match


class ReasonPattern(Strict):
    """Regular expressions (zh and en) that identify one stated block reason."""

    reason: BlockReason
    patterns: list[str] = Field(min_length=1)
    cite: Citation


class GenericMarkers(Strict):
    """Phrases that identify an interstitial the catalog does not know (policies/markers.yaml).
    They only count on short pages: a long article that quotes a block-page text is content."""

    blocked: list[str] = Field(min_length=1)
    copy_only: list[str] = Field(min_length=1)
    warned: list[str] = Field(min_length=1)
    continue_texts: list[str] = Field(min_length=1, description="labels of a 'continue' link")
    # Anti-bot challenges (captcha, "unusual traffic"): the auditor was refused, not the user;
    # such an answer is an `error`, never evidence of blocking.
    anti_bot: list[str] = Field(default_factory=list)
    # "Too many requests": the auditor was refused too, but nothing is asked of it (a wait),
    # so unlike a security check's words these need no field or script to be what they say.
    rate_limit: list[str] = Field(default_factory=list)
    # On an interception endpoint: a login wall or a server's error page is an `error`, not
    # a block (the auditor could not see what the platform does with the link).
    login_wall: list[str] = Field(default_factory=list)
    # Words of a link or button that logs in ("登录", "Sign in"): with none of these, no
    # field, no script and no picture (a QR code), login words are not a login wall.
    login_controls: list[str] = Field(default_factory=list)
    # Words that the login is a picture to scan (二维码, 扫码): with one of them shown, a
    # picture on the page is a way to log in.
    login_pictures: list[str] = Field(default_factory=list)
    error_page: list[str] = Field(default_factory=list)
    # Structure reading of endpoint pages in an unknown wording: words of an instruction to
    # copy the link or open it in a browser, and labels of controls that do not continue
    # (help, report, close ...), so that an unread control is told from a known one.
    copy_words: list[str] = Field(default_factory=list)
    other_controls: list[str] = Field(default_factory=list)
    # Domains a Chinese page's footer links whatever the page is (the ICP filing, the public
    # security filing, the report centre): a link there is never a page's way on.
    footer_domains: list[str] = Field(default_factory=list)
    max_text_chars: int = Field(default=1200, gt=0, description="longer pages are content")
    reasons: list[ReasonPattern] = Field(min_length=1)
    cite: list[Citation] = Field(min_length=1)


# ---------------------------------------------------------------------------------------
# Rules and frameworks
# ---------------------------------------------------------------------------------------


class Exemption(Strict):
    """A failing outcome that is justified, e.g. blocking a target listed as unlawful."""

    id: Identifier
    reasons: list[BlockReason] = Field(default_factory=list, description="stated block reasons")
    target_domains: list[str] = Field(
        default_factory=list, description="registrable domains listed as unlawful"
    )
    justification: Text
    cite: Citation

    @model_validator(mode="after")
    def _has_condition(self) -> Exemption:
        if not (self.reasons or self.target_domains):
            raise ValueError(f"exemption {self.id!r} needs 'reasons' or 'target_domains'")
        return self


class AppliesTo(Strict):
    """Which observations a rule judges. Empty lists mean 'any'."""

    surfaces: list[SurfaceKind] = Field(default_factory=list)
    source_categories: list[Category] = Field(default_factory=list)
    sources: list[Identifier] = Field(default_factory=list, description="platform ids")
    target_categories: list[Category] = Field(default_factory=list)
    # True: only links to another company's service (the MIIT item is about 其他企业).
    cross_company_only: bool = True


class ReasonTemplates(Strict):
    """Sentences for each status; `{source}`, `{target}`, `{surface}`, `{outcome}`,
    `{reason}` and `{justification}` are filled in."""

    pass_: Text = Field(alias="pass")
    fail: Text
    exempt: Text | None = None
    inconclusive: Text | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rule(Strict):
    """One atomic rule over outcomes and surfaces (policies/rules/<id>.yaml)."""

    id: Identifier
    title: Text
    severity: Severity
    # search: judged on the search engines' classes of a platform's hosts (audit/judge/search.py)
    scope: Literal["observation", "graph", "search"] = "observation"
    applies_to: AppliesTo = Field(default_factory=AppliesTo)
    pass_outcomes: list[Outcome] = Field(default_factory=list)
    fail_outcomes: list[Outcome] = Field(default_factory=list)
    # Graph rules compare friction between pairs; `check` names the comparison.
    check: Literal["same_category_same_friction", "no_self_preferencing", "search_same_class",
                   "search_no_self_preferencing", "search_not_closed"] | None = None
    # True when the rule stands on guidance (e.g. a press report of a regulator's intention),
    # not on a rule in force: reports show it as such, and it should carry severity info.
    guidance: bool = False
    exemptions: list[Exemption] = Field(default_factory=list)
    reason: ReasonTemplates
    cite: list[Citation] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        undecidable = {Outcome.UNRECOGNIZED} & (set(self.pass_outcomes) | set(self.fail_outcomes))
        if undecidable:
            raise ValueError(f"rule {self.id!r}: 'unrecognized' is always inconclusive (a person "
                             "must look); it cannot be listed as a pass or fail outcome")
        if self.scope == "observation":
            if not self.fail_outcomes:
                raise ValueError(f"rule {self.id!r}: an observation rule needs fail_outcomes")
            both = set(self.pass_outcomes) & set(self.fail_outcomes)
            if both:
                raise ValueError(f"rule {self.id!r}: outcomes both pass and fail: {sorted(both)}")
        elif self.check is None:
            raise ValueError(f"rule {self.id!r}: a {self.scope} rule needs 'check'")
        elif self.check.startswith("search_") != (self.scope == "search"):
            raise ValueError(f"rule {self.id!r}: check {self.check!r} does not belong to "
                             f"scope {self.scope!r}")
        return self


class LegalSource(Strict):
    document: str = Field(min_length=1)
    date: str | None = None
    url: str | None = None
    status: str | None = Field(
        default=None, description="e.g. 'reported, not officially published'"
    )


class Requirement(Strict):
    id: Identifier
    title: Text
    wording: str = Field(min_length=1, description="the exact Chinese wording")
    source: LegalSource
    rules: list[Identifier] = Field(default_factory=list, description="empty = manual check")
    cite: Citation


class Framework(Strict):
    id: Identifier
    title: Text
    version: str
    description: Text | None = None
    requirements: list[Requirement] = Field(min_length=1)


# ---------------------------------------------------------------------------------------
# Measurement: probes, hops, observations, verdicts, manifests
# ---------------------------------------------------------------------------------------


# How the source shows a link (DESIGN.md): a link a tap follows (`anchor`), one whose tap runs
# a handler that may not follow it (`handled`: its address is measured, an open link is not
# concluded), the address as text no tap opens (`text`), or nothing (`absent`). The last two
# are `stripped` without a fetch.
RenderedAs = Literal["anchor", "handled", "text", "absent"]


def followed(rendered_as: str) -> bool:
    """Whether a probe's link is followed (fetched): a tap can open it."""
    return rendered_as in ("anchor", "handled")


class Probe(Record):
    """One planned test: follow a link from a source platform's surface to a target."""

    id: str
    source: str  # platform id
    surface: SurfaceKind
    target_url: str
    target_platform: str | None = None
    seed_url: str | None = None  # the page on which the link was found
    link_url: str | None = None  # the href as the platform renders it (possibly wrapped)
    rendered_as: RenderedAs = "anchor"
    token: str | None = None  # attributes captured traffic to this probe
    category: str | None = None  # the target list's category code (Citizen Lab), if any


class Hop(Record):
    """One request/response of a link-follow chain."""

    url: str
    status: int | None = None
    location: str | None = None  # where this hop sends the client next, if anywhere
    via: Literal["start", "http", "meta_refresh", "js", "continue", "control"] = "start"
    elapsed_ms: float | None = None
    body_sha256: str | None = None
    warc_record_id: str | None = None


class PageFacts(Record):
    """What the classifier read off the final page of a chain (or a saved page)."""

    kind: PageKind = PageKind.CONTENT
    # "<platform>/<signature id>", "generic/<rule>" (markers.yaml) or "structure/<reading>"
    signature: str | None = None
    endpoint: str | None = None  # "<platform>/<endpoint id>" when served on one
    target: str | None = None  # the target URL the page names to the user
    reason: BlockReason | None = None
    reason_text: str | None = None  # the page's own reason sentence, when no slug fits
    continue_url: str | None = None
    title: str | None = None
    headline: str | None = None  # the page's visible heading (or first line)
    excerpt: str | None = None  # a short quote of the page text, for reports
    failure: str | None = None  # kind `error`: why the page cannot be judged
    parse_issue: str | None = None  # the parser had to cut the page (content may be missing)


class ControlComparison(Record):
    """The chain's final page against the control fetch's final page, compared the way OONI's
    web_connectivity decides an HTTP difference. `matched` is the decision."""

    control_url: str
    control_status: int | None
    chain_status: int | None
    status_match: bool
    same_site: bool  # both ended on one registrable domain (recorded; `matched` needs one host)
    body_proportion: float  # shorter body length / longer (1.0 = same length)
    title_match: bool
    structure_similarity: float  # weighted Jaccard of the two pages' element-name counts
    # Jaccard of the two visible texts' trigrams; None where either page has no text, or the
    # observation was made before texts were compared.
    text_similarity: float | None = None
    matched: bool


class Observation(Record):
    """Facts measured for one probe, plus the outcome the classifier derived from them.
    `hulian evaluate` recomputes the outcome and verdicts from these facts."""

    id: str
    probe_id: str
    run_id: str | None = None
    source: str
    surface: SurfaceKind
    target_url: str
    target_platform: str | None = None
    method: Literal["crawl", "capture", "inspect"] = "crawl"
    started_at: datetime | None = None
    runtime_s: float | None = None
    rendered_as: RenderedAs = "anchor"
    hops: list[Hop] = Field(default_factory=list)
    final_url: str | None = None
    page: PageFacts | None = None
    control_ok: bool | None = None  # did a direct fetch of the target succeed?
    comparison: ControlComparison | None = None  # when the chain ended off the target's domain
    failure: str | None = None  # why the measurement failed, e.g. "timeout", "anti_bot:429"
    outcome: Outcome
    reason: BlockReason | None = None
    evidence: list[str] = Field(default_factory=list)  # WARC record ids


class Verdict(Record):
    id: str
    rule_id: str
    observation_id: str | None = None  # None for graph rules
    probe_id: str | None = None
    source: str
    surface: SurfaceKind | None = None
    target_url: str | None = None
    target_platform: str | None = None
    outcome: Outcome | None = None
    status: Status
    severity: Severity
    reason: Text
    exemption: str | None = None
    requirements: list[str] = Field(default_factory=list)  # "<framework>/<requirement>"
    evidence: list[str] = Field(default_factory=list)


class RunManifest(Record):
    format_version: int = 1
    run_id: str
    tool_version: str
    policy_digest: str
    started_at: datetime
    finished_at: datetime | None = None
    config: dict[str, object] = Field(default_factory=dict)
    vantage: dict[str, str] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")
    # sha256 over every other field (audit.evidence.bundle.manifest_digest): the hashes above pin
    # the
    # files, this pins the manifest's own fields (configuration, times, versions, history).
    manifest_digest: str | None = None


# ---------------------------------------------------------------------------------------
# Search barriers: what the crawl measured (search.jsonl; judged by audit/judge/search.py)
# ---------------------------------------------------------------------------------------


class SearchHop(Record):
    """One request of a robots.txt fetch (RFC 9309: redirects are followed, five at most)."""

    url: str
    status: int | None = None
    location: str | None = None
    warc_record_id: str | None = None


class RobotsTxtFetch(Record):
    """What fetching a host's /robots.txt gave: the last status (after redirects), or the
    failure word (audit.measure.failures: a transport's, or `redirect_loop`, `hop_limit:5`,
    `bad_location`), and the
    body as received, cut at RFC 9309's 500 KiB (`size` is what was received)."""

    url: str
    final_url: str | None = None
    status: int | None = None
    failure: str | None = None
    hops: list[SearchHop] = Field(default_factory=list)
    content_type: str | None = None
    size: int | None = None
    truncated: bool = False
    sha256: str | None = None  # of the body as received (the WARC record's payload, decoded)
    body_base64: str | None = None  # the first 500 KiB, exactly as received


class SitemapCheck(Record):
    """A sitemap robots.txt lists: whether it exists and how big it is (never parsed)."""

    url: str
    status: int | None = None
    failure: str | None = None
    size: int | None = None  # bytes received (Content-Length where the body was not read)
    warc_record_id: str | None = None


class PageDirective(Record):
    """A page's indexing directive as found: a `<meta name=robots|CRAWLER content=...>` tag
    (`source` meta) or the `X-Robots-Tag` header's value (`source` header); what it says is
    read when judging (audit.judge.search)."""

    source: Literal["meta", "header"]
    name: str
    content: str


class SearchRecord(Record):
    """One line of search.jsonl. `kind` robots: a host's robots.txt and its sitemaps;
    `kind` page: a seed page's indexing directives."""

    id: str
    kind: Literal["robots", "page"]
    run_id: str | None = None
    host: str
    platform: str | None = None
    measured_at: datetime | None = None
    robots: RobotsTxtFetch | None = None
    sitemaps: list[SitemapCheck] = Field(default_factory=list)
    page_url: str | None = None
    page_status: int | None = None
    directives: list[PageDirective] = Field(default_factory=list)
    # Some of the page's directives were left out (more than a record keeps) or one was kept
    # as its recognised words only (too long): audit.measure.search.page_record.
    directives_cut: bool = False
