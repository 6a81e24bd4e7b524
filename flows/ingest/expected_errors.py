"""Errors a run may end with that need the operator, not a developer (the disk is full, the
warehouse cannot be published): the command prints them as one line, so Prefect's console log
must not print them again with a traceback. Prefect's own UI still gets the whole record."""

from __future__ import annotations

import logging

from warehouse.errors import WarehouseError

EXPECTED = (WarehouseError,)


class _WithoutExpectedErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, EXPECTED)


def quiet_expected_errors() -> None:
    """Keep expected errors out of the console handlers Prefect set on the root logger (call after
    Prefect is imported: importing it configures logging)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not any(
            isinstance(f, _WithoutExpectedErrors) for f in handler.filters
        ):
            handler.addFilter(_WithoutExpectedErrors())
