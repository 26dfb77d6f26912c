"""Did a chain end where the target itself ends? The chain's last page against the control
fetch's last page, compared the way OONI's web_connectivity decides an HTTP difference
(status codes, body length proportion, titles) plus a structural measure (the weighted
Jaccard similarity of the two pages' element-name counts) and their texts (the Jaccard
similarity of their visible texts' trigrams, whole): a page that copies the target's
title, length and layout but says the link is blocked, in words no marker knows, matched the
control on the first three and read as the target reached (an adversarial review). Pure.

Used only where the chain did not end on the target's own site (a short link, a target that
redirects elsewhere, or a platform that diverted the reader): there, the chain reached the
target only if it ended on a page like the one a direct visit ends on.
"""

from __future__ import annotations

import heapq
import os
from collections import Counter
from dataclasses import dataclass, field
from hashlib import blake2b

from audit.model import ControlComparison
from audit.web.page import Page
from audit.web.urls import as_requested, host_of, registrable_domain

# OONI's web_connectivity threshold for "the bodies are alike" (body_length_match).
BODY_PROPORTION_MIN = 0.7
# Two renderings of one page share most of their element names; a block page, a login wall
# or an app-download page shares few with an article or a shop page.
STRUCTURE_MIN = 0.6
# Two fetches of one page share most of their text (a block of recommendations may change);
# a block page in the target's clothes shares its title and menus at most.
TEXT_MIN = 0.5
# The visible text is compared whole, by a bottom-k sketch of its trigrams (Broder): the
# SKETCH_SIZE smallest trigram hashes of each text estimate the two texts' Jaccard similarity
# within a few hundredths, and a fingerprint stays small enough to travel between processes.
# Only a text's first characters were compared before, so a block page that copied the
# target's long menu and said its piece after it matched the target (an adversarial review).
# TEXT_CHARS bounds the hashing on a huge page: ~80 ms for 50,000 characters of distinct
# trigrams (measured here; a page of 5,000 takes 6 ms).
SKETCH_SIZE = 1024
TEXT_CHARS = 50_000

# The trigram hashes are keyed: with a hash anyone can compute, a block page could carry, in
# text hidden from the reader, the target's trigrams whose hashes are smallest, and its sketch
# would match the target's (a review had 0.91 where the texts' similarity was 0.14). A CRC-32
# from a secret start value did not do: CRC is affine, so every trigram of one length moves by
# one XOR mask, and a page stuffing the target's trigrams of one top-bit cluster still won for
# the keys of that cluster (15-28 % of keys, the next review). BLAKE2b keyed with a secret is a
# pseudo-random function: which trigrams make a sketch is one the page cannot know (~0.6 µs a
# distinct trigram). Every process that fingerprints pages to be compared must use one key:
# parse workers are forked from the crawl process and inherit it, and replacement workers and
# a distributed run's workers are handed the crawl process's, the coordinator's
# (`use_sketch_key`).
_sketch_key = os.urandom(16)


def sketch_key() -> bytes:
    return _sketch_key


def use_sketch_key(key: bytes) -> None:
    """Fingerprint with `key` (the crawl process's, a distributed run's coordinator's)."""
    global _sketch_key
    _sketch_key = bytes(key)[:64]


@dataclass(frozen=True)
class Fingerprint:
    """What the comparison needs of one page: small enough to travel between processes."""

    url: str
    status: int | None
    body_length: int
    title: str = ""
    tags: dict[str, int] = field(default_factory=dict)
    text: frozenset[int] = frozenset()  # the visible text's trigrams, hashed (_trigrams)
    # The same of the text its style sheets leave shown (Page.displayed); None where they
    # hide none of it; and whether every rule that could hide was read (comparable).
    displayed: frozenset[int] | None = None
    complete: bool = True


def fingerprint(page: Page | None, url: str, status: int | None, body: bytes) -> Fingerprint:
    tags: Counter[str] = Counter()
    if page is not None and page.root is not None:
        for element in page.root.iter():
            if isinstance(element.tag, str):
                tags[element.tag.lower()] += 1
    if page is None:
        return Fingerprint(url=url, status=status, body_length=len(body), tags=dict(tags))
    displayed = page.displayed
    return Fingerprint(url=url, status=status, body_length=len(body), title=page.title,
                       tags=dict(tags), text=_trigrams(page.text),
                       displayed=None if displayed is page.text else _trigrams(displayed),
                       complete=page.displayed_complete)


def comparable(chain: Fingerprint, control: Fingerprint) -> bool:
    """Whether the two pages' texts can say they are alike: both pages' style sheets were
    read in full, and the control shows text where it has some. A rule hulian could not read
    may hide what the chain's page shows, and a target that hides all of its text until its
    script runs (anti-clickjacking) shows nothing to compare (a review: the first matched a
    block page to the target, the second made a platform's copy of the target a diversion).
    Nor where one page has text and the other none: a block page with its words and the
    target's title and skeleton matched a target whose page a script builds, and a block page
    whose notice is a picture (or text hulian could not read) matched the target's page by
    its title and skeleton (two reviews). Where not, a chain that ended off the target's
    site is for review."""
    return chain.complete and control.complete and not (
        control.text and control.displayed is not None and not control.displayed) and (
        bool(control.text) == bool(chain.text))


def _trigrams(text: str) -> frozenset[int]:
    """The bottom-k sketch of the text's character trigrams (case and spacing ignored): the
    SKETCH_SIZE smallest of their keyed hashes (above), the same in every process that holds
    the key, where Python's own hash of a string is not."""
    folded = " ".join(text.split()).casefold()[:TEXT_CHARS]
    # Trigrams of characters, not of UTF-8 bytes: a Chinese character's bytes make only some
    # 70,000 byte trigrams in all, which two long texts in Chinese share whatever they say.
    key = _sketch_key
    grams = {folded[i:i + 3] for i in range(max(0, len(folded) - 2))}
    hashes = {int.from_bytes(blake2b(gram.encode("utf-8", "surrogatepass"), key=key,
                                     digest_size=8).digest(), "big") for gram in grams}
    if len(hashes) <= SKETCH_SIZE:
        return frozenset(hashes)
    return frozenset(heapq.nsmallest(SKETCH_SIZE, hashes))


def _text(a: frozenset[int], b: frozenset[int]) -> float | None:
    """The Jaccard similarity of two texts' trigrams, estimated from their sketches: of the
    SKETCH_SIZE smallest hashes of both together, the share that both texts have (exact
    where the texts have fewer distinct trigrams than that). None where either page has no
    text (a page built by scripts), which then says nothing either way."""
    if not a or not b:
        return None
    union = heapq.nsmallest(SKETCH_SIZE, a | b)
    return round(sum(1 for h in union if h in a and h in b) / len(union), 3)


def text_similarity(chain: Fingerprint, control: Fingerprint) -> float | None:
    """How alike the two pages' texts are: as the texts are, and as their style sheets leave
    them shown, the lower of the two. Both must agree for a likeness: the text alone let a
    block page carrying the target's text hidden by a class match; the shown text alone let
    one whose notice hulian read as hidden (a rule a browser does not apply) match with the
    target's article the page kept out of sight otherwise (two reviews). A page that shows
    none of its text is like no page, unless neither page has any text at all."""
    whole = _text(chain.text, control.text)
    if chain.displayed is None and control.displayed is None:
        return whole
    a = chain.text if chain.displayed is None else chain.displayed
    b = control.text if control.displayed is None else control.displayed
    if not a and not b:
        # Neither shows any text: the whole texts are text neither page shows (a block page
        # copying an anti-clickjacking target's hidden article matched it: a review).
        return None if whole is None else 0.0
    shown = (_text(a, b) or 0.0) if a and b else 0.0
    return shown if whole is None else min(whole, shown)


def _structure(a: dict[str, int], b: dict[str, int]) -> float:
    names = a.keys() | b.keys()
    top = sum(min(a.get(n, 0), b.get(n, 0)) for n in names)
    bottom = sum(max(a.get(n, 0), b.get(n, 0)) for n in names)
    return round(top / bottom, 3) if bottom else 1.0


def _titles_match(a: str, b: str) -> bool:
    """Equal titles, ignoring case and spacing; two empty titles say nothing."""
    a, b = " ".join(a.split()).casefold(), " ".join(b.split()).casefold()
    return bool(a) and a == b


def _alike(proportion: float, title_match: bool, structure: float, text: float | None) -> bool:
    return (proportion >= BODY_PROPORTION_MIN and title_match and structure >= STRUCTURE_MIN
            and (text is None or text >= TEXT_MIN))


def looks_alike(comparison: ControlComparison) -> bool:
    """Whether a comparison's measures say the two pages are alike (whether their texts could
    say so at all is `comparable`, which the chain records as uncompared)."""
    return _alike(comparison.body_proportion, comparison.title_match,
                  comparison.structure_similarity, comparison.text_similarity)


def compare(chain: Fingerprint, control: Fingerprint) -> ControlComparison:
    """The decision: the statuses agree, and either both ended on one URL, or on one host with
    pages alike in length, title, structure and text (two small pages of one template share a
    length and a structure, so the title must say they are the same page too). One host alone
    is not enough: a wrapper that sent the link to the target's home page, or a short link
    whose platform answered with its own notice on the host the target's page is on, read as
    the target reached; nor is likeness on another host: a platform's transcoded copy of the
    target under a warning bar, on a host of its own, was the target reached (a review). One
    registrable domain is not either (`same_site` is recorded, not decisive): a company's
    platform serves its notices on other hosts of the domain its services share."""
    status_match = chain.status == control.status
    site = registrable_domain(chain.url)
    same_site = site is not None and site == registrable_domain(control.url)
    host = host_of(chain.url)
    same_host = host is not None and host == host_of(control.url)
    same_url = same_host and as_requested(chain.url) == as_requested(control.url)
    longer = max(chain.body_length, control.body_length)
    proportion = round(min(chain.body_length, control.body_length) / longer, 3) if longer else 1.0
    title_match = _titles_match(chain.title, control.title)
    structure = _structure(chain.tags, control.tags)
    text = text_similarity(chain, control)
    alike = _alike(proportion, title_match, structure, text) and comparable(chain, control)
    return ControlComparison(
        control_url=control.url, control_status=control.status, chain_status=chain.status,
        status_match=status_match, same_site=same_site, body_proportion=proportion,
        title_match=title_match, structure_similarity=structure, text_similarity=text,
        matched=status_match and (same_url or (same_host and alike)))
