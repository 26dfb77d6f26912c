"""Tests for audit.judge.evaluate against the shipped rules and framework, over a small catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.judge.evaluate import evaluate, evaluate_observation, requirement_status, verdict_id
from audit.model import (
    AppliesTo,
    BlockReason,
    Category,
    Citation,
    Company,
    Exemption,
    Framework,
    LegalSource,
    Observation,
    Outcome,
    Platform,
    ReasonTemplates,
    Requirement,
    Rule,
    Severity,
    Status,
    SurfaceKind,
    Text,
    Verdict,
)
from audit.policy.catalog import Catalog, load_catalog, shipped_policies_dir

POLICIES = Path(__file__).resolve().parent.parent / "policies"
CITE = Citation(fact="test")
PLACEHOLDERS = {
    "source": "S", "target": "T", "surface": "s", "outcome": "o", "reason": "r",
    "justification": "j",
}


def _rules() -> dict[str, Rule]:
    rules = {}
    for path in sorted((POLICIES / "rules").glob("*.yaml")):
        rule = Rule.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        rules[rule.id] = rule
    return rules


def _framework() -> Framework:
    data = yaml.safe_load((POLICIES / "frameworks" / "miit-2021.yaml").read_text(encoding="utf-8"))
    return Framework.model_validate(data)


SHIPPED_RULES = _rules()
FRAMEWORK = _framework()


def _platform(pid: str, zh: str, en: str, company: str, category: Category,
              domain: str) -> Platform:
    return Platform(id=pid, name=Text(zh=zh, en=en), company=company, category=category,
                    domains=[domain], cite=CITE)


PLATFORMS = {
    p.id: p for p in (
        _platform("wechat", "微信", "WeChat", "tencent", Category.IM, "weixin.qq.com"),
        _platform("qq", "QQ", "QQ", "tencent", Category.IM, "im.qq.com"),
        _platform("taobao", "淘宝", "Taobao", "alibaba", Category.ECOMMERCE, "taobao.com"),
        _platform("douyin", "抖音", "Douyin", "bytedance", Category.VIDEO, "douyin.com"),
        _platform("zhihu", "知乎", "Zhihu", "zhihu", Category.QA, "zhihu.com"),
    )
}
COMPANIES = {
    c: Company(id=c, name=Text(zh=c, en=c))
    for c in ("tencent", "alibaba", "bytedance", "zhihu")
}
TARGET_URLS = {
    "taobao": "https://item.taobao.com/item.htm?id=1",
    "douyin": "https://www.douyin.com/video/1",
    "qq": "https://im.qq.com/",
    "zhihu": "https://www.zhihu.com/question/1",
}


def catalog(rules: dict[str, Rule] | None = None,
            frameworks: dict[str, Framework] | None = None) -> Catalog:
    return Catalog(
        platforms=PLATFORMS, companies=COMPANIES,
        rules=SHIPPED_RULES if rules is None else rules,
        frameworks={FRAMEWORK.id: FRAMEWORK} if frameworks is None else frameworks,
    )


def obs(outcome: Outcome, *, source: str = "wechat", target: str | None = "taobao",
        surface: SurfaceKind = SurfaceKind.IM_PRIVATE, url: str | None = None,
        reason: BlockReason | None = None, oid: str = "o1") -> Observation:
    return Observation(
        id=oid, probe_id="p-" + oid, source=source, surface=surface,
        target_url=url or TARGET_URLS.get(target or "", "https://example.org/"),
        target_platform=target, outcome=outcome, reason=reason, evidence=["urn:uuid:w1"],
    )


def by_rule(verdicts: list[Verdict]) -> dict[str, Verdict]:
    return {v.rule_id: v for v in verdicts}


# ---------------------------------------------------------------------------------------
# Every shipped observation rule x every outcome
# ---------------------------------------------------------------------------------------

P, F, N = Status.PASS, Status.FAIL, Status.INCONCLUSIVE  # N: not decided
OUTCOMES = (Outcome.DIRECT, Outcome.WRAPPED, Outcome.WARNED, Outcome.COPY_ONLY, Outcome.BLOCKED,
            Outcome.STRIPPED, Outcome.DIVERTED, Outcome.TARGET_DOWN, Outcome.ERROR)
# rule id: (a surface it applies to, severity, expected status per outcome in OUTCOMES order)
EXPECTED: dict[str, tuple[SurfaceKind, Severity, tuple[Status, ...]]] = {
    "im-link-opens-directly": (SurfaceKind.IM_PRIVATE, Severity.HIGH, (P, P, F, F, F, F, F, N, N)),
    "no-copy-to-browser": (SurfaceKind.IM_GROUP, Severity.CRITICAL, (P, P, P, F, N, N, N, N, N)),
    "no-extra-step-warning": (SurfaceKind.MOMENTS, Severity.MEDIUM, (P, P, F, N, N, N, N, N, N)),
    "links-recognised": (SurfaceKind.COMMENT, Severity.HIGH, (P, P, P, P, P, F, P, N, N)),
    "no-unjustified-blocking": (SurfaceKind.SEARCH, Severity.CRITICAL, (P, P, P, N, F, N, F, N, N)),
    "content-links-not-obstructed": (
        SurfaceKind.ARTICLE, Severity.MEDIUM, (P, P, P, F, F, F, F, N, N)),
}
CASES = [
    pytest.param(rule_id, surface, severity, outcome, status, id=f"{rule_id}-{outcome}")
    for rule_id, (surface, severity, statuses) in EXPECTED.items()
    for outcome, status in zip(OUTCOMES, statuses, strict=True)
]


def test_table_covers_every_shipped_observation_rule() -> None:
    shipped = {r.id for r in SHIPPED_RULES.values() if r.scope == "observation"}
    assert shipped == set(EXPECTED)


@pytest.mark.parametrize(("rule_id", "surface", "severity", "outcome", "expected"), CASES)
def test_rule_outcome(rule_id: str, surface: SurfaceKind, severity: Severity, outcome: Outcome,
                      expected: Status) -> None:
    verdicts = by_rule(evaluate_observation(obs(outcome, surface=surface), catalog()))
    verdict = verdicts[rule_id]
    assert verdict.status == expected
    assert verdict.severity == severity
    assert verdict.exemption is None
    assert verdict.outcome == outcome


# ---------------------------------------------------------------------------------------
# Which rules apply
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "surface", "expected"), [
    ("wechat", SurfaceKind.IM_PRIVATE, {"im-link-opens-directly", "no-copy-to-browser",
                                        "no-extra-step-warning", "links-recognised",
                                        "no-unjustified-blocking"}),
    ("wechat", SurfaceKind.IM_GROUP, {"im-link-opens-directly", "no-copy-to-browser",
                                      "no-extra-step-warning", "links-recognised",
                                      "no-unjustified-blocking"}),
    ("zhihu", SurfaceKind.POST, {"links-recognised", "no-unjustified-blocking",
                                 "content-links-not-obstructed"}),
    ("zhihu", SurfaceKind.PROFILE, {"no-unjustified-blocking"}),
    ("douyin", SurfaceKind.SEARCH, {"no-unjustified-blocking"}),
])
def test_surface_filtering(source: str, surface: SurfaceKind, expected: set[str]) -> None:
    verdicts = evaluate_observation(obs(Outcome.DIRECT, source=source, surface=surface), catalog())
    assert {v.rule_id for v in verdicts} == expected


def test_graph_rules_give_no_observation_verdicts() -> None:
    graph = {r.id for r in SHIPPED_RULES.values() if r.scope == "graph"}
    assert graph == {"same-category-same-friction", "no-self-preferencing"}
    verdicts = evaluate_observation(obs(Outcome.BLOCKED), catalog())
    assert not graph & {v.rule_id for v in verdicts}


def test_same_company_is_skipped() -> None:
    assert evaluate_observation(obs(Outcome.BLOCKED, target="qq"), catalog()) == []


@pytest.mark.parametrize(("source", "target"), [
    ("wechat", None), ("wechat", "not-in-catalog"), ("unknown-app", None),
])
def test_unknown_target_counts_as_other_company(source: str, target: str | None) -> None:
    url = "https://shop.example.org/item/1"
    observation = obs(Outcome.COPY_ONLY, source=source, target=target, url=url)
    verdicts = by_rule(evaluate_observation(observation, catalog()))
    verdict = verdicts["no-copy-to-browser"]
    assert verdict.status == Status.FAIL
    # No platform name to show, so the sentence names the URL.
    assert url in verdict.reason.zh
    assert url in verdict.reason.en


def _rule(rule_id: str, applies_to: AppliesTo, exemptions: list[Exemption] | None = None) -> Rule:
    return Rule(
        id=rule_id, title=Text(zh="t", en="t"), severity=Severity.LOW, applies_to=applies_to,
        pass_outcomes=[Outcome.DIRECT], fail_outcomes=[Outcome.BLOCKED],
        exemptions=exemptions or [],
        reason=ReasonTemplates.model_validate({
            "pass": {"zh": "通过 {source}->{target}", "en": "pass {source}->{target}"},
            "fail": {"zh": "不通过 {source}->{target}", "en": "fail {source}->{target}"},
            "exempt": {"zh": "豁免：{justification}", "en": "exempt: {justification}"},
        }),
        cite=[CITE],
    )


FILTER_RULES = {
    r.id: r for r in (
        _rule("src-im", AppliesTo(source_categories=[Category.IM])),
        _rule("tgt-ecommerce", AppliesTo(target_categories=[Category.ECOMMERCE])),
        _rule("only-zhihu", AppliesTo(sources=["zhihu"])),
        _rule("any-company", AppliesTo(cross_company_only=False)),
    )
}


@pytest.mark.parametrize(("source", "target", "expected"), [
    ("wechat", "taobao", {"src-im", "tgt-ecommerce", "any-company"}),
    ("wechat", "douyin", {"src-im", "any-company"}),
    ("wechat", "qq", {"any-company"}),  # same company: only the rule that allows it
    ("zhihu", "taobao", {"tgt-ecommerce", "only-zhihu", "any-company"}),
    ("zhihu", None, {"only-zhihu", "any-company"}),  # unknown target has no category
    ("unknown-app", "taobao", {"tgt-ecommerce", "any-company"}),  # unknown source: no category
])
def test_category_and_source_filtering(source: str, target: str | None,
                                       expected: set[str]) -> None:
    verdicts = evaluate_observation(obs(Outcome.BLOCKED, source=source, target=target),
                                    catalog(rules=FILTER_RULES, frameworks={}))
    assert {v.rule_id for v in verdicts} == expected


# ---------------------------------------------------------------------------------------
# Exemptions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "status", "exemption"), [
    (BlockReason.PHISHING, Status.EXEMPT, "unlawful-target"),
    (BlockReason.SCAM, Status.EXEMPT, "unlawful-target"),
    (BlockReason.MALWARE, Status.EXEMPT, "unlawful-target"),
    (BlockReason.PORN, Status.EXEMPT, "unlawful-target"),
    (BlockReason.OBSCENE, Status.EXEMPT, "unlawful-target"),
    (BlockReason.ILLEGAL, Status.EXEMPT, "unlawful-target"),
    (BlockReason.LUCKY_MONEY, Status.EXEMPT, "unlawful-target"),
    (BlockReason.NONSECURE, Status.EXEMPT, "unlawful-target"),
    (BlockReason.RUMOR, Status.EXEMPT, "content-claim-needs-review"),
    (BlockReason.COPYRIGHT, Status.EXEMPT, "content-claim-needs-review"),
    (BlockReason.REWARD_SHARING, Status.FAIL, None),
    (None, Status.FAIL, None),
])
def test_exemption_by_reason(reason: BlockReason | None, status: Status,
                             exemption: str | None) -> None:
    for rule_id in ("no-unjustified-blocking", "im-link-opens-directly"):
        verdict = by_rule(evaluate_observation(obs(Outcome.BLOCKED, reason=reason),
                                               catalog()))[rule_id]
        assert verdict.status == status
        assert verdict.exemption == exemption
        if exemption is not None:
            rule = SHIPPED_RULES[rule_id]
            justification = next(e for e in rule.exemptions if e.id == exemption).justification
            assert justification.zh in verdict.reason.zh
            assert justification.en in verdict.reason.en


def test_reward_sharing_fail_names_the_stated_reason() -> None:
    observation = obs(Outcome.BLOCKED, reason=BlockReason.REWARD_SHARING)
    verdict = by_rule(evaluate_observation(observation, catalog()))["no-unjustified-blocking"]
    assert "诱导分享" in verdict.reason.zh


def test_exemption_only_turns_failures_into_exempt() -> None:
    verdict = by_rule(evaluate_observation(
        obs(Outcome.DIRECT, reason=BlockReason.PHISHING), catalog()))["no-unjustified-blocking"]
    assert verdict.status == Status.PASS
    assert verdict.exemption is None


DOMAIN_RULE = _rule("domain-listed", AppliesTo(), [Exemption(
    id="listed-gambling", target_domains=["gamble-site.com", "space.coze.cn"],
    justification=Text(zh="名单所列赌博网站", en="listed gambling site"), cite=CITE,
)])


@pytest.mark.parametrize(("url", "status"), [
    ("https://www.gamble-site.com/play", Status.EXEMPT),
    ("https://gamble-site.com/", Status.EXEMPT),
    ("https://gamble-site.com.evil.net/", Status.FAIL),  # look-alike host
    ("https://notgamble-site.com/", Status.FAIL),
    ("https://space.coze.cn/s/abc", Status.EXEMPT),
    ("https://www.coze.cn/", Status.FAIL),  # a narrower entry must not exempt the whole domain
])
def test_exemption_by_target_domain(url: str, status: Status) -> None:
    verdicts = evaluate_observation(obs(Outcome.BLOCKED, target=None, url=url),
                                    catalog(rules={DOMAIN_RULE.id: DOMAIN_RULE}, frameworks={}))
    assert [v.status for v in verdicts] == [status]
    if status == Status.EXEMPT:
        assert verdicts[0].exemption == "listed-gambling"
        assert verdicts[0].reason.zh == "豁免：名单所列赌博网站"
        assert verdicts[0].reason.en == "exempt: listed gambling site"


# ---------------------------------------------------------------------------------------
# Verdict contents
# ---------------------------------------------------------------------------------------


def test_verdict_fields() -> None:
    observation = obs(Outcome.COPY_ONLY, surface=SurfaceKind.IM_GROUP, oid="obs-42")
    verdict = by_rule(evaluate_observation(observation, catalog()))["no-copy-to-browser"]
    assert verdict.id == verdict_id("no-copy-to-browser", "obs-42")
    assert verdict.observation_id == "obs-42"
    assert verdict.probe_id == "p-obs-42"
    assert verdict.source == "wechat"
    assert verdict.target_platform == "taobao"
    assert verdict.surface == SurfaceKind.IM_GROUP
    assert verdict.evidence == ["urn:uuid:w1"]
    assert verdict.requirements == [
        "miit-2021/im-standard-3-no-extra-steps", "miit-2021/campaign-unjustified-restriction",
        "miit-2021/press-2021-09-13", "miit-2021/aucl-art12-3-malicious-incompatibility",
        "miit-2021/samr-2021-08-draft-incompatibility",
    ]
    # Names in the language of each sentence, surface and outcome as words.
    assert "微信" in verdict.reason.zh
    assert "淘宝" in verdict.reason.zh
    assert "群聊" in verdict.reason.zh
    assert "WeChat" in verdict.reason.en
    assert "Taobao" in verdict.reason.en
    assert "group chat" in verdict.reason.en
    assert "{" not in verdict.reason.zh + verdict.reason.en


def test_verdict_ids_are_stable_and_distinct() -> None:
    first = evaluate_observation(obs(Outcome.BLOCKED), catalog())
    again = evaluate_observation(obs(Outcome.BLOCKED), catalog())
    other = evaluate_observation(obs(Outcome.BLOCKED, oid="o2"), catalog())
    assert [v.id for v in first] == [v.id for v in again]
    assert len({v.id for v in first} | {v.id for v in other}) == len(first) + len(other)


def test_evaluate_streams_all_observations() -> None:
    observations = [obs(Outcome.DIRECT, oid="a"), obs(Outcome.BLOCKED, target="qq", oid="b"),
                    obs(Outcome.BLOCKED, oid="c")]
    verdicts = list(evaluate(iter(observations), catalog()))
    assert {v.observation_id for v in verdicts} == {"a", "c"}
    assert len(verdicts) == 10  # five IM-surface rules for each cross-company observation


def test_a_stream_is_judged_as_each_observation_alone() -> None:
    # evaluate() makes each distinct reason once for the whole stream: what it gives must be
    # what judging each observation on its own gives, whatever fills the texts (sources,
    # known and unknown targets named by platform or URL, surfaces, outcomes, stated
    # reasons, exemptions by reason and by domain), repeated so that texts are reused.
    rules = {**SHIPPED_RULES, DOMAIN_RULE.id: DOMAIN_RULE}
    judged_by = catalog(rules=rules)
    observations = []
    n = 0
    for source in ("wechat", "zhihu"):
        for target, url in (("taobao", None), ("qq", None), (None, "https://gamble-site.com/"),
                            (None, "https://unknown.example/a"), ("nosuch", "https://b.example/")):
            for surface in (SurfaceKind.IM_PRIVATE, SurfaceKind.POST):
                for outcome in (Outcome.DIRECT, Outcome.BLOCKED, Outcome.COPY_ONLY):
                    for reason in (None, BlockReason.REWARD_SHARING, BlockReason.PHISHING):
                        for _ in range(2):
                            n += 1
                            observations.append(obs(outcome, source=source, target=target,
                                                    url=url, surface=surface, reason=reason,
                                                    oid=f"o{n}"))
    streamed = [v.model_dump_json() for v in evaluate(iter(observations), judged_by)]
    alone = [v.model_dump_json() for o in observations
             for v in evaluate_observation(o, judged_by)]
    assert streamed == alone
    assert len({v for v in streamed if '"status":"exempt"' in v}) > 1


# ---------------------------------------------------------------------------------------
# requirement_status
# ---------------------------------------------------------------------------------------


def _status(*observations: Observation) -> dict[str, Status | str]:
    return dict(requirement_status(evaluate(observations, catalog()), FRAMEWORK))


def test_requirement_status_fail_and_manual() -> None:
    status = _status(obs(Outcome.DIRECT, oid="a"), obs(Outcome.COPY_ONLY, oid="b"))
    assert status["im-standard-3-no-extra-steps"] == Status.FAIL
    assert status["im-standard-2-open-directly"] == Status.FAIL
    assert status["complaint-channel"] == "manual"
    assert status["samr-2021-open-ecosystem"] == "manual"


def test_requirement_status_pass_counts_exempt() -> None:
    status = _status(obs(Outcome.DIRECT, oid="a"),
                     obs(Outcome.BLOCKED, reason=BlockReason.PHISHING, oid="b"))
    assert status["im-standard-2-open-directly"] == Status.PASS
    # no-copy-to-browser cannot judge the block, no-unjustified-blocking exempts it.
    assert status["press-2021-09-13"] == Status.PASS
    assert status["campaign-unjustified-restriction"] == Status.PASS
    # Neither rule of standard 3 judges a block: nothing decided it.
    assert status["im-standard-3-no-extra-steps"] == Status.INCONCLUSIVE


def test_requirement_status_inconclusive() -> None:
    status = _status(obs(Outcome.DIRECT, oid="a"), obs(Outcome.TARGET_DOWN, oid="b"))
    assert status["im-standard-2-open-directly"] == Status.INCONCLUSIVE
    # Only graph rules: no observation verdicts at all.
    assert status["im-standard-1-consistent"] == Status.INCONCLUSIVE


def test_requirement_status_handmade() -> None:
    framework = Framework(id="fw", title=Text(zh="f", en="f"), version="1", requirements=[
        Requirement(id=rid, title=Text(zh="r", en="r"), wording="w",
                    source=LegalSource(document="d"), rules=rules, cite=CITE)
        for rid, rules in (("a", ["r1"]), ("b", ["r2"]), ("c", ["r1", "r2"]), ("d", ["r3"]),
                           ("e", []), ("f", ["r4", "r5"]), ("g", ["r5"]), ("h", ["r6"]))
    ])

    def verdict(rule_id: str, status: Status, observation: str | None = None) -> Verdict:
        return Verdict(id=rule_id + status + str(observation), rule_id=rule_id,
                       observation_id=observation, source="x", status=status,
                       severity=Severity.LOW, reason=Text(zh="z", en="e"))

    verdicts = [verdict("r1", Status.PASS), verdict("r1", Status.EXEMPT),
                verdict("r2", Status.FAIL), verdict("r2", Status.PASS),
                verdict("r3", Status.PASS), verdict("r3", Status.INCONCLUSIVE),
                # One observation, two rules splitting the outcomes: decided by r4.
                verdict("r4", Status.EXEMPT, "o1"), verdict("r5", Status.INCONCLUSIVE, "o1"),
                verdict("r4", Status.PASS, "o2"), verdict("r5", Status.PASS, "o2")]
    assert requirement_status(iter(verdicts), framework) == {
        "a": Status.PASS, "b": Status.FAIL, "c": Status.FAIL, "d": Status.INCONCLUSIVE,
        "e": "manual", "f": Status.PASS, "g": Status.INCONCLUSIVE,
        "h": Status.INCONCLUSIVE,  # no verdict at all
    }


# ---------------------------------------------------------------------------------------
# The shipped policy files
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", sorted(SHIPPED_RULES))
def test_shipped_templates_format(rule_id: str) -> None:
    rule = SHIPPED_RULES[rule_id]
    templates = rule.reason
    if rule.exemptions:  # a rule that can exempt says so in words
        assert templates.exempt is not None
    assert templates.inconclusive is not None
    for text in (templates.pass_, templates.fail, templates.exempt, templates.inconclusive):
        if text is None:
            continue
        for template in (text.zh, text.en):
            template.format(**PLACEHOLDERS)  # KeyError on an unknown placeholder
    if rule.scope == "observation":
        assert rule.applies_to.cross_company_only  # the MIIT item is about 其他互联网企业


def test_shipped_framework_references_shipped_rules() -> None:
    for requirement in FRAMEWORK.requirements:
        assert set(requirement.rules) <= set(SHIPPED_RULES), requirement.id
    referenced = {r for req in FRAMEWORK.requirements for r in req.rules}
    # No rule is left out of the framework, except those that stand on guidance (a press
    # report of a regulator's intention), which no requirement may rest on.
    guidance = {r for r, rule in SHIPPED_RULES.items() if rule.guidance}
    assert guidance == {"search-open-to-engines"}
    assert referenced == set(SHIPPED_RULES) - guidance


def test_load_shipped_catalog() -> None:
    if not any((shipped_policies_dir() / "platforms").glob("*.yaml")):
        pytest.skip("policies/platforms/ is still empty: the platform files are not written yet")
    loaded = load_catalog()
    assert set(SHIPPED_RULES) <= set(loaded.rules)
    framework = loaded.frameworks["miit-2021"]
    for requirement in framework.requirements:
        for rule_id in requirement.rules:
            assert rule_id in loaded.rules
    for rule in loaded.rules.values():
        for text in (rule.reason.pass_, rule.reason.fail, rule.reason.exempt,
                     rule.reason.inconclusive):
            if text is not None:
                text.zh.format(**PLACEHOLDERS)
                text.en.format(**PLACEHOLDERS)
