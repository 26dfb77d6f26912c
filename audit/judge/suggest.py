"""`hulian policies suggest`: a draft signature for a page hulian could not read.

From a saved page and its URL: the endpoint it is on (the catalog's, or a new one drafted
from the URL), the kind its structure suggests, candidate markers (its headline and the
sentence that explains it, in the language they are written in), and CSS selectors for the
target it shows and for its continue control. The draft is YAML in the catalog's schema, for
a person to check against the page and put in their own policy directory; nothing here
decides anything by itself.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from audit.judge.classify import classify_page, headline, platform_for_url, stated_sentence
from audit.judge.interception import controls, read_structure, shown_urls
from audit.model import Citation, Lang, PageKind, Platform, Text
from audit.policy.catalog import Catalog
from audit.web.page import Page, text_of
from audit.web.urls import host_of, registrable_domain

# lxml elements (audit.web.page parses pages; this module only walks what it built).
Element = Any

# Characters written one way in 繁體 and another in 简体 among the words interstitials use
# (訪/访, 問/问, 網/网 …): enough to tell the two scripts of a short page apart.
_HANT_ONLY = set("訪問網頁這個們請複製瀏覽器將繼續鏈接連結為該說與開關閉應用帳號賬戶從點擊")
_HANS_ONLY = set("访问网页这个们请复制浏览器将继续链接连结为该说与开关闭应用帐号账户从点击")


def language_of(text: str) -> Lang:
    hant = sum(ch in _HANT_ONLY for ch in text)
    hans = sum(ch in _HANS_ONLY for ch in text)
    if hant or hans:
        return Lang.ZH_HANT if hant > hans else Lang.ZH_HANS
    if re.search(r"[\u3400-\u9fff]", text):
        return Lang.ZH_HANS
    return Lang.EN


def selector_for(element: Element) -> str:
    """A CSS selector for an element: its id, else its tag and classes, with its parent's
    when the element alone says little."""
    def one(el: Element) -> str:
        tag = el.tag if isinstance(el.tag, str) else "*"
        if el.get("id"):
            return f"#{el.get('id')}"
        classes = [c for c in (el.get("class") or "").split() if re.fullmatch(r"[\w-]+", c)]
        return tag + "".join(f".{c}" for c in classes)

    own = one(element)
    parent = element.getparent()
    if own.startswith("#") or "." in own or parent is None or parent.tag in ("body", "html"):
        return own
    return f"{one(parent)} {own}"


def _element_showing(page: Page, url: str) -> Element | None:
    """The innermost element whose text shows `url`."""
    if page.root is None:
        return None
    best = None
    for element in page.root.iter():
        if isinstance(element.tag, str) and url in text_of(element):
            best = element  # iter() is document order: descendants come after ancestors
    return best


def _control_element(page: Page, url: str | None, label: str) -> Element | None:
    if page.root is None:
        return None
    for element in page.root.iter("a", "button"):
        text = " ".join(text_of(element).split())
        if (url and element.get("href") and url in (element.get("href") or "")) or (
                label and text == label):
            return element
    return None


def _kind_guess(kind: PageKind, how: str) -> tuple[str, str]:
    """The kind a draft should say, and why."""
    if kind in (PageKind.WARNED, PageKind.COPY_ONLY, PageKind.BLOCKED):
        return kind.value, f"read from the page's structure ({how})"
    if how == "target_shown_without_instruction":
        return "copy_only", "GUESS: the target is shown and nothing leads on; check the page"
    if how == "unread_control":
        return "warned", "GUESS: a control with an unknown label may lead on; check it"
    return "blocked", "GUESS: no way on and no target were found; check the page"


def suggest(page: Page, catalog: Catalog, url: str) -> dict[str, Any]:
    """The draft: {'platform': …, 'endpoint': {…} (new ones only), 'signature': {…},
    'notes': [...]}, ready for yaml.safe_dump."""
    facts = classify_page(page, catalog, platform_for_url(url, catalog))
    owner = platform_for_url(url, catalog)
    notes = [f"hulian reads this page as {facts.kind.value} "
             f"({facts.signature or 'no signature'})."]
    host = host_of(url) or "unknown"
    if facts.endpoint is not None:
        platform_id, endpoint_id = facts.endpoint.split("/", 1)
        endpoint_draft = None
    else:
        platform_id = owner.id if owner is not None else (
            (registrable_domain(host) or host).split(".")[0])
        endpoint_id = re.sub(r"[^a-z0-9._-]+", "-", f"{host}{urlsplit(url).path}".lower()
                             ).strip("-")[:80] or "endpoint"
        endpoint_draft = {"id": endpoint_id,
                          "match": {"hosts": [host],
                                    "path": f"^{re.escape(urlsplit(url).path or '/')}$"},
                          "shows": [], "cite": {"fact": "TODO: where this page was seen"}}
        notes.append("The page is on no endpoint of the catalog: a draft endpoint is included.")
    platform = catalog.platforms.get(platform_id) or Platform(
        id=re.sub(r"[^a-z0-9._-]", "-", platform_id.lower()) or "platform",
        name=Text(zh=platform_id, en=platform_id), company="unknown", category="content",
        domains=[registrable_domain(host) or host], cite=Citation(fact="draft"))
    markers = catalog.require_markers()
    reading = read_structure(page, markers, platform, known_target=facts.target)
    kind, why = _kind_guess(reading.kind, reading.how)
    notes.append(f"kind: {why}.")
    if endpoint_draft is not None:
        endpoint_draft["shows"] = [kind]

    head = headline(page)
    sentence = stated_sentence(page, head)
    candidates = [m for m in (head, sentence) if m and m != page.title]
    lang = language_of(" ".join(candidates) or page.text)
    signature: dict[str, Any] = {
        "id": f"{platform.id}-{kind.replace('_', '-')}-draft",
        "kind": kind,
        "endpoint": endpoint_id,
        "markers": [{"lang": lang.value, "any": candidates or ["TODO: a phrase of the page"],
                     "seen": True}],
    }
    shown = [u for u in shown_urls(page) if host_of(u) != host]
    target_element = _element_showing(page, shown[0]) if shown else None
    if target_element is not None:
        signature["target"] = [{"kind": "selector", "selector": selector_for(target_element)}]
    found = controls(page, markers)
    way_on = next((c for c in found if c.role == "continue" or (
        c.url and reading.continue_url and c.url == reading.continue_url)), None)
    if way_on is None and reading.how == "unread_control":
        way_on = next((c for c in found if c.url is None and c.role == "unknown"), None)
    if way_on is not None:
        element = _control_element(page, way_on.url, way_on.label)
        if element is not None:
            signature["continue_link"] = [{"kind": "selector",
                                           "selector": selector_for(element),
                                           "attribute": "href"}]
    signature["examples"] = [{"file": f"examples/{platform.id}/{signature['id']}.html",
                              "url": url}]
    signature["cite"] = {"fact": "TODO: where this wording was seen (page, date, language)"}
    notes.append(f"Save the page as {signature['examples'][0]['file']} in your policy "
                 "directory, then run `hulian --policies DIR policies test DIR`.")
    draft: dict[str, Any] = {"platform": platform.id, "signature": signature, "notes": notes}
    if endpoint_draft is not None:
        draft["endpoint"] = endpoint_draft
    return draft
