"""Errors of the warehouse."""


class WarehouseError(Exception):
    """The warehouse cannot be opened or changed."""


class WarehouseBusy(WarehouseError):
    """Another process is writing the warehouse (a run already in progress)."""
