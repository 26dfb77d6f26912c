"""Judge observations against the catalog's observation rules: one Verdict per applicable rule.

Pure functions, no I/O. Graph-scope rules (cross-target comparisons) are evaluated elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal

from audit.model import (
    BlockReason,
    Exemption,
    Framework,
    Observation,
    Outcome,
    Platform,
    Rule,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog
from audit.web.urls import host_matches, host_of

RequirementStatus = Status | Literal["manual"]

# Verdict sentences are read by regulators in Chinese, so the enum values that fill the
# templates are shown as words, not as identifiers like "copy_only".
SURFACE_LABELS: dict[SurfaceKind, tuple[str, str]] = {
    SurfaceKind.IM_PRIVATE: ("私聊", "private chat"),
    SurfaceKind.IM_GROUP: ("群聊", "group chat"),
    SurfaceKind.MOMENTS: ("朋友圈", "moments feed"),
    SurfaceKind.POST: ("帖子", "post"),
    SurfaceKind.COMMENT: ("评论", "comment"),
    SurfaceKind.ARTICLE: ("文章", "article"),
    SurfaceKind.PROFILE: ("主页", "profile"),
    SurfaceKind.SEARCH: ("搜索结果", "search results"),
    SurfaceKind.MINI_PROGRAM: ("小程序", "mini program"),
    SurfaceKind.DOCUMENT: ("文档", "document"),
    SurfaceKind.MAIL: ("邮件", "mail"),
}

OUTCOME_LABELS: dict[Outcome, tuple[str, str]] = {
    Outcome.DIRECT: ("直接打开", "opens directly"),
    Outcome.WRAPPED: ("经平台跳转后自动打开", "forwarded automatically by a redirector"),
    Outcome.WARNED: ("先显示风险提示页，需再点击“继续访问”", "warning page, one more click"),
    Outcome.COPY_ONLY: ("提示复制网址到浏览器打开", "copy-the-URL-into-a-browser page"),
    Outcome.BLOCKED: ("被拦截，无法访问", "blocked"),
    Outcome.STRIPPED: ("未显示为可点击的链接", "not rendered as a clickable link"),
    Outcome.DIVERTED: ("被导向其他页面", "diverted elsewhere"),
    Outcome.UNRECOGNIZED: ("停在无法识别的拦截或未知页面，需人工复核",
                           "ended on an interception or unknown page hulian cannot read: "
                           "needs review"),
    Outcome.TARGET_DOWN: ("目标网站本身无法访问", "the target itself is unreachable"),
    Outcome.ERROR: ("测量失败", "the measurement failed"),
}

REASON_LABELS: dict[BlockReason, tuple[str, str]] = {
    BlockReason.PHISHING: ("钓鱼", "phishing"),
    BlockReason.REWARD_SHARING: ("诱导分享", "reward sharing (诱导分享)"),
    BlockReason.SCAM: ("恶意欺诈", "scam"),
    BlockReason.COPYRIGHT: ("侵权", "copyright infringement"),
    BlockReason.RUMOR: ("谣言或虚假信息", "rumour or false information"),
    BlockReason.ILLEGAL: ("违法或违规", "illegal or non-compliant content"),
    BlockReason.PORN: ("色情低俗", "pornography"),
    BlockReason.OBSCENE: ("低俗", "obscene content"),
    BlockReason.LUCKY_MONEY: ("虚假红包", "fake lucky money"),
    BlockReason.NONSECURE: ("不安全内容", "non-secure content"),
    BlockReason.MALWARE: ("恶意软件", "malware"),
}
NO_REASON = ("未说明", "none stated")


def evaluate_observation(observation: Observation, catalog: Catalog) -> list[Verdict]:
    """Verdicts of every observation-scope rule that applies to `observation`."""
    return _evaluate_one(_attributed(observation, catalog), catalog, _requirement_index(catalog))


def evaluate(observations: Iterable[Observation], catalog: Catalog) -> Iterator[Verdict]:
    """Verdicts for a stream of observations, in order (lazy: bundles can be large)."""
    index = _requirement_index(catalog)
    for observation in observations:
        yield from _evaluate_one(_attributed(observation, catalog), catalog, index)


def _attributed(observation: Observation, catalog: Catalog) -> Observation:
    """Fill a missing target platform from the target URL's host, so that a link to the
    source's own group (a qq.com link seen on WeChat) is not judged as a rival's."""
    if observation.target_platform is not None:
        return observation
    platform = catalog.platform_for_url(observation.target_url)
    if platform is None:
        return observation
    return observation.model_copy(update={"target_platform": platform.id})


def requirement_status(
    verdicts: Iterable[Verdict], framework: Framework
) -> dict[str, RequirementStatus]:
    """Status of each requirement of `framework`, keyed by requirement id.

    fail: any verdict of its rules fails; pass: there is at least one verdict, and every
    observation is passed or exempted by at least one of its rules and failed by none;
    inconclusive: otherwise (no verdict, or an observation none of its rules could decide);
    manual: it lists no rules.
    """
    # A requirement often lists rules that split the outcomes between them (no-copy-to-browser
    # judges copy_only, no-unjustified-blocking judges blocked), each inconclusive on the
    # other's outcomes. Verdicts are therefore combined per observation first; otherwise an
    # exempt phishing block would leave the requirement inconclusive forever.
    by_rule: dict[str, list[tuple[str, Status]]] = {}
    for verdict in verdicts:
        unit = verdict.observation_id or f"verdict:{verdict.id}"  # graph verdicts stand alone
        by_rule.setdefault(verdict.rule_id, []).append((unit, verdict.status))
    result: dict[str, RequirementStatus] = {}
    for requirement in framework.requirements:
        if not requirement.rules:
            result[requirement.id] = "manual"
            continue
        units: dict[str, list[Status]] = {}
        for rule_id in requirement.rules:
            for unit, status in by_rule.get(rule_id, []):
                units.setdefault(unit, []).append(status)
        decided = [combine_statuses(statuses) for statuses in units.values()]
        if Status.FAIL in decided:
            result[requirement.id] = Status.FAIL
        elif decided and all(status == Status.PASS for status in decided):
            result[requirement.id] = Status.PASS
        else:
            result[requirement.id] = Status.INCONCLUSIVE
    return result


def combine_statuses(statuses: list[Status]) -> Status:
    """One observation's status under one requirement: fail if any rule fails, pass if
    any rule passes or exempts, otherwise inconclusive."""
    if Status.FAIL in statuses:
        return Status.FAIL
    if Status.PASS in statuses or Status.EXEMPT in statuses:
        return Status.PASS
    return Status.INCONCLUSIVE


def verdict_id(rule_id: str, observation_id: str) -> str:
    """Stable across runs and policy versions, so verdicts of a re-evaluation can be diffed."""
    return hashlib.sha256(f"{rule_id}\0{observation_id}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------


def _requirement_index(catalog: Catalog) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            for rule_id in requirement.rules:
                index.setdefault(rule_id, []).append(f"{framework.id}/{requirement.id}")
    return index


def _evaluate_one(
    observation: Observation, catalog: Catalog, index: Mapping[str, list[str]]
) -> list[Verdict]:
    verdicts = []
    for rule in catalog.rules.values():
        if rule.scope != "observation" or not _applies(rule, observation, catalog):
            continue
        status, exemption = _judge(rule, observation)
        verdicts.append(Verdict(
            id=verdict_id(rule.id, observation.id),
            rule_id=rule.id,
            observation_id=observation.id,
            probe_id=observation.probe_id,
            source=observation.source,
            surface=observation.surface,
            target_url=observation.target_url,
            target_platform=observation.target_platform,
            outcome=observation.outcome,
            status=status,
            severity=rule.severity,
            reason=_reason(rule, status, exemption, observation, catalog),
            exemption=exemption.id if exemption else None,
            requirements=list(index.get(rule.id, [])),
            evidence=list(observation.evidence),
        ))
    return verdicts


def _applies(rule: Rule, observation: Observation, catalog: Catalog) -> bool:
    scope = rule.applies_to
    source = catalog.platforms.get(observation.source)
    target = catalog.platforms.get(observation.target_platform or "")
    if scope.surfaces and observation.surface not in scope.surfaces:
        return False
    if scope.sources and observation.source not in scope.sources:
        return False
    # An unknown platform has no category, so a rule restricted to categories cannot claim it.
    if scope.source_categories and not (source and source.category in scope.source_categories):
        return False
    if scope.target_categories and not (target and target.category in scope.target_categories):
        return False
    if scope.cross_company_only:
        # Unknown on either side counts as another company: the audit is about links leaving
        # the group, and a link we cannot attribute must not escape judgement.
        source_company = catalog.company_of(observation.source)
        target_company = catalog.company_of(observation.target_platform)
        if source_company is not None and source_company == target_company:
            return False
    return True


def _judge(rule: Rule, observation: Observation) -> tuple[Status, Exemption | None]:
    if observation.outcome is Outcome.UNRECOGNIZED:
        # Nobody has read the page yet: never a pass, and not a fail either (the review
        # queue lists it for a person). The schema keeps it out of a rule's outcome lists.
        return Status.INCONCLUSIVE, None
    if observation.outcome in rule.fail_outcomes:
        exemption = _matching_exemption(rule, observation)
        return (Status.EXEMPT, exemption) if exemption else (Status.FAIL, None)
    if observation.outcome in rule.pass_outcomes:
        return Status.PASS, None
    return Status.INCONCLUSIVE, None


def _matching_exemption(rule: Rule, observation: Observation) -> Exemption | None:
    host = host_of(observation.target_url)
    for exemption in rule.exemptions:
        if observation.reason is not None and observation.reason in exemption.reasons:
            return exemption
        # Host-suffix matching equals "registrable domain is listed" for registrable entries,
        # and keeps narrower entries (a shared host such as space.coze.cn, domain-facts §1.7)
        # from exempting the whole registrable domain.
        listed = [d.strip().lower() for d in exemption.target_domains]
        if host is not None and host_matches(host, listed):
            return exemption
    return None


def _reason(rule: Rule, status: Status, exemption: Exemption | None,
            observation: Observation, catalog: Catalog) -> Text:
    templates = rule.reason
    template = {
        Status.PASS: templates.pass_,
        Status.FAIL: templates.fail,
        Status.EXEMPT: templates.exempt or templates.fail,
        Status.INCONCLUSIVE: templates.inconclusive or templates.fail,
    }[status]
    source = catalog.platforms.get(observation.source)
    target = catalog.platforms.get(observation.target_platform or "")
    filled = []
    for lang in (0, 1):
        values = {
            "source": _name(source, lang) or observation.source,
            "target": _name(target, lang) or observation.target_url,
            "surface": SURFACE_LABELS[observation.surface][lang],
            "outcome": OUTCOME_LABELS[observation.outcome][lang],
            "reason": (REASON_LABELS[observation.reason] if observation.reason
                       else NO_REASON)[lang],
            "justification": (pick(exemption.justification, lang) if exemption else ""),
        }
        filled.append(fill_template(pick(template, lang), values))
    return Text(zh=filled[0], en=filled[1])


def _name(platform: Platform | None, lang: int) -> str | None:
    return pick(platform.name, lang) if platform else None


def pick(text: Text, lang: int) -> str:
    """The zh (lang 0) or en (lang 1) side of a bilingual text."""
    return text.zh if lang == 0 else text.en


class _KeepUnknown(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_template(template: str, values: Mapping[str, str]) -> str:
    # A user-supplied policy with a stray brace must not abort a whole evaluation run; the
    # shipped templates are checked by the test suite instead.
    try:
        return template.format_map(_KeepUnknown(values))
    except (IndexError, ValueError, AttributeError):
        return template
