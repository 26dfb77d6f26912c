"""What a crawl starts from: the seed pages of the audited platforms, the probes of a target
list (each target through each source's link wrapper), or what an interrupted bundle had
planned and observed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from audit.errors import ConfigError
from audit.evidence.bundle import Bundle
from audit.measure.chain import Seed
from audit.measure.config import CrawlConfig
from audit.measure.search import SearchTarget, search_host
from audit.measure.targets import load_targets, plan_probes
from audit.model import Probe, SurfaceKind
from audit.policy.catalog import Catalog
from audit.web.urls import host_of


def seeds_for(catalog: Catalog, config: CrawlConfig) -> list[Seed]:
    chosen = config.sources or sorted(catalog.platforms)
    seeds = []
    # A target-list run tests the listed targets; the catalog's seed pages are not crawled.
    for platform_id in [] if config.targets else chosen:
        platform = catalog.platforms.get(platform_id)
        if platform is None:
            raise ConfigError(f"unknown platform {platform_id!r}")
        for surface in platform.surfaces:
            if surface.method != "crawl" and not config.lab:
                continue
            seeds += [Seed(platform.id, surface.kind, url) for url in surface.seeds]
    seeds += [Seed(p, s, u) for p, s, u in config.extra_seeds]
    return seeds


def search_targets(catalog: Catalog, config: CrawlConfig) -> list[SearchTarget]:
    """The hosts whose robots.txt the crawl measures: every host of the audited platforms
    (their seed pages' hosts and their link wrappers' hosts), then the --host extras; each
    once, with the scheme its URLs use."""
    found: dict[str, SearchTarget] = {}

    def add(url: str, platform: str | None) -> None:
        key = search_host(url)  # None for a port out of range: not a host to measure
        if key is not None and key not in found:
            found[key] = SearchTarget(key, urlsplit(url).scheme or "https", platform)

    for platform_id in config.sources or sorted(catalog.platforms):
        platform = catalog.platforms.get(platform_id)
        if platform is None:
            raise ConfigError(f"unknown platform {platform_id!r}")
        seeds = [url for surface in platform.surfaces for url in surface.seeds]
        for url in seeds:
            add(url, platform.id)
        # Its link wrappers' hosts (named exactly: a '.suffix' names no one host), in the
        # scheme of its seed pages.
        scheme = urlsplit(seeds[0]).scheme if seeds else "https"
        for wrapper in platform.wrappers:
            if wrapper.link_template:
                add(wrapper.link_template.replace("{target}", ""), platform.id)
            for host in wrapper.match.hosts:
                if not host.startswith("."):
                    add(f"{scheme}://{host}/", platform.id)
    for platform_id, _, url in config.extra_seeds:
        add(url, platform_id)
    for value in config.search_hosts:
        url = value if "://" in value else f"https://{value}"
        if (urlsplit(url).scheme not in ("http", "https") or host_of(url) is None
                or urlsplit(url).path not in ("", "/")):
            raise ConfigError(f"--host {value!r}: expected a host name (www.example.com) or "
                              "an origin (https://www.example.com)")
        owner = catalog.platform_for_url(url)
        add(url, owner.id if owner else None)
    return list(found.values())


def searched(path: Path) -> set[str]:
    """The ids of the search records an interrupted run wrote."""
    return {r.id for r in Bundle(path).search()}


def target_probes(catalog: Catalog, config: CrawlConfig) -> list[Probe]:
    """Probes for a target list: each target through each source's link wrapper."""
    if not config.targets:
        return []
    if not config.sources:
        raise ConfigError("a target list needs --source: whose link handling to test")
    targets = load_targets(Path(config.targets))
    attributed = {}
    for t in targets:
        platform = catalog.platform_for_url(t.url)
        attributed[t.url] = platform.id if platform else None
    probes = []
    for source in config.sources:
        platform = catalog.platforms.get(source)
        if platform is None:
            raise ConfigError(f"unknown platform {source!r}")
        surface = SurfaceKind(config.surface) if config.surface else (
            platform.surfaces[0].kind if platform.surfaces else SurfaceKind.POST)
        probes += plan_probes(targets, platform, surface, attributed)
    return probes


def resume_state(path: Path) -> tuple[dict[str, Probe], set[str]]:
    """Probes planned and probes observed in an interrupted run."""
    bundle = Bundle(path)
    planned = {p.id: p for p in bundle.probes()}
    done = {o.probe_id for o in bundle.observations()}
    return planned, done


class Planner:
    """The probes of one crawl: those planned so far (one per id, whichever seed page lists
    it first) and those already observed (a resumed run). Both engines plan through it."""

    def __init__(self, planned: dict[str, Probe] | None = None, done: set[str] | None = None):
        self.planned: dict[str, Probe] = dict(planned or {})
        self.done: set[str] = set(done or ())

    def unfinished(self) -> list[Probe]:
        """Probes planned before an interruption that have no observation yet."""
        return [p for p in self.planned.values() if p.id not in self.done]

    def add(self, probes: list[Probe]) -> list[tuple[Probe, bool]]:
        """The probes of a seed's plan that are new to the run, each with whether it is to
        be followed (not when a resumed run observed it already)."""
        added = []
        for probe in probes:
            if probe.id in self.planned:
                continue
            self.planned[probe.id] = probe
            added.append((probe, probe.id not in self.done))
        return added
