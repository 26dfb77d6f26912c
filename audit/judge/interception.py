"""Interception endpoints and the structure of their pages: what a page served where a
platform shows warnings, copy-to-browser and block pages says when no signature's markers
match it (a new wording, a language the catalog has no markers for).

Pure functions of a parsed page, the catalog and (optionally) the target the link was for.
The structure is read from what a user sees and can do: a control that continues to the
target is a warning; the target shown with an instruction to copy it or open it in a browser
is copy-to-browser; neither a way on nor the target is a block; anything else a person must
read (`unrecognized`). A page hulian cannot read is never taken for an open link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from audit.judge.forwards import tap_intercepted
from audit.model import (
    Endpoint,
    GenericMarkers,
    PageKind,
    Platform,
    TargetLocation,
    TargetSource,
    Wrapper,
)
from audit.policy.catalog import Catalog
from audit.web.page import Anchor, Page, find_text_urls, text_of
from audit.web.urls import host_matches, host_of, registrable_domain, resolve, url_matches

Role = Literal["continue", "copy", "other", "unknown"]

_BUTTONS = "button, [role=button], input[type=button], input[type=submit]"


def endpoint_at(url: str | None, catalog: Catalog) -> tuple[Platform, Endpoint] | None:
    """The interception endpoint a URL is on, with its platform; None when it is on none.
    A declared endpoint first; else a wrapper's own URL is one (`wrapper_endpoint`)."""
    host = host_of(url) if url else None
    if host is None or url is None:
        return None
    declared = declared_endpoint_at(url, catalog)
    if declared is not None:
        return declared
    for platform in catalog.platforms.values():
        for wrapper in platform.wrappers:
            if url_matches(url, wrapper.match):
                return platform, wrapper_endpoint(wrapper)
    return None


def declared_endpoint_at(url: str, catalog: Catalog) -> tuple[Platform, Endpoint] | None:
    """The interception endpoint a platform's policy declares that a URL is on, with its
    platform; None when it is on none (a wrapper's URL is not one here)."""
    for platform in catalog.platforms.values():
        for endpoint in platform.endpoints:
            if url_matches(url, endpoint.match):
                return platform, endpoint
    return None


def wrapper_endpoint(wrapper: Wrapper) -> Endpoint:
    """A wrapper's URL read as an interception endpoint. A wrapper that answers with a page
    of its own, rather than forwarding at once, is showing its interstitial there, whether
    or not the catalog declared the endpoint: read as an ordinary page of the platform, a
    leave page in a language the markers lack (Japanese, Korean, Uyghur) ended the chain on
    the platform's host and read as `diverted` (an adversarial review). Its target is read
    from the wrapper's own query parameters where it keeps it there."""
    sources = ([TargetSource(kind="query", param=param) for param in wrapper.params]
               if wrapper.target is TargetLocation.QUERY else [])
    return Endpoint(id=wrapper.id, match=wrapper.match, shows=["warned", "copy_only", "blocked"],
                    target=sources, note="the wrapper's own page", cite=wrapper.cite)


def has_word(text: str, words: Iterable[str]) -> bool:
    """Whether any of `words` occurs in `text`, ignoring case; a word in Latin letters only
    as a whole word ("copy" in "Copy link", not in "Copyright")."""
    folded = text.casefold()
    for word in words:
        word = word.casefold()
        if word.isascii() and word[:1].isalnum():
            if re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", folded):
                return True
        elif word in folded:
            return True
    return False


def _starts(label: str, phrases: Iterable[str]) -> bool:
    folded = label.casefold()
    return any(folded == p.casefold() or folded.startswith(p.casefold()) for p in phrases)


def label_role(label: str, markers: GenericMarkers) -> Role:
    """What a control's visible label says it does, in any language the markers cover."""
    label = " ".join(label.split())
    if not label:
        return "unknown"
    if _starts(label, markers.continue_texts):
        return "continue"
    if has_word(label, markers.copy_words):
        return "copy"
    if _starts(label, markers.other_controls):
        return "other"
    return "unknown"


@dataclass(frozen=True)
class Control:
    label: str
    url: str | None  # the http(s) destination; None for script-driven controls
    role: Role


def controls(page: Page, markers: GenericMarkers,
             platform: Platform | None = None) -> list[Control]:
    """Every link and button of the page. A link without an http(s) destination
    (javascript:, '#', empty) is script-driven: where it leads cannot be read. A button that
    submits a form whose action leads off the page's site and platform leads there; one that
    submits to the platform's own pages may be forwarded anywhere from there, as a
    script-driven one."""
    # A link a tap may not follow (a handler, or no tap reaching it as the page is read)
    # leads where a script takes the reader (forwards.tap_intercepted): a copy-the-link page
    # showing the target as a link that copies it read as a warning with a way on (a
    # review); dropped as no control, a countdown's greyed-out continue link made the page
    # a block with no way on (the next review).
    found = [Control(anchor.text, url, label_role(anchor.text, markers))
             for anchor, url in tap_destinations(page)]
    for element in page.select(_BUTTONS):
        if _disabled(element) and not page.may_change:
            continue  # nothing can ever enable it: no control (review 141)
        label = element.get("value") if element.tag == "input" else text_of(element)
        label = " ".join((label or "").split())
        found.append(Control(label, _submitted_to(element, page, platform),
                             label_role(label, markers)))
    return found


def _disabled(element: Any) -> bool:
    """A form control a tap does nothing to: `disabled`, or in a `<fieldset disabled>` (but
    its first `<legend>`). A script may enable it (a countdown's continue button), so only a
    page that cannot change loses it as a control."""
    if element.tag not in ("button", "input"):
        return False
    if element.get("disabled") is not None:
        return True
    child = element
    for ancestor in element.iterancestors():
        if ancestor.tag == "fieldset" and ancestor.get("disabled") is not None:
            legend = next((c for c in ancestor if c.tag == "legend"), None)
            if legend is None or child is not legend:
                return True
        child = ancestor
    return False


def tap_destinations(page: Page) -> list[tuple[Anchor, str | None]]:
    """The links of an interstitial a reader can tap, and where a tap leads: None where a
    script takes the reader (a handler, no tap reaching it as the page is read, or a link
    hidden from sight that a script of the page may show). A link nobody sees on a page no
    script changes is no control: a copy-the-link page carrying the target hidden
    (`display:none`, `hidden`, an unopened dialog, a canvas's fallback) read as a warning
    with a way on (review 136). One a style may keep out of sight by layout
    (Page.unsure_anchors) is a control whose way is not read (review 141: a block page's
    continue link placed off the page read as a warning's way on)."""
    unseen, unsure = page.unseen_anchors, page.unsure_anchors
    may_change = bool(unseen) and page.may_change
    found: list[tuple[Anchor, str | None]] = []
    for index, anchor in enumerate(page.tapped_anchors):
        if index in unseen and not may_change:
            continue
        intercepted = tap_intercepted(anchor) or index in unseen or index in unsure
        found.append((anchor, None if intercepted else resolve(page.url, anchor.href)))
    return found


def _submitted_to(button: Any, page: Page, platform: Platform | None) -> str | None:
    """Where a button's form sends the reader, where that is off the page's site and
    platform (see controls)."""
    kind = (button.get("type") or "submit").strip().lower()
    form = next(button.iterancestors("form"), None)
    if kind != "submit" or form is None or not form.get("action"):
        return None
    url = resolve(page.url, form.get("action", ""))
    return url if url is not None and off_platform(url, page.url, platform) else None


@dataclass(frozen=True)
class Reading:
    kind: PageKind
    how: str  # the structural evidence, recorded as the facts' signature "structure/<how>"
    target: str | None = None
    continue_url: str | None = None


def _site(url: str | None) -> str | None:
    return registrable_domain(url) if url else None


def off_platform(url: str, page_url: str | None, platform: Platform | None) -> bool:
    """Whether `url` leads away from where the page is: off its platform's domains (when
    known) and off the page's own site."""
    host = host_of(url)
    if host is None or (platform is not None and host_matches(host, platform.domains)):
        return False
    page_site = _site(page_url)
    return page_site is None or registrable_domain(url) != page_site


def shown_urls(page: Page) -> list[str]:
    """URLs a user can read on the page: in its text (link labels included) and in the
    values of text fields (copy boxes are often read-only inputs)."""
    shown = find_text_urls(page.text)
    for element in page.select("input[value], textarea"):
        value = element.get("value") if element.tag == "input" else text_of(element)
        shown += find_text_urls(value or "")
    return shown


_HOST_LIKE = re.compile(r"\w(?:[\w.-]*\w)?")


def may_lead_out(url: str, page_url: str | None, platform: Platform,
                  target: str | None) -> bool:
    """Whether a link to the platform's own pages may lead off it: through one of its
    wrappers (the page's own with another query too: `&confirm=1` or `&lang=en`, which only
    its label tells apart), or to a page that carries the target's address (percent-encoded
    or not) in its own. Not the page's own address (a reload)."""
    if page_url is not None and url.split("#")[0] == page_url.split("#")[0]:
        return False
    if any(url_matches(url, wrapper.match) for wrapper in platform.wrappers):
        return True
    host = host_of(target) if target else None
    if host is None:
        return False
    # What its path, query and fragment hold, percent-decoded as often as it was encoded
    # (a few times at most; base64 and opaque tokens cannot be read).
    _, _, carried = url.partition("//")
    _, _, carried = carried.partition("/")
    for _ in range(4):
        decoded = unquote(carried)
        if decoded == carried:
            break
        carried = decoded
    return any(host in (found, _ascii_host(found)) for found in _HOST_LIKE.findall(
        carried.casefold()))


def _ascii_host(name: str) -> str | None:
    """An internationalised host name as the target's is written (IDNA, `xn--`)."""
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return None


def _in_footer(url: str, markers: GenericMarkers) -> bool:
    """Whether `url` is on a domain every Chinese page's footer links (markers.yaml's
    `footer_domains`: the ICP filing...), never a page's way on."""
    host = host_of(url)
    return host is not None and host_matches(host, markers.footer_domains)


def read_structure(page: Page, markers: GenericMarkers, platform: Platform,
                   *, known_target: str | None,
                   script_targets: list[str | None] | None = None) -> Reading:
    """The kind of an endpoint page from its structure alone (see the module docstring).
    `known_target` is the target the link was for, or the one the page's URL or script
    names; it is what a continue control must lead to. `script_targets`: where the page's
    scripts navigate (audit.judge.forwards.script_targets; None: somewhere not written as a
    literal): a page with no visible way on whose scripts may lead off the platform is not
    read as a block."""
    target_site = _site(known_target)
    shown = [u for u in shown_urls(page) if off_platform(u, page.url, platform)
             and not _in_footer(u, markers)]
    shown_target = next((u for u in shown if target_site and _site(u) == target_site),
                        shown[0] if shown else None)
    found = controls(page, markers, platform)
    offsite = [c for c in found if c.url and off_platform(c.url, page.url, platform)
               and not _in_footer(c.url, markers)]

    # A way on: a control labelled as one, or a link that leads to the target's site. When
    # the target is unknown, a lone outbound link on a small page is one too.
    to_target = [c for c in offsite if target_site and _site(c.url) == target_site]
    # A link through the platform's own way out (one of its wrappers, one of its pages that
    # carries the target's address) labelled in words no marker knows may be the way on
    # ("移動する" to `/jump?u=TARGET`) or not (an appeal to `/appeal?url=TARGET`): a person
    # must say (below). Read as no way on, a leave page in Japanese was a block (a review);
    # read as one, a block page with an appeal link was a warning (the next review).
    # (Membership by identity: comparing the controls field by field made a page of
    # thousands of links quadratic, review 167.)
    outside = {id(c) for c in offsite}
    through_platform = [c for c in found if c.url and c.role == "unknown"
                        and id(c) not in outside
                        and may_lead_out(c.url, page.url, platform, known_target)]
    # Labelled as a way on and leading on: off the platform, or through its way out. A link
    # labelled "继续浏览…" back into the platform is none (a block page offering a way back
    # read as a warning: a review); a script-driven one is, where the page's scripts may
    # lead off the platform (where it leads cannot be read), else a person must say.
    scripted_out = any(url is None or off_platform(url, page.url, platform)
                       for url in script_targets or ())
    labelled = [c for c in found if c.role == "continue"
                and (id(c) in outside or (c.url is None and scripted_out)
                     or (c.url is not None and may_lead_out(c.url, page.url, platform,
                                                            known_target)))]
    lone = ([] if target_site else
            [c for c in offsite if len(page.anchors) <= 5
             and len({_site(o.url) for o in offsite}) == 1])
    way_on = to_target or labelled or lone
    if way_on:
        url = next((c.url for c in (*to_target, *labelled, *lone) if c.url), None)
        return Reading(PageKind.WARNED, "continue_control",
                       target=known_target or shown_target or url, continue_url=url)

    copy_signal = has_word(f"{page.title}\n{page.text}", markers.copy_words) or any(
        c.role == "copy" for c in found)
    if shown_target is not None:
        if copy_signal:
            return Reading(PageKind.COPY_ONLY, "target_with_copy_instruction",
                           target=shown_target)
        return Reading(PageKind.UNRECOGNIZED, "target_shown_without_instruction",
                       target=shown_target)
    unread = [c for c in found if c.url is None and c.role in ("unknown", "continue")
              ] + through_platform
    if unread:
        # A script-driven control with a label no marker knows may well be the way on.
        return Reading(PageKind.UNRECOGNIZED, "unread_control")
    if copy_signal:
        # An instruction to copy a link that the page does not show.
        return Reading(PageKind.UNRECOGNIZED, "copy_instruction_without_target")
    if any(url is None or off_platform(url, page.url, platform)
           for url in script_targets or ()):
        return Reading(PageKind.UNRECOGNIZED, "script_may_lead_on")
    return Reading(PageKind.BLOCKED, "no_way_on")
