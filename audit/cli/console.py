"""Terminal output: logs and progress on stderr, results on stdout (so `--json | jq` works)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

# soft_wrap: never break long paths or URLs at the terminal width (or at 80 columns when
# the output is not a terminal): they must stay copyable.
stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


# Page-derived text (titles, headlines, reasons, URLs, hosts: a hostile platform's) as the
# terminal shows it: `shown`. Rich's escape() stops its markup ("[link=...]" a live link,
# "[/x]" a MarkupError) but passes control characters, which the terminal obeys: ESC starts
# CSI (clear the screen, recolour, hide text), OSC 8 (a link that says one URL and opens
# another), OSC 52 (write the clipboard), OSC 0 (the window title). Each control becomes a
# visible symbol instead: C0 as its Control Pictures sign (ESC as ␛, LF as ␊, so a cell
# stays one line), DEL as ␡, C1 (0x80-0x9f: 0x9b is an 8-bit CSI, 0x9d an OSC) and the
# bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069: "Trojan Source"
# reordering that shows a URL other than it is) as U+FFFD. Tab is kept (a cell expands it).
_SHOWN = {c: 0x2400 + c for c in range(0x20) if c != 0x09}
_SHOWN[0x7F] = 0x2421
_SHOWN.update({c: 0xFFFD for c in (*range(0x80, 0xA0), *range(0x202A, 0x202F),
                                     *range(0x2066, 0x206A))})
_SHOWN_LINES = {c: r for c, r in _SHOWN.items() if c != 0x0A}


def shown(text: str, *, lines: bool = False) -> str:
    """Text from a page (or anything not hulian's own) for Rich to print: its markup
    escaped, its control characters and bidi overrides replaced by visible symbols (see
    above). lines: keep line feeds (a multi-line message), else they are shown as ␊.
    Only for what a person reads: --json output is written as it is (JSON escapes controls
    itself). (A trailing backslash is doubled, as Rich's escape does, lest it escape a tag
    that follows; printed with nothing after it, it shows twice.)"""
    return escape(text.translate(_SHOWN_LINES if lines else _SHOWN))


def setup_logging(verbosity: int) -> None:
    level = max(logging.WARNING - 10 * verbosity, logging.DEBUG)
    # The level is set on the handler too: Scrapy reconfigures its loggers to DEBUG when a
    # crawl starts, and only the handler still filters them then.
    handler = RichHandler(console=stderr, show_path=False, rich_tracebacks=False, level=level)
    # Log messages quote URLs and page text too: their controls shown, not obeyed (the
    # handler prints them without markup, so only the controls are replaced).
    handler.setFormatter(_ShownFormatter("%(message)s"))
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


class _ShownFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).translate(_SHOWN_LINES)


def fail(message: str) -> None:
    """Print an error for a person on stderr (no traceback). The message is text, never
    markup: policy errors contain '[field]', file names may contain brackets, and errors
    quote URLs and pages (`shown`)."""
    stderr.print(f"[bold red]error[/]: {shown(message, lines=True)}", highlight=False)
