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


def setup_logging(verbosity: int) -> None:
    level = max(logging.WARNING - 10 * verbosity, logging.DEBUG)
    # The level is set on the handler too: Scrapy reconfigures its loggers to DEBUG when a
    # crawl starts, and only the handler still filters them then.
    handler = RichHandler(console=stderr, show_path=False, rich_tracebacks=False, level=level)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


def fail(message: str) -> None:
    """Print an error for a person on stderr (no traceback). The message is text, never
    markup: policy errors contain '[field]' and file names may contain brackets."""
    stderr.print(f"[bold red]error[/]: {escape(message)}", highlight=False)
