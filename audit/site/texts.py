"""The site's interface texts in Chinese and English: (zh, en) per key. A template reads them
as `T.key`; a key missing here fails the build (StrictUndefined), never shows as blank."""

from __future__ import annotations

from audit.judge.search import CLASS_LABELS

TEXTS: dict[str, tuple[str, str]] = {
    "site": ("互联指数", "The interconnection index"),
    "tagline": ("各平台之间的外链是否被屏蔽、阻碍或区别对待：hulian 的测量记录",
                "Whether platforms block, obstruct or discriminate against links to each "
                "other: hulian's measurements"),
    "overview": ("概览", "Overview"),
    "runs": ("运行记录", "Runs"),
    "run": ("运行", "Run"),
    "platforms": ("平台", "Platforms"),
    "platform": ("平台", "Platform"),
    "companies": ("公司", "Companies"),
    "company": ("公司", "Company"),
    "requirements": ("合规要求", "Requirements"),
    "requirement": ("要求", "Requirement"),
    "methodology": ("方法说明", "Methodology"),
    "search": ("搜索", "Search"),
    "search_placeholder": ("搜索平台、目标或问题……", "Search platforms, targets, findings…"),
    "search_none": ("没有结果", "No results"),
    "language": ("English", "中文"),
    "matrix": ("公司 × 公司 互通矩阵", "Company × company openness matrix"),
    "matrix_note": ("行：发出链接的公司（来源）；列：被链接的公司（目标）。"
                    "颜色为最差结果，数字为链接数；点击格子查看来源公司的详情。",
                    "Rows: the company whose platform carries the link (source); columns: the "
                    "company linked to (target). Colour: the worst outcome; number: links. "
                    "Click a cell for the source company's details."),
    "platform_matrix": ("平台 × 目标", "Platform × target"),
    "latest_run": ("最新运行", "Latest run"),
    "headline": ("主要数字", "Headline figures"),
    "links": ("链接", "links"),
    "links_measured": ("测量的链接", "Links measured"),
    "open_links": ("直接可达的链接", "Links that open without extra steps"),
    "failed_findings": ("不合规发现", "Failed findings"),
    "failing_requirements": ("未满足的要求", "Requirements failed"),
    "platforms_measured": ("测量的平台", "Platforms measured"),
    "changes": ("与上一次运行相比", "Change since the previous run"),
    "no_previous": ("没有可比较的上一次运行（相同来源平台）。",
                    "No earlier run with the same source platforms to compare with."),
    "not_comparable": ("无法比较：", "Cannot compare: "),
    "regressions": ("变差", "Regressions"),
    "improvements": ("改善", "Improvements"),
    "none": ("无", "none"),
    "edge": ("链接路径", "edge"),
    "before": ("之前", "before"),
    "after": ("之后", "after"),
    "search_matrix": ("搜索引擎 × 平台：抓取限制", "Search engines × platforms: crawl barriers"),
    "search_none_measured": ("此次运行未测量搜索引擎抓取限制。",
                             "This run did not measure search barriers."),
    "engine": ("搜索引擎", "Search engine"),
    "outcomes_over_runs": ("各场景的结果随时间变化", "Outcomes per surface over runs"),
    "chart_note": ("每根柱为一次运行，颜色为结果所占比例（下方最好）。",
                   "One bar per run; colours are the share of each outcome (best at the "
                   "bottom)."),
    "surface": ("场景", "Surface"),
    "target": ("目标", "Target"),
    "source": ("来源", "Source"),
    "outcome": ("结果", "Outcome"),
    "worst": ("最差结果", "Worst outcome"),
    "rule": ("规则", "Rule"),
    "severity": ("严重程度", "Severity"),
    "reason": ("说明", "Reason"),
    "evidence": ("证据", "Evidence"),
    "current_findings": ("当前的不合规发现", "Current findings"),
    "findings_more": ("此处仅列出最严重的 %(n)s 条，另有 %(more)s 条未列出；全部发现见",
                      "Only the %(n)s worst are listed here, %(more)s more are not; all of "
                      "them are in"),
    "no_findings": ("最新运行中没有不合规发现。", "No failed findings in the latest run."),
    "failing_reqs": ("未满足的工信部要求", "MIIT requirements failed"),
    "no_failing_reqs": ("最新运行中没有未满足的要求。", "No requirement fails in the latest run."),
    "search_classes": ("搜索引擎抓取分类", "Search classes"),
    "as_target": ("其他平台如何对待指向本平台的链接",
                  "How other platforms treat links to this one"),
    "as_source": ("本平台如何对待外链", "How this platform treats links"),
    "company_platforms": ("旗下平台", "Its platforms"),
    "since": ("起始于", "since"),
    "since_run": ("自该次运行起持续不合规", "failing since run"),
    "status": ("状态", "Status"),
    "fails_on": ("不满足该要求的平台", "Platforms that fail it"),
    "no_platform_fails": ("最新运行中没有平台不满足该要求。",
                          "No platform fails it in the latest run."),
    "wording": ("原文", "Wording"),
    "rules": ("对应规则", "Rules"),
    "measured": ("测量内容", "What was measured"),
    "started": ("开始", "Started"),
    "finished": ("结束", "Finished"),
    "tool_version": ("工具版本", "Tool version"),
    "policy_digest": ("策略摘要", "Policy digest"),
    "sources": ("来源平台", "Source platforms"),
    "observations": ("观测", "Observations"),
    "verdicts": ("判定", "Verdicts"),
    "failed": ("不合规", "Failed"),
    "reports": ("报告", "Reports"),
    "no_reports": ("证据包中没有已生成的报告（可用 hulian report 生成）。",
                   "The bundle holds no rendered report (make one with hulian report)."),
    "bundle": ("证据包", "Bundle"),
    "bundle_missing": ("证据包不可用", "The bundle is not available"),
    "bundle_missing_note": ("页面上的数据来自历史库；证据文件、哈希和复核队列需要证据包。",
                            "What this page shows comes from the history store; the evidence "
                            "files, their hashes and the review queue need the bundle."),
    "bundle_path": ("证据包位置（未复制到站点）", "Bundle location (not copied into the site)"),
    "files": ("证据文件及 SHA-256", "Evidence files and SHA-256"),
    "file": ("文件", "File"),
    "size": ("大小", "Size"),
    "review": ("人工复核队列", "Review queue"),
    "review_none": ("没有需要人工复核的观测。", "No observation needs review."),
    "review_more": ("仅显示前 %(n)s 条，完整列表见",
                    "Only the first %(n)s shown; the full list is in"),
    "config": ("运行配置", "Configuration"),
    "final_url": ("最终页面", "Final page"),
    "headline_text": ("页面标题", "Page headline"),
    "regression": ("变差", "regression"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "data_files": ("数据文件（JSON / CSV）", "Data files (JSON / CSV)"),
    "feed": ("变差订阅（Atom）", "Regressions feed (Atom)"),
    "legend": ("图例", "Legend"),
    "open": ("开放", "open"),
    "class": ("分类", "Class"),
    "not_measured": ("未测量", "not measured"),
    "unknown_company": ("其他网站", "other sites"),
    "choose": ("选择语言", "Choose a language"),
    # the recorded evidence and its replay
    "recorded": ("记录的证据", "Recorded evidence"),
    "replay": ("回放", "replay"),
    "replay_title": ("记录的交互回放", "Replay of the recorded exchanges"),
    "replay_intro": ("下面回放的是运行时记录在 WARC 中的响应（来自本站的 WACZ 文件），"
                     "不是被测平台现在的页面；本站不会向被测网站发出任何请求。",
                     "What replays below is the response recorded in the run's WARC (from "
                     "the WACZ file in this site), not the audited platform's page as it "
                     "is now; the site sends no request to an audited host."),
    "replay_showing": ("正在回放", "Replaying"),
    "replay_pick": ("在下表中选择一条记录进行回放。", "Choose a record in the table below to "
                    "replay it."),
    "replay_unavailable": ("此处无法回放：回放查看器依赖 Service Worker，浏览器只在 "
                           "http://localhost 或 https:// 下提供（file:// 不行）。"
                           "请用 hulian site serve 预览本站，"
                           "或将其发布到 HTTPS 网站；也可以下载 WACZ 文件，核对其 SHA-256 后"
                           "用 ReplayWeb.page 或 pywb 打开。",
                           "The replay cannot run here: the viewer needs a service worker, which "
                           "browsers provide only over http://localhost or https:// (not "
                           "file://). Preview the site with hulian site serve, or publish it "
                           "on an HTTPS host; or download the WACZ file, check its SHA-256 and "
                           "open it in ReplayWeb.page or pywb."),
    "replay_no_viewer": ("本站构建时没有安装回放查看器（scripts/site-vendor.sh），"
                         "只提供 WACZ 文件。",
                         "The site was built without the replay viewer "
                         "(scripts/site-vendor.sh): the WACZ file only."),
    "replay_no_wacz": ("本站未收录该运行的 WACZ 文件", "This site holds no WACZ of the run"),
    "replay_skipped": ("构建时使用了 --no-replay", "the site was built with --no-replay"),
    "wacz_file": ("WACZ 文件（运行的全部 WARC 记录及索引）",
                  "WACZ file (every WARC record of the run, with its index)"),
    "exchanges": ("发现和复核记录的请求链", "The chains of the findings and the review queue"),
    "exchanges_scope": ("本页列出站内页面链接到的请求链：最新一次运行为各平台页面列出的发现"
                        "（每个平台最严重的前 50 条）和运行页面列出的待复核记录（前 100 条）；"
                        "较早的运行只列出这些待复核记录。其余请求链都在上方的 WACZ 文件和"
                        "证据包的 observations.jsonl 中，全部发现见运行的 findings.json。",
                        "This page lists the chains the site's pages link to: for the latest "
                        "run, the findings its platform pages list (the 50 worst of each "
                        "platform) and the review rows its run page lists (the first 100); for "
                        "an earlier run, those review rows. Every other chain is in the WACZ "
                        "file above and in the bundle's observations.jsonl; every finding is "
                        "in the run's findings.json."),
    "no_exchanges": ("这次运行没有不合规发现或待复核的记录。",
                     "This run has no failed finding and nothing to review."),
    "hop": ("步骤", "Hop"),
    "http_status": ("HTTP 状态", "HTTP status"),
    "via": ("方式", "via"),
    "body_sha256": ("响应正文 SHA-256", "Response body SHA-256"),
    "shown_page": ("平台展示给用户的页面", "the page the platform served"),
    "observation": ("观测", "Observation"),
    "not_recorded": ("未记录", "not recorded"),
}

OUTCOMES: dict[str, tuple[str, str]] = {
    "direct": ("直接打开", "opens directly"),
    "wrapped": ("经跳转打开", "redirected, opens"),
    "warned": ("风险提示页", "warning page"),
    "copy_only": ("需复制到浏览器", "copy to browser"),
    "stripped": ("不可点击", "not clickable"),
    "diverted": ("被导向别处", "diverted"),
    "blocked": ("被拦截", "blocked"),
    "unrecognized": ("需人工复核", "needs review"),
    "target_down": ("目标不可达", "target down"),
    "error": ("测量失败", "measurement error"),
}

# The report's and the reasons' labels (review 169: the site said 禁止抓取 where they say 禁止).
SEARCH_CLASSES: dict[str, tuple[str, str]] = {
    cls.value: labels for cls, labels in CLASS_LABELS.items()}

SEVERITIES: dict[str, tuple[str, str]] = {
    "critical": ("严重", "critical"), "high": ("高", "high"), "medium": ("中", "medium"),
    "low": ("低", "low"), "info": ("提示", "info"),
}

STATUSES: dict[str, tuple[str, str]] = {
    "fail": ("不满足", "failed"), "pass": ("满足", "met"),
    "inconclusive": ("无法判断", "inconclusive"), "manual": ("需人工检查", "manual check"),
}


def texts(lang: str) -> dict[str, str]:
    side = 0 if lang == "zh" else 1
    return {key: pair[side] for key, pair in TEXTS.items()}


def labels(table: dict[str, tuple[str, str]], lang: str) -> dict[str, str]:
    side = 0 if lang == "zh" else 1
    return {key: pair[side] for key, pair in table.items()}


def _surfaces() -> dict[str, tuple[str, str]]:
    from audit.judge.evaluate import SURFACE_LABELS

    return {kind.value: pair for kind, pair in SURFACE_LABELS.items()}


SURFACES: dict[str, tuple[str, str]] = _surfaces()
