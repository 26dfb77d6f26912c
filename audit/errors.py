"""The one base of hulian's own errors: bad input, a refused bundle, a store that cannot be
written ... — never a bug. Each carries the exit status the CLI ends with, so a command
catches one class and says one thing (the message names the file, line or field)."""

from __future__ import annotations

# Exit statuses (README, "Commands").
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_FAILED_CHECK = 3
EXIT_REGRESSION = 4
EXIT_LOCKED = 5
EXIT_UNVERIFIED = 6
EXIT_NOT_A_RUN = 7
EXIT_NOT_COMPARABLE = 8
EXIT_EMPTY_RUN = 9


class HulianError(Exception):
    """Input or state hulian refuses, with the message a user reads and an exit status."""

    exit_code: int = EXIT_ERROR


class ConfigError(HulianError):
    """A run's configuration cannot be carried out (an unknown platform, a target list with
    no source, an engine that cannot do what was asked)."""


class UsageError(ConfigError):
    """Options that cannot go together (the CLI's usage error)."""

    exit_code = EXIT_USAGE
