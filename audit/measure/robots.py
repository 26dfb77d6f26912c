"""The auditor's own robots.txt decisions: what it learnt of each origin's robots.txt, and
whether a URL may be fetched. Pure (no I/O): the engines fetch /robots.txt when the book
does not know an origin yet and tell it what they got. Parsing is Protego's (Scrapy's
robots.txt parser) through audit.judge.search.parse_robots, the search judge's own.

These are the crawler's politeness decisions, as Scrapy makes them: a robots.txt is read
whatever its status (an error page allows everything) and an origin whose robots.txt cannot
be fetched allows everything. (Measuring which search engines a platform lets index it is a
different question with RFC 9309's status rules.)
"""

from __future__ import annotations

import logging
from typing import Any

# Protego through the judge's one parsing function (Protego is imported by one module).
from audit.judge.search import directive_kind, parse_robots, rfc9309_text
from audit.web.urls import origin_of

logger = logging.getLogger(__name__)

# RFC 9309 asks crawlers to parse at least 500 KiB; what follows is not read.
MAX_ROBOTS_BYTES = 500 * 1024
# Rules read of one robots.txt: each is matched against every URL of its origin (Protego tries
# them one by one), and 25,000 wildcard rules in 500 KiB cost ~0.1 s a link, in the crawl's
# event loop (an adversarial review). The largest real file in the corpus has 389.
MAX_ROBOTS_RULES = 1000


class RobotsBook:
    """Parsed robots.txt per origin; None for an origin that allows everything."""

    def __init__(self) -> None:
        self._rules: dict[str, Any] = {}  # origin -> Protego's parsed file, or None

    def known(self, origin: str) -> bool:
        return origin in self._rules

    def allowed(self, url: str, user_agent: str) -> bool | None:
        """Whether `url` may be fetched; None when its origin's robots.txt is not known."""
        origin = origin_of(url)
        if origin not in self._rules:
            return None
        rules = self._rules[origin]
        return rules is None or bool(rules.can_fetch(url, user_agent))

    def learn(self, origin: str, body: bytes | None) -> None:
        """What fetching `origin`/robots.txt gave: its body (any status), or None when it
        could not be fetched."""
        rules: Any = None
        if body is not None:
            text, cut = _first_rules(rfc9309_text(body[:MAX_ROBOTS_BYTES].decode(
                "utf-8-sig", errors="ignore")))
            if cut:
                logger.warning("robots.txt at %s has more than %d rules; the rest are not read",
                               origin, MAX_ROBOTS_RULES)
            try:
                rules = parse_robots(text)
            except Exception:  # a hostile robots.txt must not stop the audit
                logger.warning("unparseable robots.txt at %s; treated as allowing everything",
                               origin)
        self._rules[origin] = rules


def _first_rules(text: str) -> tuple[str, bool]:
    """The text with at most MAX_ROBOTS_RULES rules for any user agent (a rule of a group
    counts for each agent the group names, as groups of one agent combine), and whether any
    rule was left out. Lines are read as Protego reads them (`User agent`, `Dissallow`, no
    colon), and a group ends where Protego ends it: at an agent line after a rule (the text is
    rfc9309_text's, in which no other record is left to end one; Sitemap and Host do not). By
    position in the file, the `User-agent: *` group that real files put last lost its rules to
    the named agents' before it; a group whose every rule is left out goes with its lines, as
    its agents would join the next group's (two reviews)."""
    counts: dict[str, int] = {}
    agents: set[str] = set()
    after_agents = cut = False  # a rule since the group began
    kept: list[str] = []
    pending: list[str] | None = []  # the group's lines until one of its rules is kept
    had_rules = False
    for line in text.splitlines(keepends=True):
        kind, value = directive_kind(line)
        if kind == "agent":
            if after_agents:
                if pending is not None and not had_rules:
                    kept.extend(pending)  # a group of no rules (Crawl-delay only) stays
                agents, after_agents, had_rules = set(), False, False
                pending = []  # a group whose rules were all cut goes with its lines
            if value.strip():
                agents.add(value.strip().lower())
        elif kind == "rule" and not value.strip():
            after_agents = True  # no rule, but it ends the group (kept: Protego reads it so)
        elif kind == "rule":
            after_agents = had_rules = True
            if agents and all(counts.get(agent, 0) >= MAX_ROBOTS_RULES for agent in agents):
                cut = True
                continue
            for agent in agents:
                counts[agent] = counts.get(agent, 0) + 1
            if pending is not None:
                kept.extend(pending)
                pending = None
            kept.append(line)
            continue
        if pending is not None:
            pending.append(line)
        else:
            kept.append(line)
    if pending is not None and not had_rules:
        kept.extend(pending)  # a last group of no rules (or lines before any group)
    return ("".join(kept), True) if cut else (text, False)
