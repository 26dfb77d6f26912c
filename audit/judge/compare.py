"""Did a chain end where the target itself ends? The chain's last page against the control
fetch's last page, compared the way OONI's web_connectivity decides an HTTP difference
(status codes, body length proportion, titles) plus a structural measure (the weighted
Jaccard similarity of the two pages' element-name counts). Pure.

Used only where the chain did not end on the target's own site (a short link, a target that
redirects elsewhere, or a platform that diverted the reader): there, the chain reached the
target only if it ended on a page like the one a direct visit ends on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from audit.model import ControlComparison
from audit.web.page import Page
from audit.web.urls import registrable_domain

# OONI's web_connectivity threshold for "the bodies are alike" (body_length_match).
BODY_PROPORTION_MIN = 0.7
# Two renderings of one page share most of their element names; a block page, a login wall
# or an app-download page shares few with an article or a shop page.
STRUCTURE_MIN = 0.6


@dataclass(frozen=True)
class Fingerprint:
    """What the comparison needs of one page: small enough to travel between processes."""

    url: str
    status: int | None
    body_length: int
    title: str = ""
    tags: dict[str, int] = field(default_factory=dict)


def fingerprint(page: Page | None, url: str, status: int | None, body: bytes) -> Fingerprint:
    tags: Counter[str] = Counter()
    if page is not None and page.root is not None:
        for element in page.root.iter():
            if isinstance(element.tag, str):
                tags[element.tag.lower()] += 1
    return Fingerprint(url=url, status=status, body_length=len(body),
                       title=page.title if page is not None else "", tags=dict(tags))


def _structure(a: dict[str, int], b: dict[str, int]) -> float:
    names = a.keys() | b.keys()
    top = sum(min(a.get(n, 0), b.get(n, 0)) for n in names)
    bottom = sum(max(a.get(n, 0), b.get(n, 0)) for n in names)
    return round(top / bottom, 3) if bottom else 1.0


def _titles_match(a: str, b: str) -> bool:
    """Equal titles, ignoring case and spacing; two empty titles say nothing."""
    a, b = " ".join(a.split()).casefold(), " ".join(b.split()).casefold()
    return bool(a) and a == b


def compare(chain: Fingerprint, control: Fingerprint) -> ControlComparison:
    """The decision: the statuses agree, and either both ended on one registrable domain, or
    (on two sites) the pages are alike in length, title and structure all three: two small
    pages of one template share a length and a structure, so on different sites the title
    must say they are the same page too."""
    status_match = chain.status == control.status
    site = registrable_domain(chain.url)
    same_site = site is not None and site == registrable_domain(control.url)
    longer = max(chain.body_length, control.body_length)
    proportion = round(min(chain.body_length, control.body_length) / longer, 3) if longer else 1.0
    title_match = _titles_match(chain.title, control.title)
    structure = _structure(chain.tags, control.tags)
    alike = proportion >= BODY_PROPORTION_MIN and title_match and structure >= STRUCTURE_MIN
    return ControlComparison(
        control_url=control.url, control_status=control.status, chain_status=chain.status,
        status_match=status_match, same_site=same_site, body_proportion=proportion,
        title_match=title_match, structure_similarity=structure,
        matched=status_match and (same_site or alike))
