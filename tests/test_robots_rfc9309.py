"""robots.txt and page directives read as RFC 9309 and the engines read them, where Python's
and Protego's readings differ (an adversarial review of search barriers, 2026-12-07; every
case was checked against Google's own robots.txt parser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy.http import HtmlResponse

from audit.judge.search import (
    RobotsFetch,
    engine_tokens,
    judge_robots,
    judge_robots_text,
    rfc9309_text,
)
from audit.measure.robots import RobotsBook
from audit.measure.search import page_record
from audit.model import PageDirective, SearchClass
from audit.policy.catalog import load_catalog
from audit.web.fields import header_fields
from spiders.values import response_headers

TOKENS = engine_tokens(load_catalog())
O, P, C, N = (SearchClass.OPEN, SearchClass.PARTIAL, SearchClass.CLOSED,  # noqa: E741
              SearchClass.NOINDEX)


def _classes(text: str) -> set[SearchClass]:
    return set(judge_robots_text("h", text.encode(), TOKENS).classes.values())


@pytest.mark.parametrize("breaker", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028",
                                     "\u2029"])
def test_a_comment_ends_only_at_cr_or_lf(breaker: str) -> None:
    # Python's splitlines() ends a line at each of these; RFC 9309 at CR and LF only, so
    # what follows is still the comment.
    assert _classes(f"User-agent: *\n# note{breaker}Disallow: /\n") == {O}
    assert _classes("User-agent: *\r# note\rDisallow: /\r") == {C}  # CR alone ends a line


@pytest.mark.parametrize("line", ["Disallow:\u3000/", "Disallow\u3000/", "Disallow:\xa0/",
                                  "Disallow:\u2003/"])
def test_only_space_and_tab_are_white_space(line: str) -> None:
    # A full-width or no-break space is part of the value: `\u3000/` is no path (paths start
    # with `/`), and `Disallow\u3000/` is no Disallow record.
    assert _classes(f"User-agent: *\n{line}\n") == {O}
    assert _classes("User-agent: *\nDisallow:\t/\n") == {C}


@pytest.mark.parametrize("record", ["Crawl-delay: 5", "Request-rate: 1/5", "Clean-param: ref",
                                    "Visit-time: 0600-0845", "X-Unknown: 1", "Crawl-delay:"])
def test_other_records_do_not_end_a_group(record: str) -> None:
    text = f"User-agent: Baiduspider\n{record}\nUser-agent: *\nDisallow: /\n"
    classes = judge_robots_text("h", text.encode(), TOKENS).classes
    assert classes["Baiduspider"] is C and set(classes.values()) == {C}
    # The crawler's own robots.txt decisions read the file the same way.
    book = RobotsBook()
    book.learn("https://h", text.encode())
    assert book.allowed("https://h/a", "Baiduspider") is False
    # A rule still ends a group; Sitemap never did.
    split = "User-agent: Baiduspider\nAllow: /\nUser-agent: *\nDisallow: /\n"
    assert judge_robots_text("h", split.encode(), TOKENS).classes["Baiduspider"] is O
    sitemap = "User-agent: Baiduspider\nSitemap: /s.xml\nUser-agent: *\nDisallow: /\n"
    assert judge_robots_text("h", sitemap.encode(), TOKENS).classes["Baiduspider"] is C


def test_allowing_an_index_page_does_not_allow_its_directory() -> None:
    # Only Google's parser reads `Allow: /index.html` as allowing `/`; RFC 9309 matches paths.
    assert _classes("User-agent: *\nDisallow: /\nAllow: /index.html\n") == {C}
    # A directory Allow the file states itself still counts.
    assert _classes("User-agent: *\nDisallow: /\nAllow: /index.html\nAllow: /$\n") == {O}
    book = RobotsBook()
    book.learn("https://h", b"User-agent: *\nDisallow: /\nAllow: /a/index.html\n")
    assert book.allowed("https://h/a/", "hulian") is False
    assert book.allowed("https://h/a/index.html", "hulian") is True


def test_the_text_protego_reads_keeps_lines_and_rules() -> None:
    text = "User-agent: *\r\nCrawl-delay: 2\r\nDisallow: /a\u3000b # x\u2028y\n"
    assert rfc9309_text(text) == ("User-agent: *\n#Crawl-delay: 2\n"
                                  "Disallow: /a%E3%80%80b # x%E2%80%A8y\n")
    # The percent-encoded path is the one a URL holding the character asks for.
    book = RobotsBook()
    book.learn("https://h", text.encode())
    assert book.allowed("https://h/a%E3%80%80b", "x") is False
    assert book.allowed("https://h/ab", "x") is True


def _header(value: str) -> PageDirective:
    return PageDirective(source="header", name="X-Robots-Tag", content=value)


def test_each_x_robots_tag_header_is_read_on_its_own() -> None:
    # Google's documented form: one header for one crawler, another for every crawler. Joined
    # with ", " the second read as the first crawler's.
    pairs = [("Content-Type", "text/html"), ("X-Robots-Tag", "googlebot: nofollow"),
             ("x-robots-tag", "noindex"), ("Vary", "a"), ("Vary", "b")]
    fields = header_fields(pairs)
    assert fields["vary"] == "a, b"
    scrapy = response_headers(HtmlResponse("https://h/", headers={
        "X-Robots-Tag": ["googlebot: nofollow", "noindex"], "Vary": ["a", "b"]}))
    assert (scrapy["x-robots-tag"], scrapy["vary"]) == (fields["x-robots-tag"], "a, b")
    record = page_record("https://h/", 200, fields, [], names=frozenset(), platform=None,
                         run_id=None, now=datetime.now(UTC))
    assert [d.content for d in record.directives] == ["googlebot: nofollow", "noindex"]
    judged = judge_robots("h", RobotsFetch(404), TOKENS, pages=[("https://h/",
                                                                 record.directives)])
    assert set(judged.classes.values()) == {N}


def test_a_crawler_named_inside_a_header_speaks_from_there_on() -> None:
    judged = judge_robots("h", RobotsFetch(404), TOKENS,
                          [_header("bingbot: noarchive, googlebot: noindex")])
    assert judged.classes["Googlebot"] is N and judged.classes["bingbot"] is O
    # A directive with a value of its own is no crawler's name.
    kept = judge_robots("h", RobotsFetch(404), TOKENS, [_header("max-snippet: 0, noindex")])
    assert set(kept.classes.values()) == {N}
    everyone = judge_robots("h", RobotsFetch(404), TOKENS, [_header("noindex, googlebot: all")])
    assert set(everyone.classes.values()) == {N}


def test_a_noindex_on_a_page_an_engine_may_not_fetch_is_not_read() -> None:
    robots = RobotsFetch(200, b"User-agent: *\nDisallow: /s/\nUser-agent: Googlebot\nAllow: /\n")
    noindex = [PageDirective(source="meta", name="robots", content="noindex")]
    blocked = judge_robots("h", robots, TOKENS, pages=[("https://h/s/post/", noindex)])
    assert blocked.classes["Googlebot"] is N  # it may fetch the page and reads the noindex
    assert blocked.classes["bingbot"] is P and blocked.noindex.get("bingbot") is None
    shown = judge_robots("h", robots, TOKENS, pages=[("https://h/post?id=1", noindex)])
    assert set(shown.classes.values()) == {N}
    # A directive of no known page (a saved file's) counts, as before.
    saved = judge_robots("h", robots, TOKENS, noindex)
    assert set(saved.classes.values()) == {N}


@pytest.mark.parametrize("text", [
    "User-agent: Googlebot\u00a0\nDisallow: /\n", "User-agent: Googlebot\u3000\nDisallow: /\n",
    "User-agent: Googlebot\x0c\nDisallow: /\n", "User-agent: *\x0b\nDisallow: /\n",
    "User-agent: Googlebot\n\x0cDisallow: /\n", "User-agent: Googlebot\nDisallow: /\x0c\n",
    "User-agent: Googlebot\nDisallow:\x0c/\n",
])
def test_white_space_google_trims_is_trimmed(text: str) -> None:
    # \x0b and \x0c are white space to Google's parser, and a product token is its letters:
    # the fix above read each of these as open where Google reads closed (the next review).
    assert judge_robots_text("h", text.encode(), TOKENS).classes["Googlebot"] is C
    book = RobotsBook()
    book.learn("https://h", text.encode())
    assert book.allowed("https://h/a", "Googlebot") is False


def test_an_empty_rule_ends_a_group_for_the_crawlers_rule_cap() -> None:
    # Protego ends a group at an empty `Disallow:`; the rule cap read it as nothing and
    # counted the next group's rules against `*`, dropping its one rule (the review).
    rules = "".join(f"Disallow: /r{n}\n" for n in range(1000))
    text = (f"User-agent: *\nDisallow:\nUser-agent: bot2\n{rules}"
            "User-agent: *\nDisallow: /secret\n")
    book = RobotsBook()
    book.learn("https://h", text.encode())
    assert book.allowed("https://h/secret", "hulian/1.0") is False
    assert book.allowed("https://h/r5", "bot2") is False
