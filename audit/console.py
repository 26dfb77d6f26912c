"""Terminal output: logs and progress on stderr, results on stdout (so `--json | jq` works)."""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True)


def setup_logging(verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    logging.basicConfig(
        level=max(level, logging.DEBUG),
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_path=False, rich_tracebacks=False)],
        force=True,
    )


def fail(message: str) -> None:
    """Print an error for a person on stderr (no traceback)."""
    stderr.print(f"[bold red]error[/]: {message}", highlight=False, markup=True)
