"""What an import's batch processes run (imports.services.Importer). This module imports nothing of Django's models
when loaded: a process starts by unpickling references to these functions, before Django is set up."""

import contextlib

PR_SET_PDEATHSIG = 1
_importers: dict = {}  # the Importer of the import this process writes batches of


def start(database_name: str) -> None:
    """Django set up as in the process that reads the file, on the same database; the process ends with that one
    (a worker killed with SIGKILL takes its batch processes with it: a batch they were writing rolls back)."""
    import ctypes
    import signal

    import django
    from django.db import connections

    from apicore import process

    with contextlib.suppress(OSError, AttributeError):  # Linux only
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    django.setup()
    connections["default"].settings_dict["NAME"] = database_name
    process.started()


def batch(pk: int, worker: str, rows: list, write: bool) -> dict:
    from imports.models import Import
    from imports.services import Importer

    if pk not in _importers:
        _importers.clear()
        _importers[pk] = Importer(Import.objects.select_related("user").get(pk=pk), worker)
    return _importers[pk].batch(rows, write)
