"""Judge observations against the catalog's observation rules: one Verdict per applicable rule.

Pure functions, no I/O. Graph-scope rules (cross-target comparisons) are evaluated elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, Literal, NamedTuple

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
    return _evaluate_one(_attributed(observation, catalog), catalog, requirement_index(catalog),
                         {}, exemption_domains(catalog))


def evaluate(observations: Iterable[Observation], catalog: Catalog) -> Iterator[Verdict]:
    """Verdicts for a stream of observations, in order (lazy: bundles can be large)."""
    index, domains = requirement_index(catalog), exemption_domains(catalog)
    decided: _Decided = {}
    for observation in observations:
        yield from _evaluate_one(_attributed(observation, catalog), catalog, index, decided,
                                 domains)


def _attributed(observation: Observation, catalog: Catalog) -> Observation:
    """Fill a missing target platform from the target URL's host, so that a link to the
    source's own group (a qq.com link seen on WeChat) is not judged as a rival's."""
    if observation.target_platform is not None:
        return observation
    platform = catalog.platform_for_url(observation.target_url)
    if platform is None:
        return observation
    return observation.model_copy(update={"target_platform": platform.id})


# ---------------------------------------------------------------------------------------
# Requirement status: the one decision, for evaluate, the report and `hulian diff`
# ---------------------------------------------------------------------------------------

# A verdict's weight in its unit (below): a fail decides, a pass or an exemption clears.
# Keyed by value: a report adds verdicts as read from the bundle, without building enums.
UNIT_RANK = {Status.FAIL.value: 2, Status.PASS.value: 1, Status.EXEMPT.value: 1,
             Status.INCONCLUSIVE.value: 0}
_FAILS, _PASSES = UNIT_RANK[Status.FAIL], UNIT_RANK[Status.PASS]


class RequirementTally:
    """The status of requirements, decided from verdicts added one at a time (a report
    streams 400,000 of them without keeping them).

    A verdict counts for the requirements its caller names: evaluate and the report take them
    from the catalog (`requirement_index`: the requirements that list the verdict's rule);
    `hulian diff`, which has no catalog, from the verdict's own `requirements` (recorded when
    it was judged; the same in a bundle judged by one catalog).

    Verdicts are combined per *unit* first — an observation, or a graph verdict on its own —
    because a requirement often lists rules that split the outcomes between them
    (no-copy-to-browser judges copy_only, no-unjustified-blocking judges blocked), each
    inconclusive on the other's outcomes; otherwise an exempt phishing block would leave the
    requirement inconclusive forever. A unit is failed if one of the requirement's rules
    fails it, passed if one passes or exempts it, inconclusive otherwise. A requirement is

    - fail: a unit failed;
    - pass: there is at least one unit, and every unit passed;
    - inconclusive: otherwise (no verdict, or a unit none of its rules could decide);
    - manual: it lists no rules (`rules_of`).
    """

    __slots__ = ("_failed", "_manual", "_units")

    def __init__(self, rules_of: Mapping[str, Collection[str]] | None = None) -> None:
        """rules_of: requirement key -> the rules that measure it, for every requirement to
        decide (also those no verdict will name); None: decide what the verdicts name."""
        rules_of = rules_of or {}
        self._manual = [key for key, rules in rules_of.items() if not rules]
        self._units: dict[str, dict[str, int]] = {
            key: {} for key, rules in rules_of.items() if rules}
        self._failed: set[str] = set()

    def add(self, requirements: Iterable[str], status: str, observation_id: str | None,
            verdict_id: str) -> None:
        """One verdict that counts for `requirements`: its status (a Status or its value),
        its observation (None: a graph verdict, a unit of its own) and its id."""
        rank = UNIT_RANK[status]
        unit = observation_id or "verdict:" + verdict_id
        for key in requirements:
            if key in self._failed:
                continue
            if rank == _FAILS:
                self._failed.add(key)
                self._units[key] = {}  # decided: its units are not needed any more
                continue
            seen = self._units.setdefault(key, {})
            if seen.get(unit, -1) < rank:
                seen[unit] = rank

    def statuses(self) -> dict[str, RequirementStatus]:
        result: dict[str, RequirementStatus] = {key: "manual" for key in self._manual}
        for key, seen in self._units.items():
            if key in self._failed:
                result[key] = Status.FAIL
            elif seen and min(seen.values()) == _PASSES:
                result[key] = Status.PASS
            else:
                result[key] = Status.INCONCLUSIVE
        return result


# RequirementTally decides a requirement from which ranks its units reached (a unit's rank:
# its worst verdict's), so one unit of each rank decides as all of them would. Where the
# verdicts are a table too large to add one at a time (DuckDB: the report, `hulian diff` of a
# bundle), this query reduces them so: `verdicts` is a query of rows (*keys, requirement,
# unit, status), each a verdict counted for a requirement with its unit as `add` makes it,
# over a table `unit_ranks` (status, rank) of UNIT_RANK; each row of the result,
# (*keys, requirement, rank, unit), is one `add((requirement,), STATUS_OF_UNIT_RANK[rank],
# unit, "")` to the tally of its keys.
#
# A unit's rank needs all of its verdicts grouped together: at ten million observations that
# is ~100 million (requirement, unit) groups, more than DuckDB's 512 MB could group at once
# (it ran out of memory). So the query reads one part of the units at a time ($part of
# $parts, by a hash of the unit: each unit whole in one part), and `fewest_units` merges the
# parts' rows.
STATUS_OF_UNIT_RANK = {rank: status for status, rank in UNIT_RANK.items()}
# Verdicts a part of the units is made of, about (`unit_parts`). Each part reads the whole
# table again (~27 s at ten million observations, where one pass takes as long when it fits):
# parts as large as fit, measured at 512 MB: a third of ten million observations' verdicts.
UNIT_PART_VERDICTS = 12_000_000


def units_by_rank_sql(verdicts: str, keys: tuple[str, ...] = ()) -> str:
    by = "".join(f"{key}, " for key in keys)
    return f"""
WITH units AS (
  SELECT {by}requirement, unit, max(u.rank) AS rank
  FROM ({verdicts}) JOIN unit_ranks u USING (status)
  WHERE hash(unit) % $parts = $part GROUP BY ALL)
SELECT {by}requirement, rank, min(unit) FROM units GROUP BY ALL ORDER BY ALL
"""


def unit_parts(verdicts: int) -> int:
    """How many parts units_by_rank_sql reads a table of this many verdicts in."""
    return max(1, -(-verdicts // UNIT_PART_VERDICTS))


def fewest_units(rows: Iterable[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of units_by_rank_sql's parts as one query over every unit would give them:
    of each (*keys, requirement, rank) the least unit, in order."""
    least: dict[tuple[Any, ...], Any] = {}
    for *group, unit in rows:
        key = tuple(group)
        if key not in least or unit < least[key]:
            least[key] = unit
    return sorted((*key, unit) for key, unit in least.items())


def requirement_rules(frameworks: Iterable[Framework]) -> dict[str, list[str]]:
    """'<framework>/<requirement>' -> the rules that measure it (none: a manual check)."""
    return {f"{framework.id}/{requirement.id}": list(dict.fromkeys(requirement.rules))
            for framework in frameworks for requirement in framework.requirements}


def requirement_index(catalog: Catalog) -> dict[str, list[str]]:
    """rule id -> '<framework>/<requirement>' of every requirement listing it, as a
    verdict of the rule records them (`Verdict.requirements`)."""
    index: dict[str, list[str]] = {}
    for framework in catalog.frameworks.values():
        for requirement in framework.requirements:
            for rule_id in requirement.rules:
                index.setdefault(rule_id, []).append(f"{framework.id}/{requirement.id}")
    return index


def requirement_status(
    verdicts: Iterable[Verdict], framework: Framework
) -> dict[str, RequirementStatus]:
    """Status of each requirement of `framework`, keyed by requirement id (RequirementTally
    says how it is decided)."""
    rules_of = {r.id: r.rules for r in framework.requirements}
    counts_for: dict[str, list[str]] = {}
    for requirement_id, rules in rules_of.items():
        for rule_id in dict.fromkeys(rules):
            counts_for.setdefault(rule_id, []).append(requirement_id)
    tally = RequirementTally(rules_of)
    for verdict in verdicts:
        tally.add(counts_for.get(verdict.rule_id, ()), verdict.status, verdict.observation_id,
                  verdict.id)
    return tally.statuses()


def verdict_id(rule_id: str, observation_id: str) -> str:
    """Stable across runs and policy versions, so verdicts of a re-evaluation can be diffed.
    A run's table is judged by DuckDB, which makes the same id in SQL (sha256 there:
    audit/judge/table_verdicts.py, `identified`); tests/test_table_verdicts.py holds the two
    to the same bytes."""
    return hashlib.sha256(f"{rule_id}\0{observation_id}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------


# What the verdicts of an observation depend on besides its identity (id, probe, URL,
# evidence): the rules decide each distinct case once, whether they judge Observation objects
# (below) or a run's table (audit.judge.table_verdicts), so the two cannot disagree.
class Case(NamedTuple):
    source: str
    target_platform: str | None  # attributed by host where the observation recorded none
    surface: SurfaceKind
    outcome: Outcome
    reason: BlockReason | None
    # The target's host where an exemption listing target domains could match it (None
    # otherwise: no domain exemption applies), and the target URL where the catalog does not
    # know the target platform (the verdict's reason names it by its URL).
    host: str | None
    unknown_target_url: str | None


class Decision(NamedTuple):
    """One rule's verdict on every observation of a case."""
    rule: Rule
    status: Status
    exemption: Exemption | None
    reason: Text
    requirements: tuple[str, ...]


def exemption_domains(catalog: Catalog) -> list[str]:
    """The domains the observation rules' exemptions list, as host_matches compares them
    (lower case, without a leading dot); empty: no exemption looks at the target's host."""
    return sorted({domain.strip().lower().lstrip(".")
                   for rule in catalog.rules.values() if rule.scope == "observation"
                   for exemption in rule.exemptions for domain in exemption.target_domains}
                  - {""})


def case_of(observation: Observation, catalog: Catalog, domains: Collection[str]) -> Case:
    """The case of an observation whose target platform is attributed (`_attributed`)."""
    target_known = (observation.target_platform or "") in catalog.platforms
    return Case(observation.source, observation.target_platform, observation.surface,
                observation.outcome, observation.reason,
                host_of(observation.target_url) if domains else None,
                None if target_known else observation.target_url)


# The names a verdict's reason gives the source and the target of a case: (zh, en) each.
Names = tuple[tuple[str, str], tuple[str, str]]


def case_names(case: Case, catalog: Catalog) -> Names:
    """The catalog's name of the source, else its id; the catalog's name of the target, else
    its URL (a platform the catalog does not know), else nothing. A run's table names its
    rows' cases in SQL the same way (audit.judge.table_verdicts, `_CASED`)."""
    source = catalog.platforms.get(case.source)
    target = catalog.platforms.get(case.target_platform or "")
    return ((_name(source, 0) or case.source, _name(source, 1) or case.source),
            (_name(target, 0) or case.unknown_target_url or "",
             _name(target, 1) or case.unknown_target_url or ""))


def decide(case: Case, catalog: Catalog, index: Mapping[str, list[str]],
           names: Names | None = None) -> list[Decision]:
    """The verdicts of every observation-scope rule that applies to the case, in the
    catalog's order of rules (`requirement_index(catalog)` as `index`); the reasons name the
    source and target by `names` (None: case_names)."""
    names = names or case_names(case, catalog)
    decisions = []
    for rule in catalog.rules.values():
        if rule.scope != "observation" or not _applies(rule, case, catalog):
            continue
        status, exemption = _judge(rule, case)
        decisions.append(Decision(rule, status, exemption,
                                  _reason(rule, status, exemption, case, names),
                                  tuple(index.get(rule.id, ()))))
    return decisions


# Decisions by case for one stream of observations: a run has millions of observations and
# a few thousand cases. Bounded: a long capture of hosts no exemption or platform knows
# would otherwise keep a case per URL.
_Decided = dict[Case, list[Decision]]
_MOST_CASES = 100_000


def _evaluate_one(
    observation: Observation, catalog: Catalog, index: Mapping[str, list[str]],
    decided: _Decided, domains: Collection[str],
) -> list[Verdict]:
    case = case_of(observation, catalog, domains)
    decisions = decided.get(case)
    if decisions is None:
        if len(decided) >= _MOST_CASES:
            decided.clear()
        decisions = decided[case] = decide(case, catalog, index)
    return [Verdict(
        id=verdict_id(d.rule.id, observation.id),
        rule_id=d.rule.id,
        observation_id=observation.id,
        probe_id=observation.probe_id,
        source=observation.source,
        surface=observation.surface,
        target_url=observation.target_url,
        target_platform=observation.target_platform,
        outcome=observation.outcome,
        status=d.status,
        severity=d.rule.severity,
        reason=d.reason,
        exemption=d.exemption.id if d.exemption else None,
        requirements=list(d.requirements),
        evidence=list(observation.evidence),
    ) for d in decisions]


def _applies(rule: Rule, case: Case, catalog: Catalog) -> bool:
    scope = rule.applies_to
    source = catalog.platforms.get(case.source)
    target = catalog.platforms.get(case.target_platform or "")
    if scope.surfaces and case.surface not in scope.surfaces:
        return False
    if scope.sources and case.source not in scope.sources:
        return False
    # An unknown platform has no category, so a rule restricted to categories cannot claim it.
    if scope.source_categories and not (source and source.category in scope.source_categories):
        return False
    if scope.target_categories and not (target and target.category in scope.target_categories):
        return False
    if scope.cross_company_only:
        # Unknown on either side counts as another company: the audit is about links leaving
        # the group, and a link we cannot attribute must not escape judgement.
        source_company = catalog.company_of(case.source)
        target_company = catalog.company_of(case.target_platform)
        if source_company is not None and source_company == target_company:
            return False
    return True


def _judge(rule: Rule, case: Case) -> tuple[Status, Exemption | None]:
    if case.outcome is Outcome.UNRECOGNIZED:
        # Nobody has read the page yet: never a pass, and not a fail either (the review
        # queue lists it for a person). The schema keeps it out of a rule's outcome lists.
        return Status.INCONCLUSIVE, None
    if case.outcome in rule.fail_outcomes:
        exemption = _matching_exemption(rule, case)
        return (Status.EXEMPT, exemption) if exemption else (Status.FAIL, None)
    if case.outcome in rule.pass_outcomes:
        return Status.PASS, None
    return Status.INCONCLUSIVE, None


def _matching_exemption(rule: Rule, case: Case) -> Exemption | None:
    host = case.host
    for exemption in rule.exemptions:
        if case.reason is not None and case.reason in exemption.reasons:
            return exemption
        # Host-suffix matching equals "registrable domain is listed" for registrable entries,
        # and keeps narrower entries (a shared host such as space.coze.cn, domain-facts §1.7)
        # from exempting the whole registrable domain.
        listed = [d.strip().lower() for d in exemption.target_domains]
        if host is not None and host_matches(host, listed):
            return exemption
    return None


def _reason(rule: Rule, status: Status, exemption: Exemption | None, case: Case,
            names: Names) -> Text:
    templates = rule.reason
    template = {
        Status.PASS: templates.pass_,
        Status.FAIL: templates.fail,
        Status.EXEMPT: templates.exempt or templates.fail,
        Status.INCONCLUSIVE: templates.inconclusive or templates.fail,
    }[status]
    filled = []
    for lang in (0, 1):
        values = {
            "source": names[0][lang],
            "target": names[1][lang],
            "surface": SURFACE_LABELS[case.surface][lang],
            "outcome": OUTCOME_LABELS[case.outcome][lang],
            "reason": (REASON_LABELS[case.reason] if case.reason
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


def names_fill_in_later(catalog: Catalog) -> bool:
    """Whether the observation rules' reason templates take the source and the target only
    as plain fields ({source}, {target}: no conversion, format spec, attribute or index), so
    that a reason filled with stand-ins for the names, the stand-ins then replaced by the
    names, is the reason filled with the names (a run's table judges so: its rows' names are
    filled in by SQL), and hold some text besides their fields (one that is only fields
    could be filled with empty names into an empty reason, which a Verdict refuses: with
    stand-ins it would not be refused). A template fill_template cannot fill is left as it
    is either way."""
    for rule in catalog.rules.values():
        if rule.scope != "observation":
            continue
        templates = rule.reason
        for text in (templates.pass_, templates.fail, templates.exempt,
                     templates.inconclusive):
            for template in (text.zh, text.en) if text else ():
                try:
                    fields = list(string.Formatter().parse(template))
                except ValueError:
                    continue
                if not "".join(literal for literal, *_ in fields):
                    return False
                for _, field, spec, conversion in fields:
                    if field is None:
                        continue
                    named = re.split(r"[.\[]", field, maxsplit=1)[0]
                    if "{" in (spec or "") or (named in ("source", "target") and (
                            field != named or spec or conversion)):
                        return False
    return True
