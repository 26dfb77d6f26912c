"""What a crawl is (CrawlConfig: recorded in the run manifest), what it returns (CrawlResult),
and the settings both engines read for it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from audit.measure import settings as crawl_settings
from audit.model import SurfaceKind


@dataclass
class CrawlConfig:
    """Everything that shapes a crawl; it is recorded in the run manifest."""

    sources: list[str] = field(default_factory=list)  # platform ids; empty = all with seeds
    extra_seeds: list[tuple[str, SurfaceKind, str]] = field(default_factory=list)
    routes: dict[str, str] = field(default_factory=dict)  # host glob -> proxy URL
    allow_private: bool = False
    robots: str = "obey"  # obey | ignore
    lab: bool = False
    concurrency: int | None = None
    per_host: int | None = None
    timeout: float | None = None
    render: bool = False  # seed pages and interstitials through headless Chromium
    scenario: str | None = None  # the lab scenario file, for --lab runs
    targets: str | None = None  # a target list tested through the sources' wrappers
    surface: str | None = None  # the surface target-list probes are filed under
    engine: str = "auto"  # auto | asyncio | scrapy; see resolved_engine()
    parse_processes: int | None = None  # page-parsing workers (None: cores-1)
    # The interface language asked for (Accept-Language): zh-Hans | zh-Hant | en.
    ui_language: str = crawl_settings.DEFAULT_UI_LANGUAGE
    # Hosts whose robots.txt is measured besides the audited platforms' (--host).
    search_hosts: list[str] = field(default_factory=list)

    def resolved_engine(self) -> str:
        """`auto` is the asyncio engine, except where only Scrapy can do the job: --render
        drives Chromium through scrapy-playwright."""
        if self.engine != "auto":
            return self.engine
        return "scrapy" if self.render else "asyncio"

    def manifest_config(self) -> dict[str, object]:
        # The lab's proxy route is not recorded: its port changes every time.
        routes = {k: v for k, v in self.routes.items() if not (self.lab and k == "*.lab")}
        return {"sources": self.sources, "robots": self.robots,
                "allow_private": self.allow_private, "routes": routes, "lab": self.lab,
                "scenario": self.scenario, "concurrency": self.concurrency,
                "per_host": self.per_host, "timeout": self.timeout,
                "targets": self.targets, "surface": self.surface, "render": self.render,
                "engine": self.resolved_engine(), "parse_processes": self.parse_processes,
                "ui_language": self.ui_language, "search_hosts": self.search_hosts,
                "extra_seeds": [[p, s.value, u] for p, s, u in self.extra_seeds]}

    @classmethod
    def from_manifest(cls, recorded: dict[str, Any]) -> CrawlConfig:
        return cls(
            sources=list(recorded.get("sources") or []),
            extra_seeds=[(p, SurfaceKind(s), u) for p, s, u in recorded.get("extra_seeds") or []],
            routes=dict(recorded.get("routes") or {}),
            allow_private=bool(recorded.get("allow_private")),
            robots=str(recorded.get("robots") or "obey"), lab=bool(recorded.get("lab")),
            concurrency=recorded.get("concurrency"), per_host=recorded.get("per_host"),
            timeout=recorded.get("timeout"), scenario=recorded.get("scenario"),
            targets=recorded.get("targets"), surface=recorded.get("surface"),
            render=bool(recorded.get("render")),
            # Runs recorded before the asyncio engine existed were crawled by Scrapy.
            engine=str(recorded.get("engine") or "scrapy"),
            parse_processes=recorded.get("parse_processes"),
            # Runs recorded before the setting existed asked for English (Scrapy's default).
            ui_language=str(recorded.get("ui_language") or "en"),
            search_hosts=[str(h) for h in recorded.get("search_hosts") or []],
        )


@dataclass
class CrawlResult:
    planned: int
    observations: int
    outcomes: Counter[str]
    seed_errors: list[dict[str, str]]
    stats: dict[str, Any]


def effective_settings(config: CrawlConfig) -> dict[str, Any]:
    """The crawl settings both engines read: hulian's defaults, the lab's, then the command
    line's (audit/measure/settings.py has the values and why)."""
    settings = dict(crawl_settings.BASE)
    if config.lab:
        settings.update(crawl_settings.LAB)
    settings["ROBOTSTXT_OBEY"] = config.robots == "obey"
    if config.concurrency:
        settings["CONCURRENT_REQUESTS"] = config.concurrency
    if config.per_host:
        settings["CONCURRENT_REQUESTS_PER_DOMAIN"] = config.per_host
    if config.timeout:
        settings["DOWNLOAD_TIMEOUT"] = config.timeout
    settings["DEFAULT_REQUEST_HEADERS"] = crawl_settings.request_headers(config.ui_language)
    return settings
