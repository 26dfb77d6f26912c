"""`hulian inspect`: read one saved page and report its kind and its outbound links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from audit.bounded import read_bounded, read_file_bounded
from audit.errors import HulianError
from audit.judge.classify import classify_page, outbound_links, platform_for_url
from audit.policy.catalog import Catalog
from audit.web.decode import (
    MAX_PAGE_BYTES,
    declared_not_ascii,
    decode_html,
    xhtml_shown,
    xml_type,
)
from audit.web.page import parse_page
from audit.web.urls import host_of


class InspectError(HulianError):
    """The input cannot be inspected (unreadable, binary, empty); the message names it."""


@dataclass(frozen=True)
class Inspection:
    source: str  # file name or "-"
    result: dict[str, object]
    warnings: tuple[str, ...] = ()


# What a parse that stopped early lost (Page.parse_issue), for the warning.
_LOST = {"depth_cut": "elements nested deeper than the parser follows",
         "unparsed_tail": "the HTML parser stopped before the end of the page",
         "xml_entities": "entities the XHTML page declares itself (not expanded)",
         "encoding_unsure": "scripts browsers may read otherwise (an undeclared or odd "
                            "encoding): no forward is followed",
         "xml_error": "the XHTML page is not well-formed; it was read up to its first error, "
                      "as a browser shows it"}


def _looks_binary(data: bytes, content_type: str | None) -> bool:
    head = data[:4096]
    if (head.startswith((b"\xff\xfe", b"\xfe\xff"))
            or declared_not_ascii(content_type, data) in ("utf-16le", "utf-16be")):
        return False  # UTF-16 text has NULs by design (a crawl reads it as declared)
    if b"\x00" in head:
        return True
    # Magic numbers of formats people save by mistake (gzip, zip, PDF, PNG, JPEG).
    return head.startswith((b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x89PNG", b"\xff\xd8\xff"))


def _served_as_xml(data: bytes, content_type: str | None, source: str) -> bool:
    """Whether the page is XHTML a browser parses as XML: served with an XML type, or saved
    as `.xhtml` (as a browser opens such a file) and XHTML by its root."""
    if content_type is not None:
        return xml_type(content_type) and xhtml_shown(data, content_type)
    return source.lower().endswith((".xhtml", ".xht")) and xhtml_shown(data, None)


def inspect_bytes(data: bytes, catalog: Catalog, *, source: str, url: str | None = None,
                  platform_id: str | None = None, content_type: str | None = None,
                  max_bytes: int = MAX_PAGE_BYTES) -> Inspection:
    if not data.strip():
        raise InspectError(f"{source}: empty file, nothing to inspect")
    if _looks_binary(data, content_type):
        raise InspectError(f"{source}: not an HTML page (binary content)")
    decoded = decode_html(data, content_type, max_bytes=max_bytes, saved=True)
    warnings = []
    if decoded.truncated:
        warnings.append(f"{source}: page larger than {max_bytes} bytes; only the first "
                        f"{max_bytes} bytes were inspected")
    page = parse_page(decoded.text, url, truncated=decoded.truncated,
                      xml=_served_as_xml(data, content_type, source))
    if page.root is None:
        raise InspectError(f"{source}: no HTML could be parsed from this file")
    if page.parse_issue in _LOST:
        warnings.append(f"{source}: {_LOST[page.parse_issue]}; what follows was not inspected")
    if url is None and page.canonical and host_of(page.canonical):
        page.url = page.canonical
    if url is not None and host_of(url) is None:
        raise InspectError(f"{source}: --url {url!r} is not an absolute http(s) URL")
    if platform_id is not None:
        platform = catalog.platforms.get(platform_id)
        if platform is None:
            raise InspectError(f"unknown platform {platform_id!r} (see `hulian policies list`)")
    else:
        platform = platform_for_url(page.url, catalog)
    facts = classify_page(page, catalog, platform)
    if platform is None:
        # A page saved without its URL is still recognisably, say, WeChat's block page.
        for named in (facts.endpoint, facts.signature):
            if platform is None and named and "/" in named:
                platform = catalog.platforms.get(named.split("/", 1)[0])
    links = outbound_links(page, catalog, platform)
    result: dict[str, object] = {
        "url": page.url,
        "platform": platform.id if platform else None,
        "company": platform.company if platform else None,
        "page": {"kind": facts.kind.value, "target": facts.target,
                 "reason": facts.reason.value if facts.reason else None,
                 "signature": facts.signature,
                 # The page's own reason sentence when no reason slug fits it, and the
                 # interception endpoint the page is on ("<platform>/<endpoint id>").
                 "reason_text": facts.reason_text, "endpoint": facts.endpoint,
                 # Why a page of kind `error` cannot be judged (anti_bot:captcha,
                 # endpoint_empty, login_wall, endpoint_error_page); null otherwise.
                 "failure": facts.failure},
        "links": [link.as_dict() for link in links],
    }
    return Inspection(source, result, tuple(warnings))


def read_input(path: str, stdin: BinaryIO | None = None,
               max_bytes: int = MAX_PAGE_BYTES) -> bytes:
    """The bytes of a page file ("-": `stdin`), at most `max_bytes + 1` of them: the one
    byte more tells `inspect_bytes` that the page was cut. Read with the limit applied while
    reading, so /dev/zero, a FIFO that never ends or a 2 GB file cost at most that much."""
    try:
        if path == "-":
            return read_bounded(stdin, max_bytes + 1).data if stdin is not None else b""
        p = Path(path)
        if not p.exists():
            raise InspectError(f"{path}: no such file")
        if p.is_dir():
            raise InspectError(f"{path}: is a directory")
        return read_file_bounded(p, max_bytes + 1).data
    except OSError as exc:
        raise InspectError(f"{path}: cannot read ({exc.strerror or exc})") from None


PAGE_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml", ".mhtml")


def pages_in(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*")
                  if p.is_file() and p.suffix.lower() in PAGE_SUFFIXES)
