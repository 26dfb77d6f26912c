"""The Typer CLI: commands parse options, call the pipeline or a stage, and print."""

from audit.cli.app import app, main

__all__ = ["app", "main"]
