"""What every command shares: its exit codes and the error for a bad command line or configuration."""

from __future__ import annotations

EXIT_OK = 0  # the command did its job
EXIT_FAILED = 1  # it could not (no feed could be polled, a query failed, no warehouse yet)
EXIT_USAGE = 2  # a bad command line or configuration
EXIT_SKIPPED = 75  # another newswatch run is writing the warehouse: this one did nothing (EX_TEMPFAIL)
EXIT_SIGINT = 130  # stopped by Ctrl-C
EXIT_SIGTERM = 143  # stopped by SIGTERM


class UsageError(Exception):
    """A problem with the command line or the configuration (exit code 2)."""
