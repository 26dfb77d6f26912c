"""The crawl settings both engines read (Scrapy's setting names, so that the Scrapy engine
takes them as they are): polite by default, every choice explicit and recorded."""

from __future__ import annotations

from typing import Any

from audit import __version__

USER_AGENT = (f"hulian/{__version__} (link-interconnection audit; "
              "+https://github.com/hulian-audit/hulian)")

# The interface language the auditor asks platforms for (`--ui-language`): platforms serve
# their interstitials in the user's language, so a run records which one it saw. 简体 is the
# default: the rules audited are China's, and so are most of the users they protect.
ACCEPT_LANGUAGE = {
    "zh-Hans": "zh-CN,zh;q=0.9,en;q=0.5",
    "zh-Hant": "zh-TW,zh-HK;q=0.9,zh;q=0.8,en;q=0.5",
    "en": "en",
}
DEFAULT_UI_LANGUAGE = "zh-Hans"


def request_headers(ui_language: str) -> dict[str, str]:
    """The headers every request of both engines carries besides User-Agent (Scrapy's
    defaults, with the interface language's Accept-Language)."""
    return {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": ACCEPT_LANGUAGE[ui_language]}


BASE: dict[str, Any] = {
    "BOT_NAME": "hulian",
    "USER_AGENT": USER_AGENT,
    "DEFAULT_REQUEST_HEADERS": request_headers(DEFAULT_UI_LANGUAGE),
    "ROBOTSTXT_OBEY": True,
    "COOKIES_ENABLED": False,  # no sessions: every probe is measured as a fresh visitor
    "TELNETCONSOLE_ENABLED": False,
    "LOG_LEVEL": "WARNING",
    # hulian follows redirects, meta refreshes and JS locations itself, hop by hop.
    "REDIRECT_ENABLED": False,
    "METAREFRESH_ENABLED": False,
    "CONCURRENT_REQUESTS": 32,
    # Items per response processed in parallel. Scrapy starts this many asyncio tasks for
    # every callback's output (default 100: ~1 ms of pure overhead per response); hulian's
    # pipeline is synchronous and a callback yields a handful of records, so one is enough.
    "CONCURRENT_ITEMS": 1,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "DOWNLOAD_DELAY": 0,
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 4.0,
    "AUTOTHROTTLE_START_DELAY": 0.5,
    "DOWNLOAD_TIMEOUT": 20,
    "HULIAN_SEED_TIMEOUT": None,  # seed pages: longer than DOWNLOAD_TIMEOUT if set (the lab's)
    "DOWNLOAD_MAXSIZE": 32 * 1024 * 1024,
    "DOWNLOAD_WARNSIZE": 24 * 1024 * 1024,
    # Retries for transient server trouble only: 429 and 403 are answers to the auditor,
    # handled by the probe driver (Retry-After) and recorded as errors. The probe driver
    # (audit/measure/driver.py) applies these settings and ROBOTSTXT_OBEY for both engines:
    # Scrapy's retry and robots.txt middlewares are off.
    "RETRY_ENABLED": True,
    "RETRY_TIMES": 1,
    "RETRY_HTTP_CODES": [500, 502, 504, 522, 524, 408],
    "DOWNLOADER_MIDDLEWARES": {
        "spiders.middlewares.AddressGuardMiddleware": 45,
        "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
        "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
        "spiders.middlewares.WarcEvidenceMiddleware": 595,
        "spiders.middlewares.KeepStartMiddleware": 592,
        "spiders.middlewares.RouteMiddleware": 740,
        # Built-ins that do nothing for hulian but cost a call per request: no spider sets
        # allowed_domains or HTTP credentials.
        "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
        "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": None,
    },
    # No depth limit and nothing reads request depth: one layer less over every callback.
    "SPIDER_MIDDLEWARES": {"scrapy.spidermiddlewares.depth.DepthMiddleware": None},
    "ITEM_PIPELINES": {"spiders.pipelines.BundlePipeline": 300},
    "EXTENSIONS": {"spiders.extensions.ProgressExtension": 500},
    "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    # A long link is still a link to audit (Scrapy drops URLs over 2083 characters silently;
    # the asyncio engine measures them).
    "URLLENGTH_LIMIT": 0,
}

# The lab is on loopback and answers fast: no throttling, no retries (its faults are
# deliberate), and the private-address guard lifted (it is the auditor's own lab).
LAB: dict[str, Any] = {
    "AUTOTHROTTLE_ENABLED": False,
    "CONCURRENT_REQUESTS": 64,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
    # Seed pages (the 20 MB one among them) get 10 s: 5 s lost seed pages when the suite ran
    # beside other work (load 8 on 2 cores). Every other request 4 s: the lab answers them in
    # well under a second even then, and its deliberate hang is measured as a timeout after
    # this long, in every lab run (at 10 s it was two thirds of a whole-lab run's time).
    # The lab's faults are answered the same way every time, so retrying them would only
    # cost time.
    "DOWNLOAD_TIMEOUT": 4,
    "HULIAN_SEED_TIMEOUT": 10,
    "RETRY_ENABLED": False,
}
