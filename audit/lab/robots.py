"""What the lab serves for search barriers: each host's /robots.txt (the scenario's `robots`
entries, `DEFAULT_ROBOTS` elsewhere), the file a redirect leads to, the sitemaps a file
lists, and the robots metas of seed pages. Pure: (host, path) -> an answer.
"""

from __future__ import annotations

from html import escape

from audit.lab.scenario import DEFAULT_ROBOTS, LabRobots, Scenario

Answer = tuple[int, tuple[tuple[str, str], ...], bytes]

_PAD_LINE = b"# " + b"padding " * 12 + b"\n"  # ~100 bytes of comment per line


def robots_body(entry: LabRobots) -> bytes:
    """The bytes of the file: CRLF and BOM as asked, padded with comment lines to `pad_to`
    bytes, then `tail`."""
    newline = "\r\n" if entry.crlf else "\n"

    def lines(text: str) -> bytes:
        return newline.join(text.split("\n")).encode("utf-8")

    body = (b"\xef\xbb\xbf" if entry.bom else b"") + lines(entry.body)
    if entry.pad_to is not None:
        pad = _PAD_LINE.replace(b"\n", newline.encode())
        count = max(0, (entry.pad_to - len(body)) // len(pad) + 1)
        body += pad * count
    return body + lines(entry.tail)


class RobotsSite:
    """The robots answers of one scenario (built once per lab server)."""

    def __init__(self, scenario: Scenario) -> None:
        self.entries = {r.host: r for r in scenario.robots}
        self._bodies = {r.host: robots_body(r) for r in scenario.robots}

    def respond(self, host: str, path: str) -> Answer | None:
        """The answer for a robots path on `host`; None for every other path."""
        entry = self.entries.get(host)
        if path == "/robots.txt":
            if entry is None:
                return 200, (("Content-Type", "text/plain; charset=utf-8"),), \
                    DEFAULT_ROBOTS.encode()
            if entry.redirect is not None:
                return 301, (("Location", f"http://{host}{entry.redirect}"),
                             ("Content-Type", "text/plain")), b"moved\n"
            return entry.status, (("Content-Type", entry.content_type),), self._bodies[host]
        if entry is None:
            return None
        if entry.redirect is not None and path == entry.redirect:
            return entry.status, (("Content-Type", entry.content_type),), self._bodies[host]
        if path in entry.sitemaps:
            status = entry.sitemaps[path]
            if status != 200:
                return status, (("Content-Type", "text/plain"),), b"not found\n"
            xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
                   f'"http://www.sitemaps.org/schemas/sitemap/0.9">\n<url><loc>http://{host}/'
                   f'</loc></url>\n</urlset>\n')
            return 200, (("Content-Type", "application/xml"),), xml.encode()
        return None

    def page_meta(self, host: str) -> str:
        """The `<meta>` tags a seed page of `host` carries (empty for most hosts)."""
        entry = self.entries.get(host)
        if entry is None:
            return ""
        return "".join(f'<meta name="{escape(name)}" content="{escape(content)}">'
                       for name, content in entry.page_meta.items())
